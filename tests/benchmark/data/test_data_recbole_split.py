import shutil

import pytest

from benchmark.data import atomic, detect_format, load_dataset, recbole_split
from benchmark.errors import DataError
from tasks.split import leave_one_out

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


def raw(ds, items):
    return [ds.items["raw_id"].iloc[int(i) - 1] for i in items]


def write(folder, valid, test, name="x"):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.valid.inter").write_text(HEADER + valid)
    (folder / f"{name}.test.inter").write_text(HEADER + test)
    return folder


def test_the_split_is_the_files_split(fixtures):
    ds = recbole_split.load(fixtures / "recbole-split/tiny", use_cache=False)
    assert ds.name == "tiny" and ds.format == "recbole-split"
    split = leave_one_out(ds)
    assert split.n_dropped == 0
    users = [ds.user_raw_ids[u] for u in split.users]
    assert users == ["0", "1", "2", "3"]
    # test target: the .test.inter item_id; validation target: the .valid.inter item_id
    assert raw(ds, split.test) == ["4", "7", "2", "6"]
    assert raw(ds, split.valid) == ["3", "6", "1", "5"]
    # training: the validation history, never a target (the train file's extra row 0 1 2 -> 3,
    # LLMRank's pre-fix validation-target row, is not read)
    assert [raw(ds, t) for t in split.train] == [["0", "1", "2"], ["4", "5"], ["7", "0"], ["3"]]
    for train, valid, test in zip(split.train, split.valid, split.test, strict=True):
        assert valid not in train and test not in train
    # the test history is what .test.inter lists
    assert raw(ds, split.histories("test")[0]) == ["0", "1", "2", "3"]
    assert ds.meta["split"] == recbole_split.SPLIT_RULE
    assert ds.meta["histories_cut"] == 0


def test_titles_come_from_the_item_file(fixtures):
    ds = recbole_split.load(fixtures / "recbole-split/tiny", use_cache=False)
    assert ds.n_items == 9  # the .item vocabulary, including an item nobody played
    assert ds.item_text(ds.items.index[ds.items["raw_id"] == "1"][0] + 1) == (
        "GBA 6-Pak Care Case - Game Boy Advance"
    )
    assert ds.titles_origin == "from the data file"


def test_detected_before_atomic_and_loadable_from_one_file(fixtures, copy_fixture):
    folder = fixtures / "recbole-split/tiny"
    assert detect_format(folder) == "recbole-split"
    assert detect_format(folder / "tiny.test.inter") == "recbole-split"
    whole = load_dataset(folder)
    one = load_dataset(folder / "tiny.valid.inter")
    assert one.content_hash == whole.content_hash
    # the train file is not a source: removing it changes nothing
    copy = copy_fixture("recbole-split/tiny", dest="tiny")
    (copy / "tiny.train.inter").unlink()
    assert load_dataset(copy).content_hash == whole.content_hash


def test_atomic_points_to_this_format(fixtures, data_error):
    folder = fixtures / "recbole-split/tiny"
    msg = data_error(lambda: atomic.load(folder, use_cache=False), "tiny")
    assert "several .inter files" in msg and "--data-format recbole-split" in msg
    msg = data_error(lambda: atomic.load(folder / "tiny.test.inter", use_cache=False),
                     "tiny.test.inter", line=1)  # fmt: skip
    assert "--data-format recbole-split" in msg


def test_cut_histories_keep_the_longer_window(tmp_path):
    # RecBole cut both histories to 3 items: the validation row still holds item a
    folder = write(tmp_path / "x", "u\ta b c\td\n", "u\tb c d\te\n")
    ds = recbole_split.load(folder, use_cache=False)
    split = leave_one_out(ds)
    assert raw(ds, split.train[0]) == ["a", "b", "c"]
    assert raw(ds, [split.valid[0], split.test[0]]) == ["d", "e"]
    assert ds.meta["histories_cut"] == 1


def test_disagreeing_rows_name_the_line(tmp_path, data_error):
    folder = write(tmp_path / "a", "u\ta b\tc\nv\ta\tb\n", "u\ta b c\td\nv\ta x\tc\n")
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), "x.test.inter", line=3)
    assert "must end with the user's validation target 'b'" in msg
    folder = write(tmp_path / "b", "u\ta b\tc\n", "u\tz b c\td\n")
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), "x.valid.inter", line=2)
    assert "disagrees with the test row's history" in msg


def test_users_missing_from_one_file(tmp_path, data_error):
    folder = write(tmp_path / "a", "u\ta\tb\n", "u\ta b\tc\nw\ta b\tc\n")
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), "x.test.inter", line=3)
    assert "user 'w' has no row in x.valid.inter" in msg
    folder = write(tmp_path / "b", "u\ta\tb\nw\ta\tb\n", "u\ta b\tc\n")
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), "x.valid.inter", line=3)
    assert "user 'w' has no row in x.test.inter" in msg


def test_a_second_row_of_a_user_is_refused(tmp_path, data_error):
    folder = write(tmp_path / "a", "u\ta\tb\nu\ta\tb\n", "u\ta b\tc\n")
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), "x.valid.inter", line=3)
    assert "second row (first on line 2)" in msg


def test_missing_file_and_bad_header(tmp_path, data_error, fixtures):
    folder = tmp_path / "g"
    shutil.copytree(fixtures / "recbole-split/tiny", folder)
    (folder / "tiny.valid.inter").unlink()
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), str(folder))
    assert "missing file tiny.valid.inter" in msg
    folder = write(tmp_path / "h", "u\ta\tb\n", "u\ta b\tc\n")
    (folder / "x.test.inter").write_text("user_id:token\titem_id:token\nu\tc\n")
    msg = data_error(lambda: recbole_split.load(folder, use_cache=False), "x.test.inter", line=1)
    assert "item_id_list" in msg


def test_several_datasets_in_one_folder(tmp_path):
    folder = write(tmp_path / "f", "u\ta\tb\n", "u\ta b\tc\n", name="one")
    write(folder, "u\ta\tb\n", "u\ta b\tc\n", name="two")
    with pytest.raises(DataError, match="several datasets"):
        recbole_split.load(folder, use_cache=False)
    assert recbole_split.load(folder / "two.test.inter", use_cache=False).name == "two"
