"""Statistics for honest comparisons: paired speed ratios, bootstrap CIs, performance profiles,
Student-t intervals, and the interquartile mean with its stratified bootstrap (rliable's)."""

from __future__ import annotations

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
