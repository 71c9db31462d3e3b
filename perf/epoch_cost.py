"""One measured epoch of a window-trained method (``uem``, ``sasrec``) on a dataset, and the fit
it projects to.

Fits the method once with its ``cpu`` profile and ``max_epochs=1`` and reports what that epoch
cost (training and validation, ``fit_info["seconds_per_epoch"]``) and the one-off costs before
it (UEM's item-text encoding). The number of epochs a fit runs is read, not assumed: it is the
range of ``fit_info["epochs"]`` over the committed ML-100K results of the same method
(``--reference``), which early-stopped there.

    python perf/epoch_cost.py --method uem --dataset ml-1m [--id-indexing random]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from benchmark.data import load_dataset
from methods import METHODS
from methods.base import FitContext
from tasks.indexing import reindex
from tasks.split import leave_one_out


def reference_epochs(folder: Path) -> list[int]:
    """Epochs run by each committed fit under ``folder`` (``seed*.json``)."""
    return sorted(
        int(json.loads(f.read_text())["method"]["fit_info"]["epochs"])
        for f in sorted(folder.glob("seed*.json"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="uem")
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--id-indexing", default="original", choices=["original", "random"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, default=None,
                        help="results folder whose fits give the epoch range (default "
                             "results/ml-100k/sequential/<method>)")  # fmt: skip
    args = parser.parse_args()
    reference = args.reference or Path("results/ml-100k/sequential") / args.method
    epochs = reference_epochs(reference)
    if not epochs:
        raise SystemExit(f"{reference}: no seed*.json results to read epoch counts from")

    start = time.perf_counter()
    data = reindex(load_dataset(args.dataset), args.id_indexing, args.seed)
    split = leave_one_out(data)
    load_seconds = time.perf_counter() - start
    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{data.name} ({args.id_indexing} ids): {split.n_users:,} users, {split.n_items:,} "
          f"items, loaded and split in {load_seconds:.0f} s")  # fmt: skip

    method = METHODS.get(args.method)("cpu", max_epochs=1)
    start = time.perf_counter()
    method.fit(FitContext(dataset=data, split=split, seed=args.seed, show_progress=False))
    fit_seconds = time.perf_counter() - start
    info = method.fit_info
    epoch = info["seconds_per_epoch"]
    once = fit_seconds - epoch
    before = ", ".join(f"{k} {info[k]:.0f} s" for k in info if k.endswith("encode_seconds"))
    print(f"{args.method} cpu profile: {info.get('train_positions', 0):,} training positions per "
          f"epoch; one epoch {epoch:.0f} s (training + validation on every user); "
          f"{once:.0f} s before it ({before or 'set-up'})")  # fmt: skip
    print(f"validation NDCG@10 after one epoch {info['best_valid_ndcg@10']:.4f}")
    print(f"committed ML-100K fits ({reference}) ran {epochs} epochs: a fit here would take "
          f"{(once + min(epochs) * epoch) / 3600:.1f}-{(once + max(epochs) * epoch) / 3600:.1f} h "
          f"if it stopped after as many epochs")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
