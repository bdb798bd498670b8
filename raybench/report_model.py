"""The report as data: what ``raybench report`` shows, built once from a results folder.

``raybench.report.build`` makes a ``Report`` from the runs and curves tables; the renderers
(``report_markdown``, ``report_csv``, ``report_png``, ``html_report``) only lay it out. So
everything a renderer needs (the tables' cells as text, which rows are best, the headline
metric's direction, the optimizers' order and colours, the curves' quantiles) is decided here,
and a renderer looks nothing up. A caller adds sections of its own (``Section``, such as the
research summary's claims with their verdicts) without the core knowing what they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

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


@dataclasses.dataclass(frozen=True)
class Curves:
    """One problem's curves: the metric drawn, over how many seeds, one band per optimizer."""

    problem: str
    metric: str
    """The curves column drawn (``val_suboptimality``, ``val_loss`` or ``train_loss``)."""
    seeds: int
    bands: tuple[Band, ...]


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
