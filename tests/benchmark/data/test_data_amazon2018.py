import gzip
import json
import shutil

import pandas as pd
import pytest

from benchmark.data import amazon2018
from benchmark.errors import ConfigError


def review(user, item, t, **extra):
    return json.dumps({"reviewerID": user, "asin": item, "unixReviewTime": t, **extra}) + "\n"


def test_loads_plain_json(fixtures):
    ds = amazon2018.load(fixtures / "amazon2018/plain", use_cache=False)
    assert ds.name == "plain"
    assert ds.format == "amazon2018"
    assert ds.user_raw_ids == ["A1", "A2", "A3"]
    assert ds.items["raw_id"].tolist() == ["B01", "B02", "B03", "B04"]
    assert ds.meta["reviews_read"] == 9
    assert ds.meta["duplicates_dropped"] == 3
    assert len(ds.interactions) == 6


def test_duplicates_keep_the_earliest_copy(fixtures):
    ds = amazon2018.load(fixtures / "amazon2018/plain", use_cache=False)
    rev = ds.reviews.set_index(["user", "item"])
    # A1/B01: time 100 beats the later time 300
    assert rev.loc[(0, 1), "text"] == "great"
    # A2/B03: same time 50 twice -> the earlier line wins
    assert rev.loc[(1, 3), "text"] == "first copy"
    # A3/B02: the copy further down the file has the earlier time and wins
    assert rev.loc[(2, 2), "text"] == "earlier copy below"
    assert rev.loc[(2, 2), "timestamp"] == 300
    assert not ds.interactions.duplicated(["user", "item"]).any()


def test_ties_and_rows(fixtures):
    ds = amazon2018.load(fixtures / "amazon2018/plain", use_cache=False)
    # A1: B01 (line 1) and B02 (line 3) both at t=100 -> file order
    assert ds.sequences()[0].tolist() == [1, 2]
    assert ds.sequences()[1].tolist() == [4, 3, 1]
    # row is the 0-based line of the kept review in the source file
    assert ds.interactions["row"].tolist() == [0, 2, 8, 4, 1, 7]


def test_reviews_columns(fixtures):
    ds = amazon2018.load(fixtures / "amazon2018/plain", use_cache=False)
    assert list(ds.reviews.columns) == ["user", "item", "rating", "text", "summary", "timestamp"]
    assert ds.reviews["rating"].tolist() == [5.0, 4.0, 3.0, 2.0, 2.0, 5.0]
    assert len(ds.reviews) == len(ds.interactions)


def test_gzip_equals_plain(fixtures):
    plain = amazon2018.load(fixtures / "amazon2018/plain/Tiny_5.json", use_cache=False)
    gz = amazon2018.load(fixtures / "amazon2018/gz/Tiny_5.json.gz", use_cache=False)
    assert gz.name == "Tiny_5"
    pd.testing.assert_frame_equal(plain.interactions, gz.interactions)
    pd.testing.assert_frame_equal(plain.reviews, gz.reviews)
    assert plain.content_hash != gz.content_hash  # the hash is over the bytes as shipped


def test_missing_review_text_is_none(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(review("U1", "I1", 1, summary="s") + review("U1", "I2", 2, reviewText="t"))
    ds = amazon2018.load(f, use_cache=False)
    assert ds.reviews["text"].tolist() == [None, "t"]
    assert ds.reviews["summary"].tolist() == ["s", None]


def test_kcore(tmp_path):
    lines = [
        review("U1", "I1", 1), review("U1", "I2", 2), review("U2", "I1", 3),
        review("U2", "I2", 4), review("U3", "I1", 5), review("U3", "I3", 6),
        review("U4", "I3", 7),
    ]  # fmt: skip
    (tmp_path / "r.json").write_text("".join(lines))
    full = amazon2018.load(tmp_path, use_cache=False)
    assert full.n_users == 4
    two = amazon2018.load(tmp_path, use_cache=False, kcore=2)
    # I3 has 2 reviews but U4 only 1: dropping U4 drops I3 to 1, which then drops U3 to 1
    assert two.user_raw_ids == ["U1", "U2"]
    assert two.items["raw_id"].tolist() == ["I1", "I2"]
    assert two.meta["kcore"] == 2 and two.meta["kcore_dropped"] == 3
    assert two.content_hash != full.content_hash
    with pytest.raises(Exception, match="no reviews left after 9-core"):
        amazon2018.load(tmp_path, use_cache=False, kcore=9)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "5"])
def test_kcore_must_be_positive_int(fixtures, bad):
    with pytest.raises(ConfigError, match="kcore"):
        amazon2018.load(fixtures / "amazon2018/plain", use_cache=False, kcore=bad)


def test_directory_with_two_review_files(tmp_path, fixtures, data_error):
    shutil.copy(fixtures / "amazon2018/plain/Tiny_5.json", tmp_path / "A.json")
    shutil.copy(fixtures / "amazon2018/gz/Tiny_5.json.gz", tmp_path / "B.json.gz")
    msg = data_error(lambda: amazon2018.load(tmp_path, use_cache=False), str(tmp_path))
    assert "A.json" in msg and "B.json.gz" in msg


def test_meta_file_is_not_a_review_file(tmp_path, fixtures):
    shutil.copy(fixtures / "amazon2018/plain/Tiny_5.json", tmp_path / "Tiny_5.json")
    (tmp_path / "meta_Tiny.json").write_text('{"asin": "B01", "title": "x"}\n')
    assert amazon2018.load(tmp_path, use_cache=False).n_users == 3


def test_empty_directory(tmp_path, data_error):
    data_error(lambda: amazon2018.load(tmp_path, use_cache=False), str(tmp_path))


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"reviewerID": "U2", "asin": "I2", "unixReviewTime": 3\n', "invalid JSON"),
        ('{"reviewerID": "U2", "unixReviewTime": 3}\n', "'asin'"),
        ('{"reviewerID": "U2", "asin": "I2"}\n', "'unixReviewTime'"),
        ('{"reviewerID": "U2", "asin": "I2", "unixReviewTime": "soon"}\n', "unixReviewTime"),
        ('{"reviewerID": "U2", "asin": "I2", "unixReviewTime": 3, "overall": "x"}\n', "overall"),
        ('["U2", "I2", 3]\n', "JSON object"),
    ],
)
def test_malformed_lines(tmp_path, data_error, line, needle):
    f = tmp_path / "Bad.json"
    f.write_text(review("U1", "I1", 1) + "\n" + line)
    msg = data_error(lambda: amazon2018.load(f, use_cache=False), "Bad.json", line=3)
    assert needle in msg


def test_malformed_line_in_gzip(tmp_path, data_error):
    f = tmp_path / "Bad.json.gz"
    f.write_bytes(gzip.compress((review("U1", "I1", 1) + "{oops\n").encode()))
    data_error(lambda: amazon2018.load(f, use_cache=False), "Bad.json.gz", line=2)


def test_truncated_gzip(tmp_path, data_error, fixtures):
    data = (fixtures / "amazon2018/gz/Tiny_5.json.gz").read_bytes()
    f = tmp_path / "Cut.json.gz"
    f.write_bytes(data[: len(data) // 2])
    data_error(lambda: amazon2018.load(f, use_cache=False), "Cut.json.gz")


def test_string_times_and_missing_rating(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(review("U1", "I1", "17") + review("U1", "I2", 18, overall=4))
    ds = amazon2018.load(f, use_cache=False)
    assert ds.interactions["timestamp"].tolist() == [17, 18]
    assert pd.isna(ds.reviews["rating"].iloc[0]) and ds.reviews["rating"].iloc[1] == 4.0
