"""P2Rec's efficiency claim, measured: user-level against instance-level SFT, in one run.

The paper argues that its stage 1 costs O(M) (one fine-tuning sample per user) where the usual
LLM-enhanced recipes cost O(sum of |S_u|) (one sample per sequence prefix). This script times
both on the same LM (the embedded SmolLM2-135M-Instruct, or ``--llm``), tuned the same way
(``methods.pooled_lm``: the CPU profile's ``tune: top`` by default), with the same prompt
format, head and loss (``methods.p2rec``), for the same number of epochs:

* **user-level**: one prompt per user (their last ``max_history`` training items), target the
  category shares of all their training items (P2Rec's stage 1);
* **instance-level**: one prompt per prefix of each training sequence (the items before
  position t, truncated the same way), target the category shares of that prefix.

Both run on the first ``--users`` users of ML-100K (the instance-level set of all 943 users is
about 96k prompts, hours on CPU); categories are k-means over random item vectors, since the
timing does not depend on what the target says. Each side's time includes its one pass through
the frozen layers (``prepare``), which grows with the number of samples like the training does.

    python perf/p2rec_sft.py [--users 16] [--epochs 2] [--tune top]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

from benchmark.backends.llm.models import resolve_llm
from benchmark.data import load_dataset
from methods.item_vectors import kmeans, preference_targets
from methods.p2rec import P2Rec, history_prompt, sft_loss, sft_step
from methods.pooled_lm import PooledLM
from tasks.split import Split, leave_one_out


def sft_seconds(lm: PooledLM, prompts: list[str], targets: torch.Tensor, epochs: int,
                batch_size: int) -> dict[str, float]:  # fmt: skip
    """Prepare once, then ``epochs`` epochs of head + tuned layers on ``prompts``."""
    start = time.perf_counter()
    inputs = lm.prepare(prompts)
    prepared = time.perf_counter()
    head = nn.Linear(lm.width, targets.shape[1])
    optim = torch.optim.AdamW([*lm.trainable(), *head.parameters()], lr=1e-4)
    lm.train(True)
    for _ in range(epochs):
        for s in range(0, len(inputs), batch_size):
            sft_step(optim, sft_loss(lm, head, inputs[s : s + batch_size],
                                     targets[s : s + batch_size], "mse"))  # fmt: skip
    lm.train(False)
    end = time.perf_counter()
    return {"samples": len(prompts), "prepare": prepared - start, "train": end - prepared,
            "total": end - start}  # fmt: skip


def ml100k_setup(n_categories: int) -> tuple[Split, np.ndarray, list[str]]:
    """ML-100K's split, k-means categories over random item vectors (the timing does not
    depend on what the target says) and each item's title as the prompts write it."""
    data = load_dataset("ml-100k")
    split = leave_one_out(data)
    rng = np.random.default_rng(0)
    labels = kmeans(rng.normal(size=(split.n_items, 16)), n_categories, seed=0)
    titles = dict(zip(data.items["item"], data.items["title"], strict=True))
    text = [str(titles.get(i, f"item {i}")) for i in range(1, split.n_items + 1)]
    return split, labels, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tune", default=None, help="tune mode (default: the cpu profile's)")
    parser.add_argument("--llm", default=None, help="local causal LM directory")
    args = parser.parse_args()
    p = P2Rec.Params.defaults_for("cpu")
    tune = args.tune or p["tune"]

    split, labels, text = ml100k_setup(p["n_categories"])
    train = split.train[: args.users]

    def prompt(items: np.ndarray) -> str:
        return history_prompt([text[i - 1] for i in items[-p["max_history"] :]])

    user_prompts = [prompt(h) for h in train]
    user_targets = preference_targets(train, labels, p["n_categories"])
    prefixes = [h[:t] for h in train for t in range(1, len(h))]
    inst_prompts = [prompt(h) for h in prefixes]
    inst_targets = preference_targets(prefixes, labels, p["n_categories"])

    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    whole = sum(len(h) - 1 for h in split.train)
    print(f"ml-100k, first {len(train)} users: {len(user_prompts)} user-level samples, "
          f"{len(inst_prompts):,} instance-level samples (whole dataset: {split.n_users} "
          f"against {whole:,}, {whole / split.n_users:.0f}x); tune {tune}, "
          f"{args.epochs} epochs, prompts keep the last {p['max_history']} items")  # fmt: skip
    results = {}
    for name, prompts, targets in (("user-level", user_prompts, user_targets),
                                   ("instance-level", inst_prompts, inst_targets)):  # fmt: skip
        torch.manual_seed(0)
        lm = PooledLM(resolve_llm(args.llm), tune=tune, tune_layers=p["tune_layers"],
                      lora_rank=p["lora_rank"], pooling=p["pooling"])  # fmt: skip
        lm.encode(prompts[:2])  # warm-up, so neither side pays the first call's set-up
        results[name] = sft_seconds(lm, prompts, torch.tensor(targets, dtype=torch.float32),
                                    args.epochs, p["sft_batch_size"])  # fmt: skip
        r = results[name]
        print(f"{name}: {r['samples']:,} samples, frozen-layer pass {r['prepare']:.1f} s, "
              f"{args.epochs} epochs {r['train']:.1f} s, total {r['total']:.1f} s "
              f"({r['total'] / r['samples']:.3f} s/sample)")  # fmt: skip
    ratio = results["instance-level"]["total"] / results["user-level"]["total"]
    samples = results["instance-level"]["samples"] / results["user-level"]["samples"]
    print(f"instance-level / user-level time: {ratio:.1f}x for {samples:.1f}x the samples")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
