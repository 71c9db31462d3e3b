"""Run one batch of requests through :class:`~.vllm.VLLMBackend` in a fresh process.

Why a separate process: vLLM starts worker processes and wants its engine created from a
spawn-safe entry point (a ``__main__`` guard), and an engine holds its memory until that
process ends. Tests and tools that live in a long-running process (pytest) hand their requests
to this module instead::

    python -m benchmark.backends.llm.vllm_run requests.json results.json

``requests.json``: ``{"model_dir": ..., "device": "auto", "options": {...}, "generate": [...],
"score": [...], "embeds": [...]}`` with the fields of :class:`GenerateRequest`,
:class:`ScoreRequest` and :class:`EmbedsGenerateRequest` (``prompt_embeds`` as nested lists).
``results.json`` holds the results in the same order, ``info`` and the seconds each part took.
:func:`run_vllm` does the round trip from Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.backends.llm.base import (
    EmbedsGenerateRequest,
    GenerateRequest,
    GenerateResult,
    ScoreRequest,
    ScoreResult,
)

__all__ = ["VLLMRun", "run_vllm"]


class VLLMRun:
    """What :func:`run_vllm` brings back: results per request kind, ``info()`` of the backend
    and wall seconds (``load``, ``generate``, ``score``, ``embeds``)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.generate = [GenerateResult(**r) for r in record["generate"]]
        self.score = [
            ScoreResult(np.array(r["logprobs"], dtype=np.float64),
                        np.array(r["n_tokens"], dtype=np.int64))
            for r in record["score"]
        ]  # fmt: skip
        self.embeds = [GenerateResult(**r) for r in record["embeds"]]
        self.info: dict[str, Any] = record["info"]
        self.seconds: dict[str, float] = record["seconds"]


def run_vllm(
    model_dir: str | Path,
    generate: Sequence[GenerateRequest] = (),
    score: Sequence[ScoreRequest] = (),
    embeds: Sequence[EmbedsGenerateRequest] = (),
    device: str = "auto",
    timeout: float = 900,
    env: dict[str, str] | None = None,
    **options: Any,
) -> VLLMRun:
    """Serve the requests with a ``VLLMBackend(model_dir, device, **options)`` in a child
    process; raises RuntimeError with the child's output tail if it fails."""
    record = {
        "model_dir": str(model_dir),
        "device": device,
        "options": options,
        "generate": [asdict(r) for r in generate],
        "score": [asdict(r) for r in score],
        "embeds": [
            {
                **{k: v for k, v in asdict(r).items() if k != "prompt_embeds"},
                "prompt_embeds": r.prompt_embeds.float().tolist(),
            }
            for r in embeds
        ],
    }
    with tempfile.TemporaryDirectory(prefix="recbench-vllm-") as tmp:
        src, dst = Path(tmp) / "requests.json", Path(tmp) / "results.json"
        src.write_text(json.dumps(record), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", __name__, str(src), str(dst)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if proc.returncode != 0 or not dst.is_file():
            tail = (proc.stdout + proc.stderr)[-4000:]
            raise RuntimeError(f"vLLM child process failed (exit {proc.returncode}):\n{tail}")
        return VLLMRun(json.loads(dst.read_text(encoding="utf-8")))


def _serve(src: Path, dst: Path) -> None:
    from benchmark.backends.llm.vllm import VLLMBackend

    record = json.loads(src.read_text(encoding="utf-8"))
    generate = [_generate_request(r) for r in record["generate"]]
    score = [ScoreRequest(r["prompt"], tuple(r["continuations"])) for r in record["score"]]
    embeds = [
        EmbedsGenerateRequest(
            torch.tensor(r["prompt_embeds"], dtype=torch.float32), r["max_new_tokens"],
            r["temperature"], tuple(r["stop"]), r["seed"],
        )
        for r in record["embeds"]
    ]  # fmt: skip
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    backend = VLLMBackend(record["model_dir"], device=record["device"], **record["options"])
    seconds["load"] = time.perf_counter() - start
    out: dict[str, Any] = {}
    for key, requests, method in (
        ("generate", generate, backend.generate),
        ("score", score, backend.score),
        ("embeds", embeds, backend.generate_from_embeds),
    ):
        start = time.perf_counter()
        results = method(requests) if requests else []
        seconds[key] = time.perf_counter() - start
        out[key] = [
            {"logprobs": r.logprobs.tolist(), "n_tokens": r.n_tokens.tolist()}
            if isinstance(r, ScoreResult)
            else asdict(r)
            for r in results
        ]
    out["info"] = backend.info()
    out["seconds"] = seconds
    dst.write_text(json.dumps(out), encoding="utf-8")
    backend.close()


def _generate_request(r: dict[str, Any]) -> GenerateRequest:
    return GenerateRequest(r["prompt"], r["max_new_tokens"], r["temperature"], tuple(r["stop"]),
                           r["seed"])  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'vllm_run'} IN.json OUT.json")
    _serve(Path(sys.argv[1]), Path(sys.argv[2]))
