"""Training speed of the P5 loop on ML-100K: before and after the CPU speed-ups, in one run.

Builds one epoch of ``p5``'s training mix (sequential and direct prompts, seed 0, the sample
draw of the profile before issue 17: 4 prefixes per user) and trains a BPE tokenizer on it both
ways, then times the training loop (tokenise, forward, backward, clip, AdamW step) for five
variants of the same model, in interleaved rounds so that load on the machine falls on all of
them alike:

* ``before``: ids digit by digit, batches in plain shuffled order, torch's dropout (the code
  before issue 17);
* ``fast dropout``: masks from 16-bit draws (``benchmark.backends.t5.dropout``);
* ``length pools``: batches from pools of 50 sorted by prompt length (``samples.interleave``);
* ``bpe ids``: item ids cut by BPE, most of them one token (``id_tokens: bpe``);
* ``after``: all three, the CPU profile's defaults now.

It also checks that the fast-dropout model gives the same losses as torch's on the same batches
with dropout off (eval mode), reports the share of padding in the batches and of tokenising in
the loop, with ``--profile-ops`` where the ``before`` loop spends its time (torch's profiler,
operators by self CPU time), and with ``--sizes`` the samples/s and exact-scoring cost of
larger backbones.

    python perf/p5_train.py [--batches 40] [--rounds 3] [--profile-ops] [--sizes]
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch
from torch import nn

from benchmark.backends.t5 import build_backbone, encode_batch, encode_targets, train_tokenizer
from benchmark.backends.t5.dropout import use_fast_dropout
from benchmark.backends.t5.scoring import score_all_items
from benchmark.backends.t5.trie import ItemTrie
from benchmark.data import load_dataset
from methods.base import FitContext
from methods.p5.p5 import P5
from methods.p5.samples import Sample, interleave
from tasks.split import leave_one_out

SIZES = [(256, 1024, 4, 4), (192, 768, 3, 3), (128, 512, 2, 2)]


def _context() -> tuple[dict[str, P5], FitContext, dict[str, list[Sample]]]:
    """One epoch's samples and a tokenizer-ready method per id tokenisation."""
    data = load_dataset("ml-100k")
    ctx = FitContext(dataset=data, split=leave_one_out(data), seed=0)
    methods = {ids: P5("cpu", id_tokens=ids, prefixes_per_user=4) for ids in ("digits", "bpe")}
    rng = np.random.default_rng(0)
    samples = methods["digits"]._epoch_samples(ctx, rng)
    corpus = methods["digits"]._tokenizer_corpus(ctx, samples, rng)
    for ids, method in methods.items():
        method.tokenizer = train_tokenizer(corpus, vocab_size=method.params["vocab_size"],
                                           split_digits=ids == "digits")
    return methods, ctx, samples


