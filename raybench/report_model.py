"""The report as data: what ``raybench report`` shows, built once from a results folder.

``raybench.report.build`` makes a ``Report`` from the runs and curves tables; the renderers
(``report_markdown``, ``report_csv``, ``report_png``, ``html_report``) only lay it out. So
everything a renderer needs (the tables' cells as text, which rows are best, the headline
metric's direction, the optimizers' order and colours, the curves' quantiles on each cost, the
end results paired with the reference's, external tuning's scores at each tuning budget) is
decided here, and a renderer looks nothing up. A caller adds sections of its own (``Section``,
such as the research summary's claims with their verdicts) without the core knowing what they
are; ``claims_view`` reads a claims-shaped section as one "claimed vs measured [95% CI]:
verdict" cell per claim, numbers to ``SHOWN_DIGITS`` significant digits, for a page a reader
scans.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from raybench.profile import Profile

TONES = ("good", "bad", "unsure")
"""How a verdict reads (the claim holds, fails, or is open); renderers may colour by it."""


@dataclasses.dataclass(frozen=True)
class Section:
    """A titled table of text with an optional paragraph before it."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    text: str = ""
    """Plain text shown before the table."""
    best: tuple[bool, ...] = ()
    """Per row: highlighted as best (empty: none is)."""
    verdict_columns: tuple[int, ...] = ()
    """Columns that hold verdicts."""
    tones: tuple[tuple[str, ...], ...] = ()
    """Per row and column: a verdict's tone (``TONES``) or "" (empty: none)."""

    def __post_init__(self) -> None:
        width = len(self.header)
        bad = [i for i, row in enumerate(self.rows) if len(row) != width]
        if bad:
            raise ValueError(f"section {self.title!r}: row {bad[0]} has {len(self.rows[bad[0]])} cells, "
                             f"the header {width}")
        unknown = {t for row in self.tones for t in row} - {"", *TONES}
        if unknown:
            raise ValueError(f"section {self.title!r}: unknown tone {sorted(unknown)[0]!r}; "
                             f"accepted: {', '.join(TONES)} or ''")

    def tone(self, row: int, column: int) -> str:
        if row < len(self.tones) and column < len(self.tones[row]):
            return self.tones[row][column]
        return ""


@dataclasses.dataclass(frozen=True)
class Band:
    """One optimizer's curve on one problem: quantiles over seeds at each step."""

    optimizer: str
    steps: np.ndarray
    low: np.ndarray
    """25th percentile."""
    median: np.ndarray
    high: np.ndarray
    """75th percentile."""
    grad_evals: np.ndarray | None = None
    """At each step, the median over seeds of the gradient evaluations spent (``None``: not
    recorded), so that the same band can be drawn against gradient evaluations."""
    seconds: np.ndarray | None = None
    """At each step, the median over seeds of the wall seconds (``None``: not recorded)."""


@dataclasses.dataclass(frozen=True)
class Curves:
    """One problem's curves: the metric drawn, over how many seeds, one band per optimizer."""

    problem: str
    metric: str
    """The curves column drawn (``val_suboptimality``, ``val_loss`` or ``train_loss``)."""
    seeds: int
    bands: tuple[Band, ...]


@dataclasses.dataclass(frozen=True)
class EndResults:
    """One problem's end results per seed, each paired with the reference optimizer's on the
    same seed (both runs ``ok``): what boxplots relative to the reference draw."""

    problem: str
    metric: str
    """The headline metric as the results table labels it (``test loss (lower is better)``)."""
    baseline: str
    """The reference optimizer."""
    values: Mapping[str, np.ndarray]
    """Per optimizer (the reference included): the headline metric of each ok run."""
    paired: Mapping[str, np.ndarray]
    """Per optimizer: ``(value, reference's value)`` of each seed both ran ok, shape (n, 2)."""


@dataclasses.dataclass(frozen=True)
class ProfilePanel:
    """A Dolan-Moré performance profile over (problem, seed) instances on one cost."""

    cost: str
    """``steps_to_target`` or ``grad_evals_to_target``."""
    instances: int
    """(problem, seed) instances every optimizer ran; 0: nothing to draw."""
    taus: np.ndarray
    fractions: Mapping[str, np.ndarray]
    """Per optimizer: the fraction of instances within a factor tau of the best, at each tau."""


