"""Verified local copies of PyPI wheels that carry data or weights (never installed).

PyPI keeps every release's files and pins them by sha256, so a wheel is a durable, checkable
mirror for files we cannot fetch from their original hosts here: ML-100K (recbole's wheel) and
the embedded LLM (SmolLM2's GGUF). The user can point an environment variable at a copy
obtained by other means.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
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
