"""Every statistical test has one human name, kept beside the tests."""

from __future__ import annotations

from benchmark.stats import TEST_NAMES, TESTS


def test_every_paired_test_has_a_label():
    assert set(TESTS) <= set(TEST_NAMES)
    assert all(label.strip() == label and label for label in TEST_NAMES.values())


def test_reports_share_the_labels():
    from benchmark import compare
    from benchmark.leaderboard import render

    assert compare.TEST_NAMES is TEST_NAMES and render.TEST_NAMES is TEST_NAMES
