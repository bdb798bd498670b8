"""The report as one self-contained web page: ``index.html`` beside ``report.md``.

The page holds what ``raybench report`` writes, in one file that opens offline and can be
mailed or attached as is: the results table (the same cells as ``report.md``), the AlgoPerf
scores, the sections the caller added (such as the research summary's claims with their
verdicts, coloured by how each reads), and every plot embedded as a
``data:image/png;base64`` image. No scripts, no external files, no network: inline CSS only.
Every text is escaped.

Renders a ``raybench.report_model.Report`` and nothing else; ``raybench.report.make_report``
calls ``write_html`` after writing the plots.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from raybench.report_model import Report, Section

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


def _section(sec: Section) -> str:
    """A section: its title, its paragraph, its table; best rows highlighted, verdict cells set
    apart and coloured by their tone."""
    best = ["best" if b else "" for b in sec.best]
    classes = []
    for i, row in enumerate(sec.rows):
        cls = [""] * len(row)
        for j in sec.verdict_columns:
            tone = sec.tone(i, j)
            cls[j] = f"verdict verdict-{tone}" if tone else "verdict"
        classes.append(cls)
    text = f"<p>{_e(sec.text)}</p>\n" if sec.text else ""
    return f"<h2>{_e(sec.title)}</h2>\n{text}" + _table(sec.header, sec.rows, row_classes=best, cell_classes=classes)


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


def write_html(folder: str | Path, report: Report, *, plots: Sequence[Path] = ()) -> Path:
    """Write ``folder/index.html``: ``report``'s title, summary, results, scores and extra
    sections, and ``plots`` (the PNGs written for it) embedded. Returns the path."""
    folder = Path(folder)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)}: {_e(report.source)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="meta">{_e(report.source)} &middot; generated {_e(report.created)} &middot; '
        f"raybench {_e(report.version)}</p>",
        *(f"<p>{_e(line)}</p>" for line in report.summary.splitlines() if line.strip()),
        *(_section(sec) for sec in (report.results, report.scores, *report.sections)),
        _plots_section(plots),
        "</body></html>\n",
    ]
    path = folder / "index.html"
    tmp = folder / ".index.html.tmp"
    tmp.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    tmp.replace(path)
    return path
