"""P2Rec stage 1 under each tuning method (``tune: top | lora | full``), timed in one run.

The paper does not say how the LLM is tuned. ``top`` (the default) trains the top
``tune_layers`` decoder layers and the final norm and computes the frozen layers' output of each
prompt once; ``lora`` (rank ``lora_rank`` on q/v) and ``full`` run the whole model forward and
backward in every epoch. This script times the same user-level SFT (P2Rec's prompts, head and
MSE loss, ``perf/p2rec_sft.py``'s ``sft_seconds``) on the first ``--users`` ML-100K users under
each method, then projects a whole stage 1 on ML-100K (943 prompts through the frozen pass,
849 training users per epoch, ``sft_epochs`` epochs) from the measured per-sample times.

    python perf/p2rec_tune.py [--users 16] [--epochs 1]
"""

from __future__ import annotations

import argparse
import os

import torch
from p2rec_sft import ml100k_setup, sft_seconds

from benchmark.backends.llm.models import resolve_llm
from methods.item_vectors import preference_targets
from methods.p2rec import P2Rec, history_prompt
from methods.pooled_lm import PooledLM

MODES = ("top", "lora", "full")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--llm", default=None, help="local causal LM directory")
    args = parser.parse_args()
    p = P2Rec.Params.defaults_for("cpu")

    split, labels, text = ml100k_setup(p["n_categories"])
    train = split.train[: args.users]
    prompts = [history_prompt([text[i - 1] for i in h[-p["max_history"] :]]) for h in train]
    targets = torch.tensor(preference_targets(train, labels, p["n_categories"]),
                           dtype=torch.float32)  # fmt: skip
    n_all = split.n_users
    n_fit = n_all - max(1, int(round(p["sft_holdout"] * n_all)))

    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"ml-100k, first {len(prompts)} users, {args.epochs} epoch(s) each; projection: "
          f"{n_all} prompts prepared, {n_fit} trained per epoch, {p['sft_epochs']} epochs")
    totals = {}
    for mode in MODES:
        torch.manual_seed(0)
        lm = PooledLM(resolve_llm(args.llm), tune=mode, tune_layers=p["tune_layers"],
                      lora_rank=p["lora_rank"], pooling=p["pooling"])  # fmt: skip
        lm.encode(prompts[:2])  # warm-up, so no side pays the first call's set-up
        r = sft_seconds(lm, prompts, targets, args.epochs, p["sft_batch_size"])
        per_prepare = r["prepare"] / r["samples"]
        per_train = r["train"] / (r["samples"] * args.epochs)
        totals[mode] = n_all * per_prepare + n_fit * p["sft_epochs"] * per_train
        trainable = sum(w.numel() for w in lm.trainable())
        print(f"{mode}: {trainable:,} trainable parameters; frozen pass {per_prepare:.3f} "
              f"s/prompt, training {per_train:.3f} s/prompt/epoch; projected stage 1 "
              f"{totals[mode] / 60:.0f} min")  # fmt: skip
    for mode in MODES[1:]:
        print(f"{mode} / top projected stage-1 time: {totals[mode] / totals['top']:.1f}x")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
