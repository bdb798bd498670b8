"""The report's tuning sections: what each tuning protocol chose and cost, beside the results it
produced, and (external tuning at several budgets) the score and end result against the budget.

A comparison names its tuning protocol and charges the tuning's cost (docs/tuning.md). From a
results folder's ``runs``, ``lr_search``, ``tuning`` and ``tuning_summary`` tables (``read``):

- **"Tuning"** (``cost_table``, ``section``): one row per (problem, optimizer, and step budget
  where a pair ran at several), with its protocol (``defaults``, ``given``, ``lr``,
  ``external``), the chosen hyperparameters (3 significant digits) and the tuning's total cost:
  trials, runs, optimizer steps, gradient evaluations and training seconds. ``lr``: the sums over
  the pair's ``lr_search`` rows (one per value and tuning seed, so runs = rows and trials =
  values tried); ``external``: the largest tuning budget's ``tuning_summary`` cost (it saw every
  trial); ``defaults`` and ``given``: nothing, 0. A run tuned by no recorded search (a merged
  folder without its tuning tables) says so, its cost unknown (``-``). The text gives the totals
  over the folder beside the evaluation runs' own cost. No section where nothing was tuned.
- **"Tuning budgets"** (``budget_table``, ``budget_section``), where ``tuning_summary`` holds two
  or more tuning budgets K: per (problem, optimizer, K) the time to target (the protocol's
  score, steps; "not reached" for ``inf``) and the chosen trial's validation score, each
  problem's ranking by time to target at each K, and where that ranking changes between
  consecutive budgets (``ranking_changes``); ``budget_plots`` gives the plot's data (per problem,
  each optimizer's time to target and chosen validation score against K), which
  ``report_png`` draws as ``tuning_budgets.png`` and ``html_report`` in ``index.html``.

``raybench.report.build`` calls ``parts`` (with the tables ``make_report`` read) and places the
sections after the others; nothing here renders.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from raybench.report_model import Section, TuningBudgets, significant

COSTS = ("trials", "runs", "steps", "grad_evals", "wall_seconds")
"""The tuning cost's columns of ``cost_table``."""
PROTOCOL = {"default": "defaults", "config": "given", "tuned": "tuned (not recorded)"}
"""A pair with no recorded search: its runs' ``hparam_source`` in the protocol's words."""
NOT_REACHED = "not reached"


class Tables(NamedTuple):
    """A results folder's tuning tables (empty where the folder has none)."""

    lr_search: pd.DataFrame
    tuning: pd.DataFrame
    summary: pd.DataFrame
    """``tuning_summary``."""


def read(folder: str) -> Tables:
    """The tuning tables of results folder ``folder``. A table this raybench cannot read (an
    older table version) is left out with a warning naming it: the rest of the report stands."""
    import warnings

    from raybench import external_tuning, lr_search, results  # noqa: F401  (their tables' schemas)

    def one(name: str) -> pd.DataFrame:
        try:
            return results.read_table(folder, name)
        except results.ResultsError as exc:
            warnings.warn(f"{exc}; the report's tuning sections leave {name} out", stacklevel=3)
            return pd.DataFrame()

    return Tables(*(one(name) for name in ("lr_search", "tuning", "tuning_summary")))


