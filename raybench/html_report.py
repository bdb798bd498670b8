"""The report as one self-contained web page: ``index.html`` beside ``report.md``.

The page holds what ``raybench report`` writes, in one file that opens offline and can be
mailed or attached as is: the results table (the same cells as ``report.md``,
``raybench.report.cells``), the AlgoPerf scores (``raybench.profile``), every plot embedded
as a ``data:image/png;base64`` image, and, where the folder holds claims checked against the
research summary (``claims.csv``, else a ``claims`` results table), those claims with their
verdicts. No scripts, no external files, no network: inline CSS only. Every text is escaped.

``raybench.report.make_report`` calls ``write_html`` after writing the plots; it can also be
called on its own with a table from ``raybench.report.table``.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from raybench import __version__, profile, report, results

TITLE = "raybench report"

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1.5em; color: #222; }
h1 { margin-bottom: 0.2em; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0 1.6em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.best td { font-weight: 600; background: #f3f8ff; }
td.verdict { font-weight: 600; }
td.verdict-good { background: #e3f4e3; color: #17602a; }
td.verdict-bad { background: #fbe5e5; color: #8a1c1c; }
td.verdict-unsure { background: #fdf3dc; color: #7a5a00; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 12px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], *, row_classes: Sequence[str] = (),
           cell_classes: Sequence[Sequence[str]] = ()) -> str:
    """An HTML table of escaped text; ``row_classes`` / ``cell_classes`` (parallel to ``rows``)
    name CSS classes."""
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) else ""
        tds = []
        for j, cell in enumerate(row):
            ccls = cell_classes[i][j] if i < len(cell_classes) and j < len(cell_classes[i]) else ""
            tds.append(f'<td class="{_e(ccls)}">{_e(cell)}</td>' if ccls else f"<td>{_e(cell)}</td>")
        out.append((f'<tr class="{_e(cls)}">' if cls else "<tr>") + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _results_section(tbl: pd.DataFrame, baseline: str) -> str:
    header, rows = report.cells(tbl, baseline=baseline)
    best = ["best" if b else "" for b in tbl["best"]] if "best" in tbl else []
    return "<h2>Results</h2>\n" + _table(header, rows, row_classes=best)


def _scores_section(prof: profile.Profile, also: profile.Profile | None) -> str:
    """The AlgoPerf score table of ``profile.markdown``, with its rule and exclusions."""
    n = int(prof.scores["problems"].max()) if len(prof.scores) else 0
    words = prof.cost.removesuffix("_to_target").replace("_", " ")
    rule = f"Score: {prof.rule}; {n} problems."
    if prof.excluded:
        rule += f" Excluded (no optimizer reached the target): {', '.join(prof.excluded)}."
    header = ["optimizer", f"score on {words}", f"problems within {prof.tau_max:g}x of the fastest",
              "problems reached"]
    extra: dict[str, float] = {}
    if also is not None:
        header.append(f"score on {also.cost.removesuffix('_to_target').replace('_', ' ')}")
        extra = dict(zip(also.scores["optimizer"], also.scores["score"], strict=True))
    rows = []
    for r in prof.scores.itertuples(index=False):
        row = [r.optimizer, f"{r.score:.3f}", f"{r.within_tau_max}/{r.problems}", f"{r.reached}/{r.problems}"]
        if also is not None:
            row.append(f"{extra[r.optimizer]:.3f}" if r.optimizer in extra else "-")
        rows.append(row)
    return f"<h2>AlgoPerf scores</h2>\n<p>{_e(rule)}</p>\n" + _table(header, rows)


def _tone(verdict: str) -> str:
    """How a verdict reads: ``raybench.claims`` owns the vocabulary; this only colours it."""
    from raybench import claims

    return claims.tone(verdict.strip())


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(value)


def read_claims(folder: Path, source: str | None = None) -> pd.DataFrame | None:
    """The claims table of a report: ``claims.csv`` in ``folder`` (or in the local results
    folder ``source``), else the ``claims`` results table of ``source``; ``None`` if there is none.
    Read as plain data, whatever its columns."""
    local = Path(source.removeprefix("file://")) if source and "://" not in source.removeprefix("file://") else None
    for path in (folder / "claims.csv", *([local / "claims.csv"] if local else [])):
        if path.is_file():
            return pd.read_csv(path)
    if source is not None:
        claims = results.read_table(source, "claims")
        if not claims.empty:
            return claims
    return None


def _claims_section(claims: pd.DataFrame) -> str:
    header = [str(c) for c in claims.columns]
    verdict_cols = [i for i, c in enumerate(header) if c.lower() == "verdict"]
    rows, classes = [], []
    for values in claims.itertuples(index=False):
        row = [_cell_text(v) for v in values]
        cls = [""] * len(row)
        for i in verdict_cols:
            tone = _tone(row[i])
            cls[i] = f"verdict verdict-{tone}" if tone else "verdict"
        rows.append(row)
        classes.append(cls)
    return "<h2>Claims</h2>\n" + _table(header, rows, cell_classes=classes)


def _plots_section(plots: Sequence[Path]) -> str:
    if not plots:
        return ""
    figs = []
    for path in plots:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        name = Path(path).name
        figs.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_e(name)}">'
                    f"<figcaption>{_e(name)}</figcaption></figure>")
    return "<h2>Plots</h2>\n" + "\n".join(figs)


def write_html(folder: str | Path, *, table: pd.DataFrame, baseline: str = report.BASELINE, summary: str = "",
               profiles: tuple[profile.Profile, profile.Profile | None] | None = None,
               plots: Sequence[Path] = (), source: str | None = None) -> Path:
    """Write ``folder/index.html``: ``table`` (from ``raybench.report.table``), the AlgoPerf
    scores of ``profiles`` (steps, and optionally a second cost), ``plots`` embedded, the claims
    if the folder holds any (``read_claims``), and ``summary`` (plain text, one paragraph a line)
    under the title; ``source`` is the results folder it was made from. Returns the path."""
    folder = Path(folder)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    where = source if source is not None else str(folder)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(TITLE)}: {_e(where)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        f"<h1>{_e(TITLE)}</h1>",
        f'<p class="meta">{_e(where)} &middot; generated {_e(when)} &middot; raybench {_e(__version__)}</p>',
        *(f"<p>{_e(line)}</p>" for line in summary.splitlines() if line.strip()),
        _results_section(table, baseline),
    ]
    if profiles is not None:
        parts.append(_scores_section(*profiles))
    claims = read_claims(folder, source)
    if claims is not None:
        parts.append(_claims_section(claims))
    parts += [_plots_section(plots), "</body></html>\n"]
    path = folder / "index.html"
    tmp = folder / ".index.html.tmp"
    tmp.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    tmp.replace(path)
    return path