@dataclasses.dataclass(frozen=True)
class TuningBudgets:
    """One problem's external tuning against the tuning budget K (``raybench.tuning_report``):
    per optimizer, at each K, the time to target and the chosen trial's validation score."""

    problem: str
    budgets: tuple[int, ...]
    """The tuning budgets K (trials per study), ascending."""
    score: Mapping[str, np.ndarray]
    """Per optimizer, at each K: time to target in steps (``inf``: not reached; ``nan``: no row)."""
    val_score: Mapping[str, np.ndarray]
    """Per optimizer, at each K: the chosen trial's validation score (lower is better)."""
    val_label: str
    """What ``val_score`` is, in words (an axis title)."""


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything ``raybench report`` shows of a results folder."""

    title: str
    source: str
    """The results folder it was built from."""
    version: str
    """The raybench version that built it."""
    created: str
    """When it was built (UTC)."""
    summary: str
    """Plain text, one paragraph a line."""
    results: Section
    """The results table as shown: one row per (problem, optimizer)."""
    scores: Section
    """The AlgoPerf scores as shown, with how they were computed."""
    table: pd.DataFrame
    """The results table's numbers (``report.csv``)."""
    score_table: pd.DataFrame
    """The scores' numbers (``scores.csv``)."""
    algoperf: Profile
    """The scored profile on steps to target, drawn as ``algoperf_profile.png``."""
    curves: tuple[Curves, ...] = ()
    profiles: tuple[ProfilePanel, ...] = ()
    colours: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Every optimizer's colour, the same in every plot."""
    sections: tuple[Section, ...] = ()
    """Extra sections from the caller, after the scores."""
    baseline: str = ""
    """The reference optimizer that speeds and paired differences are measured against."""
    ends: tuple[EndResults, ...] = ()
    """Per problem: the end results over seeds, paired with the reference's."""
    tuning_budgets: tuple[TuningBudgets, ...] = ()
    """Per problem: external tuning's score and end result against the tuning budget (where the
    folder holds two or more budgets), drawn beside the "Tuning budgets" section."""


# --- Numbers as a reader sees them ----------------------------------------------------------

SHOWN_DIGITS = 3
"""Significant digits a page shows of a measured number (the files keep every digit)."""

_DECIMAL = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\d.])")


def significant(x: float, digits: int = SHOWN_DIGITS) -> str:
    """``x`` to ``digits`` significant digits, without trailing zeros: ``36.93333`` -> ``36.9``,
    ``0.0529078`` -> ``0.0529``, ``1234.5`` -> ``1230``; very large or small in e-notation
    (``1.23e-05``); ``-`` for NaN."""
    if x is None or math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{exponent}"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    rounded = round(x, decimals)
    text = f"{rounded:.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def shorten_numbers(text: str, digits: int = SHOWN_DIGITS) -> str:
    """``text`` with every decimal number of more than ``digits`` significant digits shown to
    ``digits`` (``"36.93333333333334% [18.30174847277998, 55.6]"`` -> ``"36.9% [18.3, 55.6]"``);
    integers and numbers already short enough stay as written (``1.0x``)."""

    def short(match: re.Match[str]) -> str:
        written = match.group(0)
        mantissa = written.lower().split("e")[0].lstrip("+-").replace(".", "").lstrip("0")
        return written if len(mantissa) <= digits else significant(float(written), digits)

    return _DECIMAL.sub(short, text)


# --- A claims table, one cell per claim -----------------------------------------------------

CLAIM_CELL = "claimed vs measured [95% CI]: verdict"
CLAIM_VS_CELL = "against the reference: claimed; measured difference [95% CI]: verdict"


def _get(cells: Mapping[str, str], name: str) -> str:
    return cells.get(name, "-") or "-"


def _number(cell: str) -> float:
    try:
        return float(cell)
    except (TypeError, ValueError):
        return math.nan


