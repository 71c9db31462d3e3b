"""Checks made before the first fit, for what would otherwise fail only after training: where
results go, and the stored samples (candidate lists, user samples) that runs will read.

Each problem is one ``RecbenchError`` naming the file or field and the fix, so the CLI exits
with status 2 before anything is trained or written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import ConfigError, ResultsError

#: the arrays each stored sample holds (``tasks.sampling`` writes them)
CANDIDATE_KEYS = ("users", "candidates", "target_col", "content_hash")
USER_SAMPLE_KEYS = ("users", "requested", "population", "content_hash")


def check_results_dir(path: Path) -> None:
    """``path`` is a writable directory, or can be created as one (nothing is created here)."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent  # the ancestor that `mkdir -p` would create the rest under
    if not existing.is_dir():
        where = "is a file" if existing == path else f"would be created under {existing}, a file"
        raise ConfigError(
            f"results_dir: {path} {where}, not a directory; pass a directory to --results-dir"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "" if existing == path else f" (it would be created under {existing})"
        raise ConfigError(
            f"results_dir: {path} is not writable{what}; pass a writable directory to "
            "--results-dir"
        )


def read_sample(path: Path, keys: tuple[str, ...], *, results_dir: Path) -> dict[str, np.ndarray]:
    """Every array of the stored sample at ``path`` (all read, so a damaged member fails here and
    not after a fit); an unreadable file raises with what to do about it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise ValueError(f"no array {', '.join(missing)}")
    except Exception as exc:  # zip, zlib, npy-format and OS errors alike: the file is unusable
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        fix = _fix(path, results_dir)
        raise ResultsError(f"{path}: cannot be read ({reason}); {fix}") from None
    return arrays


def results_using(path: Path, results_dir: Path) -> list[Path]:
    """The result JSONs beside ``path`` (its task directory) that record it as their
    candidates or users file."""
    rel = str(Path(path).relative_to(results_dir))
    using = []
    for json_path in sorted(Path(path).parent.glob("*/seed*.json")):
        try:
            record = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # resume reruns it; it vouches for nothing
        if isinstance(record, dict) and rel in _recorded_files(record):
            using.append(json_path)
    return using


def _recorded_files(record: dict[str, Any]) -> set[str]:
    files = (record.get("candidates_file"), record.get("users_file"))
    return {str(f.get("path")) for f in files if isinstance(f, dict)}


def _fix(path: Path, results_dir: Path) -> str:
    """What to do about a damaged sample: redraw it only if no result depends on its lists."""
    using = results_using(path, results_dir)
    if not using:
        return "no result uses it, so delete it and rerun to draw it again"
    return (
        f"{len(using)} result(s) were evaluated on it (e.g. {using[0]}): restore it (e.g. "
        "git checkout or a backup), or delete it and rerun the entries that used it with --force"
    )


def check_candidates(
    path: Path, *, content_hash: str, users: np.ndarray, n_candidates: int, results_dir: Path
) -> None:
    """The stored candidate lists at ``path`` are readable and were drawn for this data and
    split, as ``tasks.sampling.load_or_sample`` will require once the method is fitted."""
    z = read_sample(path, CANDIDATE_KEYS, results_dir=results_dir)
    _check_hash(path, "candidates", str(z["content_hash"]), content_hash)
    if not np.array_equal(z["users"], users):
        raise ResultsError(f"{path}: stored users differ from the current split")
    if z["candidates"].shape != (len(users), n_candidates) or z["target_col"].shape != users.shape:
        raise ResultsError(
            f"{path}: holds candidate lists of shape {z['candidates'].shape}, expected "
            f"{(len(users), n_candidates)}; {_fix(path, results_dir)}"
        )


def check_user_sample(
    path: Path, *, content_hash: str, population: np.ndarray, requested: int, results_dir: Path
) -> None:
    """The stored user sample at ``path`` is readable and matches this data and request, as
    ``tasks.sampling.load_or_sample_users`` will require."""
    z = read_sample(path, USER_SAMPLE_KEYS, results_dir=results_dir)
    _check_hash(path, "users", str(z["content_hash"]), content_hash)
    if int(z["requested"]) != requested or int(z["population"]) != len(population):
        raise ResultsError(
            f"{path}: stored sample is {int(z['requested'])} of {int(z['population'])} users, "
            f"but this run asks for {requested} of {len(population)}"
        )
    if not np.isin(z["users"], population).all():
        raise ResultsError(f"{path}: stored users are not all in the current split")


def _check_hash(path: Path, what: str, stored: str, content_hash: str) -> None:
    if stored != content_hash:
        raise ResultsError(
            f"{path}: {what} were sampled from data with content hash {stored[:12]}, but the "
            f"data now hashes to {content_hash[:12]}. Use another --results-dir, or delete the "
            "file and rerun every method on this task with --force."
        )
