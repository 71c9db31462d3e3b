"""The parquet cache and the content hash."""

import os
import shutil
import stat

import pandas as pd
import pytest

from benchmark.data import amazon2018, atomic, grouplens, load_dataset, movielens_csv, p5
from benchmark.data.cache import CACHE_VERSION, entry_dir, read_cache, write_cache
from benchmark.data.hashing import content_hash

FORMAT_FIXTURES = [
    (atomic, "atomic/tiny", "tiny.inter"),
    (grouplens, "grouplens-100k/tiny", "u.data"),
    (p5, "p5/tiny", "sequential_data.txt"),
    (amazon2018, "amazon2018/plain", "Tiny_5.json"),
    (movielens_csv, "movielens-csv/crlf", "ratings.csv"),
]
IDS = [rel for _, rel, _ in FORMAT_FIXTURES]


def boom(*args, **kwargs):
    raise AssertionError("the parser must not run on a cache hit")


def assert_same(a, b):
    assert (a.name, a.format, a.content_hash, a.user_raw_ids, a.meta) == (
        b.name, b.format, b.content_hash, b.user_raw_ids, b.meta
    )  # fmt: skip
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items, b.items)
    if a.reviews is None:
        assert b.reviews is None
    else:
        pd.testing.assert_frame_equal(a.reviews, b.reviews)


@pytest.mark.parametrize(("module", "rel", "_file"), FORMAT_FIXTURES, ids=IDS)
def test_second_load_does_not_parse(fixtures, tmp_path, monkeypatch, module, rel, _file):
    first = load_dataset(str(fixtures / rel), cache_dir=tmp_path)
    assert entry_dir(tmp_path, first.content_hash).is_dir()
    monkeypatch.setattr(module, "parse", boom)
    second = load_dataset(str(fixtures / rel), cache_dir=tmp_path)
    assert_same(first, second)
    assert second.item_text(1) == first.item_text(1)
    with pytest.raises(AssertionError, match="must not run"):
        load_dataset(str(fixtures / rel), cache_dir=tmp_path, use_cache=False)


def test_default_cache_dir_is_under_recbench_cache(fixtures, isolated_cache):
    ds = load_dataset(str(fixtures / "p5/tiny"))
    assert entry_dir(isolated_cache / "datasets", ds.content_hash).is_dir()
    assert f"v{CACHE_VERSION}" in str(entry_dir(isolated_cache, ds.content_hash))


def test_use_cache_false_writes_nothing(fixtures, tmp_path):
    load_dataset(str(fixtures / "p5/tiny"), cache_dir=tmp_path, use_cache=False)
    assert not any(tmp_path.iterdir())


def test_cache_hit_takes_name_and_source_of_this_load(copy_fixture, tmp_path):
    a = copy_fixture("p5/tiny", "first")
    b = copy_fixture("p5/tiny", "second")
    cache = tmp_path / "cache"
    one = load_dataset(str(a), cache_dir=cache)
    two = load_dataset(str(b), cache_dir=cache)
    assert one.content_hash == two.content_hash  # location does not enter the hash
    assert (one.name, two.name) == ("first", "second")
    assert two.source == str(b.resolve())


