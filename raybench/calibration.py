"""Targets set by a written-down calibration, and when an optimizer reaches one across seeds.

**Calibration** (``calibrate``): a problem's target is what a reference optimizer, tuned, reaches
on validation at a fixed fraction of the budget: for each seed's run, the value of the
problem's target metric at the last evaluation at or before ``fraction`` x the budget (default
``FRACTION`` = 0.8, so that the reference reaches it with a fifth of the budget to spare), and the
target is the median of those values over seeds (their interquartile range beside it). The
reference's runs come from an ordinary results folder (for example ``raybench run --suite
standard --optimizers adamw --tune-lr``); ``benchmarks/calibrate_targets.py`` runs it and prints
each problem's calibration with the command and commit, for BENCHMARKS.md. A run that is not ok
cannot calibrate: a problem with one is refused (``ValueError``), not quietly averaged.

**Reaching a target across seeds** (``reaches``), the rule modded-nanogpt's optimization track
states for its validation-loss target: an optimizer reaches the target when a one-sided
one-sample t-test over its seeds' final validation values rejects "the mean is at or short of
the threshold" at ``ALPHA`` = 0.001. A run that is not ok (diverged, failed) has no final value
on the scale, so with one the optimizer does not reach it; below 2 seeds the test cannot be made
(``None``). The report gives the verdict and its p-value per problem and optimizer beside how
many seeds met the target at some evaluation (``raybench.report.table``: ``reaches``,
``reaches_p``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from raybench import results, stats

FRACTION = 0.8
"""The calibration reads the reference at this fraction of the budget."""
ALPHA = 0.001
"""``reaches``: the one-sided test's level."""


def reaches(values: Sequence[float], threshold: float, mode: str, *, ok: Sequence[bool] | None = None,
            alpha: float = ALPHA) -> tuple[bool | None, float]:
    """Whether final validation ``values`` (one per seed) reach ``threshold`` in direction ``mode``
    (``min``: below it; ``max``: above it) by the module's rule, and the test's p-value.
    ``ok``: per seed, whether the run finished ok (default: all did); any that did not means
    ``(False, 1.0)``. Fewer than 2 values: ``(None, nan)``."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    x = np.asarray(values, dtype=float)
    if ok is not None and not all(bool(o) for o in ok):
        return False, 1.0
    if x.size < 2:
        return None, math.nan
    if not np.isfinite(x).all():
        return False, 1.0
    # Beyond the threshold, in the direction that counts: positive means better than it.
    gap = (threshold - x) if mode == "min" else (x - threshold)
    mean, sd = float(gap.mean()), float(gap.std(ddof=1))
    if sd == 0.0:
        p = 0.0 if mean > 0 else 1.0
    else:
        p = 1.0 - stats.t_cdf(mean / (sd / math.sqrt(x.size)), x.size - 1)
    return bool(p < alpha), float(p)


def _at_fraction(curve: pd.DataFrame, column: str, budget: float, fraction: float) -> tuple[int, float]:
    """The last evaluation at or before ``fraction`` x ``budget`` on ``curve``: (step, value)."""
    before = curve[(curve["step"] <= fraction * budget) & curve[column].notna()].sort_values("step")
    if before.empty:
        return -1, math.nan
    last = before.iloc[-1]
    return int(last["step"]), float(last[column])


def calibrate(runs: pd.DataFrame, curves: pd.DataFrame, *, fraction: float = FRACTION) -> pd.DataFrame:
    """One row per problem of ``runs`` (the reference optimizer's runs, one per seed, with their
    ``curves``): the target metric and direction, the budget, each seed's validation value at the
    last evaluation at or before ``fraction`` x the budget (``values``, JSON, and the steps read),
    and the calibrated ``target`` = their median, with their interquartile range. ``ValueError``
    for a problem with a run that is not ok, or none with that metric on its curve."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rows = []
    for problem, group in runs.groupby("problem", sort=True):
        bad = group[group["status"] != "ok"]
        if len(bad):
            raise ValueError(f"{problem}: {len(bad)} of the reference's runs are not ok ({', '.join(sorted(set(bad['status'])))}); "
                             "a calibration needs every seed")
        metric, mode = str(group["target_metric"].iloc[0]), str(group["target_mode"].iloc[0])
        column = f"val_{metric}"
        values, steps = [], []
        for row in group.itertuples(index=False):
            curve = curves[curves["run_id"] == row.run_id]
            curve = curve.assign(**{column: results.metric(curve, "val", metric)})
            step, value = _at_fraction(curve, column, float(row.budget_steps), fraction)
            if step < 0:
                raise ValueError(f"{problem}: run {row.run_id} has no validation {metric} at or before "
                                 f"{fraction:g} x {row.budget_steps} steps")
            values.append(value)
            steps.append(step)
        q1, q3 = np.percentile(values, [25, 75])
        rows.append({"problem": problem, "optimizer": ",".join(sorted(set(group["optimizer"]))),
                     "metric": metric, "mode": mode, "budget_steps": int(group["budget_steps"].iloc[0]),
                     "fraction": fraction, "steps_read": json.dumps(steps), "seeds": len(values),
                     "values": json.dumps(values), "target": float(np.median(values)),
                     "iqr_low": float(q1), "iqr_high": float(q3)})
    return pd.DataFrame(rows)


def final_values(runs: pd.DataFrame) -> pd.Series:
    """Each run's final validation value of its own target metric."""
    out = pd.Series(math.nan, index=runs.index, dtype=float)
    for metric, group in runs.groupby("target_metric"):
        out.loc[group.index] = results.metric(group, "final_val", str(metric)).astype(float)
    return out
