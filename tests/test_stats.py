"""``raybench.stats``: the bootstrap CI held against scipy's, and cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from raybench.stats import bootstrap_median_ci, performance_profile, speed_ratio

INF, NAN = math.inf, math.nan


def _samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12345)
    return {
        "normal_15": rng.normal(10.0, 2.0, size=15),
        "normal_101": rng.normal(0.0, 1.0, size=101),  # many distinct medians: a finer check
        "exponential_40": rng.exponential(3.0, size=40),  # skewed
        "integers_with_ties_12": rng.integers(1, 6, size=12).astype(float),  # a discrete median
    }


@pytest.mark.parametrize("level", [0.95, 0.9])
@pytest.mark.parametrize("name", list(_samples()))
def test_bootstrap_median_ci_agrees_with_scipy_percentile_bootstrap(name: str, level: float) -> None:
    x = _samples()[name]
    n_boot = 2000
    median, lo, hi = bootstrap_median_ci(x, n_boot=n_boot, level=level, seed=1)
    assert median == np.median(x)

    # scipy's percentile bootstrap with many resamples stands for the exact bootstrap
    # distribution of the median.
    ref = scipy_stats.bootstrap((x,), np.median, n_resamples=200_000, confidence_level=level,
                                method="percentile", rng=np.random.default_rng(2))
    dist = np.sort(ref.bootstrap_distribution)
    # Our bounds are quantiles of only n_boot resampled medians: where they fall in that
    # distribution is off from the nominal alpha by Monte Carlo error of standard deviation
    # sqrt(alpha (1 - alpha) / n_boot); allow 4 of those. Medians take few distinct values, so
    # the check is on both sides of a jump: P(M < bound) and P(M <= bound).
    alpha = (1 - level) / 2
    tol = 4 * math.sqrt(alpha * (1 - alpha) / n_boot)
    for bound, p in ((lo, alpha), (hi, 1 - alpha)):
        below = np.searchsorted(dist, bound, side="left") / len(dist)
        at_or_below = np.searchsorted(dist, bound, side="right") / len(dist)
        assert below <= p + tol and at_or_below >= p - tol, (bound, p, below, at_or_below)
    # In values: both intervals cover the same part of the sample.
    ref_lo, ref_hi = ref.confidence_interval
    spread = np.subtract(*np.quantile(x, [0.75, 0.25]))
    assert abs(lo - ref_lo) <= 0.5 * spread and abs(hi - ref_hi) <= 0.5 * spread
    assert lo <= median <= hi


def test_bootstrap_median_ci_is_seeded_and_wider_at_a_higher_level() -> None:
    x = _samples()["normal_15"]
    assert bootstrap_median_ci(x, seed=3) == bootstrap_median_ci(x, seed=3)
    _, lo95, hi95 = bootstrap_median_ci(x, level=0.95, seed=3)
    _, lo99, hi99 = bootstrap_median_ci(x, level=0.99, seed=3)
    assert lo99 <= lo95 < hi95 <= hi99
    assert (lo99, hi99) != (lo95, hi95)


def test_a_constant_sample_has_a_zero_width_interval_at_the_constant() -> None:
    assert bootstrap_median_ci([4.25] * 9) == (4.25, 4.25, 4.25)


def test_a_single_value_is_its_own_median_and_interval() -> None:
    assert bootstrap_median_ci([7.0]) == (7.0, 7.0, 7.0)


def test_inf_orders_above_every_finite_value() -> None:
    # Five values, odd: every resampled median is one of the values, so replacing inf with a
    # finite value larger than the others (same draws, same seed) changes only that value.
    with_inf = bootstrap_median_ci([5.0, 1.0, INF, 2.0, 3.0])
    with_big = bootstrap_median_ci([5.0, 1.0, 1e300, 2.0, 3.0])
    assert with_inf == tuple(INF if v == 1e300 else v for v in with_big)
    # By hand: the median of (1, 2, 3, 5, inf) is 3. A resampled median is inf when 3 or more of
    # the 5 draws are inf, with probability sum_{k>=3} C(5,k) 0.2^k 0.8^(5-k) = 0.058 > 0.025,
    # and likewise it is 1 with probability 0.058: the 95% interval is [1, inf].
    assert with_inf == (3.0, 1.0, INF)
    # A majority of never-converged seeds makes the median itself inf.
    assert bootstrap_median_ci([1.0, INF, INF])[0] == INF


def test_nan_values_are_dropped() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]
    holed = [3.0, NAN, 1.0, 4.0, 1.0, NAN, 5.0, 9.0, 2.0]
    assert bootstrap_median_ci(holed) == bootstrap_median_ci(values)
    assert bootstrap_median_ci(np.asarray(holed)) == bootstrap_median_ci(values)
    assert bootstrap_median_ci(holed)[0] == 3.0


@pytest.mark.parametrize("values", [[], [NAN, NAN]], ids=["empty", "all-nan"])
def test_no_values_give_nans(values: list[float]) -> None:
    assert all(math.isnan(v) for v in bootstrap_median_ci(values))


def test_speed_ratio_cases() -> None:
    assert speed_ratio(120.0, 80.0) == pytest.approx(1.5)  # other converged faster
    assert speed_ratio(80.0, 120.0) == pytest.approx(2 / 3)
    assert speed_ratio(100.0, INF) == 0.0  # only the baseline converged
    assert speed_ratio(INF, 100.0) == INF  # only the other converged
    assert math.isnan(speed_ratio(INF, INF))  # neither: no information on this seed


def test_performance_profile_on_a_hand_made_table() -> None:
    #              instance:  0     1     2     3     4
    costs = {"a": [10.0, 30.0, INF, INF, 5.0],
             "b": [20.0, 10.0, 40.0, INF, 5.0],
             "c": [INF, 15.0, 20.0, INF, 10.0]}
    # best per instance: 10, 10, 20, none (all inf), 5 (a and b tie)
    # ratio to the best:  a: 1, 3, inf, inf, 1 | b: 2, 1, 2, inf, 1 | c: inf, 1.5, 1, inf, 2
    taus = [1.0, 1.5, 2.0, 3.0, 1e9]
    assert performance_profile(costs, taus) == {
        "a": [2 / 5, 2 / 5, 2 / 5, 3 / 5, 3 / 5],
        "b": [2 / 5, 2 / 5, 4 / 5, 4 / 5, 4 / 5],
        "c": [1 / 5, 2 / 5, 3 / 5, 3 / 5, 3 / 5],
    }
