"""Statistics for honest comparisons: paired speed ratios, bootstrap CIs, performance profiles."""

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
