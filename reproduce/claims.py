"""The research summary's results table as claims, measured cell by cell, with verdicts.

The summary's "Performance Comparison" table (``SUMMARY_TABLE``, copied as written) and the
comparisons with Adam its text makes (``COMPARISONS``) are the claims. ``measure`` turns a runs
table (plus per-seed rows for methods that come from elsewhere, such as multi-init) into one
measured row per cell, ``verdict`` applies the rules below, and ``write`` puts the claimed and
measured tables side by side in ``claims.md``, ``claims.csv`` and the ``claims`` Parquet table;
``report_section`` shows them in ``raybench report`` (``index.html``, ``report.md``).

The rules were fixed before any number was measured; no number was tuned to meet them.

Verdicts (a fixed vocabulary, ``VERDICTS``)
-------------------------------------------
Each cell gets a ``verdict`` on its claimed value and, where the summary compares the method
with Adam, a ``vs_adam_verdict`` on that comparison.

- A claimed value stands for every value that rounds to it as written: half a unit of its last
  digit either side (``83%`` is [82.5, 83.5], ``98.5%`` is [98.45, 98.55], ``1.143x`` is
  [1.1425, 1.1435]). ``consistent``: that interval overlaps the measured 95% CI (the data do
  not exclude the claim; a wide CI excludes little, so read its width). ``contradicted``: the
  CI excludes it.
- A comparison "better than Adam" (or "worse"): ``direction holds`` if the 95% CI of the
  paired difference from Adam (method minus Adam on the same seed; for convergence speed the
  ratio against 1) excludes no difference on the claimed side, ``direction contradicted`` if
  it excludes it on the other side, ``inconclusive`` if it contains no difference.
- A comparison "within B of Adam" (Modified Adam: "within 1-2%", read as B = 2 percentage
  points): ``consistent`` if the paired difference's CI lies inside [-B, +B],
  ``contradicted`` if it lies wholly outside, ``inconclusive`` otherwise.
- A category (the quadratic column): ``consistent`` if the measured category is the claimed
  one, ``contradicted`` if not.
- Fewer than ``MIN_SEEDS`` = 3 seeds (paired seeds for a comparison or a speed ratio):
  ``inconclusive``, whatever the numbers.
- A cell that was not measured: ``not run: <why>``, the why given by the caller (no CIFAR-100
  files in the data folder; needs a GPU at this scale) or, when the runs simply hold none,
  saying which runs are missing.

Measured values
---------------
- Accuracy columns (MNIST CNN, CIFAR-100, logistic regression): the test accuracy in percent
  of the runs that finished ``ok``, mean with its Student-t 95% CI over seeds
  (``raybench.stats.mean_ci``); the paired difference from Adam (same seed, both ok) the
  same way.
- Quadratic: tau is each run's own target threshold (``target_threshold``: the problem's
  ``target_gap``, 1e-3 on f - f* by default), the gap below which raybench already calls a run
  converged and counts its steps to target. "Optimal": final test f - f* <= tau on at least
  ``REQUIRED_FRACTION`` = 80% of seeds (4 of 5: reliably, not just typically).
  "Near-Optimal": not Optimal, and f - f* <= ``NEAR_FACTOR`` x tau = 100 tau (1e-1) on at least
  80% of seeds. Otherwise "Not optimal". A run that did not finish ok counts as a seed that
  met neither. The default instance starts 30 to 150 above f*, so tau is a 10^4-10^5-fold
  reduction, far above what float32 parameters can resolve (about 1e-7 of |f|).
- Convergence speed: Adam's steps-to-target over the method's, paired by seed
  (``raybench.stats.speed_ratio``, as the report measures it), median with a 95% percentile
  bootstrap CI (``raybench.stats.bootstrap_median_ci``). A run that never meets the target is
  infinitely slow, never dropped: method missed and Adam not -> ratio 0, Adam missed and the
  method not -> ratio inf; a seed both missed carries no information and is counted
  (``both_missed``), not used. The summary does not name the problem; the column measures
  ``mnist_cnn`` (its multi-init experiment trains MNIST), which ``measure(problems=...)``
  changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from raybench import results, schema, stats
from raybench.report_model import Section

# --- The claims, as the summary writes them -------------------------------------------------

SUMMARY_TABLE: dict[str, dict[str, str]] = {
    "adam":          {"mnist_cnn": "98.5%", "cifar100_cnn": "72.3%", "quadratic": "Optimal",
                      "logistic": "83%", "convergence_speed": "1.0x"},
    "modified_adam": {"mnist_cnn": "98.2%", "cifar100_cnn": "71.8%", "quadratic": "Optimal",
                      "logistic": "82%", "convergence_speed": "0.98x"},
    "momentum":      {"mnist_cnn": "98.7%", "cifar100_cnn": "71.5%", "quadratic": "Optimal",
                      "logistic": "83%", "convergence_speed": "0.92x"},
    "autonomous":    {"mnist_cnn": "97.8%", "cifar100_cnn": "74.1%", "quadratic": "Near-Optimal",
                      "logistic": "86%", "convergence_speed": "1.05x"},
    "multi_init_16": {"mnist_cnn": "99.1%", "cifar100_cnn": "73.2%", "quadratic": "Optimal",
                      "logistic": "84%", "convergence_speed": "1.143x"},
}
"""The summary's "Performance Comparison" table, cell by cell as written."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A claim about a method against Adam in one column."""

    relation: str
    """``better``, ``worse`` or ``within`` (``band`` either side of Adam)."""
    words: str
    """The summary's own words for it."""
    band: float | None = None
    """For ``within``: the half-width, in the column's units (percentage points)."""


