from benchmark.data import grouplens


def test_loads_tiny_grouplens(fixtures):
    ds = grouplens.load(fixtures / "grouplens-100k/tiny", use_cache=False)
    assert ds.name == "tiny"
    assert ds.format == "grouplens-100k"
    assert ds.user_raw_ids == ["1", "2", "3"]
    assert ds.items["raw_id"].tolist() == ["10", "20", "30", "40"]
    assert ds.items["title"].tolist() == [
        "Toy Story (1995)",
        "Café Society (1995)",  # latin-1 in u.item
        "unknown",
        "Never Rated (1996)",
    ]
    assert ds.items["categories"].tolist() == [
        "Animation, Children's, Comedy",
        "Drama",
        "unknown",
        None,
    ]
    assert ds.item_text(1) == "Toy Story (1995) | Animation, Children's, Comedy"


def test_ties_broken_by_file_order(fixtures):
    ds = grouplens.load(fixtures / "grouplens-100k/tiny", use_cache=False)
    # user 1: item 20 @..000, then items 10 (line 1) and 30 (line 3) tied @..949
    assert ds.sequences()[0].tolist() == [2, 1, 3]


def test_u_data_file_path_and_no_u_item(tmp_path):
    (tmp_path / "u.data").write_text("1\t5\t3\t100\n")
    ds = grouplens.load(tmp_path / "u.data", use_cache=False)
    assert ds.n_items == 1 and ds.items["title"].tolist() == [None]


def test_non_integer_user(copy_fixture, data_error):
    d = copy_fixture("grouplens-100k/tiny")
    lines = (d / "u.data").read_text().splitlines()
    lines[2] = "abc\t30\t5\t881250949"
    (d / "u.data").write_text("\n".join(lines) + "\n")
    msg = data_error(lambda: grouplens.load(d, use_cache=False), "u.data", line=3)
    assert "'user'" in msg and "integer" in msg and "abc" in msg


def test_non_integer_timestamp(tmp_path, data_error):
    (tmp_path / "u.data").write_text("1\t5\t3\t100\n1\t6\t3\t1.5e3\n")
    msg = data_error(lambda: grouplens.load(tmp_path, use_cache=False), "u.data", line=2)
    assert "timestamp" in msg


def test_wrong_field_count(tmp_path, data_error):
    (tmp_path / "u.data").write_text("1\t5\t3\n")
    msg = data_error(lambda: grouplens.load(tmp_path, use_cache=False), "u.data", line=1)
    assert "4 tab-separated" in msg


def test_ragged_line(tmp_path, data_error):
    (tmp_path / "u.data").write_text("1\t5\t3\t9\n1\t6\t3\t9\t9\n")
    data_error(lambda: grouplens.load(tmp_path, use_cache=False), "u.data", line=2)


def test_bad_item_id_in_u_item(copy_fixture, data_error):
    d = copy_fixture("grouplens-100k/tiny")
    raw = (d / "u.item").read_bytes().split(b"\n")
    raw[1] = b"x20" + raw[1][2:]
    (d / "u.item").write_bytes(b"\n".join(raw))
    data_error(lambda: grouplens.load(d, use_cache=False), "u.item", line=2)


def test_bad_genre_flag(copy_fixture, data_error):
    d = copy_fixture("grouplens-100k/tiny")
    raw = (d / "u.item").read_bytes().split(b"\n")
    raw[3] = raw[3][:-1] + b"2"
    (d / "u.item").write_bytes(b"\n".join(raw))
    msg = data_error(lambda: grouplens.load(d, use_cache=False), "u.item", line=4)
    assert "Western" in msg


def test_missing_u_data(tmp_path, data_error):
    (tmp_path / "u.item").write_text("")
    msg = data_error(lambda: grouplens.load(tmp_path, use_cache=False), str(tmp_path))
    assert "u.data" in msg


def test_missing_directory(tmp_path, data_error):
    data_error(lambda: grouplens.load(tmp_path / "nope", use_cache=False), "nope")


def test_blank_u_data(tmp_path, data_error):
    (tmp_path / "u.data").write_text("\n\n")
    data_error(lambda: grouplens.load(tmp_path, use_cache=False), "u.data")
