"""The report as Markdown: ``report.md`` and the tables ``raybench report`` prints.

Renders a ``raybench.report_model.Report`` and nothing else: the cells are the model's.
"""

from __future__ import annotations

from raybench.report_model import Report, Section


def table(section: Section) -> str:
    """A section's table as a Markdown table (cells as they are)."""
    lines = ["| " + " | ".join(section.header) + " |", "|" + "---|" * len(section.header)]
    lines += ["| " + " | ".join(row) + " |" for row in section.rows]
    return "\n".join(lines) + "\n"


def section(sec: Section, *, heading: bool = True) -> str:
    """A section: its title as a heading, its paragraph, its table."""
    head = f"## {sec.title}\n\n" if heading else ""
    text = f"{sec.text}\n\n" if sec.text else ""
    return head + text + table(sec)


def tables(report: Report) -> str:
    """The results table, then the AlgoPerf scores with how they were computed."""
    return section(report.results, heading=False) + "\n" + section(report.scores, heading=False)


def markdown(report: Report) -> str:
    """``report.md``: title, summary, the results and scores tables, then the extra sections."""
    extra = "".join("\n" + section(s) for s in report.sections)
    return f"# {report.title}\n\n{report.summary}\n\n" + tables(report) + extra
