"""recbench ranking metrics (HR@k, NDCG@k, MRR@k) as an ``evaluate`` module.

One held-out target per user, ranked with recbench's pessimistic tie rule: the target ranks below
every other item with an equal score; ``-inf`` marks items excluded from ranking (they rank
below any finite target); a NaN target ranks last. The numbers come from
``benchmark.metrics.ranking`` itself, so they are the suite's for the same scores.
"""

import datasets
import evaluate
import numpy as np
import torch

# Indented so that evaluate's import scan does not ask pip for a package named "benchmark".
try:
    from benchmark.metrics.ranking import (
        DEFAULT_METRICS,
        metric_vectors,
        parse_metric,
        target_ranks,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "recbench_ranking calls recbench's own metrics: install recbench (pip install recbench) "
        "or put its checkout on PYTHONPATH"
    ) from exc

_DESCRIPTION = __doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions: per-user score lists (or a 2-D array), one score per candidate item; rows may
        differ in length. ``-inf`` excludes an item; NaN scores never rank ahead of the target.
    references: per user, the index of the held-out target within its score list.
    metrics: metric names such as ``"hr@10"`` or ``"ndcg@5"`` (default: the suite's
        hr@1/5/10/20, ndcg@5/10/20, mrr@10).
    k: instead of ``metrics``, one cutoff or a list of them: hr, ndcg and mrr at each.
Returns:
    Each metric's mean over users, keyed by its lower-case name.
Examples:
    >>> ranking = evaluate.load("benchmark/metrics/evaluate_modules/recbench_ranking")
    >>> ranking.compute(predictions=[[0.1, 0.9, 0.5]], references=[2], k=1)
    {'hr@1': 0.0, 'ndcg@1': 0.0, 'mrr@1': 0.0}
"""

_CITATION = """\
@software{recbench,
  title = {recbench: an open benchmark and evaluation suite for LLM-based recommenders}
}
"""


def _metric_names(metrics, k):
    if metrics is not None and k is not None:
        raise ValueError("give metrics or k, not both")
    if k is not None:
        cutoffs = [k] if isinstance(k, int) else list(k)
        return [f"{kind}@{c}" for c in cutoffs for kind in ("hr", "ndcg", "mrr")]
    names = DEFAULT_METRICS if metrics is None else ([metrics] if isinstance(metrics, str)
                                                     else list(metrics))
    for name in names:
        parse_metric(name)  # a clear ValueError for a misspelt name
    return [n.lower() for n in names]


def _ranks(predictions, references):
    """Each user's pessimistic target rank; rows of one length are ranked together."""
    lengths = np.array([len(row) for row in predictions], dtype=np.int64)
    targets = np.asarray(references, dtype=np.int64)
    bad = np.flatnonzero((targets < 0) | (targets >= lengths))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"references[{i}] = {targets[i]} is not an index into predictions[{i}], which has "
            f"{lengths[i]} scores"
        )
    ranks = np.empty(len(predictions), dtype=np.int64)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        scores = torch.as_tensor(np.array([predictions[i] for i in rows], dtype=np.float64))
        ranks[rows] = target_ranks(scores, torch.as_tensor(targets[rows])).numpy()
    return ranks


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RecbenchRanking(evaluate.Metric):
    """HR/NDCG/MRR at cutoffs, computed by recbench."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Value("int64"),
            }),
        )

    def _compute(self, predictions, references, metrics=None, k=None):
        if len(predictions) == 0:
            raise ValueError("predictions is empty: nothing to rank")
        names = _metric_names(metrics, k)
        vectors = metric_vectors(_ranks(predictions, references), names)
        return {name: float(np.mean(vectors[name])) for name in names}
