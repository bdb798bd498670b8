"""Step budgets as an axis (``raybench run --step-budgets 100,200,400``): compare at the end of
training, at several budgets, as Wen et al. (arXiv 2509.02046) do.

Rankings of optimizers change during a run as schedules decay, so a comparison at one budget
says little about another. ``expand`` runs every spec at each budget with that budget's own
schedule (a constant schedule, the default, becomes warmup-cosine decaying to the budget, with
``WARMUP`` of it warming up; a schedule the user chose is kept) and, under ``--tune-lr``, its
own learning-rate search (the budget is part of a search's pair). ``table`` then reads, per
problem, optimizer and budget:

- the end result: the median over seeds of the problem's headline test metric (runs that did
  not finish ok are counted, not averaged in), and its rank among the optimizers at that budget;
- where the ranking changes between consecutive budgets (``ranking_changes``);
- the reference optimizer's steps needed to match the end result (``reference_steps``):
  interpolated linearly in log-steps between the reference's end results at the two budgets
  that bracket it; it needs the reference at ``MIN_FOR_SPEEDUP`` or more budgets, and a value
  outside the reference's range is "beyond range". The speed-up is those steps over the
  optimizer's own budget.

``section`` makes this the report's "Step budgets" section; the report's other tables then
treat each budget of a problem as its own row (``label``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from raybench.errors import UsageError

MIN_BUDGETS = 2
"""A comparison over budgets needs at least two."""
MIN_FOR_SPEEDUP = 3
"""The reference's steps to match an end result are interpolated between 3 or more budgets."""
WARMUP = 0.05
"""Warm-up fraction of a run whose constant schedule becomes warmup-cosine."""
BEYOND = "beyond range"


def parse(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"100,200,400"`` -> ``(100, 200, 400)``: at least ``MIN_BUDGETS`` distinct integers >= 1."""
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        budgets = sorted({int(str(b).strip()) for b in items if str(b).strip()})
    except ValueError:
        raise UsageError(f"bad --step-budgets {text!r}; accepted: at least {MIN_BUDGETS} integers >= 1, "
                         "comma-separated, e.g. 100,200,400") from None
    if len(budgets) < MIN_BUDGETS or budgets[0] < 1:
        raise UsageError(f"bad --step-budgets {text!r}; accepted: at least {MIN_BUDGETS} distinct integers >= 1, "
                         "comma-separated, e.g. 100,200,400")
    return tuple(budgets)


def expand(specs: Sequence[Any], budgets: Sequence[int]) -> list[Any]:
    """Every spec at every budget, each with its own schedule (see the module docstring)."""
    out = []
    for spec in specs:
        hparams = dict(spec.hparams)
        if hparams.get("schedule", "constant") == "constant":
            hparams["schedule"] = "warmup_cosine"
            hparams["warmup"] = hparams.get("warmup") or WARMUP
        out += [spec.with_(steps=int(b), hparams=hparams) for b in budgets]
    return out


def has_budgets(runs: pd.DataFrame) -> bool:
    """Whether any problem's optimizer ran at more than one budget."""
    if runs.empty or "budget_steps" not in runs:
        return False
    return bool((runs.groupby(["problem", "optimizer"])["budget_steps"].nunique() > 1).any())


def label(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with each problem named by its budget too (``quadratic @200``), where a problem
    ran at several budgets: the report's tables then never pool budgets."""
    if not has_budgets(runs):
        return runs
    several = runs.groupby("problem")["budget_steps"].transform("nunique") > 1
    named = runs["problem"].astype(str) + " @" + runs["budget_steps"].astype("Int64").astype(str)
    return runs.assign(problem=runs["problem"].where(~several, named))


def _end(group: pd.DataFrame, metric: str) -> tuple[float, int]:
    """Median end result of one (problem, optimizer, budget) over its ok runs, and how many were not ok."""
    from raybench import results

    ok = group[group["status"] == "ok"]
    values = results.metric(ok, "test", metric).astype(float).dropna()
    return (float(values.median()) if len(values) else math.nan), int(len(group) - len(ok))


def reference_steps(value: float, budgets: Sequence[float], ends: Sequence[float], mode: str) -> float | str:
    """The steps the reference needs to reach ``value``: log-linear interpolation between the two
    budgets whose end results bracket it (the first such pair); ``BEYOND`` outside the range,
    ``nan`` with fewer than ``MIN_FOR_SPEEDUP`` budgets or no value."""
    pts = [(float(b), float(e)) for b, e in sorted(zip(budgets, ends, strict=True)) if math.isfinite(e)]
    if len(pts) < MIN_FOR_SPEEDUP or not math.isfinite(value):
        return math.nan
    sign = -1.0 if mode == "max" else 1.0  # work in "lower is better"
    v = sign * value
    for (b0, e0), (b1, e1) in zip(pts, pts[1:], strict=False):
        lo, hi = sorted((sign * e0, sign * e1))
        if lo <= v <= hi:
            if sign * e1 == sign * e0:
                return b0
            t = (v - sign * e0) / (sign * e1 - sign * e0)
            return float(math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0))))
    return BEYOND


