"""The report as one self-contained, interactive web page: ``index.html`` beside ``report.md``.

The page holds what ``raybench report`` writes, in one file that opens offline and can be
mailed or attached as is: plotly's script and the report's data are inlined, nothing is
fetched. It shows

- the results table (the same cells as ``report.md``), sortable by a click on a header and
  filtered by problem and optimizer;
- the AlgoPerf scores and the scored profile, and the Dolan-Moré profiles on each cost;
- per problem, the curves: median over seeds with the interquartile band per optimizer, the
  x-axis switchable between steps, gradient evaluations and wall seconds (those the curves
  table recorded), optimizers toggled from each legend or for every plot at once;
- per problem, the end results over seeds as boxplots relative to the reference optimizer
  (paired difference, ratio) or as they are;
- where external tuning was scored at several tuning budgets, per problem, each optimizer's
  time to target and chosen validation score against the tuning budget;
- the sections the caller added (and the report's own tuning sections); a claims table (``report_model.claims_view``) as "claimed
  vs measured [95% CI]: verdict" with every column behind it, numbers to 3 significant digits.

Tables wrap or scroll inside their own box, so a laptop's window never scrolls sideways.
Curves are thinned to ``MAX_POINTS`` evaluations each (fewer when there are so many that
together they would pass ``CURVE_POINTS``) and numbers kept to ``DATA_DIGITS`` significant
digits, so that the page of a folder of thousands of runs stays a few MB beside plotly's script (``benchmarks/report_page_size.py`` measures it). Every text is escaped: in
the markup here, and for plotly (which reads ``<i>`` in a name as markup) in the script.

Renders a ``raybench.report_model.Report`` and nothing else; ``raybench.report.make_report``
calls ``write_html``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raybench.report_model import Report, Section, claims_view, shorten_numbers

MAX_POINTS = 150
"""Evaluations drawn per curve at most: evenly spaced over the run, first and last kept."""
CURVE_POINTS = 60_000
"""Evaluations drawn over all curves of the page at most (each about 40 bytes of data on its
three x-axes): with many curves each gets fewer points, ``MIN_POINTS`` at the least."""
MIN_POINTS = 25
DATA_DIGITS = 4
"""Significant digits of the numbers the plots draw (the files keep every digit)."""

CSS = """
*, *::before, *::after { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto;
       max-width: 1400px; padding: 0 1.5em; color: #222; }
h1 { margin-bottom: 0.2em; }
h3 { margin: 1.2em 0 0.2em; font-size: 15px; }
.meta { color: #666; margin-top: 0; }
.box { max-width: 100%; overflow-x: auto; margin: 0.8em 0 1.6em; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f2f2f2; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
tr.best td { font-weight: 600; background: #f3f8ff; }
td.verdict { font-weight: 600; }
td.verdict-good { background: #e3f4e3; color: #17602a; }
td.verdict-bad { background: #fbe5e5; color: #8a1c1c; }
td.verdict-unsure { background: #fdf3dc; color: #7a5a00; }
.controls { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; align-items: center; margin: 0.5em 0; }
.controls label { white-space: nowrap; }
.toggles label { margin-right: 0.2em; }
.plot { width: 100%; height: 420px; }
.plot-pair { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0 1em; }
@media (max-width: 900px) { .plot-pair { grid-template-columns: minmax(0, 1fr); } }
.note { color: #555; font-size: 12px; }
details { margin: 0 0 1.6em; }
summary { cursor: pointer; color: #444; }
"""

APP_JS = r"""
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('report-data').textContent);
  const CONFIG = {responsive: true, displaylogo: false};
  // plotly reads <i>, <b>, <br> in a text as markup: a name is escaped to show as written.
  const esc = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const colour = o => D.colours[o] || '#444';
  const rgba = (hex, a) => {
    const n = parseInt(hex.slice(1), 16);
    return 'rgba(' + [(n >> 16) & 255, (n >> 8) & 255, n & 255, a].join(',') + ')';
  };
  const hidden = new Set();  // optimizers switched off for every plot
  const graphs = [];         // every plot, for the optimizer toggles

  // --- the results table: sort by a header, filter by problem and optimizer ---------------
  function sortKey(text) {
    const t = text.trim();
    if (/^-?inf\b/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
    const x = parseFloat(t);
    return Number.isNaN(x) ? null : x;
  }
  function compare(a, b) {
    const x = sortKey(a), y = sortKey(b);
    if (x !== null && y !== null) return x - y;
    if (x !== null) return -1;
    if (y !== null) return 1;
    return a.localeCompare(b);
  }
  document.querySelectorAll('table.sortable').forEach(table => {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach((th, col) => {
      th.title = 'sort by ' + th.textContent;
      th.addEventListener('click', () => {
        const dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
        heads.forEach(h => h.removeAttribute('aria-sort'));
        th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((r, s) => dir * compare(r.cells[col].textContent, s.cells[col].textContent));
        rows.forEach(r => body.appendChild(r));
      });
    });
  });
  const results = document.getElementById('results-table');
  const count = document.getElementById('results-count');
  function filterRows() {
    const p = document.getElementById('filter-problem').value;
    const o = document.getElementById('filter-optimizer').value;
    let shown = 0;
    Array.from(results.tBodies[0].rows).forEach(r => {
      const keep = (p === '' || r.cells[0].textContent === p) && (o === '' || r.cells[1].textContent === o);
      r.hidden = !keep;
      shown += keep;
    });
    count.textContent = shown + ' of ' + results.tBodies[0].rows.length + ' rows';
  }
  if (results) {
    document.getElementById('filter-problem').addEventListener('change', filterRows);
    document.getElementById('filter-optimizer').addEventListener('change', filterRows);
    filterRows();
  }

  // --- plots ----------------------------------------------------------------------------
  function layout(title, xtitle, ytitle, extra) {
    return Object.assign({
      title: {text: esc(title), font: {size: 14}},
      margin: {l: 60, r: 10, t: 40, b: 50},
      xaxis: {title: {text: xtitle}}, yaxis: {title: {text: ytitle}},
      legend: {orientation: 'v'}, hovermode: 'closest'}, extra || {});
  }
  function draw(div, traces, lay) {
    traces.forEach(t => { if (hidden.has(t.legendgroup)) t.visible = 'legendonly'; });
    Plotly.newPlot(div, traces, lay, CONFIG);
    graphs.push(div);
  }
  function plotDiv(parent, id) {
    const div = document.createElement('div');
    div.className = 'plot';
    div.id = id;
    parent.appendChild(div);
    return div;
  }

  // Performance profiles: the AlgoPerf one (per problem, tau up to tau_max), Dolan-Moré ones.
  const profileBox = document.getElementById('profiles');
  if (profileBox && D.algoperf) {
    const a = D.algoperf;
    const traces = a.order.map(o => ({x: a.taus, y: a.rho[o], mode: 'lines', line: {shape: 'hv', width: 2, color: colour(o)},
                                      legendgroup: o, name: esc(o) + ' (' + a.scores[o].toFixed(3) + ')'}));
    draw(plotDiv(profileBox, 'algoperf-profile'), traces,
         layout('AlgoPerf performance profile over ' + a.problems + ' problems (legend: score)',
                'tau: within a factor tau of the fastest median ' + a.cost.replace(/_/g, ' '), 'fraction of problems',
                {xaxis: {title: {text: 'tau: within a factor tau of the fastest median ' + a.cost.replace(/_/g, ' ')},
                         range: [1, a.tau_max]}, yaxis: {title: {text: 'fraction of problems'}, range: [-0.02, 1.02]}}));
  }
  if (profileBox) {
    D.profiles.forEach((p, k) => {
      const words = p.cost.replace(/_/g, ' ');
      const traces = D.order.filter(o => o in p.fractions).map(o => ({x: p.taus, y: p.fractions[o], mode: 'lines',
        line: {shape: 'hv', width: 2, color: colour(o)}, legendgroup: o, name: esc(o)}));
      draw(plotDiv(profileBox, 'profile-' + k), traces,
           layout('Dolan-Moré profile on ' + words + ', ' + p.instances + ' (problem, seed) instances',
                  'tau: within a factor tau of the best ' + words, 'fraction of instances',
                  {xaxis: {title: {text: 'tau: within a factor tau of the best ' + words}, type: 'log'},
                   yaxis: {title: {text: 'fraction of instances'}, range: [-0.02, 1.02]}}));
    });
  }

  // Curves: median and interquartile band over seeds, on the chosen x-axis.
  const AXES = {step: 'step', grad_evals: 'gradient evaluations', seconds: 'wall seconds'};
  const curvesBox = document.getElementById('curves');
  const xSelect = document.getElementById('curves-x');
  function curveX(band, axis) { return band.x[axis] || band.x.step; }
  function curveAxis(c, axis) { return c.axes.includes(axis) ? axis : 'step'; }
  if (curvesBox) {
    D.curves.forEach((c, k) => {
      const div = plotDiv(curvesBox, 'curves-' + k);
      div.dataset.problem = c.problem;
      const axis = curveAxis(c, xSelect.value);
      const traces = [];
      c.bands.forEach(b => {
        const x = curveX(b, axis), col = colour(b.optimizer), g = b.optimizer;
        traces.push({x: x, y: b.low, mode: 'lines', line: {width: 0, color: col}, legendgroup: g,
                     showlegend: false, hoverinfo: 'skip', name: esc(g) + ' 25%'});
        traces.push({x: x, y: b.high, mode: 'lines', line: {width: 0, color: col}, fill: 'tonexty',
                     fillcolor: rgba(col, 0.2), legendgroup: g, showlegend: false, hoverinfo: 'skip',
                     name: esc(g) + ' 75%'});
        traces.push({x: x, y: b.median, mode: 'lines', line: {width: 2, color: col}, legendgroup: g,
                     name: esc(g)});
      });
      draw(div, traces, layout(c.problem + ': median and interquartile range over ' + c.seeds + ' seeds',
                               AXES[axis], c.metric.replace(/_/g, ' '),
                               {yaxis: {title: {text: c.metric.replace(/_/g, ' ')}, type: c.log ? 'log' : 'linear'}}));
    });
    xSelect.addEventListener('change', () => {
      D.curves.forEach((c, k) => {
        const div = document.getElementById('curves-' + k);
        const axis = curveAxis(c, xSelect.value);
        const xs = [];
        c.bands.forEach(b => { const x = curveX(b, axis); xs.push(x, x, x); });
        Plotly.update(div, {x: xs}, {'xaxis.title.text': AXES[axis], 'xaxis.autorange': true});
      });
    });
  }

  // End results: boxplots over seeds, relative to the reference optimizer or as they are.
  const endsBox = document.getElementById('ends');
  const endSelect = document.getElementById('ends-view');
  function endTraces(e, view) {
    return e.order.map(o => {
      let y;
      if (view === 'difference') y = (e.paired[o] || []).map(p => p[0] - p[1]);
      else if (view === 'ratio') y = (e.paired[o] || []).filter(p => p[0] > 0 && p[1] > 0).map(p => p[0] / p[1]);
      else y = e.values[o];
      return {type: 'box', y: y, name: esc(o), legendgroup: o, boxpoints: 'all', jitter: 0.3, pointpos: 0,
              marker: {color: colour(o), size: 5}, line: {color: colour(o)}};
    });
  }
  function endLayout(e, view) {
    const base = esc(e.baseline);
    const words = {difference: 'minus ' + base + "'s on the same seed", ratio: 'over ' + base + "'s on the same seed",
                   absolute: 'per seed'}[view];
    const line = view === 'absolute' ? [] :
      [{type: 'line', xref: 'paper', x0: 0, x1: 1, y0: view === 'ratio' ? 1 : 0, y1: view === 'ratio' ? 1 : 0,
        line: {dash: 'dash', color: '#888', width: 1}}];
    return layout(e.problem + ': ' + e.metric, '', e.metric + ' ' + words,
                  {shapes: line, yaxis: {title: {text: esc(e.metric) + ', ' + words}, type: view === 'ratio' ? 'log' : 'linear'},
                   xaxis: {title: {text: ''}}, showlegend: false});
  }
  if (endsBox) {
    D.ends.forEach((e, k) => draw(plotDiv(endsBox, 'ends-' + k), endTraces(e, endSelect.value), endLayout(e, endSelect.value)));
    endSelect.addEventListener('change', () => D.ends.forEach((e, k) => {
      const div = document.getElementById('ends-' + k);
      // An optimizer hidden (from the legend or the toggles) stays hidden in the new view.
      const shown = {};
      div.data.forEach(t => { shown[t.legendgroup] = t.visible === undefined ? true : t.visible; });
      const traces = endTraces(e, endSelect.value);
      traces.forEach(t => { if (t.legendgroup in shown) t.visible = shown[t.legendgroup]; });
      Plotly.react(div, traces, endLayout(e, endSelect.value), CONFIG);
    }));
  }

  // Tuning budgets: per problem, time to target and the chosen trial's validation score against K.
  const tuningBox = document.getElementById('tuning-budgets');
  if (tuningBox) {
    D.tuning.forEach((t, k) => {
      const pair = document.createElement('div');
      pair.className = 'plot-pair';
      tuningBox.appendChild(pair);
      const panels = [['score', 'tuning-score-', t.problem + ': time to target (gap: not reached)',
                       'time to target (steps)'],
                      ['val', 'tuning-val-', t.problem + ': end result of the chosen trial', esc(t.val_label)]];
      // Both boxes first, so that each is drawn at its half of the row's width.
      const divs = panels.map(([, id]) => plotDiv(pair, id + k));
      panels.forEach(([key, , title, ytitle], j) => {
        const traces = t.order.map(o => ({x: t.budgets, y: t[key][o], mode: 'lines+markers', legendgroup: o,
                                          name: esc(o), line: {width: 2, color: colour(o)},
                                          marker: {size: 7, color: colour(o)}}));
        const xtitle = 'tuning budget K (trials per study)';
        draw(divs[j], traces,
             layout(title, xtitle, ytitle, {xaxis: {title: {text: xtitle}, tickmode: 'array', tickvals: t.budgets}}));
      });
    });
  }

  // Optimizers on or off in every plot at once (each legend also toggles its own plot).
  document.querySelectorAll('#optimizer-toggles input').forEach(box => {
    box.addEventListener('change', () => {
      const o = box.value;
      if (box.checked) hidden.delete(o); else hidden.add(o);
      graphs.forEach(div => {
        const idx = div.data.map((t, i) => (t.legendgroup === o ? i : -1)).filter(i => i >= 0);
        if (idx.length) Plotly.restyle(div, {visible: box.checked ? true : 'legendonly'}, idx);
      });
    });
  });
  window.raybenchReport = {graphs: graphs, data: D};
})();
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], *, row_classes: Sequence[str] = (),
           cell_classes: Sequence[Sequence[str]] = (), table_id: str = "", sortable: bool = False) -> str:
    """An HTML table of escaped text in a box that scrolls sideways when it must;
    ``row_classes`` / ``cell_classes`` (parallel to ``rows``) name CSS classes."""
    attrs = (f' id="{_e(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    out = ['<div class="box">', f"<table{attrs}>",
           "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) else ""
        tds = []
        for j, cell in enumerate(row):
            ccls = cell_classes[i][j] if i < len(cell_classes) and j < len(cell_classes[i]) else ""
            tds.append(f'<td class="{_e(ccls)}">{_e(cell)}</td>' if ccls else f"<td>{_e(cell)}</td>")
        out.append((f'<tr class="{_e(cls)}">' if cls else "<tr>") + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _cells(sec: Section) -> tuple[list[str], list[list[str]]]:
    """Per row: ``best`` or ""; per cell: the verdict classes of the section's verdict columns."""
    best = ["best" if b else "" for b in sec.best]
    classes = []
    for i, row in enumerate(sec.rows):
        cls = [""] * len(row)
        for j in sec.verdict_columns:
            tone = sec.tone(i, j)
            cls[j] = f"verdict verdict-{tone}" if tone else "verdict"
        classes.append(cls)
    return best, classes


def _section(sec: Section, *, table_id: str = "", sortable: bool = False, before: str = "") -> str:
    """A section: its title, its paragraph, ``before`` (controls), its table; best rows
    highlighted, verdict cells set apart and coloured by their tone."""
    best, classes = _cells(sec)
    text = f"<p>{_e(sec.text)}</p>\n" if sec.text else ""
    return (f"<h2>{_e(sec.title)}</h2>\n{text}{before}"
            + _table(sec.header, sec.rows, row_classes=best, cell_classes=classes, table_id=table_id,
                     sortable=sortable))


def _extra_section(sec: Section) -> str:
    """A caller's section; a claims table one readable row per claim, every column behind it."""
    view = claims_view(sec)
    if view is None:
        return _section(sec)
    full = Section(sec.title, sec.header, tuple(tuple(shorten_numbers(c) for c in row) for row in sec.rows),
                   verdict_columns=sec.verdict_columns, tones=sec.tones)
    best, classes = _cells(full)
    return (_section(view, sortable=True) + f"\n<details><summary>every column ({len(sec.header)})</summary>\n"
            + _table(full.header, full.rows, row_classes=best, cell_classes=classes) + "\n</details>")


def _select(select_id: str, label: str, options: Sequence[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(t)}</option>' for v, t in options)
    return f'<label>{_e(label)} <select id="{_e(select_id)}">{opts}</select></label>'


def _results(report: Report) -> str:
    rows = report.results.rows
    problems = sorted({r[0] for r in rows})
    optimizers = list(dict.fromkeys(r[1] for r in rows))
    controls = ('<div class="controls">'
                + _select("filter-problem", "problem", [("", "all"), *((p, p) for p in problems)])
                + _select("filter-optimizer", "optimizer", [("", "all"), *((o, o) for o in optimizers)])
                + '<span id="results-count" class="note"></span>'
                + '<span class="note">click a header to sort</span></div>\n')
    return _section(report.results, table_id="results-table", sortable=True, before=controls)


def _num(values: Any) -> list[float | None]:
    """Numbers for the page: ``DATA_DIGITS`` significant digits, ``None`` for NaN / inf."""
    out = []
    for v in np.asarray(values, dtype=float).ravel():
        out.append(float(f"{v:.{DATA_DIGITS}g}") if math.isfinite(v) else None)
    return out


def points_per_curve(curves: int) -> int:
    """How many evaluations each of ``curves`` curves keeps: ``MAX_POINTS``, fewer when the page
    holds so many curves that together they would pass ``CURVE_POINTS``."""
    return max(MIN_POINTS, min(MAX_POINTS, CURVE_POINTS // max(curves, 1)))


def _thin(n: int, most: int) -> np.ndarray:
    """Indices of at most ``most`` of ``n`` evaluations, evenly spaced, first and last kept."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def _data(report: Report) -> dict[str, Any]:
    """What the page's script draws, as plain JSON data."""
    curves = []
    most = points_per_curve(sum(len(c.bands) for c in report.curves))
    for c in report.curves:
        axes = ["step"] + [a for a in ("grad_evals", "seconds")
                           if c.bands and all(getattr(b, a) is not None for b in c.bands)]
        bands, positive = [], True
        for b in c.bands:
            keep = _thin(len(b.steps), most)
            positive &= all(bool((np.asarray(q, dtype=float)[np.isfinite(q)] > 0).all()) for q in (b.low, b.median, b.high))
            x = {"step": _num(np.asarray(b.steps)[keep])}
            for a in axes[1:]:
                x[a] = _num(np.asarray(getattr(b, a))[keep])
            bands.append({"optimizer": b.optimizer, "x": x, "low": _num(np.asarray(b.low)[keep]),
                          "median": _num(np.asarray(b.median)[keep]), "high": _num(np.asarray(b.high)[keep])})
        curves.append({"problem": c.problem, "metric": c.metric, "seeds": c.seeds, "axes": axes,
                       "log": bool(positive and bands), "bands": bands})
    prof = report.algoperf
    algoperf = None
    if not prof.scores.empty and int(prof.scores["problems"].max()):
        order = [str(o) for o in prof.scores["optimizer"]]
        algoperf = {"cost": prof.cost, "tau_max": prof.tau_max, "problems": int(prof.scores["problems"].max()),
                    "order": order, "taus": _num(prof.curves["tau"]),
                    "rho": {o: _num(prof.curves[o]) for o in order},
                    "scores": {str(r.optimizer): float(r.score) for r in prof.scores.itertuples(index=False)}}
    profiles = [{"cost": p.cost, "instances": p.instances, "taus": _num(p.taus),
                 "fractions": {o: _num(y) for o, y in p.fractions.items()}}
                for p in report.profiles if p.instances]
    ends = [{"problem": e.problem, "metric": e.metric, "baseline": e.baseline, "order": list(e.values),
             "values": {o: _num(v) for o, v in e.values.items()},
             "paired": {o: [_num(pair) for pair in np.asarray(v, dtype=float).reshape(-1, 2)] for o, v in e.paired.items()}}
            for e in report.ends]
    tuning = [{"problem": t.problem, "budgets": list(t.budgets), "order": list(t.score), "val_label": t.val_label,
               "score": {o: _num(v) for o, v in t.score.items()}, "val": {o: _num(v) for o, v in t.val_score.items()}}
              for t in report.tuning_budgets]
    order = list(dict.fromkeys([*(r[1] for r in report.results.rows), *report.colours]))
    return {"baseline": report.baseline, "colours": dict(report.colours), "order": order, "points": most, "curves": curves,
            "algoperf": algoperf, "profiles": profiles, "ends": ends, "tuning": tuning}


def _json_script(data: dict[str, Any]) -> str:
    """``data`` as JSON inside a ``<script type="application/json">``: ``<``, ``>`` and ``&``
    escaped so that no text in it (an optimizer named ``</script>``) can end the element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="report-data" type="application/json">{text}</script>'


def _plots(report: Report, data: dict[str, Any]) -> str:
    """The plots' sections: each a heading, its controls and an empty box the script fills."""
    optimizers = data["order"]
    toggles = ('<div class="controls toggles" id="optimizer-toggles"><span>optimizers in every plot:</span>'
               + "".join(f'<label><input type="checkbox" value="{_e(o)}" checked> '
                         f'<span style="color:{_e(report.colours.get(o, "#444"))}">&#9632;</span> {_e(o)}</label>'
                         for o in optimizers)
               + '<span class="note">(a click on a legend entry toggles it in that plot)</span></div>')
    parts = [toggles]
    if data["algoperf"] or data["profiles"]:
        parts.append('<h2>Performance profiles</h2>\n<div id="profiles"></div>')
    if data["curves"]:
        axes = list(dict.fromkeys(a for c in data["curves"] for a in c["axes"]))
        words = {"step": "steps", "grad_evals": "gradient evaluations", "seconds": "wall seconds"}
        parts.append("<h2>Curves</h2>\n<div class=\"controls\">"
                     + _select("curves-x", "x-axis", [(a, words[a]) for a in axes])
                     + f'<span class="note">each curve thinned to at most {data["points"]} evaluations; '
                       "x of gradient evaluations and seconds: median over seeds at each step</span></div>\n"
                       '<div id="curves"></div>')
    if data["ends"]:
        base = report.baseline
        parts.append("<h2>End results over seeds</h2>\n<div class=\"controls\">"
                     + _select("ends-view", "show", [("difference", f"difference from {base} (same seed)"),
                                                     ("ratio", f"ratio to {base} (same seed)"),
                                                     ("absolute", "as measured")])
                     + "</div>\n<div id=\"ends\"></div>")
    if data["tuning"]:
        parts.append("<h2>Score and end result against the tuning budget</h2>\n<p class=\"note\">External tuning "
                     "scored at each tuning budget K from the same trials (the Tuning budgets table); a gap in time "
                     "to target: not reached at that K.</p>\n<div id=\"tuning-budgets\"></div>")
    return "\n".join(parts)


def page(report: Report) -> str:
    """The whole page as text."""
    from plotly.offline import get_plotlyjs

    data = _data(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)}: {_e(report.source)}</title>",
        f"<style>{CSS}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="meta">{_e(report.source)} &middot; generated {_e(report.created)} &middot; '
        f"raybench {_e(report.version)}</p>",
        *(f"<p>{_e(line)}</p>" for line in report.summary.splitlines() if line.strip()),
        _results(report),
        _section(report.scores, sortable=True),
        *(_extra_section(sec) for sec in report.sections),
        _plots(report, data),
        _json_script(data),
        f"<script>{APP_JS}</script>",
        "</body></html>\n",
    ]
    return "\n".join(p for p in parts if p)


def write_html(folder: str | Path, report: Report) -> Path:
    """Write ``folder/index.html`` (``page``), whole and then renamed. Returns the path."""
    folder = Path(folder)
    path = folder / "index.html"
    tmp = folder / ".index.html.tmp"
    tmp.write_text(page(report), encoding="utf-8")
    tmp.replace(path)
    return path
