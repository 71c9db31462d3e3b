"""What a converged CPU-profile fit of the T5 family would cost on a larger dataset.

For each method (``p5``, ``pod``, ``peapod`` by default) and the dataset given, this measures the
two costs an epoch is made of and projects a fit from them:

* **training throughput** (samples/s): one epoch of the method with the ``cpu`` profile, on the
  first ``--probe-users`` users of the split (every item kept, so the tokenizer, trie and output
  space are the full dataset's), one sequential prefix per user;
* **validation cost** per user: full-catalogue exact scoring (``ranking: exact``) of
  ``--probe-valid`` users, as each epoch's early-stopping check does for ``valid_users`` users.

The profile's epoch is then counted exactly (its sample draw on the whole split, seed 0) and
costed at the measured rates; the fit is projected for the range of epochs that the ML-100K
fits of this profile ran before patience or the cap stopped them (read from the committed
results, ``--reference``), plus the test-set full ranking of every user. The probe trains on
fewer samples than a real epoch, so the number is a projection from measured rates, not a fit.

    python perf/t5_fit_cost.py --dataset ml-1m [--methods p5,pod,peapod] [--id-indexing random]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.data import load_dataset
from methods import METHODS
from methods.base import FitContext
from tasks.indexing import reindex
from tasks.split import Split, leave_one_out


def first_users(split: Split, k: int) -> Split:
    """The split restricted to its first ``k`` users, every item kept."""
    return Split(users=split.users[:k], train=split.train[:k], valid=split.valid[:k],
                 test=split.test[:k], n_items=split.n_items, n_dropped=split.n_dropped)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--id-indexing", default="original", choices=["original", "random"])
    parser.add_argument("--methods", default="p5,pod,peapod")
    parser.add_argument("--probe-users", type=int, default=1500)
    parser.add_argument("--probe-valid", type=int, default=100)
    parser.add_argument(
        "--reference",
        type=Path,
        default=Path("results/ml-100k/sequential/p5"),
        help="committed results whose fits' epoch counts give the projected range",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    epochs = [json.loads(f.read_text())["method"]["fit_info"]["epochs"]
              for f in sorted(args.reference.glob("seed*.json"))]  # fmt: skip
    if not epochs:
        raise SystemExit(f"{args.reference}: no seed*.json results to read epoch counts from")
    low, high = min(epochs), max(epochs)

    data = reindex(load_dataset(args.dataset), args.id_indexing, args.seed)
    split = leave_one_out(data)
    probe_split = first_users(split, args.probe_users)
    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{data.name} ({args.id_indexing} ids): {split.n_users} users, {split.n_items} items; "
          f"probe: {probe_split.n_users} users, one prefix each, {args.probe_valid} validation "
          f"users")  # fmt: skip

    for name in args.methods.split(","):
        cls = METHODS.get(name)
        profile = cls("cpu")
        counted = profile._epoch_samples(
            FitContext(dataset=data, split=split, seed=args.seed), np.random.default_rng(args.seed)
        )
        epoch_samples = sum(len(v) for v in counted.values())

        probe = cls("cpu", epochs=1, prefixes_per_user=1, valid_users=args.probe_valid)
        torch.manual_seed(args.seed)
        ctx = FitContext(dataset=data, split=probe_split, seed=args.seed, show_progress=False)
        start = time.perf_counter()
        probe.fit(ctx)
        probe_seconds = time.perf_counter() - start
        rate = probe.fit_info["train_samples_per_second"]

        users = np.arange(min(args.probe_valid, probe_split.n_users))
        start = time.perf_counter()
        probe._valid_ndcg(ctx, users, probe.params["seq_template"])
        per_user = (time.perf_counter() - start) / len(users)

        valid_users = min(profile.params["valid_users"], split.n_users)
        epoch_seconds = epoch_samples / rate + valid_users * per_user
        test_seconds = split.n_users * per_user
        print(f"\n{name}: profile epoch = {epoch_samples:,} samples "
              f"({', '.join(f'{k} {len(v):,}' for k, v in counted.items())}), "
              f"{profile.params['prefixes_per_user']} sequential prefixes per user")  # fmt: skip
        print(f"  measured: {rate:.0f} training samples/s ({probe.fit_info['train_samples']:,} "
              f"samples), {per_user * 1000:.0f} ms per validation user over {split.n_items:,} "
              f"items; probe fit {probe_seconds:.0f} s")  # fmt: skip
        print(f"  projected epoch: {epoch_samples / rate / 60:.1f} min training + "
              f"{valid_users * per_user / 60:.1f} min validating {valid_users} users = "
              f"{epoch_seconds / 60:.1f} min")  # fmt: skip
        print(f"  projected fit: {low} epochs {low * epoch_seconds / 3600:.1f} h, {high} epochs "
              f"{high * epoch_seconds / 3600:.1f} h, plus {test_seconds / 60:.0f} min to rank "
              f"every user's test item")  # fmt: skip
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