def claims_view(sec: Section) -> Section | None:
    """A claims table (a section with ``claimed`` and ``verdict`` columns and the measured
    ``estimate`` beside them, as ``raybench.reproduce`` writes ``claims.csv``) as one readable
    row per claim: what and where, "claimed vs measured [95% CI]: verdict" and, where the claim
    is about the reference optimizer, the same for the paired difference; every number to
    ``SHOWN_DIGITS`` significant digits, verdicts toned as in ``sec``. ``None`` for any other
    section."""
    col = {name: j for j, name in enumerate(sec.header)}
    if not {"claimed", "verdict", "estimate"} <= set(col):
        return None
    where = [c for c in ("method", "column", "problem") if c in col]
    vs = "vs_adam" in col
    header = (*where, CLAIM_CELL, *((CLAIM_VS_CELL,) if vs else ()))
    rows, tones = [], []
    for i, row in enumerate(sec.rows):
        cell = {name: row[j].strip() for name, j in col.items()}
        get = functools.partial(_get, cell)
        shown = [get(c) for c in where]
        if "problem" in cell and get("dataset") not in ("-", get("problem")):
            shown[where.index("problem")] += f" ({get('dataset')})"
        claim = shorten_numbers(get("claimed"))
        verdict = get("verdict")
        if verdict.startswith("not run"):
            text = f"{claim}: {verdict}"
        else:
            text = f"{claim} vs {_measured(get)}: {verdict}"
        out, tone = [*shown, text], [*[""] * len(shown), sec.tone(i, col["verdict"])]
        if vs:
            out.append(_versus(get))
            tone.append(sec.tone(i, col["vs_adam_verdict"]) if "vs_adam_verdict" in col else "")
        rows.append(tuple(shorten_numbers(c) for c in out))
        tones.append(tuple(tone))
    verdicts = tuple(range(len(where), len(header)))
    text = (f"Claimed (as written) vs measured with its 95% confidence interval and the verdict; numbers to "
            f"{SHOWN_DIGITS} significant digits ({sec.title.lower()}.csv keeps every digit).")
    return Section(sec.title, header, tuple(rows), text=text, verdict_columns=verdicts, tones=tuple(tones))


def _measured(get: Callable[[str], str]) -> str:
    """The measured side of a claim: estimate [low, high] in the claim's kind, with its seeds."""
    est, lo, hi = (_number(get(c)) for c in ("estimate", "ci_low", "ci_high"))
    unit = {"percent": "%", "ratio": "x"}.get(get("kind"), "")
    ci = f" [{significant(lo)}, {significant(hi)}]" if not (math.isnan(lo) and math.isnan(hi)) else ""
    if get("kind") == "category" and get("measured_category") != "-":
        value = f"{get('measured_category')} (median f - f* {significant(est)})"
    else:
        value = f"{significant(est)}{unit if not math.isnan(est) else ''}{ci}"
    n = _number(get("n"))
    counts = [f"n={int(n)}"] if not math.isnan(n) else []
    missed = _number(get("both_missed"))
    if not math.isnan(missed) and missed:
        counts.append(f"{int(missed)} both missed")
    return value + (f" ({', '.join(counts)})" if counts else "")


def _versus(get: Callable[[str], str]) -> str:
    """The claim against the reference optimizer: claimed vs paired difference [CI]: verdict."""
    claimed = get("vs_adam_claimed") if get("vs_adam_claimed") != "-" else get("vs_adam")
    verdict = get("vs_adam_verdict")
    if claimed == "-" and verdict == "-":
        return "-"
    holm = get("vs_adam_holm")
    if holm not in ("-", verdict):
        verdict += f" (Holm: {holm})"
    diff, lo, hi = (_number(get(c)) for c in ("diff_vs_adam", "diff_ci_low", "diff_ci_high"))
    if verdict.startswith("not run") or get("kind") == "ratio" or math.isnan(diff):
        return f"{claimed}: {verdict}"
    ci = f" [{significant(lo)}, {significant(hi)}]" if not (math.isnan(lo) and math.isnan(hi)) else ""
    paired = _number(get("paired"))
    n = f" (n={int(paired)})" if not math.isnan(paired) else ""
    return f"{claimed}; measured difference {significant(diff)}{ci}{n}: {verdict}"