COMPARISONS: dict[tuple[str, str], Comparison] = {
    ("autonomous", "cifar100_cnn"): Comparison("better", "74.1% accuracy, +1.8% over Adam"),
    ("autonomous", "logistic"): Comparison("better", "86% vs 83%"),
    ("multi_init_16", "convergence_speed"): Comparison("better", "14.3% faster convergence"),
    ("multi_init_16", "mnist_cnn"): Comparison("better", "consistent improvements on non-convex problems; "
                                                         "particularly effective on MNIST (99.1%)"),
    ("multi_init_16", "cifar100_cnn"): Comparison("better", "consistent improvements on non-convex problems"),
    **{("modified_adam", col): Comparison("within", "maintains Adam's performance (within 1-2%)", band=2.0)
       for col in ("mnist_cnn", "cifar100_cnn", "logistic")},
}
"""The comparisons with Adam that the summary's text states ("Key Findings")."""


@dataclasses.dataclass(frozen=True)
class Method:
    title: str
    """The summary's row name."""
    optimizer: str | None
    """The registry name whose runs measure it; ``None``: its per-seed rows come from elsewhere
    (multi-init's survivors, passed to ``measure(extra=...)``)."""


METHODS: dict[str, Method] = {
    "adam": Method("Adam (Baseline)", "adam"),
    "modified_adam": Method("Modified Adam", "modified_adam"),
    "momentum": Method("SGD + Momentum", "momentum"),  # SGD with Nesterov momentum
    "autonomous": Method("Autonomous Opt.", "autonomous"),
    "multi_init_16": Method("Multi-Init (16)", None),
}
BASELINE = "adam"
"""The summary's own baseline (its table's "Adam (Baseline)" row, which every claim is relative
to): a fact of the summary, not raybench's reference optimizer (``raybench.defaults``)."""


@dataclasses.dataclass(frozen=True)
class Column:
    title: str
    """The summary's column header."""
    problem: str
    """The raybench problem that measures it."""
    metric: str
    """``accuracy`` (test, in percent), ``suboptimality`` (test f - f*) or ``steps_to_target``."""
    higher_is_better: bool


COLUMNS: dict[str, Column] = {
    "mnist_cnn": Column("MNIST (CNN)", "mnist_cnn", "accuracy", True),
    "cifar100_cnn": Column("CIFAR-100", "cifar100_cnn", "accuracy", True),
    "quadratic": Column("Quadratic", "quadratic", "suboptimality", False),
    "logistic": Column("Logistic Reg.", "logistic", "accuracy", True),
    # The summary names no problem for speed; its multi-init experiment trains MNIST.
    "convergence_speed": Column("Convergence Speed", "mnist_cnn", "steps_to_target", True),
}

