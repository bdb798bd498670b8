"""AlgoPerf-style scoring: a performance profile over problems and its normalised area.

Following AlgoPerf (Dahl et al. 2023, "Benchmarking Neural Network Training Algorithms"),
for each problem p and optimizer s:

- ``t[p, s]``, the time to target, is the median over seeds of ``steps_to_target``, a run that
  never reached the target (or did not finish) counting as infinite. So ``t`` is finite only
  when more than half of the seeds reached the target; an optimizer that did not run on a
  problem at all counts as infinite there too;
- ``r[p, s] = t[p, s] / min_s t[p, s]``, the ratio to the fastest optimizer on that problem
  (times are clipped below at 1 step, so a target met at the first evaluation gives finite
  ratios);
- the profile ``rho_s(tau)`` is the fraction of problems with ``r[p, s] <= tau``, for tau in
  ``[1, tau_max]`` (``tau_max = 4``);
- the score is the normalised area under it, ``1 / (tau_max - 1) * integral_1^tau_max
  rho_s(tau) dtau``, in [0, 1]: 1 means fastest on every problem, 0 means never within a
  factor ``tau_max`` of the fastest. As ``rho_s`` is a step function the integral is exact:
  the mean over problems of ``max(0, tau_max - r[p, s]) / (tau_max - 1)``.

Problems where no optimizer reaches the target carry no ranking and are excluded (and named).
Pure functions of the runs table: no Ray, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TAU_MAX = 4.0

RULE = ("time to target = median over seeds of steps to target (a seed that missed counts as "
        "infinite, so at least half the seeds must reach it); r = time / fastest optimizer's on the "
        "problem; score = area under the fraction of problems with r <= tau, tau in [1, {tau_max:g}], "
        "over {width:g} (AlgoPerf, Dahl et al. 2023)")


@dataclass
class Profile:
    """The scores, the profile curves, and which problems were left out and why."""

    scores: pd.DataFrame
    """One row per optimizer, best score first: ``optimizer``, ``score``, ``within_tau_max`` (problems
    with r <= tau_max), ``reached`` (problems with a finite time to target), ``problems`` (counted)."""
    curves: pd.DataFrame
    """``tau`` (ascending, from 1 to tau_max, every breakpoint included) and one column of
    ``rho_s(tau)`` per optimizer: exact when drawn as a step function (``where="post"``)."""
    times: pd.DataFrame
    """``t[p, s]``: problems x optimizers, median steps to target (``inf`` = not reached)."""
    excluded: list[str] = field(default_factory=list)
    """Problems on which no optimizer reached the target."""
    tau_max: float = TAU_MAX
    cost: str = "steps_to_target"

    @property
    def rule(self) -> str:
        return RULE.format(tau_max=self.tau_max, width=self.tau_max - 1)


def times_to_target(runs: pd.DataFrame, *, cost: str = "steps_to_target") -> pd.DataFrame:
    """``t[p, s]``: per problem (rows) and optimizer (columns), the median over seeds of ``cost``,
    a missing or NaN value (a failed run) counting as infinite; ``inf`` where the optimizer did
    not run on the problem."""
    values = runs[cost].astype(float).fillna(math.inf)
    frame = runs.assign(_cost=values)
    # np.median over [finite..., inf...] is inf as soon as half or more are inf.
    t = frame.groupby(["problem", "optimizer"], sort=True)["_cost"].agg(lambda v: float(np.median(v.to_numpy())))
    return t.unstack("optimizer").fillna(math.inf)


def profile(runs: pd.DataFrame, *, tau_max: float = TAU_MAX, cost: str = "steps_to_target") -> Profile:
    """The AlgoPerf performance profile and score of every optimizer in ``runs`` (module docstring)."""
    if tau_max <= 1:
        raise ValueError(f"tau_max must be > 1, got {tau_max}")
    t = times_to_target(runs, cost=cost)
    solved = np.isfinite(t).any(axis=1)
    excluded = [str(p) for p in t.index[~solved]]
    t = t[solved]
    opts = [str(o) for o in t.columns]
    if t.empty:
        empty = pd.DataFrame({"optimizer": opts, "score": 0.0, "within_tau_max": 0, "reached": 0, "problems": 0})
        return Profile(empty, pd.DataFrame({"tau": [1.0, tau_max], **{o: [0.0, 0.0] for o in opts}}),
                       t, excluded, tau_max, cost)
    clipped = t.clip(lower=1.0)
    ratio = clipped.div(clipped.min(axis=1), axis=0)
    n = len(ratio)
    area = (tau_max - ratio).clip(lower=0.0) / (tau_max - 1)
    scores = pd.DataFrame({
        "optimizer": opts,
        "score": [float(area[o].sum() / n) for o in opts],
        "within_tau_max": [int((ratio[o] <= tau_max).sum()) for o in opts],
        "reached": [int(np.isfinite(ratio[o]).sum()) for o in opts],
        "problems": n,
    }).sort_values(["score", "optimizer"], ascending=[False, True], kind="stable").reset_index(drop=True)
    finite = ratio.to_numpy()[np.isfinite(ratio.to_numpy())]
    taus = np.unique(np.concatenate([[1.0, tau_max], finite[finite <= tau_max]]))
    curves = pd.DataFrame({"tau": taus, **{o: [float((ratio[o] <= x).mean()) for x in taus] for o in opts}})
    return Profile(scores, curves, t, excluded, tau_max, cost)


def _cost_words(cost: str) -> str:
    return cost.removesuffix("_to_target").replace("_", " ")


def markdown(prof: Profile, *, also: Profile | None = None) -> str:
    """The score table, with one line saying how it was computed and which problems were left
    out; ``also``, a profile on another cost, adds its score as a column."""
    n = int(prof.scores["problems"].max()) if len(prof.scores) else 0
    lines = [f"Score: {prof.rule}; {n} problems."]
    if prof.excluded:
        lines[0] += f" Excluded (no optimizer reached the target): {', '.join(prof.excluded)}."
    extra = dict(zip(also.scores["optimizer"], also.scores["score"], strict=True)) if also is not None else {}
    head = f" | score on {_cost_words(also.cost)}" if also is not None else ""
    lines += ["", f"| optimizer | score on {_cost_words(prof.cost)} | problems within {prof.tau_max:g}x of the "
              f"fastest | problems reached{head} |",
              "|---|---|---|---|" + ("---|" if also is not None else "")]
    for r in prof.scores.itertuples(index=False):
        cell = f" | {extra[r.optimizer]:.3f}" if r.optimizer in extra else (" | -" if also is not None else "")
        lines.append(f"| {r.optimizer} | {r.score:.3f} | {r.within_tau_max}/{r.problems} | {r.reached}/{r.problems}{cell} |")
    return "\n".join(lines) + "\n"
