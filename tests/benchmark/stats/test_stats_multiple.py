"""Holm-Bonferroni adjustment checked against hand calculations and a loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.stats import holm, holm_reject


def _holm_reference(p: list[float]) -> list[float]:
    """Textbook definition, written as plainly as possible for comparison."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):  # rank is 0-based, multiplier m - rank
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def _step_down_reject(p: list[float], alpha: float) -> list[bool]:
    """Holm's procedure as a test: reject p_(k) while p_(k) <= alpha / (m - k), then stop."""
    m = len(p)
    reject = [False] * m
    for k, i in enumerate(sorted(range(m), key=lambda j: p[j])):
        if p[i] > alpha / (m - k):
            break
        reject[i] = True
    return reject


def test_holm_hand_computed_unsorted() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


def test_holm_statsmodels_example() -> None:
    # statsmodels.stats.multitest.multipletests(p, method="holm") gives these values:
    # 0.05, 0.08, 0.09, max(0.09, 0.08), max(0.09, 0.05)
    adjusted = holm([0.01, 0.02, 0.03, 0.04, 0.05])
    np.testing.assert_allclose(adjusted, [0.05, 0.08, 0.09, 0.09, 0.09], rtol=1e-12)


def test_holm_caps_at_one_and_keeps_order() -> None:
    # sorted: 0.02*3 = 0.06, 0.3*2 = 0.6, 0.5*1 = 0.5 -> 0.6
    np.testing.assert_allclose(holm((0.3, 0.5, 0.02)), [0.6, 0.6, 0.06], rtol=1e-12)
    np.testing.assert_array_equal(holm([0.6, 0.7, 0.9]), [1.0, 1.0, 1.0])


def test_holm_ties_get_equal_adjustment() -> None:
    adjusted = holm([0.02, 0.01, 0.02, 0.02])
    # sorted: 0.01*4 = 0.04, then 0.02*3 = 0.06, 0.02*2 = 0.04 -> 0.06, 0.02*1 -> 0.06
    np.testing.assert_allclose(adjusted, [0.06, 0.04, 0.06, 0.06], rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_loop_reference_on_random_input(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.choice(np.r_[rng.uniform(0, 0.2, 8), [0.01, 0.5, 1.0, 0.0]], size=15).tolist()
    adjusted = holm(p)
    np.testing.assert_allclose(adjusted, _holm_reference(p), rtol=1e-12)
    assert np.all(adjusted >= np.asarray(p))
    assert np.all(adjusted <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)  # monotone in the raw p-values
    perm = rng.permutation(len(p))
    np.testing.assert_allclose(holm(np.asarray(p)[perm]), adjusted[perm], rtol=1e-12)


def test_holm_small_inputs() -> None:
    assert holm([]).shape == (0,)
    np.testing.assert_array_equal(holm([0.03]), [0.03])
    out = holm([0.01, 0.2])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
@pytest.mark.parametrize("seed", range(4))
def test_holm_reject_matches_step_down_procedure(alpha: float, seed: int) -> None:
    p = np.random.default_rng(seed).uniform(0, 0.06, 10).tolist()
    np.testing.assert_array_equal(holm_reject(p, alpha), _step_down_reject(p, alpha))


def test_holm_reject_hand_computed() -> None:
    # adjusted [0.03, 0.06, 0.06, 0.02]
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_array_equal(holm_reject(p), [True, False, False, True])
    np.testing.assert_array_equal(holm_reject(p, alpha=0.06), [True, True, True, True])
    np.testing.assert_array_equal(holm_reject(p, alpha=0.025), [False, False, False, True])
    assert holm_reject(p).dtype == np.bool_


@pytest.mark.parametrize(
    "p, message",
    [
        ([0.1, 1.2], "index 1"),
        ([-0.01, 0.5], "index 0"),
        ([0.1, float("nan")], "index 1"),
        ([[0.1, 0.2]], "1-D"),
    ],
)
def test_holm_rejects_invalid_p_values(p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        holm(p)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.05, float("nan")])
def test_holm_reject_rejects_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        holm_reject([0.01, 0.02], alpha=alpha)
