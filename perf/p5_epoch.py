"""One measured training epoch of P5 (CPU profile) on a dataset: is a full run affordable?

Fits ``p5`` for exactly one epoch with the profile's settings (prefixes per user, batch size,
backbone size, multitask families) and reports the epoch's training samples, its wall time and
throughput, the validation pass time, and what the profile's 10 epochs would cost. Used for
P5 Toys (``../shared/data/p5_toys``), whose full runs do not fit the CPU budget.

    python perf/p5_epoch.py --dataset ../shared/data/p5_toys [--id-indexing random]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmark.data import load_dataset
from methods.base import FitContext
from methods.p5.p5 import P5
from tasks.indexing import reindex
from tasks.split import leave_one_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--id-indexing", default="original", choices=["original", "random"])
    parser.add_argument("--valid-users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = reindex(load_dataset(args.dataset), args.id_indexing, args.seed)
    split = leave_one_out(data)
    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    print(f"dataset {data.name} ({args.id_indexing} ids): {split.n_users} users, "
          f"{split.n_items} items, loaded and split in {time.perf_counter() - t0:.1f} s")
    method = P5(epochs=1, valid_users=args.valid_users)
    torch.manual_seed(args.seed)
    method.fit(FitContext(dataset=data, split=split, seed=args.seed, show_progress=True))
    info = method.fit_info
    epoch_s = info["train_samples"] / info["train_samples_per_second"]
    valid_s = info["fit_seconds"] - epoch_s
    full = method.defaults["cpu"]["epochs"]
    print(f"p5 cpu profile: d_model {method.params['d_model']}, "
          f"{method.params['num_layers']}+{method.params['num_layers']} layers, batch "
          f"{method.params['batch_size']}, {method.params['prefixes_per_user']} sequential "
          f"prefixes per user, families {', '.join(info['families'])}")
    print(f"one epoch: {info['train_samples']} training samples in {epoch_s:.0f} s "
          f"({info['train_samples_per_second']:.0f} samples/s)")
    print(f"rest of the fit (tokenizer, model, trie, validation NDCG@10 on "
          f"{args.valid_users} users): {valid_s:.0f} s; validation NDCG@10 after one epoch "
          f"{info['best_valid_ndcg@10']:.4f}")
    print(f"the profile's {full} epochs: about {full * epoch_s / 60:.0f} min of training, "
          "before the test-set evaluation")


if __name__ == "__main__":
    main()
