"""Paired significance tests, bootstrap CIs and multiple-comparison correction.

Inputs are per-user metric vectors of two systems, paired by position. See
:mod:`benchmark.stats.paired`, :mod:`benchmark.stats.bootstrap` and
:mod:`benchmark.stats.multiple`; :data:`TEST_NAMES` is how reports name each test.
"""

from benchmark.stats.bootstrap import bootstrap_ci
from benchmark.stats.labels import CORPUS_RESAMPLES, CORPUS_TEST, TEST_NAMES
from benchmark.stats.multiple import holm, holm_reject
from benchmark.stats.paired import (
    TESTS,
    TestResult,
    compare,
    effect_size,
    paired_t_test,
    randomization_test,
    wilcoxon_test,
)

__all__ = [
    "CORPUS_RESAMPLES",
    "CORPUS_TEST",
    "TESTS",
    "TEST_NAMES",
    "TestResult",
    "bootstrap_ci",
    "compare",
    "effect_size",
    "holm",
    "holm_reject",
    "paired_t_test",
    "randomization_test",
    "wilcoxon_test",
]
