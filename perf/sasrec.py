"""SASRec on ML-100K with the default cpu profile: time to early stop, and the quality reached.

Loads ML-100K through ``load_dataset``, splits it leave-one-out, fits SASRec (seed 0) until
early stopping on validation NDCG@10, then ranks the full catalogue with history items masked.

Reference point (same 2-core machine): RecBole 1.2.1 SASRec (CE, 64d, 2 layers, 2 heads, max
length 50) took ~197 s per epoch on 97,171 augmented prefixes and after 2 epochs reached test
NDCG@10 .0532, HR@10 .1135 (not converged).

Target: SASRec trains to early stop on ML-100K in under 2 minutes on 2 cores, reaching test
NDCG@10 above 0.06.

    python perf/sasrec.py [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmark.data import load_dataset
from benchmark.metrics.ranking import metric_vectors, rank_full_catalogue
from methods.base import FitContext
from methods.sasrec import SASRec
from tasks.split import leave_one_out

TARGET_SECONDS = 120.0
TARGET_NDCG = 0.06
METRICS = ("ndcg@10", "hr@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="max epochs (default: profile)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="show per-epoch progress bars")
    args = parser.parse_args()

    dataset = load_dataset("ml-100k")
    split = leave_one_out(dataset)
    params = {} if args.epochs is None else {"max_epochs": args.epochs}
    model = SASRec(profile="cpu", **params)
    print(
        f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"ml-100k: {split.n_users} users, {split.n_items} items; params {model.params}")

    ctx = FitContext(dataset=dataset, split=split, seed=args.seed, show_progress=args.progress)
    start = time.perf_counter()
    model.fit(ctx)
    fit_seconds = time.perf_counter() - start
    info = model.fit_info

    results = {
        stage: {
            name: float(values.mean())
            for name, values in metric_vectors(
                rank_full_catalogue(
                    model.score_all,
                    split.users,
                    split.histories(stage),
                    split.targets(stage),
                    mask_history=True,
                ),
                METRICS,
            ).items()
        }
        for stage in ("valid", "test")
    }

    print(
        f"parameters: {info['n_parameters']:,}; training positions per epoch: "
        f"{info['train_positions']:,} in {info['train_windows']:,} windows"
    )
    print(
        f"seconds per epoch: {info['seconds_per_epoch']:.2f} (training + validation); "
        f"{info['train_positions_per_second']:,.0f} training positions/s"
    )
    stopped = "patience (early stop)" if info["stopped_early"] else "max epochs"
    print(
        f"epochs run: {info['epochs']}, stopped by {stopped} (best epoch "
        f"{info['best_epoch']}, patience {model.params['patience']}, "
        f"max {model.params['max_epochs']})"
    )
    print(f"total fit time: {fit_seconds:.1f} s; load average now {os.getloadavg()[0]:.2f}")
    for stage, values in results.items():
        print(f"{stage}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    print("RecBole 1.2.1 reference: ~197 s/epoch; test ndcg@10 0.0532, hr@10 0.1135 after 2 epochs")

    ok = fit_seconds < TARGET_SECONDS and results["test"]["ndcg@10"] > TARGET_NDCG
    print(
        f"target: SASRec trains to early stop on ML-100K in under 2 minutes on 2 cores "
        f"(test ndcg@10 > {TARGET_NDCG}): {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