@pytest.mark.parametrize("damage", ["truncate-parquet", "garbage-json", "drop-json", "wrong-key"])
def test_corrupt_cache_falls_back_to_parsing(fixtures, tmp_path, damage):
    fresh = load_dataset(str(fixtures / "amazon2018/plain"), cache_dir=tmp_path)
    entry = entry_dir(tmp_path, fresh.content_hash)
    if damage == "truncate-parquet":
        data = (entry / "interactions.parquet").read_bytes()
        (entry / "interactions.parquet").write_bytes(data[: len(data) // 3])
    elif damage == "garbage-json":
        (entry / "dataset.json").write_text("{not json")
    elif damage == "drop-json":
        (entry / "dataset.json").unlink()
    else:
        text = (entry / "dataset.json").read_text()
        (entry / "dataset.json").write_text(text.replace(fresh.content_hash, "0" * 64))
    with pytest.warns(UserWarning, match="unreadable dataset cache"):
        again = load_dataset(str(fixtures / "amazon2018/plain"), cache_dir=tmp_path)
    assert_same(fresh, again)
    # the entry was rewritten: the next load is a clean hit
    third = load_dataset(str(fixtures / "amazon2018/plain"), cache_dir=tmp_path)
    assert_same(fresh, third)
    assert sorted(p.name for p in entry.parent.iterdir()) == [fresh.content_hash]


def test_cache_write_leaves_no_temp_dirs(fixtures, tmp_path):
    for rel in IDS:
        load_dataset(str(fixtures / rel), cache_dir=tmp_path)
    names = [p.name for p in (tmp_path / f"v{CACHE_VERSION}").iterdir()]
    assert len(names) == len(IDS)
    assert not [n for n in names if n.startswith(".")]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_cache_warns_and_still_loads(fixtures, tmp_path):
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.warns(UserWarning, match="cannot write dataset cache"):
            ds = load_dataset(str(fixtures / "p5/tiny"), cache_dir=tmp_path / "c")
    finally:
        tmp_path.chmod(stat.S_IRWXU)
    assert ds.n_users == 3


def test_unwritable_cache_file_in_the_way(fixtures, tmp_path):
    (tmp_path / "c").write_text("a file where the cache directory should be")
    with pytest.warns(UserWarning, match="cannot write dataset cache"):
        ds = load_dataset(str(fixtures / "p5/tiny"), cache_dir=tmp_path / "c")
    assert ds.n_users == 3


@pytest.mark.parametrize(("module", "rel", "file"), FORMAT_FIXTURES, ids=IDS)
def test_hash_changes_when_a_file_changes(copy_fixture, tmp_path, module, rel, file):
    d = copy_fixture(rel)
    before = module.load(d, cache_dir=tmp_path / "cache")
    data = (d / file).read_bytes()
    last = data.splitlines(keepends=True)[-1]
    extra = b"9 1\n" if module is p5 else last  # P5 allows one line per user
    (d / file).write_bytes(data + extra)
    after = module.load(d, cache_dir=tmp_path / "cache")
    assert after.content_hash != before.content_hash
    assert len(after.interactions) == len(before.interactions) + (module is not amazon2018)


def test_hash_covers_optional_files(copy_fixture):
    d = copy_fixture("movielens-csv/crlf")
    with_movies = movielens_csv.load(d, use_cache=False).content_hash
    (d / "movies.csv").unlink()
    assert movielens_csv.load(d, use_cache=False).content_hash != with_movies


def test_content_hash_properties(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    base = content_hash([("x", tmp_path / "a"), ("y", b"def")], format="f")
    # stable order: the order sources are given in does not matter; bytes == path
    assert base == content_hash([("y", b"def"), ("x", b"abc")], format="f")
    assert base != content_hash([("x", b"abc"), ("y", b"deg")], format="f")
    assert base != content_hash([("x", b"abcd"), ("y", b"ef")], format="f")  # boundaries
    assert base != content_hash([("x", b"abc"), ("z", b"def")], format="f")  # roles
    assert base != content_hash([("x", b"abc"), ("y", b"def")], format="g")  # format
    assert base != content_hash([("x", b"abc"), ("y", b"def")], format="f", options={"kcore": 5})
    assert base == content_hash([("x", b"abc"), ("y", b"def")], format="f", options={"k": None})
    assert len(base) == 64


def test_fixture_copies_are_identical_bytes(fixtures, tmp_path):
    # guards the hash tests above: copying must not alter bytes (e.g. CRLF)
    shutil.copytree(fixtures / "movielens-csv/crlf", tmp_path / "c")
    a = movielens_csv.load(fixtures / "movielens-csv/crlf", use_cache=False).content_hash
    assert a == movielens_csv.load(tmp_path / "c", use_cache=False).content_hash


def test_concurrent_writer_keeps_the_existing_entry(fixtures, tmp_path):
    ds = load_dataset(str(fixtures / "p5/tiny"), cache_dir=tmp_path)
    entry = entry_dir(tmp_path, ds.content_hash)
    marker = entry / "written-first"
    marker.write_text("")
    assert write_cache(tmp_path, ds) == entry  # another process finishing second
    assert marker.exists()
    assert [p.name for p in entry.parent.iterdir()] == [ds.content_hash]
    assert read_cache(tmp_path, ds.content_hash) is not None