def table(runs: pd.DataFrame, *, reference: str, headline: Callable[[pd.DataFrame], tuple[str, str, str]]
          ) -> pd.DataFrame:
    """One row per (problem, optimizer, budget): ``end`` (median headline test metric over ok
    runs), ``not_ok``, ``rank`` (1 = best at that budget), ``reference_steps`` and ``speedup``
    (``reference_steps`` / budget; ``BEYOND`` or nan where it has none). ``headline``: a
    problem's runs -> (metric, label, mode), as the report reads it (``raybench.report.headline``)."""
    rows = []
    for problem, prun in runs[runs["status"] != "not_applicable"].groupby("problem", sort=True):
        metric, _, mode = headline(prun)
        for (optimizer, budget), group in prun.groupby(["optimizer", "budget_steps"], sort=True):
            end, not_ok = _end(group, metric)
            rows.append({"problem": problem, "optimizer": optimizer, "budget": int(budget), "metric": metric,
                         "mode": mode, "end": end, "not_ok": not_ok, "seeds": len(group)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    ascending = out["mode"] == "min"
    key = out["end"].where(ascending, -out["end"])
    out["rank"] = key.groupby([out["problem"], out["budget"]]).rank(method="min", na_option="bottom").astype(int)
    ref_steps, speedups = [], []
    for row in out.itertuples(index=False):
        ref = out[(out["problem"] == row.problem) & (out["optimizer"] == reference)]
        steps = reference_steps(row.end, ref["budget"].tolist(), ref["end"].tolist(), row.mode) if len(ref) else math.nan
        ref_steps.append(steps)
        speedups.append(steps / row.budget if isinstance(steps, float) and math.isfinite(steps) else steps)
    out["reference_steps"], out["speedup"] = ref_steps, speedups
    return out


def ranking_changes(tbl: pd.DataFrame) -> list[str]:
    """Per problem, the consecutive budgets between which the order of the optimizers changes,
    with who overtook whom."""
    lines = []
    for problem, group in tbl.groupby("problem", sort=True):
        budgets = sorted(group["budget"].unique())
        order = {b: group[group["budget"] == b].sort_values(["rank", "optimizer"])["optimizer"].tolist()
                 for b in budgets}
        for b0, b1 in zip(budgets, budgets[1:], strict=False):
            before, after = order[b0], order[b1]
            passed = [f"{a} overtakes {b}" for i, a in enumerate(after) for b in after[i + 1:]
                      if a in before and b in before and before.index(a) > before.index(b)]
            if passed:
                lines.append(f"{problem}, {b0} -> {b1} steps: {'; '.join(passed)}")
    return lines


def _num(x: Any) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.3g}"


def section(runs: pd.DataFrame, *, reference: str, headline: Callable[[pd.DataFrame], tuple[str, str, str]]) -> Any:
    """The report's "Step budgets" section (``None`` where no problem ran at several budgets)."""
    from raybench.report_model import Section

    if not has_budgets(runs):
        return None
    tbl = table(runs, reference=reference, headline=headline)
    changes = ranking_changes(tbl)
    text = (f"Each optimizer at each step budget, with that budget's own schedule (and tuning): the median end "
            f"result over seeds (test headline metric; runs not ok counted apart), its rank at that budget, and "
            f"the steps {reference} needs to match it, interpolated in log-steps between {reference}'s end results "
            f"(needs {MIN_FOR_SPEEDUP} or more budgets; '{BEYOND}' outside them), over the budget. "
            + ("Ranking changes: " + " | ".join(changes) + "." if changes else "The ranking is the same at every budget."))
    rows = tuple((str(r.problem), str(r.optimizer), str(r.budget), _num(r.end), str(r.rank),
                  _num(r.reference_steps), _num(r.speedup) + ("x" if isinstance(r.speedup, float)
                                                              and np.isfinite(r.speedup) else ""),
                  f"{r.not_ok}/{r.seeds}")
                 for r in tbl.sort_values(["problem", "budget", "rank", "optimizer"]).itertuples(index=False))
    header = ("problem", "optimizer", "budget", "end result (median)", "rank", f"{reference} steps to match",
              "speed-up", "not ok")
    return Section("Step budgets", header, rows, text=text)
