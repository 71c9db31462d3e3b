"""Content hashes of dataset sources.

The hash keys the parquet cache and is recorded with results, so it must change whenever the
bytes a loader reads change, and also when the loader would read them differently (format name,
options such as k-core). It must not depend on where the files live, so only each file's role
name (its name relative to the dataset root) enters, never its absolute path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

_CHUNK = 1 << 20

Source = tuple[str, Path | bytes]
"""A source file: its name relative to the dataset root, and a path or its bytes."""


def content_hash(
    sources: Iterable[Source], *, format: str, options: Mapping[str, object] | None = None
) -> str:
    """sha256 over the sources' bytes in name order, the format name and non-None options."""
    digest = hashlib.sha256()
    digest.update(b"recbench-data\0")
    digest.update(format.encode() + b"\0")
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    digest.update(json.dumps(opts, sort_keys=True, default=str).encode() + b"\0")
    for name, src in sorted(sources, key=lambda s: s[0]):
        digest.update(name.encode() + b"\0")
        if isinstance(src, bytes):
            digest.update(len(src).to_bytes(8, "little"))
            digest.update(src)
            continue
        digest.update(Path(src).stat().st_size.to_bytes(8, "little"))
        with open(src, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Plain sha256 of one file, for checking downloads against a pinned digest."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
