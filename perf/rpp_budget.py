"""RPP's whole ML-100K re-ranking run (policy training + 200 evaluated users) on this machine,
against LLMRank on the same users as the peer.

Issue 5's target: ``rpp`` with its RL training on ML-100K's 200 evaluation users finishes
within 60 minutes on 2 cores. Both methods run exactly as a user runs them
(``python -m benchmark run --methods M --tasks rerank --seeds S --device cpu``, embedded
SmolLM2-135M-Instruct, the ``cpu`` profile) into a temporary results directory, one after the
other, so the ratio compares two runs that saw the same machine state. The peer, LLMRank,
asks the same LLM about the same 200 users once each, with no training: the ratio is what
RPP's prompt search costs on top of plain LLM re-ranking. The LLM is converted once before
either timing starts, so neither pays for it.

Reports per method the wall and CPU seconds of fit and predict, the LLM prompts generated and
the test NDCG@10, then RPP's total against the target. Results go to
``perf/results/rpp_budget.txt``.

    python perf/rpp_budget.py [--seed 0] [--threads 2] [--skip-peer]
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

import torch

from benchmark.backends.llm import resolve_llm

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "rpp_budget.txt"
TARGET_MINUTES = 60.0


def run_method(method: str, seed: int, threads: int, results_dir: Path) -> dict:
    """One harness run of ``method`` on ML-100K rerank; its result record."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "benchmark", "run", "--methods", method, "--tasks", "rerank",
           "--seeds", str(seed), "--device", "cpu", "--backend", "hf", "--results-dir",
           str(results_dir), "--no-progress"]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return json.loads(
        (results_dir / "ml-100k" / "rerank" / method / f"seed{seed}.json").read_text()
    )


def prompts(record: dict) -> int:
    """LLM prompts the run generated answers for (training + evaluation)."""
    fit = record["method"].get("fit_info") or {}
    pred = record["method"].get("predict_info") or {}
    return int(fit.get("llm_prompts", 0)) + int(pred.get("answers", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run")
    parser.add_argument("--skip-peer", action="store_true", help="time rpp only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    resolve_llm(None)  # convert the embedded LLM now, outside both timings
    say(f"machine: {os.cpu_count()} cores, {args.threads} torch threads per run, torch "
        f"{torch.__version__}, load average {os.getloadavg()[0]:.2f} at start; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    methods = ["rpp"] if args.skip_peer else ["rpp", "llmrank"]
    records = {}
    with tempfile.TemporaryDirectory(prefix="rpp-budget-") as tmp:
        for method in methods:
            print(f"running {method} ...", flush=True)
            records[method] = run_method(method, args.seed, args.threads, Path(tmp))
    say(f"ML-100K rerank, seed {args.seed}, {records['rpp']['users_evaluated']} users, "
        f"SmolLM2-135M-Instruct on the hf backend, float32, cpu profile")
    say(f"{'method':<8} {'fit s':>8} {'fit cpu s':>9} {'predict s':>9} {'total min':>9} "
        f"{'prompts':>7} {'s/prompt':>8} {'ndcg@10':>7} {'load':>5}")
    totals = {m: r["timing"]["fit_seconds"] + r["timing"]["predict_seconds"]
              for m, r in records.items()}
    for method, rec in records.items():
        t, total = rec["timing"], totals[method]
        n = prompts(rec)
        say(f"{method:<8} {t['fit_seconds']:>8.1f} {t['fit_cpu_seconds']:>9.1f} "
            f"{t['predict_seconds']:>9.1f} {total / 60:>9.1f} {n:>7} {total / max(n, 1):>8.2f} "
            f"{rec['metrics']['ndcg@10']:>7.4f} "
            f"{rec['environment']['hardware'].get('load_average_1m', float('nan')):>5.1f}")
    rpp_total = totals["rpp"] / 60
    if "llmrank" in totals:
        say(f"rpp / llmrank wall time: {totals['rpp'] / totals['llmrank']:.2f}x")
    verdict = "PASS" if rpp_total < TARGET_MINUTES else "FAIL"
    say(f"rpp fit + predict {rpp_total:.1f} min (target < {TARGET_MINUTES:.0f} min on 2 cores): "
        f"{verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
