"""Human names of the statistical tests, for every report that names one.

They live with the tests, not with a renderer: leaderboard captions and ``benchmark compare``
both print them, and a fact about the statistics should not be imported from a table renderer.
"""

from __future__ import annotations

__all__ = ["CORPUS_RESAMPLES", "CORPUS_TEST", "TEST_NAMES"]

#: the test of boards whose columns are corpus statistics (text generation), and its resamples
#: (the smallest p is 1 / (R + 1), small enough to survive Holm over a few hundred comparisons)
CORPUS_TEST = "corpus-randomization"
CORPUS_RESAMPLES = 20_000

#: test name (a key of :data:`benchmark.stats.TESTS`, or the corpus test of generation
#: leaderboards) -> how reports name it
TEST_NAMES: dict[str, str] = {
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "randomization": "paired randomization (sign-flip) test",
    "corpus-randomization": "paired approximate randomization of the printed statistic",
}
