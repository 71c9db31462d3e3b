import json

import pytest

from benchmark.data import p5


def test_loads_tiny_p5(fixtures):
    ds = p5.load(fixtures / "p5/tiny", use_cache=False)
    assert ds.name == "tiny"
    assert ds.format == "p5"
    assert ds.user_raw_ids == ["1", "2", "3"]
    # integer ids are kept: item index == shipped id, including item 6 seen only in datamaps
    assert ds.items["raw_id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    assert ds.items["item"].tolist() == [1, 2, 3, 4, 5, 6]
    assert ds.items["asin"].tolist() == ["B001", "B002", "0439893577", "B004", "B005", "B006"]
    # titles keyed by ASIN (also an all-digit one) or by item id; B999 is not in the dataset
    assert ds.items["title"].tolist() == [
        "plush cat toy",
        "wooden railway",
        "picture book",
        None,
        "puzzle by id",
        None,
    ]
    assert [s.tolist() for s in ds.sequences()] == [[3, 1, 2], [2, 4], [1, 3, 5, 2]]


def test_timestamps_are_positions(fixtures):
    ds = p5.load(fixtures / "p5/tiny", use_cache=False)
    inter = ds.interactions
    assert inter[inter["user"] == 2]["timestamp"].tolist() == [0, 1, 2, 3]
    assert inter["row"].tolist() == list(range(9))


def test_idgenrec_layout_with_user2id_item2id(fixtures):
    ds = p5.load(fixtures / "p5/idgenrec", use_cache=False)
    assert [s.tolist() for s in ds.sequences()] == [[2, 1], [3, 2, 1]]
    assert ds.items["asin"].tolist() == ["B010", "B020", "B030"]
    assert ds.items["title"].tolist() == ["red ball", "blue kite", "green yoyo"]


def test_item2id_keyed_by_index_is_accepted(copy_fixture):
    # RDRec's README stores index -> ASIN under the name item2id
    d = copy_fixture("p5/idgenrec")
    (d / "datamaps.json").write_text(
        json.dumps({"item2id": {"1": "B010", "2": "B020", "3": "B030"}})
    )
    ds = p5.load(d, use_cache=False)
    assert ds.items["asin"].tolist() == ["B010", "B020", "B030"]


def test_blank_lines_are_skipped(copy_fixture):
    d = copy_fixture("p5/tiny")
    (d / "sequential_data.txt").write_text("1 3 1 2\n\n2 2 4\n3 1 3 5 2\n\n\n")
    assert p5.load(d, use_cache=False).n_users == 3


def _write_seq(d, text):
    (d / "sequential_data.txt").write_text(text)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("1 3 1 2\n2 2 x4\n", 2, "'x4'"),
        ("1 3 1 2\n2 2 -4\n", 2, "'-4'"),
        ("1 3 1 2\nB0001 2 4\n", 2, "'B0001'"),
        ("1 3 1 2\n\n2\n", 3, "no items"),
        ("1 3 1 2\n2 2\n1 4\n", 3, "appears again (first on line 1)"),
        ("1 3 1 2\n2 2 7\n", 2, "item 7"),
    ],
)
def test_malformed_sequences(copy_fixture, data_error, text, line, needle):
    d = copy_fixture("p5/tiny")
    _write_seq(d, text)
    msg = data_error(lambda: p5.load(d, use_cache=False), "sequential_data.txt", line=line)
    assert needle in msg


def test_missing_datamaps(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "datamaps.json").unlink()
    msg = data_error(lambda: p5.load(d, use_cache=False), str(d))
    assert "datamaps.json" in msg


def test_missing_sequential(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "sequential_data.txt").unlink()
    msg = data_error(lambda: p5.load(d, use_cache=False), str(d))
    assert "sequential_data.txt or sequential.txt" in msg


def test_bad_datamaps_json(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "datamaps.json").write_text('{\n "id2item": {"1": "B001",\n}\n')
    data_error(lambda: p5.load(d, use_cache=False), "datamaps.json", line=3)


def test_datamaps_without_item_map(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "datamaps.json").write_text('{"id2user": {"1": "AU1"}}')
    msg = data_error(lambda: p5.load(d, use_cache=False), "datamaps.json")
    assert "id2item or item2id" in msg and "id2user" in msg


def test_datamaps_with_non_integer_ids(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "datamaps.json").write_text('{"id2item": {"1": "B001", "two": "B002"}}')
    msg = data_error(lambda: p5.load(d, use_cache=False), "datamaps.json")
    assert "'two'" in msg


def test_sequential_not_utf8(copy_fixture, data_error):
    d = copy_fixture("p5/tiny")
    (d / "sequential_data.txt").write_bytes(b"1 3 1 2\n2 \xff 4\n")
    data_error(lambda: p5.load(d, use_cache=False), "sequential_data.txt", line=2)
