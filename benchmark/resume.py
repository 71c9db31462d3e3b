"""What a resumed run may skip: only an entry it can verify.

A finished entry is a result JSON that parses and whose per-user file (``per_user_file``) exists
with the sha256 the JSON records (``per_user_sha256``). The results writer puts the sidecar
down before the JSON, but a file truncated or swapped afterwards (a full disk, a copy cut
short, a stray edit) would otherwise count as done forever; such entries are rerun instead, and
the run says why.

A finished entry whose config hash matches is kept even when a method default has changed
since it ran (the hash covers the config's ``method_params``, not the defaults): the runner
says so with :func:`changed_params`, and ``--force`` reruns it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def read_entry(json_path: Path) -> dict[str, Any] | None:
    """The result record at ``json_path``, or None when it does not parse as a JSON object."""
    try:
        record = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        return None
    return record if isinstance(record, dict) else None


def sidecar_problem(json_path: Path, record: dict[str, Any]) -> str | None:
    """Why the per-user file of ``record`` cannot be trusted, or None when it matches the
    sha256 recorded in the JSON."""
    name, digest = record.get("per_user_file"), record.get("per_user_sha256")
    if not isinstance(name, str) or not isinstance(digest, str):
        return "it records no per-user file and sha256"
    sidecar = Path(json_path).with_name(name)
    if not sidecar.is_file():
        return f"its per-user file {name} is missing"
    if hashlib.sha256(sidecar.read_bytes()).hexdigest() != digest:
        return "its per-user file does not match its recorded sha256"
    return None


def is_finished(json_path: Path) -> bool:
    """Whether ``json_path`` holds a verified result (see the module docstring)."""
    record = read_entry(json_path) if Path(json_path).is_file() else None
    return record is not None and sidecar_problem(json_path, record) is None


def changed_params(recorded: Any, resolved: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The parameters a result recorded (``method.params``) whose value differs from what they
    resolve to now, as ``name: (recorded, now)``. Only names in both count: a parameter a
    method dropped, or one it gained, says nothing about the values that ran. Values are
    compared as the record stores them (JSON), so a tuple and a list are the same."""
    if not isinstance(recorded, dict):
        return {}
    now = json.loads(json.dumps(resolved, default=str))
    return {k: (recorded[k], now[k]) for k in sorted(set(recorded) & set(now))
            if recorded[k] != now[k]}  # fmt: skip
