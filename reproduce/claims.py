"""The research summary's results table as claims, measured cell by cell, with verdicts.

The summary's "Performance Comparison" table (``SUMMARY_TABLE``, copied as written) and the
comparisons with Adam its text makes (``COMPARISONS``) are the claims. ``measure`` turns a runs
table (with its curves, and per-seed rows for methods that come from elsewhere, such as
multi-init) into one measured row per cell, ``verdict`` applies the rules, ``holm`` adjusts the
paired comparisons for their number, and ``write`` puts the claimed and measured tables side by
side in ``claims.md``, ``claims.csv`` and the ``claims`` Parquet table; ``report_section``
shows them in ``raybench report`` (``index.html``, ``report.md``).

The rules are written once, in ``docs/verdict_rules.md`` (``RULES_FILE``), committed before this
code ran on any reproduction; every table records that file's commit (``rules_commit``). This
module holds the rules' constants (``MARGIN``, ``MAX_WIDTH``, ``MIN_SEEDS``,
``MIN_SEEDS_MEDIAN``, ``REQUIRED_FRACTION``, ``NEAR_FACTOR``, ``Column.chance``) and applies
them; a test holds the file and the constants together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from raybench import report, results, schema, stats
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
    size: str | None = None
    """The size the summary claims, as written: a difference in points (``+1.8%``), two
    values (``86% - 83%``); ``None``: it claims a direction only (a speed ratio is its own size)."""


COMPARISONS: dict[tuple[str, str], Comparison] = {
    ("autonomous", "cifar100_cnn"): Comparison("better", "74.1% accuracy, +1.8% over Adam", size="+1.8%"),
    ("autonomous", "logistic"): Comparison("better", "86% vs 83%", size="86% - 83%"),
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
    chance: float | None = None
    """Accuracy columns: the accuracy (percent) of guessing, 100 / classes, that a run which is
    not ok scores. The problems do not declare their classes as registry data (their data
    loaders know them), so it is stated here: MNIST 10 classes, CIFAR-100 100, logistic 2."""


COLUMNS: dict[str, Column] = {
    "mnist_cnn": Column("MNIST (CNN)", "mnist_cnn", "accuracy", True, chance=100.0 / 10),
    "cifar100_cnn": Column("CIFAR-100", "cifar100_cnn", "accuracy", True, chance=100.0 / 100),
    "quadratic": Column("Quadratic", "quadratic", "suboptimality", False),
    "logistic": Column("Logistic Reg.", "logistic", "accuracy", True, chance=100.0 / 2),
    # The summary names no problem for speed; its multi-init experiment trains MNIST.
    "convergence_speed": Column("Convergence Speed", "mnist_cnn", "steps_to_target", True),
}

# --- Verdict rules (written in docs/verdict_rules.md; applied here) ---------------------------

RULES_FILE = "docs/verdict_rules.md"
"""The rules, in words, relative to the repository root; its commit goes with every table."""

CONSISTENT, CONTRADICTED, BETTER_THAN_CLAIMED = "consistent", "contradicted", "better than claimed"
DIRECTION_HOLDS, DIRECTION_CONTRADICTED = "direction holds", "direction contradicted"
INCONCLUSIVE, UNRESOLVED = "inconclusive", "unresolved at this evaluation interval"
NOT_COMPARABLE, BASELINE_VERDICT, NOT_RUN = "not comparable at this scale", "baseline", "not run"
VERDICTS = (CONSISTENT, CONTRADICTED, BETTER_THAN_CLAIMED, DIRECTION_HOLDS, DIRECTION_CONTRADICTED,
            INCONCLUSIVE, UNRESOLVED, NOT_COMPARABLE, BASELINE_VERDICT, NOT_RUN)
"""Every verdict is one of these; ``not run`` is followed by ``: <why>``."""
DECISIVE = (CONSISTENT, CONTRADICTED, BETTER_THAN_CLAIMED, DIRECTION_HOLDS, DIRECTION_CONTRADICTED)
"""The verdicts that say something (they have a p-value and can be undone by Holm)."""
TONES = {CONSISTENT: "good", DIRECTION_HOLDS: "good", CONTRADICTED: "bad", DIRECTION_CONTRADICTED: "bad",
         BETTER_THAN_CLAIMED: "bad", INCONCLUSIVE: "unsure", UNRESOLVED: "unsure", NOT_COMPARABLE: "unsure",
         NOT_RUN: "unsure", BASELINE_VERDICT: ""}
"""How each verdict reads (the HTML report colours it so): the claim holds, fails (``better than
claimed`` too: the claim is wrong, in the method's favour), or is open; the baseline is no claim."""


def tone(verdict: str) -> str:
    """``TONES`` of a verdict (``"not run: why"`` reads as ``not run``); "" for any other text."""
    return next((t for v, t in TONES.items() if verdict == v or verdict.startswith(f"{v}:")), "")


LEVEL = 0.95
"""Every interval's confidence level."""
MARGIN = {"percent": 0.5, "ratio": 0.05, "proportion": 0.05}
"""How far a claim's interval is widened, in its units (percentage points; ratio; share)."""
MAX_WIDTH = {"percent": 2.0, "ratio": 0.1, "proportion": 0.1}
"""The widest CI that can be ``consistent`` (and it must have finite ends)."""
MIN_SEEDS = 3
"""Fewer seeds than this for a mean, a paired difference or a proportion: ``inconclusive``."""
MIN_SEEDS_MEDIAN = 6
"""Fewer (paired) seeds than this for a median (every speed ratio): ``inconclusive``; below 6 no
distribution-free 95% interval for a median exists (``stats.median_ci``)."""

OPTIMAL, NEAR_OPTIMAL, NOT_OPTIMAL = "Optimal", "Near-Optimal", "Not optimal"
CATEGORIES = (OPTIMAL, NEAR_OPTIMAL, NOT_OPTIMAL)
REQUIRED_FRACTION = 0.8
"""Share of seeds that must meet a category's threshold."""
NEAR_FACTOR = 100.0
"""Near-Optimal's threshold in units of the problem's target gap."""


def not_run(why: str) -> str:
    return f"{NOT_RUN}: {why}"


def decisive_interval(ci: tuple[float, float], kind: str) -> bool:
    """A CI narrow enough (``MAX_WIDTH``) and finite, so that it can show agreement."""
    lo, hi = ci
    return math.isfinite(lo) and math.isfinite(hi) and hi - lo <= MAX_WIDTH[kind]


def value_verdict(claim: tuple[float, float], ci: tuple[float, float], n: int, *, kind: str = "percent",
                  min_n: int = MIN_SEEDS) -> str:
    """A claimed interval ``claim`` (as rounded, or a band) against a measured CI: ``consistent``
    inside the claim widened by ``MARGIN[kind]`` and decisive, ``contradicted`` missing it."""
    lo, hi = ci
    if n < min_n or math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    a, b = claim[0] - MARGIN[kind], claim[1] + MARGIN[kind]
    if hi < a or lo > b:
        return CONTRADICTED
    return CONSISTENT if a <= lo and hi <= b and decisive_interval(ci, kind) else INCONCLUSIVE


def comparison_verdict(comparison: Comparison, ci: tuple[float, float], n_paired: int, *,
                       null: float = 0.0, higher_is_better: bool = True, kind: str = "percent",
                       min_n: int = MIN_SEEDS) -> str:
    """A comparison with Adam against the CI of the paired difference (or ratio; ``null`` is
    "no difference": 0 for differences, 1 for ratios)."""
    lo, hi = ci
    if n_paired < min_n or math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    if comparison.relation == "within":
        band = float(comparison.band)
        return value_verdict((null - band, null + band), ci, n_paired, kind=kind, min_n=min_n)
    if comparison.relation not in ("better", "worse"):
        raise ValueError(f"unknown comparison {comparison.relation!r}; accepted: better, worse, within")
    above = comparison.relation == "better" if higher_is_better else comparison.relation == "worse"
    if lo > null:
        return DIRECTION_HOLDS if above else DIRECTION_CONTRADICTED
    if hi < null:
        return DIRECTION_CONTRADICTED if above else DIRECTION_HOLDS
    return INCONCLUSIVE


def ratio_verdict(claim: tuple[float, float], ci: tuple[float, float], resolution: tuple[float, float],
                  n: int) -> str:
    """A claimed speed ratio against the CI of the median paired ratio, whose ``resolution``
    (the median's bounds from the evaluation spacing alone) may leave it undecidable."""
    if n < MIN_SEEDS_MEDIAN:
        return INCONCLUSIVE
    rlo, rhi = resolution
    if rlo <= 1.0 <= rhi and rlo <= claim[1] and claim[0] <= rhi:
        return UNRESOLVED
    return value_verdict(claim, ci, n, kind="ratio", min_n=MIN_SEEDS_MEDIAN)


def ratio_comparison_verdict(comparison: Comparison, ci: tuple[float, float], resolution: tuple[float, float],
                             n: int) -> str:
    """A "better"/"worse" speed claim against the median ratio's CI; ``unresolved`` where the
    evaluation spacing alone leaves both no effect (1) and the claimed side possible."""
    if n < MIN_SEEDS_MEDIAN:
        return INCONCLUSIVE
    rlo, rhi = resolution
    claimed_side_possible = rhi > 1.0 if comparison.relation == "better" else rlo < 1.0
    if comparison.relation != "within" and rlo <= 1.0 <= rhi and claimed_side_possible:
        return UNRESOLVED
    return comparison_verdict(comparison, ci, n, null=1.0, kind="ratio", min_n=MIN_SEEDS_MEDIAN)


def category_verdict(claimed: str, optimal_ci: tuple[float, float], near_ci: tuple[float, float], n: int) -> str:
    """A claimed quadratic category against the Clopper-Pearson CIs of the shares of seeds
    within tau (``optimal_ci``) and within ``NEAR_FACTOR`` tau (``near_ci``)."""
    if claimed not in CATEGORIES:
        raise ValueError(f"unknown category {claimed!r}; accepted: {', '.join(CATEGORIES)}")
    if n < MIN_SEEDS or any(math.isnan(v) for v in (*optimal_ci, *near_ci)):
        return INCONCLUSIVE
    meets, fails = (REQUIRED_FRACTION, 1.0), (0.0, REQUIRED_FRACTION)

    def judge(claim: tuple[float, float], ci: tuple[float, float]) -> str:
        return value_verdict(claim, ci, n, kind="proportion")

    if claimed == OPTIMAL:
        return judge(meets, optimal_ci)
    if claimed == NEAR_OPTIMAL:
        near, not_optimal = judge(meets, near_ci), judge(fails, optimal_ci)
        if near == CONTRADICTED:
            return CONTRADICTED
        if not_optimal == CONTRADICTED:  # decisively within tau: Optimal, better than Near-Optimal
            return BETTER_THAN_CLAIMED
        return CONSISTENT if near == not_optimal == CONSISTENT else INCONCLUSIVE
    outside = judge(fails, near_ci)  # Not optimal
    return BETTER_THAN_CLAIMED if outside == CONTRADICTED else outside


def p_value(verdict_at: Callable[[float], str], verdict: str, *, level: float = LEVEL) -> float:
    """A verdict's p-value (``docs/verdict_rules.md``): the smallest alpha at which the same rule
    on the (1 - alpha) CI still gives the same decisive verdict; 1 for a verdict that is not
    decisive. ``verdict_at(level)`` applies the rule to the CI at ``level``; CIs are nested in
    the level, so the decisive region is an interval of alpha and bisection finds its end."""
    if verdict not in DECISIVE:
        return 1.0
    lo, hi = math.log(P_FLOOR), math.log(1.0 - level)  # log alpha; the verdict holds at hi
    if verdict_at(1.0 - P_FLOOR) == verdict:
        return P_FLOOR
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if verdict_at(1.0 - math.exp(mid)) == verdict:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-7:
            break
    return math.exp(hi)


P_FLOOR = 1e-12
"""The smallest p-value ``p_value`` resolves (a verdict that holds even there gets this)."""


def holm(p_values: Sequence[float], *, alpha: float = 1 - LEVEL) -> list[bool]:
    """Holm's step-down procedure: which of ``p_values`` (one family) keep their rejection."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    keep = [False] * len(p_values)
    for rank, i in enumerate(order):
        if not p_values[i] <= alpha / (len(p_values) - rank):
            break
        keep[i] = True
    return keep


def quadratic_category(gaps: pd.Series, thresholds: pd.Series) -> tuple[str, float, float]:
    """(category, share of seeds within tau, share within ``NEAR_FACTOR`` tau); a missing gap
    meets neither."""
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


def rules_commit(root: str | Path | None = None) -> str:
    """The last commit that touched ``RULES_FILE`` (``git log -1``); ``uncommitted`` if the file
    is untracked or differs from it; ``unknown`` outside a git checkout (an installed copy)."""
    import subprocess

    base = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    if not (base / RULES_FILE).is_file():
        return "unknown"

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=base, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain", "--", RULES_FILE)
    if status is None:
        return "unknown"
    commit = git("log", "-1", "--format=%H", "--", RULES_FILE)
    return "uncommitted" if status or not commit else commit


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

    @property
    def size(self) -> tuple[str, tuple[float, float]] | None:
        """The claimed size against Adam (as written, and its interval): the comparison's for
        accuracies, the ratio itself for speed (Adam's own 1.0x is the baseline, no size)."""
        if self.kind == "ratio":
            return None if self.method == BASELINE else (self.text, self.interval)
        if self.comparison is not None and self.comparison.size is not None:
            return self.comparison.size, size_interval(self.comparison.size)
        return None


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


def size_interval(text: str) -> tuple[float, float]:
    """The differences a claimed size holds, in points: ``+1.8%`` is [1.75, 1.85]; ``86% - 83%``
    (two rounded values) every difference of values that round to them, [2, 4]."""
    first, sep, second = text.partition(" - ")
    _, _, a = parse(first.strip().lstrip("+"))
    if not sep:
        return a
    _, _, b = parse(second.strip())
    return a[0] - b[1], a[1] - b[0]


def claims() -> list[Claim]:
    """Every cell of ``SUMMARY_TABLE`` with its comparison, in the summary's order."""
    out = []
    for method, row in SUMMARY_TABLE.items():
        for column, text in row.items():
            kind, value, interval = parse(text)
            out.append(Claim(method, column, text, kind, value, interval, COMPARISONS.get((method, column))))
    return out


# --- Measuring ---------------------------------------------------------------------------------

PER_SEED_COLUMNS = ("method", "column", "key", "value", "adam", "threshold", "problem", "dataset",
                    "value_low", "adam_low", "ok", "adam_ok")
"""The long per-seed form ``measure`` works on: one row per (method, column, pairing key), the
method's ``value`` in the column's units (accuracy in percent; f - f*; steps to target, inf if
never met) beside Adam's on the same key (``adam``, NaN: no Adam run to pair with), and for the
quadratic the run's target threshold. A run that is not ok has ``ok`` False and its value as the
rules count it (``run_values``); a NaN ``value`` is a run that is not ok too. For steps to target,
``value_low`` / ``adam_low`` are the step of the evaluation before the one at which the target
was seen met (NaN: unknown, taken as 0)."""


def run_values(runs: pd.DataFrame, metric: str, *, curves: pd.DataFrame | None = None,
               chance: float | None = None) -> pd.DataFrame:
    """Each run's value in the claims' units as the rules count it (``value``, ``value_low``,
    ``ok``; index as ``runs``): test accuracy in percent, ``chance`` for a run that is not ok;
    test f - f*, the step-0 value of its curve (inf without one) for a run that is not ok;
    steps to target, inf if never met or not ok, with the previous evaluation's step from
    ``curves`` as ``value_low`` (0 where no curve is known)."""
    ok = (runs["status"] == "ok").to_numpy() if len(runs) else np.zeros(0, dtype=bool)
    low = pd.Series(math.nan, index=runs.index)
    if metric == "steps_to_target":
        value = runs["steps_to_target"].astype(float).fillna(math.inf).where(ok, math.inf)
        before = report.evaluation_before(runs, value, curves)
        low = pd.Series(np.where(np.isinf(value), math.inf, before), index=runs.index)
    elif metric == "suboptimality":
        if not (runs["target_metric"].dropna() == "suboptimality").all():
            raise ValueError("quadratic runs must have target_metric suboptimality (their target_threshold is tau)")
        start = _step0(runs, curves, "val_suboptimality")
        value = results.metric(runs, "test", metric).astype(float).where(ok, start)
    else:
        value = 100.0 * results.metric(runs, "test", metric).astype(float)
        value = value.where(ok & value.notna().to_numpy(), math.nan if chance is None else chance)
    return pd.DataFrame({"value": value.astype(float), "value_low": low, "ok": ok}, index=runs.index)


def _curves_of(runs: pd.DataFrame, curves: pd.DataFrame | None) -> pd.DataFrame:
    if curves is None or curves.empty or "run_id" not in runs:
        return pd.DataFrame(columns=["run_id", "step"])
    return curves[curves["run_id"].isin(runs["run_id"])]


def _step0(runs: pd.DataFrame, curves: pd.DataFrame | None, column: str) -> pd.Series:
    """Each run's ``column`` at step 0 of its curve (inf where it has none)."""
    mine = _curves_of(runs, curves)
    if column in mine:
        first = mine[mine["step"] == 0].groupby("run_id")[column].first()
    else:
        first = pd.Series(dtype=float)
    ids = runs["run_id"] if "run_id" in runs else pd.Series([None] * len(runs), index=runs.index)
    return ids.map(first).astype(float).fillna(math.inf).set_axis(runs.index)


def per_seed(runs: pd.DataFrame, *, curves: pd.DataFrame | None = None,
             optimizers: Mapping[str, str | None] | None = None,
             problems: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The runs table in ``PER_SEED_COLUMNS`` form, paired with Adam by seed.

    ``curves``: the runs' curves (``results.read_table(folder, "curves")``), which give steps to
    target their evaluation interval and a run that is not ok its step-0 loss. ``optimizers``
    maps a method to the optimizer name its runs carry (default: ``METHODS``); ``problems``
    overrides the problem measuring a column. One configuration per (problem, optimizer,
    seed): a seed run twice is an error (filter the runs first)."""
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
            measured = run_values(orun, spec.metric, curves=curves, chance=spec.chance)
            values[method] = pd.DataFrame({
                "key": orun["seed"].astype(int).to_numpy(),
                "value": measured["value"].to_numpy(), "value_low": measured["value_low"].to_numpy(),
                "ok": measured["ok"].to_numpy(),
                "threshold": (orun["target_threshold"].astype(float).to_numpy()
                              if spec.metric == "suboptimality" else np.full(len(orun), np.nan)),
                "dataset": orun["dataset"].astype(object).to_numpy() if "dataset" in orun else None,
            })
        base = values.get(BASELINE)
        for method, frame in values.items():
            adam = base.set_index("key") if base is not None else pd.DataFrame(columns=["value", "value_low", "ok"])
            frames.append(frame.assign(
                method=method, column=column, problem=problem,
                adam=frame["key"].map(adam["value"]).astype(float),
                adam_low=frame["key"].map(adam["value_low"]).astype(float),
                adam_ok=frame["key"].map(adam["ok"]).astype(object)))
    if not frames:
        return pd.DataFrame(columns=list(PER_SEED_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(PER_SEED_COLUMNS)]


def measure(runs: pd.DataFrame, *, curves: pd.DataFrame | None = None, extra: pd.DataFrame | None = None,
            not_run_why: Mapping[str | tuple[str, str], str] | None = None,
            optimizers: Mapping[str, str | None] | None = None, problems: Mapping[str, str] | None = None,
            summary_scale: bool = True) -> pd.DataFrame:
    """One row per cell of the summary's table (``CLAIMS``'s columns), measured and judged.

    ``runs``: a runs table; each method's runs are those of its optimizer (``per_seed``), and
    ``curves`` their curves (steps to target as evaluation intervals; without them a run's
    crossing is only known to lie after step 0). ``extra``: rows in ``PER_SEED_COLUMNS`` form
    for methods measured elsewhere (multi-init: one row per block or seed, its value beside the
    Adam value it is paired with). ``not_run_why``: why cells were not run, keyed by column,
    method or (method, column), the most specific first; such a cell is ``not run: <why>``
    whatever the runs hold. ``summary_scale``: the runs were made at the summary's own scale;
    if not, absolute accuracy claims are ``not comparable at this scale``. The intervals are
    exact or interpolated order statistics (no resampling), so the table is a function of its
    inputs.
    """
    rows = per_seed(runs, curves=curves, optimizers=optimizers, problems=problems)
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
    commit = rules_commit()
    for claim in claims():
        cell = rows[(rows["method"] == claim.method) & (rows["column"] == claim.column)]
        reason = why.get((claim.method, claim.column), why.get(claim.method, why.get(claim.column)))
        out.append(measure_cell(claim, cell, reason=reason, problem=(problems or {}).get(
            claim.column, COLUMNS[claim.column].problem), optimizers=optimizers, summary_scale=summary_scale)
            | {"rules_commit": commit})
    table = pd.DataFrame(out, columns=CLAIMS.columns)
    ints = [f.name for f in CLAIMS.fields if pa.types.is_integer(f.type)]
    table = table.astype({c: "Int64" for c in ints})
    table["summary_scale"] = table["summary_scale"].astype("boolean")
    return with_holm(table)


def measure_cell(claim: Claim, rows: pd.DataFrame, *, reason: str | None = None, problem: str | None = None,
                 optimizers: Mapping[str, str | None] | None = None, summary_scale: bool = True) -> dict[str, Any]:
    """One cell from its per-seed rows (``PER_SEED_COLUMNS``: the method's values and Adam's,
    keyed by seed or block); the verdicts follow the rules (``docs/verdict_rules.md``), each
    decisive one with its p-value."""
    column = COLUMNS[claim.column]
    optimizer = (dict(optimizers or {}).get(claim.method, METHODS[claim.method].optimizer))
    problem = problem or column.problem
    datasets = sorted({str(d) for d in rows.get("dataset", pd.Series(dtype=object)).dropna()})
    size = claim.size
    row: dict[str, Any] = {
        "method": claim.method, "column": claim.column, "problem": problem,
        "dataset": ",".join(datasets) or None, "optimizer": optimizer, "kind": claim.kind,
        "claimed": claim.text, "claimed_value": claim.value,
        "vs_adam": claim.comparison.relation if claim.comparison else None,
        "vs_adam_claimed": claim.comparison.words if claim.comparison else None,
        "size_claimed": size[0] if size else None, "summary_scale": summary_scale,
        "runs": len(rows),
    }
    if reason is not None or rows.empty:
        missing = reason or (f"no runs of {optimizer} on {problem}" if optimizer
                             else f"no per-seed rows for {claim.method} on {problem}")
        row["verdict"] = not_run(missing)
        row["vs_adam_verdict"] = not_run(missing) if claim.comparison else None
        row["size_verdict"] = not_run(missing) if size else None
        return row
    rows = _counted(rows, column)
    value, adam = rows["value"].astype(float), rows["adam"].astype(float)
    row.update(not_ok=int((~rows["ok"].astype(bool)).sum()))
    pairs = adam.notna()
    row["adam_not_ok"] = int((pairs & ~rows["adam_ok"].fillna(True).astype(bool)).sum())
    intervals: dict[str, Callable[[float], tuple[float, float]]] = {}
    if claim.kind == "ratio":
        bounds = [stats.speed_ratio_bounds((al, a), (vl, v)) for al, a, vl, v in
                  zip(rows["adam_low"], adam, rows["value_low"], value) if not math.isnan(a)]
        ratios = [stats.speed_ratio(a, v) for a, v in zip(adam, value) if not math.isnan(a)]
        informative = [(r, b) for r, b in zip(ratios, bounds) if not math.isnan(b[0])]
        kept = [b for _, b in informative]
        intervals["ratio"] = lambda level: stats.speed_interval(kept, level)[:2]
        lo, hi, res_lo, res_hi = stats.speed_interval(kept, LEVEL)
        row.update(estimator="median Adam/method steps-to-target (recorded evaluations)",
                   estimate=float(np.median([r for r, _ in informative])) if informative else math.nan,
                   ci_low=lo, ci_high=hi, n=len(informative), paired=len(informative),
                   resolution_low=res_lo, resolution_high=res_hi,
                   both_missed=len(ratios) - len(informative),
                   method_missed=sum(r == 0 for r, _ in informative),
                   adam_missed=sum(math.isinf(r) for r, _ in informative))
    else:
        if claim.kind == "category":
            category, optimal, near = quadratic_category(value, rows["threshold"])
            n = len(rows)
            olo, ohi = stats.clopper_pearson(round(optimal * n), n, level=LEVEL)
            nlo, nhi = stats.clopper_pearson(round(near * n), n, level=LEVEL)
            row.update(estimator="category (median f - f*)", estimate=float(value.fillna(math.inf).median()),
                       measured_category=category, n=n, threshold=float(rows["threshold"].max()),
                       optimal_fraction=optimal, near_optimal_fraction=near,
                       optimal_ci_low=olo, optimal_ci_high=ohi, near_optimal_ci_low=nlo, near_optimal_ci_high=nhi)
        else:
            values = value.dropna().tolist()
            intervals["value"] = lambda level: stats.mean_ci(values, level=level)[1:]
            lo, hi = intervals["value"](LEVEL)
            row.update(estimator="mean", estimate=float(np.mean(values)) if values else math.nan,
                       ci_low=lo, ci_high=hi, n=len(values))
        both = value.notna() & pairs
        diffs = (value - adam)[both].tolist()
        intervals["diff"] = lambda level: stats.mean_ci(diffs, level=level)[1:]
        dlo, dhi = intervals["diff"](LEVEL)
        row.update(diff_vs_adam=float(np.mean(diffs)) if diffs else math.nan, diff_ci_low=dlo, diff_ci_high=dhi,
                   paired=int(both.sum()))
    row["verdict"], row["vs_adam_verdict"], row["size_verdict"] = verdict(claim, row)
    if pairs.any():
        for name in ("vs_adam", "size"):
            judged = row[f"{name}_verdict"]
            if judged is not None:
                row[f"{name}_p"] = p_value(lambda level, name=name: verdict(
                    claim, _at_level(claim, row, intervals, level))[1 if name == "vs_adam" else 2], judged)
    else:  # nothing to pair with: the comparison (and a ratio) was not measured
        unpaired = not_run(f"no {BASELINE} runs on {problem} to pair with")
        if claim.kind == "ratio":
            row["verdict"] = unpaired
        row["vs_adam_verdict"] = unpaired if claim.comparison else None
        row["size_verdict"] = unpaired if size else None
    return row


def _counted(rows: pd.DataFrame, column: Column) -> pd.DataFrame:
    """Per-seed rows with every run counted: a NaN value (a run that is not ok, in rows given by
    a caller) scores as the rules say, and ``ok`` / ``adam_ok`` filled in where not given."""
    rows = rows.copy()
    ok = rows["ok"] if "ok" in rows else pd.Series(np.nan, index=rows.index)
    rows["ok"] = ok.where(ok.notna(), rows["value"].notna()).astype(bool)
    adam_ok = rows["adam_ok"] if "adam_ok" in rows else pd.Series(np.nan, index=rows.index)
    rows["adam_ok"] = adam_ok.where(adam_ok.notna(), True)
    fallback = {"accuracy": column.chance, "suboptimality": math.inf, "steps_to_target": math.inf}[column.metric]
    if fallback is not None:  # an ok run without the metric stays missing; one not ok never does
        value = rows["value"].astype(float)
        rows["value"] = value.where(value.notna() | rows["ok"], fallback)
    if column.metric == "steps_to_target":
        for side, low in (("value", "value_low"), ("adam", "adam_low")):
            rows[low] = rows[low].astype(float).fillna(0.0).where(~np.isinf(rows[side].astype(float)), math.inf)
    return rows


def _at_level(claim: Claim, row: Mapping[str, Any], intervals: Mapping[str, Callable[[float], tuple[float, float]]],
              level: float) -> dict[str, Any]:
    """``row`` with its CIs at ``level`` instead of ``LEVEL`` (for p-values)."""
    out = dict(row)
    for name, (lo, hi) in (("ratio", ("ci_low", "ci_high")), ("value", ("ci_low", "ci_high")),
                           ("diff", ("diff_ci_low", "diff_ci_high"))):
        if name in intervals:
            out[lo], out[hi] = intervals[name](level)
    return out


def verdict(claim: Claim, cell: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(verdict, vs-Adam verdict, size verdict) of a measured ``cell`` (a ``claims`` row's
    numbers) under the rules; the second and third are ``None`` where the summary makes no
    comparison or claims no size."""
    size = claim.size
    if str(cell.get("verdict", "")).startswith(NOT_RUN):
        v = cell["verdict"]
        return v, (v if claim.comparison else None), (v if size else None)
    ci = (_f(cell.get("ci_low")), _f(cell.get("ci_high")))
    n, paired = _i(cell.get("n")), _i(cell.get("paired"))
    if claim.kind == "ratio":
        resolution = (_f(cell.get("resolution_low")), _f(cell.get("resolution_high")))
        if claim.method == BASELINE:
            return BASELINE_VERDICT, None, None
        main = ratio_verdict(claim.interval, ci, resolution, n)
        vs = ratio_comparison_verdict(claim.comparison, ci, resolution, paired) if claim.comparison else None
        return main, vs, main
    if claim.kind == "category":
        main = category_verdict(claim.text, (_f(cell.get("optimal_ci_low")), _f(cell.get("optimal_ci_high"))),
                                (_f(cell.get("near_optimal_ci_low")), _f(cell.get("near_optimal_ci_high"))), n)
    elif not _summary_scale(cell):
        main = NOT_COMPARABLE
    else:
        main = value_verdict(claim.interval, ci, n)
    dci = (_f(cell.get("diff_ci_low")), _f(cell.get("diff_ci_high")))
    vs = (comparison_verdict(claim.comparison, dci, paired, higher_is_better=COLUMNS[claim.column].higher_is_better)
          if claim.comparison else None)
    return main, vs, (value_verdict(size[1], dci, paired) if size else None)


def with_holm(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``vs_adam_holm`` and ``size_holm``: the paired comparisons' verdicts after
    Holm's procedure over all of them (``vs_adam_p``, ``size_p``); a decisive verdict Holm does
    not keep becomes ``inconclusive``."""
    table = table.copy()
    family = [(i, name) for name in ("vs_adam", "size") for i in table.index
              if isinstance(table.at[i, f"{name}_verdict"], str) and not _unjudged(table.at[i, f"{name}_verdict"])]
    keep = holm([_f(table.at[i, f"{name}_p"]) if not pd.isna(table.at[i, f"{name}_p"]) else 1.0
                 for i, name in family])
    for name in ("vs_adam", "size"):
        table[f"{name}_holm"] = table[f"{name}_verdict"].where(table[f"{name}_verdict"].map(_unjudged), None)
    for (i, name), kept in zip(family, keep):
        judged = table.at[i, f"{name}_verdict"]
        table.at[i, f"{name}_holm"] = judged if kept or judged not in DECISIVE else INCONCLUSIVE
    return table


def _unjudged(v: Any) -> bool:
    """A verdict not made on data: not run, the baseline, not comparable (or none)."""
    return not isinstance(v, str) or v.startswith(NOT_RUN) or v in (BASELINE_VERDICT, NOT_COMPARABLE)


def multiplicity(table: pd.DataFrame) -> tuple[int, int, float]:
    """(m verdicts made on data, of them paired comparisons under Holm, m x (1 - LEVEL): the
    number expected wrong by chance at most)."""
    kinds = table["kind"] if "kind" in table else pd.Series("", index=table.index)
    own_size = table["size_verdict"].where(kinds != "ratio") if "size_verdict" in table else []
    m = sum(not _unjudged(v) for c in ("verdict", "vs_adam_verdict") if c in table for v in table[c])
    m += sum(not _unjudged(v) for v in own_size)  # a speed ratio's size verdict is its verdict: once
    paired = sum(not _unjudged(v) for c in ("vs_adam_verdict", "size_verdict") if c in table for v in table[c])
    return m, paired, m * (1 - LEVEL)


def _summary_scale(cell: Mapping[str, Any]) -> bool:
    """Whether the cell was measured at the summary's scale (unknown: taken as yes)."""
    flag = cell.get("summary_scale")
    if isinstance(flag, str):
        return flag.strip().lower() != "false"
    return True if flag is None or pd.isna(flag) else bool(flag)


def _f(x: Any) -> float:
    return math.nan if x is None or pd.isna(x) else float(x)


def _i(x: Any) -> int:
    return 0 if x is None or pd.isna(x) else int(x)


# --- The claims table and its files -------------------------------------------------------------

STR, FLOAT, INT, BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()
CLAIMS = schema.register(schema.TableSchema("claims", 2, schema.columns(
    ("method", STR), ("column", STR), ("problem", STR), ("dataset", STR), ("optimizer", STR),
    ("kind", STR), ("claimed", STR), ("claimed_value", FLOAT),
    ("estimator", STR), ("estimate", FLOAT), ("ci_low", FLOAT), ("ci_high", FLOAT),
    ("measured_category", STR), ("n", INT), ("runs", INT), ("verdict", STR),
    ("vs_adam", STR), ("vs_adam_claimed", STR),
    ("diff_vs_adam", FLOAT), ("diff_ci_low", FLOAT), ("diff_ci_high", FLOAT), ("paired", INT),
    ("vs_adam_verdict", STR), ("vs_adam_p", FLOAT), ("vs_adam_holm", STR),
    ("size_claimed", STR), ("size_verdict", STR), ("size_p", FLOAT), ("size_holm", STR),
    ("threshold", FLOAT), ("optimal_fraction", FLOAT), ("near_optimal_fraction", FLOAT),
    ("optimal_ci_low", FLOAT), ("optimal_ci_high", FLOAT), ("near_optimal_ci_low", FLOAT),
    ("near_optimal_ci_high", FLOAT),
    ("both_missed", INT), ("method_missed", INT), ("adam_missed", INT),
    ("resolution_low", FLOAT), ("resolution_high", FLOAT),
    ("not_ok", INT), ("adam_not_ok", INT), ("summary_scale", BOOL), ("rules_commit", STR),
), derived=True))
"""Version 2 (issue 21's rules): p-values and Holm, claimed sizes, the quadratic shares' exact
intervals, steps-to-target resolution, runs not ok, the scale and the rules' commit."""


def _num(x: Any, fmt: str = ".2f") -> str:
    x = _f(x)
    if math.isnan(x):
        return "-"
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else format(x, fmt)


def measured_text(r: Mapping[str, Any]) -> str:
    """A measured cell as "mean [lo, hi] (n)" (percent), "median x [lo, hi] (n)" (ratio) or the
    category with its shares of seeds and their exact CIs; runs that were not ok are counted."""
    if str(r.get("verdict", "")).startswith(NOT_RUN) or pd.isna(r.get("n")):
        return "-"
    not_ok = f"; {int(r['not_ok'])} not ok" if _f(r.get("not_ok")) else ""
    if r["kind"] == "percent":
        return f"{_num(r['estimate'])}% [{_num(r['ci_low'])}, {_num(r['ci_high'])}] ({int(r['n'])}{not_ok})"
    if r["kind"] == "ratio":
        missed = f"; {int(r['both_missed'])} both missed" if _f(r.get("both_missed")) else ""
        resolution = (f"; evaluation spacing alone: [{_num(r.get('resolution_low'), '.3f')}, "
                      f"{_num(r.get('resolution_high'), '.3f')}]")
        return (f"{_num(r['estimate'], '.3f')}x [{_num(r['ci_low'], '.3f')}, {_num(r['ci_high'], '.3f')}] "
                f"({int(r['n'])}{missed}{not_ok}{resolution})")
    n = int(r["n"])
    return (f"{r['measured_category']} ({round(r['optimal_fraction'] * n)}/{n} within tau "
            f"[{_num(r.get('optimal_ci_low'))}, {_num(r.get('optimal_ci_high'))}], "
            f"{round(r['near_optimal_fraction'] * n)}/{n} within {NEAR_FACTOR:g} tau "
            f"[{_num(r.get('near_optimal_ci_low'))}, {_num(r.get('near_optimal_ci_high'))}]; "
            f"median f - f* {_num(r['estimate'], '.2e')}{not_ok})")


def diff_text(r: Mapping[str, Any]) -> str:
    if r["kind"] == "ratio":
        return "(the ratio is the comparison)"
    if math.isnan(_f(r.get("diff_vs_adam"))):
        return "-"
    fmt = "+.2e" if r["kind"] == "category" else "+.2f"  # f - f* spans decades
    return (f"{_num(r['diff_vs_adam'], fmt)} [{_num(r['diff_ci_low'], fmt)}, "
            f"{_num(r['diff_ci_high'], fmt)}] ({int(r['paired'])} paired)")


def _judged(r: Mapping[str, Any], name: str) -> str:
    """A comparison's verdict with its Holm-adjusted one where it differs ("-": none)."""
    v = r.get(f"{name}_verdict")
    if not isinstance(v, str):
        return "-"
    adjusted = r.get(f"{name}_holm")
    return v + (f" (Holm: {adjusted})" if isinstance(adjusted, str) and adjusted != v else "")


def markdown(table: pd.DataFrame) -> str:
    """``claims.md``: the summary's table and the measured one side by side, the number of
    verdicts and the rules' commit under it, then every cell."""
    cells = {(r["method"], r["column"]): r for r in table.to_dict("records")}
    head = ["Method"] + [f"{COLUMNS[c].title} {part}" for c in COLUMNS for part in ("claimed", "measured")]
    lines = [
        "# The research summary's results table, measured",
        "",
        "Claimed (as the summary writes it) beside measured. Accuracy: test accuracy in percent, mean "
        "[95% Student-t CI] (seeds). Quadratic: the measured category, tau = the problem's target gap, "
        "the shares of seeds with exact 95% CIs. Convergence speed: Adam's steps-to-target over the "
        "method's, paired by seed, median [95% interpolated order-statistic CI from the evaluation "
        f"intervals] (paired seeds). Verdict rules: `{RULES_FILE}`.",
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
                judged += f"; {r['vs_adam']} vs Adam: {_judged(r, 'vs_adam')}"
            if isinstance(r.get("size_claimed"), str) and r["kind"] != "ratio" and not r["verdict"].startswith(NOT_RUN):
                judged += f"; size {r['size_claimed']}: {_judged(r, 'size')}"
            out += [str(r["claimed"]), judged]
        lines.append("| " + " | ".join(out) + " |")
    m, paired, expected = multiplicity(table)
    commits = sorted({str(c) for c in table.get("rules_commit", pd.Series(dtype=object)).dropna()})
    lines += [
        "",
        f"{m} verdicts made on data; at 95% each, at most {m} x 0.05 = {expected:.2f} of them are expected "
        f"wrong by chance. The {paired} paired comparisons with Adam (direction, within, claimed size) are "
        "also given Holm-adjusted over all of them (\"Holm: ...\" where that changes them; `vs_adam_holm`, "
        "`size_holm`).",
        "",
        f"Verdict rules: `{RULES_FILE}` at commit {', '.join(commits) or 'unknown'} (`rules_commit`).",
        "",
        "## Every cell",
        "",
        "| method | column | problem (dataset) | claimed | measured | verdict | claimed vs Adam | "
        "diff vs Adam [95% CI] (paired) | vs Adam verdict | claimed size | size verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        shown = isinstance(r.get("dataset"), str) and r["dataset"] != r["problem"]
        where = r["problem"] + (f" ({r['dataset']})" if shown else "")
        claimed_vs = f"{r['vs_adam']}: {r['vs_adam_claimed']}" if isinstance(r.get("vs_adam"), str) else "-"
        size = r["size_claimed"] if isinstance(r.get("size_claimed"), str) else "-"
        lines.append(f"| {METHODS[r['method']].title} | {COLUMNS[r['column']].title} | {where} | {r['claimed']} "
                     f"| {measured_text(r)} | {r['verdict']} | {claimed_vs} | {diff_text(r)} "
                     f"| {_judged(r, 'vs_adam')} | {size} | {_judged(r, 'size')} |")
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
    columns: a table read back from ``claims.csv`` is shown as written), each verdict column's
    (``verdict``, ``*_verdict``, ``*_holm``) cells toned as they read (``tone``). Counts read back from CSV with gaps (floats there) show
    as the integers they are, so the page is the same from ``measure``'s table or its files."""
    counts = {f.name: "Int64" for f in CLAIMS.fields if pa.types.is_integer(f.type) and f.name in table.columns}
    with contextlib.suppress(TypeError, ValueError):  # not counts after all: shown as they are
        table = table.astype(counts)
    header = tuple(str(c) for c in table.columns)
    verdicts = tuple(i for i, c in enumerate(header) if c.lower() == "verdict" or c.lower().endswith(("_verdict", "_holm")))
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
