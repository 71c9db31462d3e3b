import pytest

from benchmark.data import movielens_csv


def test_fixture_really_has_crlf(fixtures):
    assert b"\r\n" in (fixtures / "movielens-csv/crlf/ratings.csv").read_bytes()
    assert b"\r\n" in (fixtures / "movielens-csv/crlf/movies.csv").read_bytes()


def test_loads_crlf_csv(fixtures):
    ds = movielens_csv.load(fixtures / "movielens-csv/crlf", use_cache=False)
    assert ds.name == "crlf"
    assert ds.format == "movielens-csv"
    assert ds.user_raw_ids == ["1", "2"]
    assert ds.items["raw_id"].tolist() == ["1", "3", "6", "9"]
    assert ds.items["title"].tolist() == [
        "Toy Story (1995)",
        "Grumpier Old Men (1995)",
        "American President, The (1995)",  # quoted, with a comma
        "Unrated Film (2018)",
    ]
    assert ds.items["categories"].tolist() == [
        "Adventure, Animation, Children, Comedy, Fantasy",
        "Comedy, Romance",
        "Comedy, Drama, Romance",
        None,  # "(no genres listed)"
    ]
    assert not any("\r" in t for t in ds.items["title"])
    assert ds.interactions["timestamp"].dtype.kind == "i"


def test_ties_broken_by_file_order(fixtures):
    ds = movielens_csv.load(fixtures / "movielens-csv/crlf", use_cache=False)
    # user 1: movie 3 first, then movies 1 (line 2) and 6 (line 4) tied
    # user 2: movie 6 first, then movies 1 (line 5) and 3 (line 6) tied
    assert [s.tolist() for s in ds.sequences()] == [[2, 1, 3], [3, 1, 2]]


def test_renamed_headers_without_movies(fixtures):
    ds = movielens_csv.load(fixtures / "movielens-csv/renamed", use_cache=False)
    assert ds.user_raw_ids == ["10", "20"]
    assert ds.items["title"].tolist() == [None, None]
    assert [s.tolist() for s in ds.sequences()] == [[1, 2], [1]]


def test_ratings_file_path(fixtures):
    ds = movielens_csv.load(fixtures / "movielens-csv/crlf/ratings.csv", use_cache=False)
    assert ds.name == "crlf" and ds.n_users == 2


def test_bom_is_ignored(tmp_path):
    (tmp_path / "ratings.csv").write_bytes(
        b"\xef\xbb\xbfuserId,movieId,rating,timestamp\n1,2,3,4\n"
    )
    assert movielens_csv.load(tmp_path, use_cache=False).n_users == 1


def test_missing_column(tmp_path, data_error):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating\r\n1,2,3\r\n")
    msg = data_error(lambda: movielens_csv.load(tmp_path, use_cache=False), "ratings.csv", line=1)
    assert "timestamp" in msg and "userId,movieId,rating,timestamp" in msg


def test_movies_missing_title_column(copy_fixture, data_error):
    d = copy_fixture("movielens-csv/crlf")
    (d / "movies.csv").write_text("movieId,name,genres\r\n1,x,y\r\n")
    msg = data_error(lambda: movielens_csv.load(d, use_cache=False), "movies.csv", line=1)
    assert "title" in msg


@pytest.mark.parametrize(
    ("row", "needle"),
    [("1,5,3.0,noon", "'timestamp'"), ("1,,3.0,5", "'item_id'"), (",5,3.0,5", "'user_id'")],
)
def test_bad_values_name_the_line(tmp_path, data_error, row, needle):
    text = "userId,movieId,rating,timestamp\r\n1,2,3.0,4\r\n1,3,3.0,4\r\n" + row + "\r\n"
    (tmp_path / "ratings.csv").write_bytes(text.encode())
    msg = data_error(lambda: movielens_csv.load(tmp_path, use_cache=False), "ratings.csv", line=4)
    assert needle in msg


def test_missing_ratings(tmp_path, data_error):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n")
    msg = data_error(lambda: movielens_csv.load(tmp_path, use_cache=False), str(tmp_path))
    assert "ratings.csv" in msg


def test_empty_ratings(tmp_path, data_error):
    (tmp_path / "ratings.csv").write_text("")
    msg = data_error(lambda: movielens_csv.load(tmp_path, use_cache=False), "ratings.csv")
    assert "empty" in msg


def test_header_only_ratings(tmp_path, data_error):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\r\n")
    msg = data_error(lambda: movielens_csv.load(tmp_path, use_cache=False), "ratings.csv")
    assert "no data lines" in msg
