"""``raybench.stats``: the bootstrap CI held against scipy's, the median's order-statistic interval
held to its coverage, the exact binomial interval against scipy's, and cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from raybench.stats import (
    bootstrap_median_ci,
    clopper_pearson,
    mean_ci,
    median_ci,
    performance_profile,
    speed_ratio,
    speed_ratio_bounds,
)

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


def test_speed_ratio_bounds_from_evaluation_intervals() -> None:
    # Adam met the target between steps 62 and 124, the other between 124 and 186.
    assert speed_ratio_bounds((62.0, 124.0), (124.0, 186.0)) == pytest.approx((62 / 186, 1.0))
    # Met at the first evaluation: nothing is known below it, so any ratio is possible.
    assert speed_ratio_bounds((0.0, 62.0), (0.0, 62.0)) == (0.0, INF)
    assert speed_ratio_bounds((0.0, 62.0), (INF, INF)) == (0.0, 0.0)  # the other never met it
    assert speed_ratio_bounds((INF, INF), (0.0, 62.0)) == (INF, INF)
    assert all(math.isnan(v) for v in speed_ratio_bounds((INF, INF), (INF, INF)))
    assert all(math.isnan(v) for v in speed_ratio_bounds((0.0, 0.0), (0.0, 0.0)))  # both met it at the start
    # Exact crossings give speed_ratio's value at both ends.
    assert speed_ratio_bounds((120.0, 120.0), (80.0, 80.0)) == (speed_ratio(120.0, 80.0),) * 2


# --- the median's interpolated order-statistic interval (Hettmansperger-Sheather) -------------

def test_median_ci_by_hand_at_n_10() -> None:
    # n = 10: [X(2), X(9)] covers 1 - 2 P(B <= 1) = 0.97852, [X(3), X(8)] 0.89063; 95% lies
    # I = (0.97852 - 0.95) / (0.97852 - 0.89063) = 0.32444 of the way, lambda = 8 I / (2 + 6 I).
    x = np.arange(1.0, 11.0)
    g2, g3 = 1 - 2 * 11 / 1024, 1 - 2 * 56 / 1024
    share = (g2 - 0.95) / (g2 - g3)
    lam = 8 * share / (2 + 6 * share)
    median, lo, hi = median_ci(np.random.default_rng(0).permutation(x))
    assert (median, lo, hi) == pytest.approx((5.5, 2 + lam, 9 - lam))
    # At a level that is exactly an order statistic's coverage, the interval is that one.
    assert median_ci(x, level=g2)[1:] == pytest.approx((2.0, 9.0))
    assert median_ci(x, level=g3)[1:] == pytest.approx((3.0, 8.0))


def test_median_ci_below_six_values_has_no_finite_95_percent_interval() -> None:
    # [min, max] of 5 values covers 1 - 2 / 32 = 93.75% < 95%: no distribution-free interval.
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) == (3.0, -INF, INF)
    _, lo, hi = median_ci([1.0, 2.0, 3.0, 4.0, 5.0], level=0.9)  # 90% is reachable: interpolated
    assert 1.0 < lo < 2.0 and 4.0 < hi < 5.0
    _, lo, hi = median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # 96.9% for [min, max]
    assert 1.0 <= lo < 2.0 and 5.0 < hi <= 6.0


def test_median_ci_keeps_inf_and_drops_nan() -> None:
    # Two never-converged seeds of 10: the upper end interpolates between 8 and inf, so it is inf.
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, INF, INF]
    median, lo, hi = median_ci(values + [NAN])
    assert (median, hi) == (5.5, INF) and lo == pytest.approx(median_ci(np.arange(1.0, 11.0))[1])
    assert median_ci([*values[:-1], 9.0])[2] == pytest.approx(median_ci(np.arange(1.0, 11.0))[2])
    assert median_ci([4.25] * 9) == (4.25, 4.25, 4.25)
    assert all(math.isnan(v) for v in median_ci([NAN]))
    with pytest.raises(ValueError, match="Invalid level: 1.0"):
        median_ci([1.0], level=1.0)


COVERAGE_DISTRIBUTIONS = {  # name: (draw n values, the true median)
    "normal": (lambda rng, size: rng.normal(3.0, 2.0, size=size), 3.0),
    "exponential": (lambda rng, size: rng.exponential(1.0, size=size), math.log(2.0)),
    "lognormal": (lambda rng, size: rng.lognormal(0.0, 1.0, size=size), 1.0),
}


@pytest.mark.parametrize("n", [6, 10])
def test_median_ci_has_honest_coverage_at_small_n(n: int) -> None:
    """Coverage of the nominal 95% simulated on known distributions: within [93%, 98%] (nominal
    - 2, + 3 points). 4,000 samples each: the Monte Carlo error is 0.35 points. The percentile
    bootstrap this replaces for verdicts covers about 91% at n = 6 and 74% at n = 3."""
    rng = np.random.default_rng(20240521)
    for name, (draw, true_median) in COVERAGE_DISTRIBUTIONS.items():
        samples = draw(rng, (4000, n))
        covered = [lo <= true_median <= hi for _, lo, hi in map(median_ci, samples)]
        coverage = 100 * float(np.mean(covered))
        assert 93.0 <= coverage <= 98.0, (name, n, coverage)


def test_mean_ci_coverage_on_normal_data_at_n_10() -> None:
    rng = np.random.default_rng(7)
    samples = rng.normal(83.0, 1.5, size=(4000, 10))
    coverage = 100 * float(np.mean([lo <= 83.0 <= hi for _, lo, hi in map(mean_ci, samples)]))
    assert 93.0 <= coverage <= 98.0


# --- proportions: Clopper-Pearson ----------------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (8, 10), (10, 10), (1, 3), (37, 40), (0, 1)])
def test_clopper_pearson_agrees_with_scipys_exact_interval(k: int, n: int) -> None:
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_clopper_pearson_edges() -> None:
    assert clopper_pearson(10, 10)[1] == 1.0 and clopper_pearson(0, 10)[0] == 0.0
    assert clopper_pearson(10, 10)[0] == pytest.approx(0.025 ** (1 / 10))  # (alpha/2)^(1/n)
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))
    with pytest.raises(ValueError, match="Invalid counts: 11 of 10"):
        clopper_pearson(11, 10)
