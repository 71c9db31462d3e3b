import datetime as dt

import pytest

from benchmark.data import detect_format, hf, load_dataset
from benchmark.errors import ConfigError

datasets = pytest.importorskip("datasets")


def save(columns, path):
    datasets.Dataset.from_dict(columns).save_to_disk(str(path))
    return path


def raw_sequences(ds):
    return [[ds.items["raw_id"].iloc[i - 1] for i in s] for s in ds.sequences()]


def test_default_column_names(tmp_path):
    path = save({"user_id": [7, 7, 8, 7], "item_id": [3, 1, 2, 2], "timestamp": [5, 1, 1, 5],
                 "rating": [1.0, 2.0, 3.0, 4.0]}, tmp_path / "clicks")  # fmt: skip
    assert detect_format(path) == "hf"
    ds = load_dataset(path)
    assert ds.format == "hf" and ds.name == "clicks"
    assert ds.user_raw_ids == ["7", "8"] and ds.items["raw_id"].tolist() == ["1", "2", "3"]
    # time, then row order for the tie at 5
    assert raw_sequences(ds) == [["1", "3", "2"], ["2"]]
    assert ds.meta["columns"] == {"user": "user_id", "item": "item_id", "timestamp": "timestamp"}


def test_columns_named_in_data_options(tmp_path):
    path = save({"uid": ["a", "a", "b"], "sku": ["x", "y", "x"], "ts": [2.5, 1.5, 0.0]},
                tmp_path / "shop")  # fmt: skip
    opts = {"user_column": "uid", "item_column": "sku", "timestamp_column": "ts"}
    ds = load_dataset(path, options=opts)
    assert raw_sequences(ds) == [["y", "x"], ["x"]]
    # spelling out the defaults changes nothing; other names change the hash
    default = save({"user_id": ["a"], "item_id": ["x"], "timestamp": [1]}, tmp_path / "d")
    spelled = load_dataset(default, options={"user_column": "user_id"})
    assert spelled.content_hash == load_dataset(default).content_hash


def test_missing_columns_are_listed(tmp_path, data_error):
    path = save({"uid": ["a"], "sku": ["x"], "ts": [1]}, tmp_path / "shop")
    msg = data_error(lambda: hf.load(path, use_cache=False), "shop")
    assert "missing column(s) 'user_id', 'item_id', 'timestamp'" in msg
    assert "the columns found are 'uid', 'sku', 'ts'" in msg
    assert "user_column, item_column and timestamp_column" in msg
    msg = data_error(lambda: hf.load(path, user_column="uid", item_column="item",
                                     timestamp_column="ts", use_cache=False), "shop")  # fmt: skip
    assert "missing column(s) 'item';" in msg


def test_datetime_timestamps(tmp_path):
    t = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    stamps = [t + dt.timedelta(milliseconds=1), t, t + dt.timedelta(days=1)]
    path = save({"user_id": ["u", "u", "u"], "item_id": ["b", "a", "c"], "timestamp": stamps},
                tmp_path / "dated")  # fmt: skip
    ds = hf.load(path, use_cache=False)
    assert raw_sequences(ds) == [["a", "b", "c"]]
    assert ds.interactions["timestamp"].iloc[0] == 1704067200 * 10**9


def test_bad_values_name_the_row_or_type(tmp_path, data_error):
    path = save({"user_id": ["u", "v"], "item_id": ["a", "b"], "timestamp": ["1", "2"]},
                tmp_path / "s")  # fmt: skip
    msg = data_error(lambda: hf.load(path, use_cache=False), str(path))
    assert "column 'timestamp' holds" in msg and "not numbers or timestamps" in msg
    path = save({"user_id": ["u", "v"], "item_id": ["a", "b"], "timestamp": [1, None]},
                tmp_path / "n")  # fmt: skip
    msg = data_error(lambda: hf.load(path, use_cache=False), str(path))
    assert "column 'timestamp' is missing in row 1 (ds[1])" in msg
    path = save({"user_id": ["u", ""], "item_id": ["a", "b"], "timestamp": [1, 2]}, tmp_path / "e")
    msg = data_error(lambda: hf.load(path, use_cache=False), str(path))
    assert "column 'user_id' is empty in row 1" in msg


def test_dataset_dict_splits_and_bad_options(tmp_path):
    part = {"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": [1, 2]}
    later = {"user_id": ["u"], "item_id": ["c"], "timestamp": [3]}
    path = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(part),
                          "test": datasets.Dataset.from_dict(later)}).save_to_disk(str(path))
    ds = hf.load(path, use_cache=False)
    assert raw_sequences(ds) == [["a", "b", "c"]] and ds.meta["splits_read"] == ["train", "test"]
    assert raw_sequences(hf.load(path, split="train", use_cache=False)) == [["a", "b"]]
    with pytest.raises(ConfigError, match="user_column"):
        hf.load(path, user_column="")
    with pytest.raises(ConfigError, match="does not take option"):
        load_dataset(path, options={"kcore": 5})


def test_not_a_saved_dataset(tmp_path, data_error):
    msg = data_error(lambda: hf.load(tmp_path, use_cache=False), str(tmp_path))
    assert "not a save_to_disk directory" in msg
