"""Ranking metrics computed from the rank of each user's single held-out target."""

from benchmark.metrics.ranking import (
    DEFAULT_METRICS,
    metric_vectors,
    parse_metric,
    rank_full_catalogue,
    target_ranks,
)

__all__ = [
    "DEFAULT_METRICS",
    "metric_vectors",
    "parse_metric",
    "rank_full_catalogue",
    "target_ranks",
]
