"""Metrics engine against ranx on the same score matrix.

20,000 users x 10,000 items, one relevant item per user, random float scores (no ties, so both
tools must agree exactly). Both paths start from the same score matrix and end with per-user
HR@10, NDCG@10 and MRR@10. ranx needs a run of (user, item, score) triples: it gets each user's
top 100 items from torch.topk, which is what users of ranx do with a dense score matrix and
cannot change metrics at cutoff 10. The ranx call is timed warm (after a first, compiling call).

Our path is ``target_ranks`` (one comparison per score, counted block by block in cache) and
``metric_vectors``; its floor is one read of the score matrix (800 MB at the defaults).

Target: at least 20x faster than ranx's warm call, end to end, identical per-user values.

    python perf/metrics.py [--users 20000] [--items 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmark.metrics import metric_vectors, target_ranks

METRICS = ("hr@10", "ndcg@10", "mrr@10")
RANX_NAMES = {"hr@10": "hit_rate@10", "ndcg@10": "ndcg@10", "mrr@10": "mrr@10"}


def ours(scores: torch.Tensor, targets: torch.Tensor) -> dict[str, np.ndarray]:
    return metric_vectors(target_ranks(scores, targets), METRICS)


def read_once(scores: torch.Tensor) -> float:
    """The floor: one pass over the scores (a max per row), for scale."""
    return float(scores.numpy().max(axis=1).sum())


def with_ranx(
    scores: torch.Tensor, targets: torch.Tensor, depth: int = 100
) -> dict[str, np.ndarray]:
    from ranx import Qrels, Run, evaluate

    values, items = torch.topk(scores, depth, dim=1)
    values, items = values.numpy(), items.numpy()
    qrels = Qrels({f"u{u}": {f"i{int(t)}": 1} for u, t in enumerate(targets.tolist())})
    run = Run({
        f"u{u}": {f"i{i}": float(v) for i, v in zip(items[u].tolist(), values[u].tolist())}
        for u in range(len(items))
    })
    evaluate(qrels, run, [RANX_NAMES[m] for m in METRICS], return_mean=False)
    return {
        m: np.array([run.scores[RANX_NAMES[m]][f"u{u}"] for u in range(len(items))])
        for m in METRICS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(args.users, args.items, generator=gen)
    targets = torch.randint(0, args.items, (args.users,), generator=gen)

    ours(scores, targets)  # warm-up
    t_ours = min(_timed(lambda: ours(scores, targets)) for _ in range(args.repeats))
    a = ours(scores, targets)

    t_read = min(_timed(lambda: read_once(scores)) for _ in range(args.repeats))
    t_first = _timed(lambda: with_ranx(scores, targets))
    t_ranx = min(_timed(lambda: with_ranx(scores, targets)) for _ in range(args.repeats))
    b = with_ranx(scores, targets)

    for m in METRICS:
        np.testing.assert_allclose(a[m], b[m], rtol=0, atol=1e-12, err_msg=m)
    ratio = t_ranx / t_ours
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"{args.users} users x {args.items} items, metrics {', '.join(METRICS)}")
    print("per-user values: equal to 1e-12 for every user")
    print(f"recbench metrics engine: {t_ours:.3f} s (best of {args.repeats})")
    print(f"one read of the scores:  {t_read:.3f} s (numpy max per row, best of {args.repeats})")
    print(f"ranx warm:               {t_ranx:.3f} s (best of {args.repeats}); "
          f"first call {t_first:.3f} s")
    print(f"speed-up: {ratio:.1f}x  target >= 20x: {'PASS' if ratio >= 20 else 'FAIL'}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
