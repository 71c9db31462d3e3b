import gzip
import json
import shutil
import sys

import pandas as pd
import pytest

from benchmark.data import amazon2023, cache_root, detect_format, load_dataset
from benchmark.errors import ConfigError, DataError

datasets = pytest.importorskip("datasets")

JSONL = "amazon2023/jsonl"


def records(fixtures, name):
    path = fixtures / JSONL / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save(data, path):
    data.save_to_disk(str(path))
    return path


@pytest.fixture
def saved(fixtures, tmp_path):
    """The JSONL fixture as the hub's configs, saved with save_to_disk into one folder."""
    folder = tmp_path / "All_Tiny"
    reviews = datasets.Dataset.from_list(records(fixtures, "Tiny.jsonl"))
    meta = datasets.Dataset.from_list(records(fixtures, "meta_Tiny.jsonl"))
    save(datasets.DatasetDict({"full": reviews}), folder / "raw_review_Tiny")
    save(datasets.DatasetDict({"full": meta}), folder / "raw_meta_Tiny")
    return folder


def raw_sequences(ds):
    return [[ds.items["raw_id"].iloc[i - 1] for i in s] for s in ds.sequences()]


def test_jsonl_reviews_and_metadata(fixtures):
    ds = amazon2023.load(fixtures / JSONL, use_cache=False)
    assert ds.format == "amazon2023" and ds.name == "jsonl"
    assert ds.user_raw_ids == ["U1", "U2", "U3"]
    # items are parent_asin: B01V1 and B01V2 are one item; the metadata adds none (P99)
    assert ds.items["raw_id"].tolist() == ["P02", "P01", "P03", "P04"]
    assert ds.meta["reviews_read"] == 8 and ds.meta["duplicates_dropped"] == 2
    assert ds.meta["timestamp_unit"] == "ms" and ds.meta["items_with_metadata"] == 3
    # U1's later copy of P01 (line 4) is earlier in time and wins; U2's two reviews share a
    # millisecond: file order
    assert raw_sequences(ds) == [["P01", "P02"], ["P01", "P03"], ["P02", "P04"]]
    assert ds.interactions["timestamp"].tolist()[:2] == [1588687700000, 1588687729000]
    items = ds.items.set_index("raw_id")
    assert items.loc["P01", "title"] == "Rose Cream"
    assert items.loc["P01", "categories"] == "Beauty, Skin Care"
    assert items.loc["P02", "categories"] == "All Beauty"  # empty list: main_category
    assert items.loc["P04", "title"] is None and items.loc["P03", "title"] is None
    rev = ds.reviews.set_index(["user", "item"])
    assert rev.loc[(0, 2), "text"] == "Bought the other size."
    assert rev.loc[(0, 2), "summary"] == "Again" and rev.loc[(0, 2), "rating"] == 2.0
    assert rev.loc[(1, 3), "summary"] == "Broke"  # line 5 beats its same-time copy
    assert rev.loc[(2, 1), "summary"] is None  # an empty review title


def test_saved_dataset_equals_jsonl(fixtures, saved):
    plain = amazon2023.load(fixtures / JSONL, use_cache=False)
    for path in (saved, saved / "raw_review_Tiny"):
        ds = amazon2023.load(path, use_cache=False)
        pd.testing.assert_frame_equal(ds.interactions, plain.interactions)
        pd.testing.assert_frame_equal(ds.reviews, plain.reviews)
        assert ds.meta["splits_read"] == ["full"]
    with_meta = amazon2023.load(saved, use_cache=False)
    pd.testing.assert_frame_equal(with_meta.items, plain.items)
    assert with_meta.name == "All_Tiny"
    alone = amazon2023.load(saved / "raw_review_Tiny", use_cache=False)
    assert alone.name == "Tiny" and alone.items["title"].isna().all()


def test_gzip_equals_plain(fixtures, tmp_path):
    for name in ("Tiny.jsonl", "meta_Tiny.jsonl"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((fixtures / JSONL / name).read_bytes()))
    gz = amazon2023.load(tmp_path / "Tiny.jsonl.gz", use_cache=False)
    plain = amazon2023.load(fixtures / JSONL / "Tiny.jsonl", use_cache=False)
    assert gz.name == plain.name == "Tiny"
    pd.testing.assert_frame_equal(gz.interactions, plain.interactions)
    pd.testing.assert_frame_equal(gz.items, plain.items)