def _budget(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return int(value)


def _lr_budget(pair_key: str) -> int | None:
    """The step budget of an ``lr_search`` pair: the third item of its key (``None``: the problem's default)."""
    try:
        return _budget(ast.literal_eval(pair_key)[2])
    except (ValueError, SyntaxError, IndexError, TypeError):
        return None


def _short(x: float) -> str:
    """A hyperparameter to 3 significant digits, as the tuning commands print it (``0.000744``)."""
    return f"{x:.3g}"


def _point(text: Any) -> str:
    """A chosen point (JSON) as ``lr=0.00316, warmup=0.05``, numbers to 3 significant digits."""
    try:
        point = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return str(text)
    return ", ".join(f"{k}={_short(float(v))}" if isinstance(v, int | float) and not isinstance(v, bool)
                     else f"{k}={v}" for k, v in point.items()) or "-"


def _sorted(names: Sequence[str], order: Sequence[str]) -> list[str]:
    """``names`` in ``order`` (the report's optimizer order), any other after them by name."""
    rank = {n: i for i, n in enumerate(order)}
    return sorted(dict.fromkeys(names), key=lambda n: (rank.get(n, len(rank)), n))


def _given(group: pd.DataFrame) -> str:
    """The learning rate the runs of a pair at defaults or given hyperparameters ran with."""
    lrs = group["hp_lr"].dropna().unique() if "hp_lr" in group else []
    return f"lr={_short(float(lrs[0]))}" if len(lrs) == 1 else ("-" if not len(lrs) else "lr: varies")


def cost_table(runs: pd.DataFrame, tables: Tables, *, order: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (problem, optimizer, budget_steps): ``protocol``, ``chosen`` (text) and the
    tuning cost ``COSTS`` (see the module docstring); problems by name, optimizers in ``order``."""
    evaluation = runs[~runs.get("hparam_source", pd.Series("", index=runs.index)).isin(["trial", "tuning"])]
    budgets_of: dict[tuple[str, str], set[int | None]] = {}
    groups: dict[tuple[str, str, int | None], pd.DataFrame] = {}
    if not evaluation.empty:
        keys = evaluation["budget_steps"] if "budget_steps" in evaluation else pd.Series(None, index=evaluation.index)
        for (problem, optimizer, budget), group in evaluation.assign(_b=keys.astype("Float64")).groupby(
                ["problem", "optimizer", "_b"], dropna=False, sort=False):
            key = (str(problem), str(optimizer), _budget(budget))
            groups[key] = group
            budgets_of.setdefault(key[:2], set()).add(key[2])

    def where(problem: str, optimizer: str, budget: int | None) -> tuple[str, str, int | None]:
        # A search at the problem's default budget (None) is the one of the pair's runs, if they ran at one.
        ran = budgets_of.get((problem, optimizer), set())
        if budget is None and len(ran) == 1:
            budget = next(iter(ran))
        return problem, optimizer, budget

    lr: dict[tuple, dict[str, Any]] = {}
    search = tables.lr_search
    if not search.empty:
        for pair_key, rows in search.groupby("pair_key", sort=False):
            key = where(str(rows["problem"].iloc[0]), str(rows["optimizer"].iloc[0]), _lr_budget(str(pair_key)))
            acc = lr.setdefault(key, {"trials": 0, "runs": 0, "steps": 0.0, "grad_evals": 0.0, "wall_seconds": 0.0,
                                      "chosen": []})
            acc["trials"] += int(rows["lr"].nunique())
            acc["runs"] += len(rows)
            for cost in ("steps", "grad_evals", "wall_seconds"):
                acc[cost] += float(rows[cost].fillna(0).sum()) if cost in rows else math.nan
            hparam = str(rows["hparam"].iloc[0]) if "hparam" in rows else "lr"
            acc["chosen"] += [f"{hparam}={_short(float(v))}" for v in rows.loc[rows["chosen"].fillna(False)
                                                                                  .astype(bool), "lr"].unique()]
    external: dict[tuple, dict[str, Any]] = {}
    summary = tables.summary
    if not summary.empty:
        for _, rows in summary.groupby("pair_key", sort=False):
            top = rows.sort_values("tuning_budget").iloc[-1]  # the largest budget saw every trial
            key = where(str(top["problem"]), str(top["optimizer"]), _budget(top["budget_steps"]))
            acc = external.setdefault(key, {"trials": 0, "runs": 0, "steps": 0.0, "grad_evals": 0.0,
                                            "wall_seconds": 0.0, "chosen": []})
            for cost in COSTS:
                acc[cost] += float(top[f"cost_{cost}"])
            acc["chosen"].append(_point(top.get("chosen_point")) if isinstance(top.get("chosen_point"), str)
                                 and top.get("chosen_point") else _point(top.get("chosen_hparams")))

    out = []
    for key in {*groups, *lr, *external}:
        problem, optimizer, budget = key
        row: dict[str, Any] = {"problem": problem, "optimizer": optimizer, "budget_steps": budget}
        searched = [(name, found[key]) for name, found in (("lr", lr), ("external", external)) if key in found]
        if searched:
            row["protocol"] = " + ".join(name for name, _ in searched)
            row["chosen"] = "; ".join(dict.fromkeys(c for _, acc in searched for c in acc["chosen"])) or "-"
            for cost in COSTS:
                row[cost] = sum(acc[cost] for _, acc in searched)
        else:
            sources = set(groups[key]["hparam_source"].dropna().astype(str)) if "hparam_source" in groups[key] else set()
            words = {PROTOCOL.get(s, s) for s in sources}
            row["protocol"] = words.pop() if len(words) == 1 else ("mixed" if words else "-")
            row["chosen"] = "registry defaults" if row["protocol"] == "defaults" else _given(groups[key])
            known = row["protocol"] in ("defaults", "given")  # nothing tuned: no cost; else not recorded
            row.update({cost: 0.0 if known else math.nan for cost in COSTS})
        out.append(row)
    tbl = pd.DataFrame(out, columns=["problem", "optimizer", "budget_steps", "protocol", "chosen", *COSTS])
    if tbl.empty:
        return tbl
    ranked = {n: i for i, n in enumerate(_sorted(tbl["optimizer"].tolist(), order))}
    tbl = tbl.assign(_o=tbl["optimizer"].map(ranked), _b=tbl["budget_steps"].fillna(-1))
    return tbl.sort_values(["problem", "_o", "_b"]).drop(columns=["_o", "_b"]).reset_index(drop=True)


def _count(x: float) -> str:
    return "-" if math.isnan(x) else str(int(round(x)))


def _seconds(x: float) -> str:
    return "-" if math.isnan(x) else significant(x)


def section(runs: pd.DataFrame, tables: Tables, *, order: Sequence[str] = ()) -> Section | None:
    """The "Tuning" section (``None`` where nothing in the folder was tuned)."""
    tbl = cost_table(runs, tables, order=order)
    if tbl.empty or tbl["protocol"].isin(["defaults", "given", "-"]).all():
        return None
    several = tbl.groupby(["problem", "optimizer"])["budget_steps"].transform(lambda b: b.nunique(dropna=False)) > 1
    show_budget = bool(several.any())
    header = ("problem", "optimizer", *(("step budget",) if show_budget else ()), "protocol", "chosen hyperparameters",
              "trials", "runs", "steps", "gradient evaluations", "seconds")
    rows = []
    for r in tbl.itertuples(index=False):
        budget = ("-" if r.budget_steps is None or pd.isna(r.budget_steps) else str(int(r.budget_steps)),)
        rows.append((str(r.problem), str(r.optimizer), *(budget if show_budget else ()), str(r.protocol), str(r.chosen),
                     _count(r.trials), _count(r.runs), _count(r.steps), _count(r.grad_evals), _seconds(r.wall_seconds)))
    total = {c: float(tbl[c].sum()) for c in COSTS}  # a cost not recorded (nan) is left out
    unknown = int(tbl["trials"].isna().sum())
    evaluation = runs[~runs.get("hparam_source", pd.Series("", index=runs.index)).isin(["trial", "tuning"])]
    spent = {c: float(evaluation[c].fillna(0).sum()) if c in evaluation else math.nan
             for c in ("steps", "grad_evals", "wall_seconds")}
    text = ("How each row's hyperparameters were chosen and what choosing them cost, charged as part of the "
            "measurement: lr, the learning-rate search (its lr_search rows summed: trials = values tried, runs = "
            "values x tuning seeds); external, AlgoPerf's external tuning (the largest tuning budget's cost in "
            "tuning_summary, which saw every trial); defaults and given, no tuning (0). Chosen hyperparameters to "
            "3 significant digits; seconds are training time. "
            f"Tuning over the folder: {_count(total['trials'])} trials, {_count(total['runs'])} runs, "
            f"{_count(total['steps'])} steps, {_count(total['grad_evals'])} gradient evaluations, "
            f"{_seconds(total['wall_seconds'])} s"
            + (f" ({unknown} pairs tuned by no recorded search not counted)" if unknown else "")
            + f"; the evaluation runs: {len(evaluation)} runs, {_count(spent['steps'])} steps, "
            f"{_count(spent['grad_evals'])} gradient evaluations, {_seconds(spent['wall_seconds'])} s.")
    return Section("Tuning", header, tuple(rows), text=text)


# --- external tuning at several budgets ------------------------------------------------------

def has_budgets(tables: Tables) -> bool:
    """Whether ``tuning_summary`` holds two or more tuning budgets."""
    return not tables.summary.empty and tables.summary["tuning_budget"].nunique() >= 2


def budget_table(tables: Tables, *, order: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (problem, optimizer, tuning budget K): ``score`` (time to target, steps; inf:
    not reached), ``chosen_val_score`` and ``rank`` by score among the problem's optimizers at
    that K (1 = fastest; ties share the better rank). A problem tuned at several step budgets is
    named by its budget too (``quadratic @200``), as the report's other tables name it."""
    summary = tables.summary
    if summary.empty:
        return pd.DataFrame(columns=["problem", "optimizer", "tuning_budget", "score", "chosen_val_score", "rank"])
    budget = summary["budget_steps"].astype("Float64")
    several = budget.groupby(summary["problem"]).transform("nunique") > 1
    named = summary["problem"].astype(str) + " @" + budget.astype("Int64").astype(str)
    tbl = summary.assign(problem=summary["problem"].astype(str).where(~several, named))
    tbl = (tbl.groupby(["problem", "optimizer", "tuning_budget"], sort=False)[["score", "chosen_val_score"]]
           .first().reset_index())
    tbl["tuning_budget"] = tbl["tuning_budget"].astype(int)
    tbl["score"] = tbl["score"].astype(float)
    tbl["chosen_val_score"] = tbl["chosen_val_score"].astype(float)
    tbl["rank"] = (tbl.groupby(["problem", "tuning_budget"])["score"]
                   .rank(method="min", na_option="bottom").astype(int))
    ranked = {n: i for i, n in enumerate(_sorted(tbl["optimizer"].astype(str).tolist(), order))}
    tbl = tbl.assign(_o=tbl["optimizer"].map(ranked))
    return tbl.sort_values(["problem", "tuning_budget", "rank", "_o"]).drop(columns="_o").reset_index(drop=True)


def _relation(a: int, b: int) -> str:
    return "ahead of" if a < b else ("behind" if a > b else "level with")


def ranking_changes(tbl: pd.DataFrame, *, order: Sequence[str] = ()) -> list[str]:
    """Per problem, where the ranking by time to target changes between consecutive tuning
    budgets, as ``logistic: adam ahead of sgd at K=1, behind at K=5``; or that it is the same at
    every budget."""
    lines = []
    for problem, group in tbl.groupby("problem", sort=True):
        ks = sorted(group["tuning_budget"].unique())
        rank = {k: dict(zip(g["optimizer"], g["rank"], strict=True)) for k, g in group.groupby("tuning_budget")}
        names = _sorted(group["optimizer"].tolist(), order)
        changes = []
        for k0, k1 in zip(ks, ks[1:], strict=False):
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    if not {a, b} <= set(rank[k0]) & set(rank[k1]):
                        continue
                    before, after = _relation(rank[k0][a], rank[k0][b]), _relation(rank[k1][a], rank[k1][b])
                    if before != after:
                        short = after.split()[0]  # "ahead", "behind", "level"
                        changes.append(f"{a} {before} {b} at K={k0}, {short} at K={k1}")
        if changes:
            lines.append(f"{problem}: " + "; ".join(changes))
        else:
            lines.append(f"{problem}: the same at every tuning budget (K={', '.join(str(int(k)) for k in ks)})")
    return lines


def _val_label(tables: Tables) -> str:
    metrics = set(tables.tuning["metric"].dropna().astype(str)) if "metric" in tables.tuning else set()
    what = f"validation {metrics.pop()}" if len(metrics) == 1 else "validation score"
    return f"chosen trial's {what} (lower is better)"


def budget_section(tables: Tables, *, order: Sequence[str] = ()) -> Section | None:
    """The "Tuning budgets" section (``None`` with fewer than two tuning budgets)."""
    if not has_budgets(tables):
        return None
    tbl = budget_table(tables, order=order)
    changes = ranking_changes(tbl, order=order)
    text = ("External tuning scored at each tuning budget K from the same trials (budget K: the first K trials of "
            "each study): the time to target (AlgoPerf's score: median over studies of each study's fastest trial, "
            f"steps; '{NOT_REACHED}' when most studies never reach the target), the {_val_label(tables)} and the "
            "rank by time to target at that K (1 = fastest; ties share a rank). Ranking by time to target: "
            + " | ".join(changes) + ".")
    rows = tuple((str(r.problem), str(r.optimizer), str(r.tuning_budget),
                  NOT_REACHED if math.isinf(r.score) and r.score > 0 else significant(r.score),
                  significant(r.chosen_val_score), str(r.rank)) for r in tbl.itertuples(index=False))
    header = ("problem", "optimizer", "tuning budget K", "time to target (steps)", "chosen val score",
              "rank by time to target")
    return Section("Tuning budgets", header, rows, text=text)


def budget_plots(tables: Tables, *, order: Sequence[str] = ()) -> tuple[TuningBudgets, ...]:
    """Per problem, each optimizer's time to target and chosen validation score at every tuning
    budget (``nan`` where it has no row at that budget); ``()`` with fewer than two budgets."""
    if not has_budgets(tables):
        return ()
    tbl = budget_table(tables, order=order)
    label = _val_label(tables)
    out = []
    for problem, group in tbl.groupby("problem", sort=True):
        ks = tuple(int(k) for k in sorted(group["tuning_budget"].unique()))
        names = _sorted(group["optimizer"].astype(str).tolist(), order)
        by = group.set_index(["optimizer", "tuning_budget"])

        def at(column: str, name: str, by: pd.DataFrame = by, ks: tuple[int, ...] = ks) -> np.ndarray:
            return np.array([float(by.at[(name, k), column]) if (name, k) in by.index else math.nan for k in ks])

        out.append(TuningBudgets(str(problem), ks, {n: at("score", n) for n in names},
                                 {n: at("chosen_val_score", n) for n in names}, label))
    return tuple(out)


def parts(runs: pd.DataFrame, tables: Tables, *, order: Sequence[str] = ()
          ) -> tuple[tuple[Section, ...], tuple[TuningBudgets, ...]]:
    """The report's tuning sections (those that apply) and the tuning-budgets plots' data."""
    sections = tuple(s for s in (section(runs, tables, order=order), budget_section(tables, order=order))
                     if s is not None)
    return sections, budget_plots(tables, order=order)