# --- Verdict rules ---------------------------------------------------------------------------

CONSISTENT, CONTRADICTED = "consistent", "contradicted"
DIRECTION_HOLDS, DIRECTION_CONTRADICTED = "direction holds", "direction contradicted"
INCONCLUSIVE, NOT_RUN = "inconclusive", "not run"
VERDICTS = (CONSISTENT, CONTRADICTED, DIRECTION_HOLDS, DIRECTION_CONTRADICTED, INCONCLUSIVE, NOT_RUN)
TONES = {CONSISTENT: "good", DIRECTION_HOLDS: "good", CONTRADICTED: "bad", DIRECTION_CONTRADICTED: "bad",
         INCONCLUSIVE: "unsure", NOT_RUN: "unsure"}
"""How each verdict reads (the HTML report colours it so): the claim holds, fails, or is open."""


def tone(verdict: str) -> str:
    """``TONES`` of a verdict (``"not run: why"`` reads as ``not run``); "" for any other text."""
    return next((t for v, t in TONES.items() if verdict == v or verdict.startswith(f"{v}:")), "")
"""Every verdict is one of these; ``not run`` is followed by ``: <why>``."""

MIN_SEEDS = 3
"""Fewer seeds (paired seeds for comparisons and ratios) than this: ``inconclusive``."""

OPTIMAL, NEAR_OPTIMAL, NOT_OPTIMAL = "Optimal", "Near-Optimal", "Not optimal"
CATEGORIES = (OPTIMAL, NEAR_OPTIMAL, NOT_OPTIMAL)
REQUIRED_FRACTION = 0.8
"""Share of seeds that must meet a category's threshold."""
NEAR_FACTOR = 100.0
"""Near-Optimal's threshold in units of the problem's target gap."""


def not_run(why: str) -> str:
    return f"{NOT_RUN}: {why}"


def value_verdict(claim: tuple[float, float], ci: tuple[float, float], n: int) -> str:
    """The claimed value's interval ``claim`` (as rounded) against the measured CI."""
    lo, hi = ci
    if n < MIN_SEEDS or math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    return CONSISTENT if claim[0] <= hi and lo <= claim[1] else CONTRADICTED


def comparison_verdict(comparison: Comparison, ci: tuple[float, float], n_paired: int, *,
                       null: float = 0.0, higher_is_better: bool = True) -> str:
    """A comparison with Adam against the CI of the paired difference (or ratio; ``null`` is
    "no difference": 0 for differences, 1 for ratios)."""
    lo, hi = ci
    if n_paired < MIN_SEEDS or math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    if comparison.relation == "within":
        band = float(comparison.band)
        if null - band <= lo and hi <= null + band:
            return CONSISTENT
        return CONTRADICTED if lo > null + band or hi < null - band else INCONCLUSIVE
    if comparison.relation not in ("better", "worse"):
        raise ValueError(f"unknown comparison {comparison.relation!r}; accepted: better, worse, within")
    above = comparison.relation == "better" if higher_is_better else comparison.relation == "worse"
    if lo > null:
        return DIRECTION_HOLDS if above else DIRECTION_CONTRADICTED
    if hi < null:
        return DIRECTION_CONTRADICTED if above else DIRECTION_HOLDS
    return INCONCLUSIVE


def category_verdict(claimed: str, measured: str, n: int) -> str:
    if n < MIN_SEEDS:
        return INCONCLUSIVE
    return CONSISTENT if claimed == measured else CONTRADICTED


