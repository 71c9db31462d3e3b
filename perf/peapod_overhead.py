"""Inference and training overhead of PeaPOD's user prompt over POD, on ML-100K.

Fits ``pod``, ``peapod`` and ``peapod-knn`` with the same backbone (the ``cpu`` profile's
defaults) briefly: ``--epochs`` (1) epochs of one training prefix per user, early-stopping
validation on ``--valid-users`` users. How well they are trained does not change what inference
costs. Then times exact full-catalogue scoring (``score_all``) of the same ``--users`` test
users (drawn from the fitted ones) for each, in ``--rounds`` interleaved rounds (the median
round counts), so that load from other processes hits all three alike. Prints seconds per user
and the ratio to ``pod`` (target: under 1.20), plus training seconds per epoch (backbone steps
only) and whole fit seconds (tokenizer, CF model, validation included) with their ratios.
Writes the table to ``perf/results/peapod_overhead.txt``. ``--fit-users`` fits on a random
subset of users, for a quick check that the script runs.

    python perf/peapod_overhead.py [--users 300] [--epochs 1] [--rounds 3] [--valid-users 100]
                                   [--fit-users N] [--out perf/results/peapod_overhead.txt]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.data import load_dataset
from methods import METHODS
from methods.base import FitContext
from tasks.split import leave_one_out

TARGET_RATIO = 1.20
NAMES = ("pod", "peapod", "peapod-knn")
RESULTS = Path(__file__).parent / "results" / "peapod_overhead.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300, help="test users timed")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--valid-users", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-users", type=int, default=None,
                        help="fit on this many random users only (a quick check; default all)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the table is written")
    args = parser.parse_args()

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    ds = load_dataset("ml-100k")
    split = leave_one_out(ds)
    rng = np.random.default_rng(args.seed)
    if args.fit_users is not None and args.fit_users < split.n_users:
        keep = np.sort(rng.choice(split.n_users, size=args.fit_users, replace=False))
        split = dataclasses.replace(split, users=split.users[keep],
                                    train=[split.train[k] for k in keep],
                                    valid=split.valid[keep], test=split.test[keep])
    say(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    say(f"ml-100k: {split.n_users} users, {split.n_items} items; cpu profile, {args.epochs} "
        f"epoch(s), 1 training prefix per user, {args.valid_users} validation users")
    ctx = FitContext(dataset=ds, split=split, seed=args.seed, show_progress=False)
    models = {}
    for name in NAMES:
        print(f"fitting {name} ...", flush=True)
        model = METHODS.get(name)(epochs=args.epochs, prefixes_per_user=1,
                                  valid_users=args.valid_users, patience=None)
        model.fit(ctx)
        info = model.fit_info
        epoch_s = info["train_samples"] / info["train_samples_per_second"] / info["epochs"]
        models[name] = (model, epoch_s, info["fit_seconds"], info["n_parameters"])
        print(f"  {name}: {info['fit_seconds']:.1f} s, {epoch_s:.1f} s/epoch of training steps",
              flush=True)

    idx = np.sort(rng.choice(split.n_users, size=min(args.users, split.n_users), replace=False))
    users = split.users[idx]
    hist = [split.histories("test")[k] for k in idx]
    wall: dict[str, list[float]] = {name: [] for name in NAMES}
    cpu: dict[str, list[float]] = {name: [] for name in NAMES}
    for name in NAMES:  # warm-up on a few users
        models[name][0].score_all(users[:8], hist[:8])
    batch = models["pod"][0].params["eval_batch_size"]
    for r in range(args.rounds):
        round_wall = dict.fromkeys(NAMES, 0.0)
        round_cpu = dict.fromkeys(NAMES, 0.0)
        for b, start in enumerate(range(0, len(users), batch)):
            sl = slice(start, start + batch)
            order = NAMES[b % 3 :] + NAMES[: b % 3]  # rotate who goes first
            for name in order:
                w0, c0 = time.perf_counter(), time.process_time()
                models[name][0].score_all(users[sl], hist[sl])
                round_wall[name] += time.perf_counter() - w0
                round_cpu[name] += time.process_time() - c0
        for name in NAMES:
            wall[name].append(round_wall[name] / len(users))
            cpu[name].append(round_cpu[name] / len(users))
        print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {wall[n][-1] * 1e3:.1f} ms/user" for n in NAMES), flush=True)

    def med(values: dict[str, list[float]], name: str) -> float:
        return statistics.median(values[name])

    base_epoch, base_fit = models["pod"][1], models["pod"][2]
    say(f"exact scoring of {split.n_items} items for {len(users)} test users, batches of "
        f"{batch} interleaved across methods, median of {args.rounds} rounds; wall time and "
        f"process CPU time (less sensitive to other load); load average now "
        f"{os.getloadavg()[0]:.2f}")
    say(f"{'method':<12} {'params':>9} {'wall ms/user':>12} {'ratio':>6} {'cpu ms/user':>11} "
        f"{'ratio':>6} {'train s/epoch':>13} {'ratio':>6} {'fit s':>7} {'ratio':>6}")
    worst = 0.0
    for name in NAMES:
        _, epoch_s, fit_s, n_params = models[name]
        w_ratio = med(wall, name) / med(wall, "pod")
        c_ratio = med(cpu, name) / med(cpu, "pod")
        worst = max(worst, w_ratio)
        say(f"{name:<12} {n_params:>9,} {med(wall, name) * 1e3:>12.2f} {w_ratio:>6.3f} "
            f"{med(cpu, name) * 1e3:>11.2f} {c_ratio:>6.3f} {epoch_s:>13.1f} "
            f"{epoch_s / base_epoch:>6.3f} {fit_s:>7.1f} {fit_s / base_fit:>6.3f}")
    verdict = "PASS" if worst < TARGET_RATIO else "FAIL"
    say(f"worst inference (wall) ratio to pod {worst:.3f} (target < {TARGET_RATIO:.2f}): {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