def _backbone(method: P5, size: tuple[int, int, int, int] | None = None) -> nn.Module:
    p = method.params
    d, ff, layers, heads = size or (p["d_model"], p["d_ff"], p["num_layers"], p["num_heads"])
    torch.manual_seed(0)
    return build_backbone("cpu", vocab_size=len(method.tokenizer), d_model=d, d_ff=ff,
                          num_layers=layers, num_decoder_layers=layers, num_heads=heads,
                          d_kv=d // heads, dropout_rate=p["dropout"])


def _encode(method: P5, batch: list[Sample]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    p = method.params
    enc = encode_batch(method.tokenizer, [s.source for s in batch], p["max_input_len"])
    return enc, encode_targets(method.tokenizer, [s.target for s in batch], p["max_target_len"])


class Variant:
    """One model, its tokenizer's method and its batches; ``train`` times the next ``n``."""

    def __init__(self, name: str, method: P5, model: nn.Module,
                 batches: list[list[Sample]]) -> None:
        self.name, self.method, self.model, self.batches = name, method, model, batches
        self.optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        self.next, self.samples, self.seconds, self.encode_seconds = 0, 0, 0.0, 0.0
        self.tokens = self.padded = 0

    def train(self, n: int) -> None:
        method = self.method
        self.model.train()
        for batch in self.batches[self.next : self.next + n]:
            t0 = time.perf_counter()
            enc, labels = _encode(method, batch)
            t1 = time.perf_counter()
            loss = self.model(enc["input_ids"], enc["attention_mask"], enc["whole_word_ids"],
                              labels)
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optim.step()
            t2 = time.perf_counter()
            self.seconds += t2 - t0
            self.encode_seconds += t1 - t0
            self.samples += len(batch)
            self.tokens += int(enc["attention_mask"].sum())
            self.padded += enc["attention_mask"].numel()
        self.next += n

    @property
    def rate(self) -> float:
        return self.samples / self.seconds


@torch.no_grad()
def _same_losses(method: P5, batches: list[list[Sample]]) -> float:
    """Largest |loss difference| between torch's and fast dropout in eval mode, same batches."""
    plain = _backbone(method)
    fast = copy.deepcopy(plain)
    use_fast_dropout(fast.t5)
    plain.eval()
    fast.eval()
    worst = 0.0
    for batch in batches:
        enc, labels = _encode(method, batch)
        args = (enc["input_ids"], enc["attention_mask"], enc["whole_word_ids"], labels)
        worst = max(worst, abs(float(plain(*args)) - float(fast(*args))))
    return worst


def _sizes(method: P5, ctx: FitContext, samples: list[Sample], batches: int) -> None:
    items = list(range(1, ctx.split.n_items + 1))
    tok = method.tokenizer
    trie = ItemTrie.from_sequences(items, tok([str(i) for i in items])["input_ids"],
                                   eos_id=tok.eos_token_id)
    print("\nbackbone sizes (after the speed-ups, sequential prompts, batch 32)")
    for size in SIZES:
        model = _backbone(method, size)
        use_fast_dropout(model.t5)
        batches_ = [samples[k : k + 32] for k in range(0, 32 * batches, 32)]
        variant = Variant(str(size), method, model, batches_)
        variant.train(batches)
        model.eval()
        enc, _ = _encode(method, samples[:50])
        start = time.perf_counter()
        with torch.inference_mode():
            hidden, mask = model.encode(enc["input_ids"], enc["attention_mask"],
                                        enc["whole_word_ids"])
            score_all_items(model.t5, hidden, mask, trie)
        per_user = (time.perf_counter() - start) / 50
        n_params = sum(p.numel() for p in model.parameters())
        print(f"d_model {size[0]}, {size[2]}+{size[2]} layers ({n_params / 1e6:.1f}M parameters): "
              f"{variant.rate:.0f} training samples/s; exact scoring of {len(items)} items "
              f"{per_user:.3f} s/user")


def _profile_ops(variant: Variant, batches: int) -> None:
    """The operators ``variant`` spends its training time in (self CPU time, top 8)."""
    from torch.profiler import ProfilerActivity, profile

    variant.next = 0  # the same batches again
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        variant.train(batches)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    print(f"\nwhere '{variant.name}' spends {batches} batches (torch.profiler, self CPU time):")
    for e in ops[:8]:
        print(f"  {e.key:<28} {e.self_cpu_time_total / total:6.1%}  ({e.count} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="batches per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", action="store_true", help="also time larger backbones")
    parser.add_argument("--profile-ops", action="store_true",
                        help="also profile the before loop's operators")
    args = parser.parse_args()
    methods, ctx, samples = _context()
    p = methods["digits"].params
    plain = interleave(samples, np.random.default_rng(1), p["batch_size"])
    pooled = interleave(samples, np.random.default_rng(1), p["batch_size"],
                        length_pool=p["length_pool"])
    if args.batches * args.rounds > len(plain):
        raise SystemExit(f"an epoch has {len(plain)} batches; ask for at most that many in all")
    # (ids, fast dropout, length pools) per variant
    plan = {"before": ("digits", False, False), "fast dropout": ("digits", True, False),
            "length pools": ("digits", False, True), "bpe ids": ("bpe", False, False),
            "after": ("bpe", True, True)}  # fmt: skip
    variants = []
    for name, (ids, fast, pools) in plan.items():
        model = _backbone(methods[ids])
        if fast:
            use_fast_dropout(model.t5)
        variants.append(Variant(name, methods[ids], model, pooled if pools else plain))
    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    print(f"ml-100k p5 training mix ({', '.join(f'{k} {len(v)}' for k, v in samples.items())} "
          f"samples per epoch), d_model {p['d_model']}, {p['num_layers']}+{p['num_layers']} "
          f"layers, batch {p['batch_size']}; {args.rounds} rounds of {args.batches} batches each")
    for _ in range(args.rounds):
        for variant in variants:
            variant.train(args.batches)
    before = variants[0].rate
    for v in variants:
        print(f"{v.name:>13}: {v.rate:6.1f} samples/s ({v.rate / before:.2f}x before); "
              f"{v.padded / v.samples:5.1f} padded tokens per prompt, {v.tokens / v.padded:.0%} "
              f"of them real; tokenising {v.encode_seconds / v.seconds:.1%} of the loop")
    diff = _same_losses(methods["digits"], plain[:8])
    print(f"same losses on the same 8 batches with dropout off (eval mode): largest difference "
          f"{diff:.2e}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.profile_ops:
        _profile_ops(variants[0], args.batches)
    if args.sizes:
        _sizes(methods["bpe"], ctx, samples["sequential"], args.batches)


if __name__ == "__main__":
    main()