def quadratic_category(gaps: pd.Series, thresholds: pd.Series) -> tuple[str, float, float]:
    """(category, share of seeds within tau, share within ``NEAR_FACTOR`` tau); a missing gap
    (run not ok) meets neither."""
    gaps = gaps.astype(float).to_numpy()
    tau = thresholds.astype(float).to_numpy()
    if gaps.size == 0:
        return "", math.nan, math.nan
    if np.isnan(tau).any():
        raise ValueError("quadratic rows need the run's target threshold (runs column target_threshold)")
    with np.errstate(invalid="ignore"):
        optimal = float(np.mean(np.nan_to_num(gaps, nan=np.inf) <= tau))
        near = float(np.mean(np.nan_to_num(gaps, nan=np.inf) <= NEAR_FACTOR * tau))
    if optimal >= REQUIRED_FRACTION:
        return OPTIMAL, optimal, near
    return (NEAR_OPTIMAL if near >= REQUIRED_FRACTION else NOT_OPTIMAL), optimal, near


# --- Claims as data ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Claim:
    method: str
    column: str
    text: str
    """As written (``74.1%``, ``Near-Optimal``, ``1.143x``)."""
    kind: str
    """``percent``, ``category`` or ``ratio``."""
    value: float | None
    """The number written (percent or ratio); ``None`` for a category."""
    interval: tuple[float, float] | None
    """Every value that rounds to ``value`` as written."""
    comparison: Comparison | None


def parse(text: str) -> tuple[str, float | None, tuple[float, float] | None]:
    """(kind, value, rounding interval) of a cell as written."""
    if text in CATEGORIES:
        return "category", None, None
    kind = {"%": "percent", "x": "ratio"}.get(text[-1:])
    if kind is None:
        raise ValueError(f"claim {text!r}: expected a percentage (98.5%), a ratio (1.05x) or one of {CATEGORIES}")
    number = text[:-1]
    decimals = len(number.partition(".")[2])
    half = 0.5 * 10.0 ** -decimals
    value = float(number)
    return kind, value, (value - half, value + half)


def claims() -> list[Claim]:
    """Every cell of ``SUMMARY_TABLE`` with its comparison, in the summary's order."""
    out = []
    for method, row in SUMMARY_TABLE.items():
        for column, text in row.items():
            kind, value, interval = parse(text)
            out.append(Claim(method, column, text, kind, value, interval, COMPARISONS.get((method, column))))
    return out


# --- Measuring ---------------------------------------------------------------------------------

PER_SEED_COLUMNS = ("method", "column", "key", "value", "adam", "threshold", "problem", "dataset")
"""The long per-seed form ``measure`` works on: one row per (method, column, pairing key), the
method's ``value`` in the column's units (accuracy in percent, NaN if the run was not ok; f - f*;
steps to target, inf if never met) beside Adam's on the same key (``adam``, NaN: no Adam run to
pair with), and for the quadratic the run's target threshold."""


