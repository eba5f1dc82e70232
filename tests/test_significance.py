"""Paired differences over seeds and their t-test (elmo_tasks.results.significance)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from elmo_tasks.results.significance import (
    one_key_apart,
    paired_difference,
    paired_t_test,
)


@pytest.mark.parametrize(
    "differences",
    [
        [0.01, 0.03, 0.02],
        [0.05, -0.01, 0.02, 0.04],
        [-0.2, -0.1],
        [0.011, 0.012, 0.010, 0.013, 0.011],
    ],
)
def test_paired_t_test_matches_scipys_ttest_rel(differences) -> None:
    expected = stats.ttest_rel([d + 1.0 for d in differences], [1.0] * len(differences)).pvalue
    assert paired_t_test(differences) == pytest.approx(expected, rel=1e-9)


def test_paired_t_test_by_hand() -> None:
    # mean 0.02, sample std 0.01, n 3: t = 0.02 / (0.01 / sqrt 3) = 3.464 with 2 dof;
    # two-sided p = 1 - t / sqrt(t^2 + 2) for 2 degrees of freedom = 0.0742
    t = 0.02 / (0.01 / math.sqrt(3))
    assert paired_t_test([0.01, 0.03, 0.02]) == pytest.approx(
        1 - t / math.sqrt(t * t + 2), rel=1e-9
    )


def test_degenerate_differences() -> None:
    assert paired_t_test([0.1]) is None
    assert paired_t_test([0.0, 0.0, 0.0]) == 1.0
    assert paired_t_test([0.02, 0.02, 0.02]) == 0.0


def test_pairs_by_seed_and_says_who_wins() -> None:
    first = {1: 0.90, 2: 0.92, 3: 0.91, 4: 0.5}
    second = {3: 0.85, 1: 0.84, 2: 0.87}
    difference = paired_difference("elmo", "baseline", first, second)
    assert difference.seeds == (1, 2, 3)
    assert difference.mean == pytest.approx((0.06 + 0.05 + 0.06) / 3)
    assert difference.significant and difference.verdict() == "elmo beats baseline (p < 0.05)"
    weak = paired_difference("a", "b", {1: 0.5, 2: 0.6}, {1: 0.55, 2: 0.52})
    assert not weak.significant and weak.verdict().startswith("no significant difference")
    assert paired_difference("a", "b", {1: 0.5}, {2: 0.5}) is None


def test_one_key_apart() -> None:
    assert (
        one_key_apart({"experiment": "a", "head": "max"}, {"experiment": "b", "head": "max"})
        == "experiment"
    )
    assert (
        one_key_apart({"experiment": "a", "head": "max"}, {"experiment": "b", "head": "mean"})
        is None
    )
    assert one_key_apart({"experiment": "a"}, {"experiment": "a"}) is None
    assert one_key_apart({"x": "1"}, {}) == "x"
