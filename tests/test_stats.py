"""The shared statistics convention (explorer.analysis.stats) on cases worked by hand."""
import math

import numpy as np
import pytest

from explorer.analysis import stats


def test_mean_se_by_hand():
    mean, se, n = stats.mean_se([1.0, 2.0, 6.0])
    assert (mean, n) == (3.0, 3)
    assert se == pytest.approx(math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2) / math.sqrt(3))
    assert stats.mean_se([4.0, None, float("nan")]) == (4.0, None, 1)     # one seed: error unknown
    assert stats.mean_se([]) == (None, None, 0)


def test_by_group_orders_groups_and_averages_seeds():
    rows = [{"beta": 1.0, "q": 0.5}, {"beta": 0.25, "q": 0.7}, {"beta": 1.0, "q": 0.7},
            {"beta": 0.25, "q": 0.9}]
    got = stats.by_group(rows, "q")
    assert list(got) == [0.25, 1.0]
    assert got[0.25][0] == pytest.approx(0.8) and got[1.0][0] == pytest.approx(0.6)
    assert got[1.0][1] == pytest.approx(0.1)                       # sd 0.1414 / √2


def test_differs_needs_two_standard_errors_of_the_difference():
    # se of the difference: √(0.03² + 0.04²) = 0.05, so the bar is 0.10
    assert not stats.differs(1.0, 0.03, 1.09, 0.04)
    assert stats.differs(1.0, 0.03, 1.11, 0.04)
    assert stats.compare(1.11, 0.03, 1.0, 0.04) == 1 and stats.compare(1.0, 0.03, 1.11, 0.04) == -1
    assert not stats.differs(1.0, None, 5.0, 0.01)                   # unknown error: no claim


def test_within_error_of_best_is_a_set():
    means = [0.60, 0.80, 0.78, 0.50, None]
    ses = [0.01, 0.02, 0.02, 0.01, None]
    assert stats.within_error_of_best(means, ses) == [1, 2]
    assert stats.within_error_of_best(means, ses, higher_is_better=False) == [3]
    assert stats.within_error_of_best([0.6, 0.8], [None, None]) == [1]
    assert stats.within_error_of_best([None], [None]) == []


def test_trend_is_a_slope_beyond_its_error():
    x = np.arange(30.0)
    rng = np.random.default_rng(0)
    flat = 5 + rng.normal(0, 1, 30)
    falling = 5 - 0.2 * x + rng.normal(0, 1, 30)
    slope, se = stats.slope_with_se(x, 3 * x + 1)
    assert slope == pytest.approx(3.0) and se == pytest.approx(0.0, abs=1e-9)
    assert stats.trend(x, flat) == 0
    assert stats.trend(x, falling) == -1 and stats.trend(x, -falling) == 1
    # one big last step is not a trend: a flat curve whose final epoch drops
    jump = np.r_[np.full(29, 5.0) + rng.normal(0, 1, 29), 1.0]
    assert stats.trend(x, jump) == 0
    assert stats.slope_with_se([1, 2], [1, 3]) == (2.0, None)


def test_seeded_subset_is_random_reproducible_and_nested():
    a = stats.seeded_subset(10_000, 1000, seed=0, stream=2)
    assert len(set(a.tolist())) == 1000 and a.min() >= 0 and a.max() < 10_000
    assert np.array_equal(a, stats.seeded_subset(10_000, 1000, seed=0, stream=2))
    assert np.array_equal(stats.seeded_subset(10_000, 300, seed=0, stream=2), a[:300])
    assert not np.array_equal(a, stats.seeded_subset(10_000, 1000, seed=0, stream=1))
    assert not np.array_equal(np.sort(a), np.arange(1000))          # not "the first n"
    assert a.mean() == pytest.approx(5000, rel=0.05)                 # spread over the split
    assert len(stats.seeded_subset(5, 10)) == 5


def test_ratio_se_matches_the_spread_of_many_draws():
    rng = np.random.default_rng(1)
    draws, ses = [], []
    for _ in range(400):
        b = rng.uniform(1, 2, 200)
        a = 0.8 * b + rng.normal(0, 0.1, 200)
        r, se = stats.ratio_se(a, b)
        draws.append(r)
        ses.append(se)
    assert np.mean(ses) == pytest.approx(np.std(draws), rel=0.15)


def test_combine_se_adds_the_images_error_once():
    mean, se, n = stats.combine_se([1.0, 2.0, 3.0], [0.3, 0.4, 0.5])
    assert (mean, n) == (2.0, 3)
    assert se == pytest.approx(math.sqrt(1.0 / 3 + (0.09 + 0.16 + 0.25) / 3))
    assert stats.combine_se([1.0], [0.2]) == (1.0, 0.2, 1)
    assert stats.combine_se([1.0, 3.0]) == (2.0, 1.0, 2)
    assert stats.combine_se([1.0], None) == (1.0, None, 1)
