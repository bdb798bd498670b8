"""The report's numbers as CSV: ``report.csv`` (one row per problem and optimizer) and
``scores.csv`` (the AlgoPerf scores). Renders a ``raybench.report_model.Report``."""

from __future__ import annotations

from pathlib import Path

from raybench.report_model import Report


def write_csv(report: Report, folder: Path) -> tuple[Path, Path]:
    """Write ``report.csv`` and ``scores.csv`` into ``folder``; their paths."""
    table, scores = folder / "report.csv", folder / "scores.csv"
    report.table.to_csv(table, index=False)
    report.score_table.to_csv(scores, index=False)
    return table, scores
