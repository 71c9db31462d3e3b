"""Item sequences as fixed-width tensors, shared by the causal sequence models (SASRec, UEM).

A causal model scores every prefix in one pass, so a training sequence becomes
``input = seq[:-1]``, ``labels = seq[1:]``; windows are left-padded with 0 (the padding item)
so the last position of every row is the newest item.
"""

from __future__ import annotations

import math

import numpy as np


def training_windows(
    seqs: list[np.ndarray], max_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut each ``(seq[:-1], seq[1:])`` pair from the right into left-padded windows.

    Returns ``inputs [W, L]``, ``labels [W, L]`` (0 = padding, no loss) and ``owner [W]`` (the
    index into ``seqs`` a window came from).
    """
    counts = [math.ceil((len(s) - 1) / max_len) if len(s) > 1 else 0 for s in seqs]
    total = sum(counts)
    inputs = np.zeros((total, max_len), dtype=np.int64)
    labels = np.zeros((total, max_len), dtype=np.int64)
    owner = np.repeat(np.arange(len(seqs)), counts)
    w = 0
    for seq, count in zip(seqs, counts, strict=True):
        src, tgt = seq[:-1], seq[1:]
        end = len(src)
        for _ in range(count):
            start = max(0, end - max_len)
            n = end - start
            inputs[w, max_len - n :] = src[start:end]
            labels[w, max_len - n :] = tgt[start:end]
            w += 1
            end = start
    return inputs, labels, owner


def left_pad(histories: list[np.ndarray], max_len: int) -> np.ndarray:
    """Last ``max_len`` items of each history, left-padded with 0."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, hist in enumerate(histories):
        tail = np.asarray(hist, dtype=np.int64)[-max_len:]
        if len(tail):
            out[row, max_len - len(tail) :] = tail
    return out
