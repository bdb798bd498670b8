"""Statistics for honest comparisons: paired speed ratios, bootstrap CIs, performance profiles,
Student-t intervals, and the interquartile mean with its stratified bootstrap (rliable's)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np


def bootstrap_median_ci(values: Sequence[float], *, n_boot: int = 2000, level: float = 0.95,
                        seed: int = 0) -> tuple[float, float, float]:
    """Median of ``values`` and its percentile-bootstrap ``level`` confidence interval.

    ``inf`` values are kept (they order above every finite value); ``nan`` values are
    dropped. Returns ``(nan, nan, nan)`` for no values.
    """
    x = np.asarray([v for v in values if not (isinstance(v, float) and math.isnan(v))], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    samples = rng.choice(x, size=(n_boot, x.size), replace=True)
    medians = np.median(samples, axis=1)
    alpha = (1 - level) / 2
    lo = float(np.quantile(medians, alpha, method="lower"))
    hi = float(np.quantile(medians, 1 - alpha, method="higher"))
    return float(np.median(x)), lo, hi


def speed_ratio(steps_baseline: float, steps_other: float) -> float:
    """Convergence speed of "other" against the baseline on one seed: baseline steps / other's.

    Steps-to-target are ``inf`` when the target was never met (never dropped): other
    converged and baseline not -> ``inf``; baseline converged and other not -> 0; neither
    -> ``nan`` (no information on that seed; counted and shown, not averaged in).
    """
    b_inf, o_inf = math.isinf(steps_baseline), math.isinf(steps_other)
    if b_inf and o_inf:
        return math.nan
    if o_inf:
        return 0.0
    if b_inf:
        return math.inf
    return steps_baseline / max(steps_other, 1e-12)


def speed_ratio_bounds(steps_baseline: tuple[float, float], steps_other: tuple[float, float]) -> tuple[float, float]:
    """``speed_ratio`` when each run's steps to target are only known to lie in an interval
    (low, high]: between the evaluation before the one at which the target was seen met, and
    that one. Returns the interval of baseline / other that those allow, (low_b / high_o,
    high_b / low_o); a run that never met its target is ``inf`` at both ends, and then the
    ratio is 0 or ``inf`` as in ``speed_ratio`` (``(nan, nan)``: neither met it, or both met it
    at step 0, no information).
    """
    (b_lo, b_hi), (o_lo, o_hi) = steps_baseline, steps_other
    b_inf, o_inf = math.isinf(b_hi), math.isinf(o_hi)
    if (b_inf and o_inf) or (b_hi == 0 and o_hi == 0):
        return math.nan, math.nan
    if o_inf or b_hi == 0:
        return 0.0, 0.0
    if b_inf or o_hi == 0:
        return math.inf, math.inf
    return b_lo / o_hi, (b_hi / o_lo if o_lo > 0 else math.inf)


def speed_interval(bounds: Sequence[tuple[float, float]], level: float = 0.95) -> tuple[float, float, float, float]:
    """From per-seed ratio bounds (``speed_ratio_bounds``): the median ratio's CI (its
    lower end the Hettmansperger-Sheather lower end of the low bounds, its upper end that of the
    high bounds, never below 0) and the resolution (the medians of the low and of the high
    bounds: what the evaluation spacing alone allows). ``nan`` for no bounds."""
    if not bounds:
        return math.nan, math.nan, math.nan, math.nan
    lows, highs = [b[0] for b in bounds], [b[1] for b in bounds]
    return (max(0.0, median_ci(lows, level=level)[1]), median_ci(highs, level=level)[2],
            float(np.median(lows)), float(np.median(highs)))


def performance_profile(costs: dict[str, Sequence[float]], taus: Sequence[float]) -> dict[str, list[float]]:
    """Dolan-Moré performance profiles.

    ``costs[solver][i]`` is the cost (e.g. steps to target, ``inf`` if never) of ``solver`` on
    instance ``i`` (same instances, same order for every solver). Returns, per solver, the
    fraction of instances on which its cost is within a factor ``tau`` of the best solver's.
    """
    names = list(costs)
    mat = np.asarray([costs[n] for n in names], dtype=float)
    best = np.min(mat, axis=0)
    out: dict[str, list[float]] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isinf(best), np.inf, mat / np.maximum(best, 1e-12))
    for i, n in enumerate(names):
        out[n] = [float(np.mean(ratio[i] <= t)) for t in taus]
    return out


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` (a positive integer) degrees of freedom.

    Exact up to the bisection's tolerance: for integer ``df`` the two-sided probability
    P(|T| <= t) is a finite series in theta = atan(t / sqrt(df)) (Abramowitz & Stegun 26.7.3-4),
    so no special functions (and no scipy) are needed.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"Invalid quantile p: {p} (accepted: 0 < p < 1)")
    if df < 1 or int(df) != df:
        raise ValueError(f"Invalid degrees of freedom: {df} (accepted: an integer >= 1)")
    if p == 0.5:
        return 0.0
    two_sided = abs(2 * p - 1)  # P(|T| <= t) for the t we want, then the sign of p - 1/2
    lo, hi = 0.0, 1.0
    while _t_two_sided(hi, int(df)) < two_sided:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_two_sided(mid, int(df)) < two_sided:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    t = 0.5 * (lo + hi)
    return t if p > 0.5 else -t


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with integer ``df`` degrees of freedom (``inf`` allowed)."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    half = 0.5 * _t_two_sided(abs(t), int(df))
    return 0.5 + half if t >= 0 else 0.5 - half


def _t_two_sided(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (A&S 26.7.3 odd, 26.7.4 even)."""
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2:  # odd: (2/pi)(theta + sin(theta)(cos + 2/3 cos^3 + 2*4/(3*5) cos^5 + ...))
        series, term = 0.0, c
        for k in range(1, (df - 1) // 2 + 1):
            if k > 1:
                term *= c * c * (2 * k - 2) / (2 * k - 1)
            series += term
        return (2 / math.pi) * (theta + s * series) if df > 1 else 2 * theta / math.pi
    series, term = 1.0, 1.0  # even: sin(theta)(1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(1, df // 2):
        term *= c * c * (2 * k - 1) / (2 * k)
        series += term
    return s * series


def mean_ci(values: Sequence[float], *, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` and its Student-t ``level`` confidence interval.

    ``nan`` values are dropped. With one value the interval is ``(nan, nan)``; with none, all
    three are ``nan``. For the few seeds a benchmark has (3 to 10), the t interval is the honest
    one: a percentile bootstrap of the mean is too narrow there.
    """
    x = np.asarray([v for v in values if not math.isnan(float(v))], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if x.size == 1:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + level / 2, x.size - 1) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle values after cutting ``int(n / 4)`` from each
    end (``scipy.stats.trim_mean(x, 0.25)``, rliable's IQM); ``nan`` for no values."""
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        return math.nan
    cut = int(0.25 * x.size)
    return float(np.mean(x[cut:x.size - cut]))


def stratified_iqm_ci(groups: Sequence[Sequence[float]], *, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> tuple[float, float, float]:
    """IQM of all values of all ``groups`` (tasks) and its percentile-bootstrap ``level`` CI,
    resampling values (seeds) with replacement within each group."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not groups:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = np.concatenate([rng.choice(g, size=(n_boot, g.size), replace=True) for g in groups], axis=1)
    draws.sort(axis=1)
    cut = int(0.25 * draws.shape[1])
    boot = draws[:, cut:draws.shape[1] - cut].mean(axis=1)
    alpha = (1 - level) / 2
    lo = float(np.quantile(boot, alpha, method="lower"))
    hi = float(np.quantile(boot, 1 - alpha, method="higher"))
    return iqm(np.concatenate(groups)), lo, hi


def hierarchical_iqm_ci(groups: Sequence[Sequence[float]], *, n_boot: int = 2000, level: float = 0.95,
                        seed: int = 0) -> tuple[float, float, float]:
    """IQM of all values of all ``groups`` (tasks) and its two-level percentile-bootstrap
    ``level`` CI: each resample draws the tasks with replacement, then the values (seeds) of
    each drawn task with replacement, so the interval speaks for tasks like these, not only for
    the seeds of the tasks measured (with few tasks it is wide: that is what is known). ``inf``
    values are kept (an IQM with more than a quarter of them is ``inf``)."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not groups:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for i in range(n_boot):
        picked = rng.integers(len(groups), size=len(groups))
        boot[i] = iqm(np.concatenate([rng.choice(groups[j], size=groups[j].size, replace=True) for j in picked]))
    alpha = (1 - level) / 2
    lo = float(np.quantile(boot, alpha, method="lower"))
    hi = float(np.quantile(boot, 1 - alpha, method="higher"))
    return iqm(np.concatenate(groups)), lo, hi


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(B <= k) for B ~ Binomial(n, p), summed exactly (n is a count of seeds: small)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1)))


def _lerp(a: float, b: float, t: float) -> float:
    """(1 - t) a + t b where an infinite end wins as soon as it has any weight (never nan)."""
    if t <= 0.0 or a == b:
        return a
    if t >= 1.0:
        return b
    if math.isinf(a) or math.isinf(b):
        return a if math.isinf(a) else b
    return (1.0 - t) * a + t * b


def median_ci(values: Sequence[float], *, level: float = 0.95) -> tuple[float, float, float]:
    """Median of ``values`` and its Hettmansperger-Sheather ``level`` confidence interval.

    The order-statistic interval [X(k), X(n-k+1)] covers the median of any continuous
    distribution with probability gamma_k = P(k <= B <= n - k), B ~ Binomial(n, 1/2); with
    gamma_k >= level > gamma_(k+1) the ends are interpolated between X(k) and X(k+1) (and
    X(n-k+1) and X(n-k)) by lambda = (n - k) I / (k + (n - 2k) I), I = (gamma_k - level) /
    (gamma_k - gamma_(k+1)) (Hettmansperger & Sheather 1986), which keeps the coverage close to
    ``level`` at small n where the percentile bootstrap falls far short. ``inf`` values are
    kept (they order above every finite value); ``nan`` values are dropped. Where even [min,
    max] covers less than ``level`` (n < 6 at 95%), no distribution-free interval exists and
    the interval is (-inf, inf). Returns ``(nan, nan, nan)`` for no values.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"Invalid level: {level} (accepted: 0 < level < 1)")
    x = np.asarray(values, dtype=float)
    x = np.sort(x[~np.isnan(x)])
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    median = float(np.median(x))
    weights = _hs_weights(n, level)
    if weights is None:
        return median, -math.inf, math.inf
    k, lam = weights
    lo = _lerp(float(x[k - 1]), float(x[k]), lam) if k < n else float(x[k - 1])
    hi = _lerp(float(x[n - k]), float(x[n - k - 1]), lam) if n - k - 1 >= 0 else float(x[n - k])
    return median, lo, hi


@functools.lru_cache(maxsize=256)
def _hs_weights(n: int, level: float) -> tuple[int, float] | None:
    """(k, lambda) of ``median_ci`` for n values; ``None`` where [min, max] covers < ``level``."""

    def gamma(k: int) -> float:  # coverage of [X(k), X(n-k+1)], 1-based k
        return 1.0 - 2.0 * _binomial_cdf(k - 1, n, 0.5) if 2 * k <= n + 1 else 0.0

    if gamma(1) < level:
        return None
    k = 1
    while gamma(k + 1) >= level:
        k += 1
    g_k, g_next = gamma(k), gamma(k + 1)
    share = (g_k - level) / (g_k - g_next) if g_k > g_next else 0.0
    lam = (n - k) * share / (k + (n - 2 * k) * share) if share > 0 else 0.0
    return k, lam


def clopper_pearson(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``level`` confidence interval of a binomial proportion.

    Its ends solve P(B >= successes | p_low) = P(B <= successes | p_high) = (1 - level) / 2,
    found by bisection on the exact binomial sum (no scipy); 0 successes give a lower end of 0,
    ``n`` an upper end of 1. ``(nan, nan)`` for ``n`` = 0.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"Invalid level: {level} (accepted: 0 < level < 1)")
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"Invalid counts: {successes} of {n} (accepted: 0 <= successes <= n)")
    if n == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2.0

    def solve(f: object, target: float) -> float:  # f increasing in p; f(p) = target
        lo, hi = 0.0, 1.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if f(mid) < target:  # type: ignore[operator]
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-14:
                break
        return 0.5 * (lo + hi)

    low = 0.0 if successes == 0 else solve(lambda p: 1.0 - _binomial_cdf(successes - 1, n, p), tail)
    high = 1.0 if successes == n else solve(lambda p: 1.0 - _binomial_cdf(successes, n, p), 1.0 - tail)
    return low, high
