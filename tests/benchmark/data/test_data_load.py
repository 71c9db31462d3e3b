"""Format detection and the load_dataset entry point."""

import shutil

import pytest

from benchmark.data import DATASETS, FORMATS, detect_format, format_help, load_dataset
from benchmark.errors import ConfigError, DataError, UnknownNameError

LAYOUTS = [
    ("atomic/tiny", "atomic"),
    ("atomic/tiny/tiny.inter", "atomic"),
    ("grouplens-100k/tiny", "grouplens-100k"),
    ("grouplens-100k/tiny/u.data", "grouplens-100k"),
    ("p5/tiny", "p5"),
    ("p5/idgenrec", "p5"),
    ("amazon2018/plain", "amazon2018"),
    ("amazon2018/gz", "amazon2018"),
    ("amazon2018/gz/Tiny_5.json.gz", "amazon2018"),
    ("movielens-csv/crlf", "movielens-csv"),
    ("movielens-csv/renamed/ratings.csv", "movielens-csv"),
]


@pytest.mark.parametrize(("rel", "fmt"), LAYOUTS)
def test_detect_format(fixtures, rel, fmt):
    assert detect_format(fixtures / rel) == fmt
    assert detect_format(str(fixtures / rel)) == fmt


@pytest.mark.parametrize(("rel", "fmt"), LAYOUTS)
def test_load_dataset_detects_and_names(fixtures, rel, fmt):
    ds = load_dataset(str(fixtures / rel), use_cache=False)
    assert ds.format == fmt
    assert ds.n_users > 0 and ds.n_items > 0
    path = fixtures / rel
    if path.is_dir():
        assert ds.name == path.name


def test_registry_and_formats():
    assert "ml-100k" in DATASETS
    assert FORMATS.names() == sorted(
        ["atomic", "grouplens-100k", "p5", "amazon2018", "movielens-csv", "amazon2023", "hf",
         "recbole-split"]
    )
    for fmt in FORMATS:
        assert callable(FORMATS.get(fmt))
        assert fmt in format_help()


def test_unknown_layout_lists_formats(tmp_path, data_error):
    (tmp_path / "notes.txt").write_text("hello")
    msg = data_error(lambda: detect_format(tmp_path), str(tmp_path))
    for fmt in FORMATS:
        assert fmt in msg
    assert "u.data" in msg and "ratings.csv" in msg and "datamaps.json" in msg
    assert "--data-format" in msg
    data_error(lambda: load_dataset(str(tmp_path)), str(tmp_path))


def test_missing_path(tmp_path, data_error):
    msg = data_error(lambda: load_dataset(str(tmp_path / "nowhere")), "nowhere")
    assert "ml-100k" in msg  # says which registry names exist
    data_error(lambda: detect_format(tmp_path / "nowhere"), "nowhere")


def test_misspelt_registry_name_suggests_it(data_error):
    msg = data_error(lambda: load_dataset("ml100k"), "ml100k")
    assert "Did you mean 'ml-100k'?" in msg


def test_unknown_format_name_suggests_close_matches(fixtures):
    with pytest.raises(UnknownNameError, match="'p5'") as info:
        load_dataset(str(fixtures / "p5/tiny"), "p6")
    assert "data format" in str(info.value)


def test_data_format_overrides_detection(tmp_path, fixtures):
    # both u.data and ratings.csv: detection picks grouplens-100k, the override wins
    shutil.copytree(fixtures / "movielens-csv/renamed", tmp_path / "both")
    shutil.copy(fixtures / "grouplens-100k/tiny/u.data", tmp_path / "both/u.data")
    assert detect_format(tmp_path / "both") == "grouplens-100k"
    ds = load_dataset(str(tmp_path / "both"), "movielens-csv", use_cache=False)
    assert ds.format == "movielens-csv" and ds.user_raw_ids == ["10", "20"]


def test_override_with_wrong_format_names_missing_file(fixtures, data_error):
    msg = data_error(lambda: load_dataset(str(fixtures / "p5/tiny"), "grouplens-100k"), "tiny")
    assert "u.data" in msg


def test_p5_directory_is_not_taken_for_amazon(fixtures):
    # it holds a .json file (datamaps.json), but the sequence file makes it P5
    assert detect_format(fixtures / "p5/tiny") == "p5"


def test_p5_without_datamaps_detects_then_names_the_missing_file(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "datamaps.json").unlink()
    assert detect_format(d) == "p5"
    msg = data_error(lambda: load_dataset(str(d)), str(d))
    assert "datamaps.json" in msg


def test_registry_name_beats_relative_directory(tmp_path, monkeypatch, fixtures):
    # a GroupLens download unpacked as ./ml-100k: the bare name still means the registry,
    # "./ml-100k" or an explicit format means the directory
    shutil.copytree(fixtures / "grouplens-100k/tiny", tmp_path / "ml-100k")
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setitem(DATASETS._loaded, "ml-100k", lambda **kw: calls.append(kw) or "registry")
    assert load_dataset("ml-100k") == "registry"
    assert calls == [{"cache_dir": None, "use_cache": True}]
    assert load_dataset("./ml-100k", use_cache=False).format == "grouplens-100k"
    assert load_dataset("ml-100k", "grouplens-100k", use_cache=False).name == "ml-100k"


def test_options_reach_the_loader(fixtures):
    ds = load_dataset(str(fixtures / "amazon2018/plain"), use_cache=False, options={"kcore": 1})
    assert ds.meta["kcore"] == 1


def test_unknown_option(fixtures):
    with pytest.raises(ConfigError, match="kcore"):  # lists the supported ones
        load_dataset(str(fixtures / "amazon2018/plain"), options={"k": 5})
    with pytest.raises(ConfigError, match="none"):
        load_dataset(str(fixtures / "p5/tiny"), options={"kcore": 5})


def test_data_error_is_a_recbench_error(tmp_path):
    from benchmark.errors import RecbenchError

    with pytest.raises(RecbenchError):
        load_dataset(str(tmp_path / "missing"))
    with pytest.raises(DataError):
        detect_format(tmp_path / "missing")
