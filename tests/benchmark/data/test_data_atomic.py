from pathlib import Path

import pytest

from benchmark.data import atomic

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def write(directory: Path, inter: str, item: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{directory.name}.inter").write_text(inter)
    if item is not None:
        (directory / f"{directory.name}.item").write_text(item)
    return directory


def test_loads_tiny_atomic(fixtures):
    ds = atomic.load(fixtures / "atomic/tiny", use_cache=False)
    assert ds.name == "tiny"
    assert ds.format == "atomic"
    assert ds.user_raw_ids == ["u1", "u2", "u3"]
    # non-numeric ids keep first-appearance order; i4 is only in .item but stays in the vocab
    assert ds.items["raw_id"].tolist() == ["i3", "i1", "i2", "i4"]
    assert ds.items["title"].tolist() == ["Delta", "Alpha (1995)", "Beta Gamma", "Unseen (2001)"]
    assert ds.items["categories"].tolist() == [None, "Action, Comedy", "Drama", "Sci-Fi"]
    assert len(ds.interactions) == 5


def test_timestamp_ties_keep_file_order(fixtures):
    ds = atomic.load(fixtures / "atomic/tiny", use_cache=False)
    # u1: i2@90, then i3@100 (line 2) before i1@100 (line 4)
    assert ds.sequences()[0].tolist() == [3, 1, 2]
    u1 = ds.interactions[ds.interactions["user"] == 0]
    assert u1["row"].tolist() == [3, 0, 2]


def test_float_timestamps_stay_float(fixtures):
    ds = atomic.load(fixtures / "atomic/tiny", use_cache=False)
    assert ds.interactions["timestamp"].dtype.kind == "f"
    assert ds.interactions["timestamp"].tolist()[-1] == 10.5


def test_inter_file_path_and_no_item_file(tmp_path):
    d = write(tmp_path / "solo", HEADER + "1\t2\t5\t10\n1\t1\t5\t20\n")
    ds = atomic.load(d / "solo.inter", use_cache=False)
    assert ds.name == "solo"
    assert ds.items["title"].tolist() == [None, None]
    assert ds.interactions["timestamp"].dtype.kind == "i"


def test_missing_timestamp_column(tmp_path, data_error):
    d = write(tmp_path / "x", "user_id:token\titem_id:token\n1\t2\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "x.inter", line=1)
    assert "timestamp" in msg


def test_untyped_header(tmp_path, data_error):
    d = write(tmp_path / "x", "user_id\titem_id\ttimestamp\n1\t2\t3\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "x.inter", line=1)
    assert "name:type" in msg


def test_bad_timestamp_names_line(tmp_path, data_error):
    d = write(tmp_path / "x", HEADER + "1\t2\t5\t10\n1\t3\t5\tyesterday\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "x.inter", line=3)
    assert "'timestamp'" in msg and "yesterday" in msg


def test_empty_item_id_names_line(tmp_path, data_error):
    d = write(tmp_path / "x", HEADER + "1\t2\t5\t10\n\n1\t\t5\t11\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "x.inter", line=4)
    assert "item_id" in msg


def test_extra_field_names_line(tmp_path, data_error):
    d = write(tmp_path / "x", HEADER + "1\t2\t5\t10\n1\t3\t5\t11\textra\n")
    data_error(lambda: atomic.load(d, use_cache=False), "x.inter", line=3)


def test_item_file_needs_item_id(tmp_path, data_error):
    d = write(tmp_path / "x", HEADER + "1\t2\t5\t10\n", "id:token\ttitle:token_seq\n2\tA\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "x.item", line=1)
    assert "item_id" in msg


def test_directory_without_inter(tmp_path, data_error):
    msg = data_error(lambda: atomic.load(tmp_path, use_cache=False), str(tmp_path))
    assert ".inter" in msg


def test_several_inter_files_prefer_the_directory_name(tmp_path, data_error):
    d = write(tmp_path / "multi", HEADER + "1\t2\t5\t10\n")
    (d / "other.inter").write_text(HEADER + "9\t9\t5\t10\n")
    assert atomic.load(d, use_cache=False).user_raw_ids == ["1"]
    (d / "multi.inter").unlink()
    (d / "third.inter").write_text(HEADER + "9\t9\t5\t10\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "multi")
    assert "other.inter" in msg and "third.inter" in msg


@pytest.mark.parametrize("suffix", [".csv", ".item"])
def test_non_inter_file_is_rejected(tmp_path, data_error, suffix):
    f = tmp_path / f"a{suffix}"
    f.write_text("x")
    data_error(lambda: atomic.load(f, use_cache=False), f.name)


def test_header_only(tmp_path, data_error):
    d = write(tmp_path / "x", HEADER + "\n")
    msg = data_error(lambda: atomic.load(d, use_cache=False), "x.inter")
    assert "no data lines" in msg