def per_seed(runs: pd.DataFrame, *, optimizers: Mapping[str, str | None] | None = None,
             problems: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The runs table in ``PER_SEED_COLUMNS`` form, paired with Adam by seed.

    ``optimizers`` maps a method to the optimizer name its runs carry (default: ``METHODS``);
    ``problems`` overrides the problem measuring a column. One configuration per
    (problem, optimizer, seed): a seed run twice is an error (filter the runs first)."""
    opt_of = {m: spec.optimizer for m, spec in METHODS.items()} | dict(optimizers or {})
    frames = []
    for column, spec in COLUMNS.items():
        problem = (problems or {}).get(column, spec.problem)
        prun = runs[runs["problem"] == problem] if len(runs) else runs
        values: dict[str, pd.DataFrame] = {}
        for method, optimizer in opt_of.items():
            orun = prun[prun["optimizer"] == optimizer] if optimizer is not None and len(prun) else prun.iloc[:0]
            if orun.empty:
                continue
            dup = orun["seed"][orun["seed"].duplicated()]
            if len(dup):
                raise ValueError(f"the runs hold seed {int(dup.iloc[0])} of {optimizer} on {problem} more than "
                                 "once; measure one configuration per method (filter the runs first)")
            values[method] = pd.DataFrame({
                "key": orun["seed"].astype(int).to_numpy(),
                "value": _cell_values(orun, spec.metric).to_numpy(),
                "threshold": (orun["target_threshold"].astype(float).to_numpy()
                              if spec.metric == "suboptimality" else np.full(len(orun), np.nan)),
                "dataset": orun["dataset"].astype(object).to_numpy() if "dataset" in orun else None,
            })
        base = values.get(BASELINE)
        for method, frame in values.items():
            adam = base.set_index("key")["value"] if base is not None else pd.Series(dtype=float)
            frames.append(frame.assign(method=method, column=column, problem=problem,
                                       adam=frame["key"].map(adam).astype(float)))
    if not frames:
        return pd.DataFrame(columns=list(PER_SEED_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(PER_SEED_COLUMNS)]


def _cell_values(runs: pd.DataFrame, metric: str) -> pd.Series:
    ok = runs["status"] == "ok"
    if metric == "steps_to_target":  # as recorded: inf when never met, whatever the status
        return runs["steps_to_target"].astype(float).fillna(math.inf)
    if metric == "suboptimality" and not (runs["target_metric"].dropna() == "suboptimality").all():
        raise ValueError("quadratic runs must have target_metric suboptimality (their target_threshold is tau)")
    value = results.metric(runs, "test", metric)
    return (value * 100.0 if metric == "accuracy" else value).where(ok)


def measure(runs: pd.DataFrame, *, extra: pd.DataFrame | None = None,
            not_run_why: Mapping[str | tuple[str, str], str] | None = None,
            optimizers: Mapping[str, str | None] | None = None, problems: Mapping[str, str] | None = None,
            n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per cell of the summary's table (``CLAIMS``'s columns), measured and judged.

    ``runs``: a runs table; each method's runs are those of its optimizer (``per_seed``).
    ``extra``: rows in ``PER_SEED_COLUMNS`` form for methods measured elsewhere (multi-init:
    one row per block or seed, its value beside the Adam value it is paired with).
    ``not_run_why``: why cells were not run, keyed by column, method or (method, column), the
    most specific first; such a cell is ``not run: <why>`` whatever the runs hold.
    """
    rows = per_seed(runs, optimizers=optimizers, problems=problems)
    if extra is not None and len(extra):
        missing = {"method", "column", "key", "value", "adam"} - set(extra.columns)
        if missing:
            raise ValueError(f"extra per-seed rows lack columns {sorted(missing)}; expected {PER_SEED_COLUMNS}")
        for name, known in (("method", METHODS), ("column", COLUMNS)):
            unknown = sorted(set(extra[name]) - set(known))
            if unknown:
                raise ValueError(f"extra per-seed rows: unknown {name} {unknown[0]!r}; accepted: {', '.join(known)}")
        extra = extra.reindex(columns=list(PER_SEED_COLUMNS))
        extra["problem"] = extra["problem"].fillna(extra["column"].map(lambda c: (problems or {}).get(c, COLUMNS[c].problem)))
        rows = pd.concat([rows, extra], ignore_index=True) if len(rows) else extra
    why = dict(not_run_why or {})
    for key in why:
        parts = key if isinstance(key, tuple) else (key,)
        if not all(p in METHODS or p in COLUMNS for p in parts):
            raise ValueError(f"not_run_why key {key!r}: expected a method ({', '.join(METHODS)}), "
                             f"a column ({', '.join(COLUMNS)}) or a (method, column) pair")
    out = []
    for claim in claims():
        cell = rows[(rows["method"] == claim.method) & (rows["column"] == claim.column)]
        reason = why.get((claim.method, claim.column), why.get(claim.method, why.get(claim.column)))
        out.append(measure_cell(claim, cell, reason=reason, problem=(problems or {}).get(
            claim.column, COLUMNS[claim.column].problem), optimizers=optimizers, n_boot=n_boot, seed=seed))
    table = pd.DataFrame(out, columns=CLAIMS.columns)
    ints = [f.name for f in CLAIMS.fields if pa.types.is_integer(f.type)]
    return table.astype({c: "Int64" for c in ints})


def measure_cell(claim: Claim, rows: pd.DataFrame, *, reason: str | None = None, problem: str | None = None,
                 optimizers: Mapping[str, str | None] | None = None, n_boot: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """One cell from its per-seed rows (``PER_SEED_COLUMNS``: the method's values and Adam's,
    keyed by seed or block); the verdicts follow the module's rules."""
    column = COLUMNS[claim.column]
    optimizer = (dict(optimizers or {}).get(claim.method, METHODS[claim.method].optimizer))
    problem = problem or column.problem
    datasets = sorted({str(d) for d in rows.get("dataset", pd.Series(dtype=object)).dropna()})
    row: dict[str, Any] = {
        "method": claim.method, "column": claim.column, "problem": problem,
        "dataset": ",".join(datasets) or None, "optimizer": optimizer, "kind": claim.kind,
        "claimed": claim.text, "claimed_value": claim.value,
        "vs_adam": claim.comparison.relation if claim.comparison else None,
        "vs_adam_claimed": claim.comparison.words if claim.comparison else None,
        "runs": len(rows),
    }
    if reason is not None or rows.empty:
        missing = reason or (f"no runs of {optimizer} on {problem}" if optimizer
                             else f"no per-seed rows for {claim.method} on {problem}")
        row["verdict"] = not_run(missing)
        row["vs_adam_verdict"] = not_run(missing) if claim.comparison else None
        return row
    value = rows["value"].astype(float)
    adam = rows["adam"].astype(float)
    if claim.kind == "ratio":
        ratios = [stats.speed_ratio(a, v) for a, v in zip(adam, value) if not math.isnan(a)]
        informative = [r for r in ratios if not math.isnan(r)]
        med, lo, hi = stats.bootstrap_median_ci(informative, n_boot=n_boot, seed=seed)
        row.update(estimator="median Adam/method steps-to-target", estimate=med, ci_low=lo, ci_high=hi,
                   n=len(informative), paired=len(informative), both_missed=len(ratios) - len(informative),
                   method_missed=sum(r == 0 for r in informative),
                   adam_missed=sum(math.isinf(r) for r in informative))
    else:
        if claim.kind == "category":
            category, optimal, near = quadratic_category(value, rows["threshold"])
            row.update(estimator="category (median f - f*)", estimate=float(value.fillna(math.inf).median()),
                       measured_category=category, n=len(rows), threshold=float(rows["threshold"].max()),
                       optimal_fraction=optimal, near_optimal_fraction=near)
        else:
            mean, lo, hi = stats.mean_ci(value.dropna().tolist())
            row.update(estimator="mean", estimate=mean, ci_low=lo, ci_high=hi, n=int(value.notna().sum()))
        both = value.notna() & adam.notna()
        dmean, dlo, dhi = stats.mean_ci((value - adam)[both].tolist())
        row.update(diff_vs_adam=dmean, diff_ci_low=dlo, diff_ci_high=dhi, paired=int(both.sum()))
    row["verdict"], row["vs_adam_verdict"] = verdict(claim, row)
    if adam.isna().all():  # nothing to pair with: the comparison (and a ratio) was not measured
        unpaired = not_run(f"no {BASELINE} runs on {problem} to pair with")
        if claim.kind == "ratio":
            row["verdict"] = unpaired
        if claim.comparison:
            row["vs_adam_verdict"] = unpaired
    return row


def verdict(claim: Claim, cell: Mapping[str, Any]) -> tuple[str, str | None]:
    """(verdict, vs-Adam verdict) of a measured ``cell`` (a ``claims`` row's numbers) under the
    module's rules; the second is ``None`` where the summary makes no comparison."""
    if str(cell.get("verdict", "")).startswith(NOT_RUN):
        return cell["verdict"], (cell["verdict"] if claim.comparison else None)
    ci = (_f(cell.get("ci_low")), _f(cell.get("ci_high")))
    if claim.kind == "category":
        main = category_verdict(claim.text, str(cell["measured_category"]), int(cell["n"]))
    else:
        main = value_verdict(claim.interval, ci, int(cell["n"]))
    if claim.comparison is None:
        return main, None
    if claim.kind == "ratio":
        return main, comparison_verdict(claim.comparison, ci, int(cell["paired"]), null=1.0)
    dci = (_f(cell.get("diff_ci_low")), _f(cell.get("diff_ci_high")))
    return main, comparison_verdict(claim.comparison, dci, int(cell["paired"]),
                                    higher_is_better=COLUMNS[claim.column].higher_is_better)


def _f(x: Any) -> float:
    return math.nan if x is None or pd.isna(x) else float(x)


# --- The claims table and its files -------------------------------------------------------------

STR, FLOAT, INT = pa.string(), pa.float64(), pa.int64()
CLAIMS = schema.register(schema.TableSchema("claims", 1, schema.columns(
    ("method", STR), ("column", STR), ("problem", STR), ("dataset", STR), ("optimizer", STR),
    ("kind", STR), ("claimed", STR), ("claimed_value", FLOAT),
    ("estimator", STR), ("estimate", FLOAT), ("ci_low", FLOAT), ("ci_high", FLOAT),
    ("measured_category", STR), ("n", INT), ("runs", INT), ("verdict", STR),
    ("vs_adam", STR), ("vs_adam_claimed", STR),
    ("diff_vs_adam", FLOAT), ("diff_ci_low", FLOAT), ("diff_ci_high", FLOAT), ("paired", INT),
    ("vs_adam_verdict", STR),
    ("threshold", FLOAT), ("optimal_fraction", FLOAT), ("near_optimal_fraction", FLOAT),
    ("both_missed", INT), ("method_missed", INT), ("adam_missed", INT),
)))


def _num(x: Any, fmt: str = ".2f") -> str:
    x = _f(x)
    if math.isnan(x):
        return "-"
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else format(x, fmt)


def measured_text(r: Mapping[str, Any]) -> str:
    """A measured cell as "mean [lo, hi] (n)" (percent), "median x [lo, hi] (n)" (ratio) or the
    category with its shares of seeds."""
    if str(r.get("verdict", "")).startswith(NOT_RUN) or pd.isna(r.get("n")):
        return "-"
    if r["kind"] == "percent":
        return f"{_num(r['estimate'])}% [{_num(r['ci_low'])}, {_num(r['ci_high'])}] ({int(r['n'])})"
    if r["kind"] == "ratio":
        missed = f"; {int(r['both_missed'])} both missed" if _f(r.get("both_missed")) else ""
        return f"{_num(r['estimate'], '.3f')}x [{_num(r['ci_low'], '.3f')}, {_num(r['ci_high'], '.3f')}] ({int(r['n'])}{missed})"
    n = int(r["n"])
    return (f"{r['measured_category']} ({round(r['optimal_fraction'] * n)}/{n} within tau, "
            f"{round(r['near_optimal_fraction'] * n)}/{n} within {NEAR_FACTOR:g} tau; "
            f"median f - f* {_num(r['estimate'], '.2e')})")


def diff_text(r: Mapping[str, Any]) -> str:
    if r["kind"] == "ratio":
        return "(the ratio is the comparison)"
    if math.isnan(_f(r.get("diff_vs_adam"))):
        return "-"
    fmt = "+.2e" if r["kind"] == "category" else "+.2f"  # f - f* spans decades
    return (f"{_num(r['diff_vs_adam'], fmt)} [{_num(r['diff_ci_low'], fmt)}, "
            f"{_num(r['diff_ci_high'], fmt)}] ({int(r['paired'])} paired)")


def markdown(table: pd.DataFrame) -> str:
    """``claims.md``: the summary's table and the measured one side by side, then every cell."""
    cells = {(r["method"], r["column"]): r for r in table.to_dict("records")}
    head = ["Method"] + [f"{COLUMNS[c].title} {part}" for c in COLUMNS for part in ("claimed", "measured")]
    lines = [
        "# The research summary's results table, measured",
        "",
        "Claimed (as the summary writes it) beside measured. Accuracy: test accuracy in percent, mean "
        "[95% Student-t CI] (seeds). Quadratic: the measured category, tau = the problem's target gap. "
        "Convergence speed: Adam's steps-to-target over the method's, paired by seed, median [95% "
        "bootstrap CI] (paired seeds). Verdict rules: README, \"Claims and verdicts\".",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for method, spec in METHODS.items():
        out = [spec.title]
        for column in COLUMNS:
            r = cells.get((method, column))
            if r is None:
                out += ["-", "-"]
                continue
            judged = f"{measured_text(r)}: {r['verdict']}" if not r["verdict"].startswith(NOT_RUN) else r["verdict"]
            if isinstance(r.get("vs_adam"), str) and not r["verdict"].startswith(NOT_RUN):
                judged += f"; {r['vs_adam']} vs Adam: {r['vs_adam_verdict']}"
            out += [str(r["claimed"]), judged]
        lines.append("| " + " | ".join(out) + " |")
    lines += [
        "",
        "## Every cell",
        "",
        "| method | column | problem (dataset) | claimed | measured | verdict | claimed vs Adam | "
        "diff vs Adam [95% CI] (paired) | vs Adam verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        shown = isinstance(r.get("dataset"), str) and r["dataset"] != r["problem"]
        where = r["problem"] + (f" ({r['dataset']})" if shown else "")
        claimed_vs = f"{r['vs_adam']}: {r['vs_adam_claimed']}" if isinstance(r.get("vs_adam"), str) else "-"
        lines.append(f"| {METHODS[r['method']].title} | {COLUMNS[r['column']].title} | {where} | {r['claimed']} "
                     f"| {measured_text(r)} | {r['verdict']} | {claimed_vs} | {diff_text(r)} "
                     f"| {r['vs_adam_verdict'] if isinstance(r.get('vs_adam_verdict'), str) else '-'} |")
    return "\n".join(lines) + "\n"


def write(folder: str, table: pd.DataFrame, *, notes: str = "") -> dict[str, str]:
    """Write ``claims.md``, ``claims.csv`` and the ``claims`` Parquet table into ``folder`` (a
    path or a URI); ``notes`` (Markdown: how the runs were made) go at the end of ``claims.md``.
    Returns their paths.

    ``claims`` is derived from the folder's runs: a new write replaces the previous one
    (``results.replace``)."""
    results.init(folder)
    md = results.write_file(folder, "claims.md", markdown(table) + (f"\n{notes}" if notes else ""))
    csv = results.write_file(folder, "claims.csv", table.to_csv(index=False))
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in table.to_dict("records")]
    results.replace(folder, "claims", rows)
    return {"md": md, "csv": csv, "parquet": f"{folder.rstrip('/')}/claims"}


# --- The claims in the raybench report ----------------------------------------------------------

def _cell_text(value: object) -> str:
    return "-" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def report_section(table: pd.DataFrame) -> Section:
    """A claims table as a section of ``raybench report``: every column as it is (whatever the
    columns: a table read back from ``claims.csv`` is shown as written), each ``verdict`` column's
    cells toned as they read (``tone``). Counts read back from CSV with gaps (floats there) show
    as the integers they are, so the page is the same from ``measure``'s table or its files."""
    counts = {f.name: "Int64" for f in CLAIMS.fields if pa.types.is_integer(f.type) and f.name in table.columns}
    with contextlib.suppress(TypeError, ValueError):  # not counts after all: shown as they are
        table = table.astype(counts)
    header = tuple(str(c) for c in table.columns)
    verdicts = tuple(i for i, c in enumerate(header) if c.lower() == "verdict")
    rows = tuple(tuple(_cell_text(v) for v in values) for values in table.itertuples(index=False))
    tones = tuple(tuple(tone(cell.strip()) if i in verdicts else "" for i, cell in enumerate(row)) for row in rows)
    return Section("Claims", header, rows, verdict_columns=verdicts, tones=tones)


def folder_section(folder: str) -> Section | None:
    """The claims results folder ``folder`` holds (``claims.csv`` where the folder is local,
    else its ``claims`` table) as a report section; ``None`` if it holds none. ``raybench
    report`` finds this through the ``raybench.report_sections`` entry-point group."""
    local = folder.removeprefix("file://")
    csv = Path(local) / "claims.csv"
    if "://" not in local and csv.is_file():
        return report_section(pd.read_csv(csv))
    table = results.read_table(folder, CLAIMS.name)
    return report_section(table) if not table.empty else None