def test_detection(fixtures, saved):
    assert detect_format(fixtures / JSONL) == "amazon2023"
    assert detect_format(fixtures / JSONL / "Tiny.jsonl") == "amazon2023"
    assert detect_format(saved) == "amazon2023"
    assert detect_format(saved / "raw_review_Tiny") == "amazon2023"
    # 2018 files stay amazon2018; 2023 metadata alone is not a review dataset
    assert detect_format(fixtures / "amazon2018/plain") == "amazon2018"
    assert not amazon2023.detect(saved / "raw_meta_Tiny")
    assert not amazon2023.detect(fixtures / JSONL / "meta_Tiny.jsonl")


def test_several_splits(fixtures, tmp_path):
    rows = records(fixtures, "Tiny.jsonl")
    first, second = datasets.Dataset.from_list(rows[:4]), datasets.Dataset.from_list(rows[4:])
    both = save(datasets.DatasetDict({"a": first, "b": second}), tmp_path / "ab")
    ds = amazon2023.load(both, use_cache=False)  # no "full": concatenated in listed order
    plain = amazon2023.load(fixtures / JSONL / "Tiny.jsonl", use_cache=False)
    pd.testing.assert_frame_equal(ds.interactions, plain.interactions)
    assert ds.meta["splits_read"] == ["a", "b"]
    only = amazon2023.load(both, split="b", use_cache=False)
    assert only.meta["reviews_read"] == 4 and only.content_hash != ds.content_hash
    with pytest.raises(ConfigError, match=r"no split 'c' \(splits: a, b\)"):
        amazon2023.load(both, split="c", use_cache=False)
    full = save(datasets.DatasetDict({"full": first, "b": second}), tmp_path / "fb")
    assert amazon2023.load(full, use_cache=False).meta["splits_read"] == ["full"]
    with pytest.raises(ConfigError, match="no splits"):
        amazon2023.load(fixtures / JSONL, split="full", use_cache=False)


def test_kcore_and_cache(tmp_path, isolated_cache):
    pairs = [("U1", "I1"), ("U1", "I2"), ("U2", "I1"), ("U2", "I2"), ("U3", "I1"), ("U3", "I3"),
             ("U4", "I3")]  # fmt: skip
    (tmp_path / "K.jsonl").write_text("".join(
        json.dumps({"user_id": u, "parent_asin": i, "timestamp": t}) + "\n"
        for t, (u, i) in enumerate(pairs)
    ))  # fmt: skip
    ds = load_dataset(tmp_path, options={"kcore": 2})
    # U4 goes, then I3 (one review left), then U3 (one left): the same rule as amazon2018
    assert ds.user_raw_ids == ["U1", "U2"] and ds.items["raw_id"].tolist() == ["I1", "I2"]
    assert ds.meta["kcore"] == 2 and ds.meta["kcore_dropped"] == 3
    again = load_dataset(tmp_path, options={"kcore": 2})
    assert again.content_hash == ds.content_hash
    assert any((isolated_cache / "datasets").rglob("dataset.json"))
    assert load_dataset(tmp_path).content_hash != ds.content_hash
    with pytest.raises(ConfigError, match="kcore"):
        amazon2023.load(tmp_path, kcore=0)


def test_bad_lines_name_the_field(tmp_path, data_error):
    f = tmp_path / "Bad.jsonl"
    good = {"user_id": "U", "parent_asin": "P", "timestamp": 1}
    f.write_text(json.dumps(good) + "\n" + json.dumps({**good, "parent_asin": ""}) + "\n")
    msg = data_error(lambda: amazon2023.load(f, use_cache=False), "Bad.jsonl", line=2)
    assert "missing field 'parent_asin'" in msg
    f.write_text(json.dumps(good) + "\n" + json.dumps({**good, "timestamp": "May 2020"}) + "\n")
    msg = data_error(lambda: amazon2023.load(f, use_cache=False), "Bad.jsonl", line=2)
    assert "'timestamp' must be an integer (milliseconds" in msg
    f.write_text(json.dumps(good) + "\n{not json\n")
    data_error(lambda: amazon2023.load(f, use_cache=False), "Bad.jsonl", line=2)
    # a 2018 line in a file detected as 2023 says which format it is
    f.write_text(json.dumps(good) + "\n" + json.dumps({"reviewerID": "A", "asin": "B",
                                                       "unixReviewTime": 1}) + "\n")  # fmt: skip
    msg = data_error(lambda: amazon2023.load(f, use_cache=False), "Bad.jsonl", line=2)
    assert "--data-format amazon2018" in msg
    meta = tmp_path / "meta_Bad.jsonl"
    f.write_text(json.dumps(good) + "\n")
    meta.write_text(json.dumps({"title": "no id"}) + "\n")
    msg = data_error(lambda: amazon2023.load(f, use_cache=False), "meta_Bad.jsonl", line=1)
    assert "parent_asin" in msg


