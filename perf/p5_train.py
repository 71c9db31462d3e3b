"""Training throughput of the P5 backbone on ML-100K prompts, for sizing the CPU profile.

Builds sequential training prompts from ML-100K's training split (P5 templates, 20-item
histories), trains a BPE tokenizer on them, and times ``--batches`` AdamW steps of batch 32 for
several T5 sizes trained from scratch. Prints training samples per second for each, and the
time to score every item for 50 users with the exact trie scorer.

    python perf/p5_train.py [--batches 8]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from benchmark.backends.t5 import build_backbone, encode_batch, encode_targets, train_tokenizer
from benchmark.backends.t5.scoring import score_all_items
from benchmark.backends.t5.trie import ItemTrie
from benchmark.data import load_dataset
from methods.p5.samples import sequential_samples
from tasks.split import leave_one_out

SIZES = [(256, 1024, 4, 4), (192, 768, 3, 3), (128, 512, 2, 2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--max-history", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    split = leave_one_out(load_dataset("ml-100k"))
    rng = np.random.default_rng(0)
    samples = sequential_samples(split, stage="train", max_history=args.max_history, rng=rng,
                                 prefixes_per_user=2)
    tok = train_tokenizer([s.source for s in samples] + [s.target for s in samples],
                          vocab_size=2000)
    items = list(range(1, split.n_items + 1))
    trie = ItemTrie.from_sequences(items, tok([str(i) for i in items])["input_ids"],
                                   eos_id=tok.eos_token_id)
    print(f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    print(f"ml-100k sequential prompts, {args.max_history}-item histories, batch 32")
    for d, ff, layers, heads in SIZES:
        bb = build_backbone("cpu", vocab_size=len(tok), d_model=d, d_ff=ff, num_layers=layers,
                            num_decoder_layers=layers, num_heads=heads, d_kv=d // heads)
        opt = torch.optim.AdamW(bb.parameters(), 1e-3)
        start, n = time.perf_counter(), 0
        for b in range(args.batches):
            batch = samples[b * 32 : (b + 1) * 32]
            enc = encode_batch(tok, [s.source for s in batch], 256)
            labels = encode_targets(tok, [s.target for s in batch], 16)
            loss = bb(enc["input_ids"], enc["attention_mask"], enc["whole_word_ids"], labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(batch)
        train_rate = n / (time.perf_counter() - start)
        bb.eval()
        enc = encode_batch(tok, [s.source for s in samples[:50]], 256)
        start = time.perf_counter()
        with torch.inference_mode():
            hidden, mask = bb.encode(enc["input_ids"], enc["attention_mask"],
                                     enc["whole_word_ids"])
            score_all_items(bb.t5, hidden, mask, trie)
        per_user = (time.perf_counter() - start) / 50
        params = sum(p.numel() for p in bb.parameters())
        print(f"d_model {d}, {layers}+{layers} layers ({params / 1e6:.1f}M parameters): "
              f"{train_rate:.0f} training samples/s; exact scoring of {split.n_items} items "
              f"{per_user:.3f} s/user")


if __name__ == "__main__":
    main()
