"""Score-mode LLM re-ranking (``llmrank-ll``) on ML-100K ``rerank``: batched scoring against
naive one-forward-per-candidate scoring of the same (prompt, candidate) pairs, and the wall time
of the whole run.

Issue 15's targets: the batched path (the hf backend's ``score``: one prompt forward per user,
every candidate title continuing its KV cache, all of a user's candidates in one packed forward)
at least 5x the naive path (prompt + title through the model once per candidate, no cache), with
the same scores to 1e-4; and the whole ``llmrank-ll`` run, model load included, under 5 minutes
on 2 cores.

Both paths score the prompts ``llmrank-ll`` builds for the committed ``rerank`` sample (200
users, seed 0's candidate lists, ``results/ml-100k/rerank/``) with the embedded
SmolLM2-135M-Instruct. The naive path is timed on the first ``--naive-users`` users (it takes
about a second per candidate here); rates are per (prompt, candidate) pair, so the ratio
compares like with like. Then ``python -m benchmark run --methods llmrank-ll --tasks rerank``
runs as a user runs it into a temporary directory, timed from start to exit. Results go to
``perf/results/rerank_score.txt``.

    python perf/rerank_score.py [--naive-users 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "rerank_score.txt"
TARGET_SPEEDUP = 5.0
TARGET_RUN_MINUTES = 5.0


def naive_scores(backend, prompt: str, titles: list[str], mean: bool) -> np.ndarray:
    """Every title scored by one full forward over prompt + title (no cache, no batching)."""
    from benchmark.backends.llm.base import continuation_ids, split_trailing_spaces

    text, spaces = split_trailing_spaces(prompt)
    p_ids = backend.encode(text)
    out = []
    for title in titles:
        c_ids = continuation_ids(backend.encode, backend._encode_plain, p_ids, text,
                                 spaces + title)
        with torch.inference_mode():
            logits = backend.model(input_ids=torch.tensor([p_ids + c_ids])).logits[0]
        logp = torch.log_softmax(logits.double(), -1)
        total = sum(float(logp[len(p_ids) + k - 1, t]) for k, t in enumerate(c_ids))
        out.append(total / len(c_ids) if mean else total)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-users", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from benchmark.backends.llm import LLMSpec, embedded_llm_dir, get_backend
    from benchmark.data import load_dataset
    from methods.base import FitContext
    from methods.llmrank import LLMRankLL
    from tasks import TASKS
    from tasks.ranking import build_requests
    from tasks.split import leave_one_out

    model_dir = embedded_llm_dir()  # converted once, before any timing
    ds = load_dataset("ml-100k")
    split = leave_one_out(ds)
    task_dir = ROOT / "results" / "ml-100k" / "rerank"
    req = build_requests(TASKS.get("rerank"), split, stage="test", seed=0,
                         candidates_path=task_dir / "candidates-seed0.npz",
                         content_hash=ds.content_hash, users_path=task_dir / "users.npz")
    backend = get_backend("hf", model_dir, "cpu")
    method = LLMRankLL()
    method.fit(FitContext(dataset=ds, split=split, seed=0, show_progress=False,
                          llm=LLMSpec.from_backend(backend)))
    n_users, n_cands = req.candidates.shape

    t0 = time.perf_counter()
    batched = method.score_candidates(req.users, req.histories, req.candidates).numpy()
    batched_s = time.perf_counter() - t0

    k = min(args.naive_users, n_users)
    t0 = time.perf_counter()
    naive = np.stack([
        naive_scores(backend, method.build_prompt(backend, h, row)[0],
                     [str(method.titles[int(c)]) for c in row], mean=True)
        for h, row in zip(req.histories[:k], req.candidates[:k])
    ])
    naive_s = time.perf_counter() - t0
    max_diff = float(np.abs(naive - batched[:k]).max())

    batched_rate = n_users * n_cands / batched_s
    naive_rate = k * n_cands / naive_s
    speedup = batched_rate / naive_rate

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
               "MKL_NUM_THREADS": str(args.threads)}
        cmd = [sys.executable, "-m", "benchmark", "run", "--methods", "llmrank-ll",
               "--tasks", "rerank", "--seeds", "0", "--device", "cpu", "--backend", "hf",
               "--results-dir", tmp, "--no-progress"]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        run_s = time.perf_counter() - t0
        record = json.loads((Path(tmp) / "ml-100k/rerank/llmrank-ll/seed0.json").read_text())

    lines = [
        "perf/rerank_score.py: llmrank-ll (score mode) on ML-100K rerank, SmolLM2-135M-Instruct",
        f"machine: {record['environment']['hardware'].get('cpu')}, "
        f"{record['environment']['hardware'].get('cpu_count')} CPUs, torch threads "
        f"{args.threads}",
        f"batched (hf score, prompt KV cache, packed continuations): {n_users} users x "
        f"{n_cands} candidates in {batched_s:.1f} s = {batched_rate:.1f} pairs/s",
        f"naive (one full forward per candidate): {k} users x {n_cands} candidates in "
        f"{naive_s:.1f} s = {naive_rate:.1f} pairs/s",
        f"speed-up: {speedup:.2f}x (target >= {TARGET_SPEEDUP:.0f}x): "
        f"{'PASS' if speedup >= TARGET_SPEEDUP else 'FAIL'}",
        f"largest score difference on the naive users: {max_diff:.2e} (target <= 1e-4): "
        f"{'PASS' if max_diff <= 1e-4 else 'FAIL'}",
        f"whole run (python -m benchmark run --methods llmrank-ll --tasks rerank --seeds 0, model "
        f"load included): {run_s:.1f} s = {run_s / 60:.2f} min (target < "
        f"{TARGET_RUN_MINUTES:.0f} min): {'PASS' if run_s / 60 < TARGET_RUN_MINUTES else 'FAIL'}",
        f"  its test NDCG@10: {record['metrics']['ndcg@10']:.4f}, fit "
        f"{record['timing']['fit_seconds']:.1f} s, predict "
        f"{record['timing']['predict_seconds']:.1f} s",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