def test_saved_dataset_with_wrong_columns_lists_them(tmp_path, data_error):
    path = save(datasets.Dataset.from_dict({"user_id": ["U"], "parent_asin": ["P"],
                                            "time": [1]}), tmp_path / "r")  # fmt: skip
    msg = data_error(lambda: amazon2023.load(path, use_cache=False), str(path))
    assert "no review columns" in msg and "user_id, parent_asin, time" in msg
    path = save(datasets.Dataset.from_dict({"user_id": ["U", "V"], "parent_asin": ["P", "Q"],
                                            "timestamp": ["1", "2"]}), tmp_path / "s")  # fmt: skip
    msg = data_error(lambda: amazon2023.load(path, use_cache=False), str(path))
    assert "column 'timestamp'" in msg and "cast_column" in msg
    path = save(datasets.Dataset.from_dict({"user_id": ["U", None], "parent_asin": ["P", "Q"],
                                            "timestamp": [1, 2]}), tmp_path / "t")  # fmt: skip
    msg = data_error(lambda: amazon2023.load(path, use_cache=False), str(path))
    assert "column 'user_id' is empty in row 1 (ds[1])" in msg


def test_without_datasets_installed_says_how_to_install(saved, monkeypatch, data_error):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    msg = data_error(lambda: amazon2023.load(saved, use_cache=False), str(saved))
    assert 'pip install "recbench[hf]"' in msg


# ---- the hub: explicit opt-in, never reached in tests ------------------------------------

HUB = "hf://McAuley-Lab/Amazon-Reviews-2023/Tiny"


def test_hub_offline_names_what_to_download(monkeypatch):
    calls = []

    def offline(*args, **kwargs):
        calls.append(kwargs["data_files"])
        raise ConnectionError("Couldn't reach 'McAuley-Lab/Amazon-Reviews-2023' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as err:
        load_dataset(HUB)
    msg = str(err.value)
    assert msg.startswith(HUB) and "ConnectionError" in msg
    assert "raw/review_categories/Tiny.jsonl and raw/meta_categories/meta_Tiny.jsonl" in msg
    assert "https://huggingface.co/datasets/McAuley-Lab/Amazon-Reviews-2023" in msg
    assert "pass that folder as the dataset" in msg
    assert calls == [{"full": "hf://datasets/McAuley-Lab/Amazon-Reviews-2023/"
                              "raw/review_categories/Tiny.jsonl"}]  # fmt: skip
    assert not (cache_root() / "hub" / "McAuley-Lab+Amazon-Reviews-2023" / "Tiny").exists()


def test_hub_forced_offline_fails_clearly(monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(DataError, match="cannot load it from the Hugging Face Hub") as err:
        amazon2023.load(HUB, use_cache=False)
    assert "OfflineModeIsEnabled" in str(err.value)  # refused before any request


def test_hub_download_is_saved_once_and_reused(fixtures, monkeypatch):
    def fake(builder, *, data_files, split):
        assert builder == "json" and split == "full"
        name = data_files["full"].rsplit("/", 1)[1]
        return datasets.Dataset.from_list(records(fixtures, name))

    monkeypatch.setattr(datasets, "load_dataset", fake)
    ds = load_dataset(HUB, "amazon2023")
    plain = amazon2023.load(fixtures / JSONL, use_cache=False)
    pd.testing.assert_frame_equal(ds.interactions, plain.interactions)
    pd.testing.assert_frame_equal(ds.items, plain.items)
    assert ds.name == "Tiny" and ds.source == HUB

    def unreachable(*args, **kwargs):
        raise AssertionError("the downloaded copy must be read instead")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    assert load_dataset(HUB).content_hash == ds.content_hash
    shutil.rmtree(cache_root() / "hub")
    with pytest.raises(DataError, match="the downloaded copy must be read"):
        load_dataset(HUB)  # without the copy the hub is asked again


def test_hub_spelling_and_format(data_error):
    msg = data_error(lambda: load_dataset("hf://McAuley-Lab/Amazon-Reviews-2023"), "hf://")
    assert "hf://<owner>/<repo>/<Category>" in msg
    with pytest.raises(ConfigError, match="only amazon2023 downloads"):
        load_dataset(HUB, "hf")
    with pytest.raises(ConfigError, match="does not take option"):
        load_dataset(HUB, options={"user_column": "u"})
