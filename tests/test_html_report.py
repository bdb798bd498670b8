"""``index.html`` of ``raybench report``, opened in a real headless browser (Debian's Chromium
through Selenium and chromedriver) in a laptop's 1,366-pixel-wide window: the title, the results
table row for row as ``report.md`` has it, sorted by a click on a header and filtered by problem
and optimizer; the AlgoPerf scores and profiles; the curves, an optimizer hidden from a legend
and from the page's own toggles, the x-axis switched; the boxplots against the reference; the
claims (a section that ``raybench.reproduce`` provides through the ``raybench.report_sections``
entry points) as "claimed vs measured [95% CI]: verdict" with no number past 3 significant
digits; no console errors, nothing loaded from outside the file, no sideways scrolling.

The results folder is made by hand (``raybench.results.write``, no Ray, no training), with an
optimizer whose name is markup, so that escaping is checked where it matters: in the page the
browser builds. ``make test`` installs Chromium and chromedriver when they are missing.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pandas as pd
import pytest

from raybench import report, results
from raybench.reproduce import claims
from tests.conftest import BROWSER_WIDTH, raybench

PROBLEMS = ("bowl", "valley")
# A user's optimizer may be named anything: this one is markup that must show as text.
ODD = "my<i>opt</i>&co"
OPTIMIZERS = ("adam", "sgd", ODD)
SEEDS = (0, 1)
PLOTS = ("curves_bowl.png", "curves_valley.png", "performance_profile.png", "algoperf_profile.png")
WIDTH = BROWSER_WIDTH
"""A laptop's window: the page must not scroll sideways in it."""
NAN = float("nan")
# Claims as claims.csv holds them (raw floats, counts read back as floats), one of each kind.
CLAIMS = pd.DataFrame({
    "method": ["multi_init_16", "autonomous", "adam"],
    "column": ["Convergence Speed", "CIFAR-100 <tiny>", "Quadratic"],
    "problem": ["bowl", "valley", "bowl"],
    "kind": ["ratio", "percent", "category"],
    "claimed": ["1.143x", "74.1%", "Optimal"],
    "claimed_value": [1.143, 74.1, NAN],
    "estimate": [0.9866666666666667, 36.93333333333334, NAN],
    "ci_low": [0.9123456789, 18.30174847277998, NAN],
    "ci_high": [1.0456789012, 55.5649181938867, NAN],
    "n": [8.0, 3.0, NAN],
    "verdict": ["contradicted", "direction holds", "not run: no CIFAR-100 files in the data folder"],
    "vs_adam": [NAN, "better", NAN],
    "vs_adam_claimed": [NAN, "74.1% accuracy, +1.8% over Adam", NAN],
    "diff_vs_adam": [NAN, -32.400000000000006, NAN],
    "diff_ci_low": [NAN, -48.33724874110748, NAN],
    "diff_ci_high": [NAN, -16.462751258892517, NAN],
    "paired": [NAN, 3.0, NAN],
    "vs_adam_verdict": [NAN, "direction contradicted", NAN]})
CLAIM_CELLS = ["1.14x vs 0.987x [0.912, 1.05] (n=8): contradicted",
               "74.1% vs 36.9% [18.3, 55.6] (n=3): direction holds",
               "Optimal: not run: no CIFAR-100 files in the data folder"]


def make_folder(out: Path) -> Path:
    """Runs of every optimizer on every problem and seed, with curves: adam reaches the target
    at 100 steps, sgd at 200, ODD at 150 on bowl and never on valley."""
    results.init(str(out))
    steps = {"adam": 100.0, "sgd": 200.0, ODD: 150.0}
    runs, curves = [], []
    for p, problem in enumerate(PROBLEMS):
        for o, opt in enumerate(OPTIMIZERS):
            for seed in SEEDS:
                run_id = f"{problem}-{o}-{seed}"
                to_target = float("inf") if (problem, opt) == ("valley", ODD) else steps[opt] + 10 * seed
                runs.append({"run_id": run_id, "problem": problem, "optimizer": opt, "seed": seed,
                             "status": "ok", "steps": 300, "grad_evals": 300, "wall_seconds": 1.0 + o,
                             "test_loss": 0.1 * (o + 1) + 0.01 * seed + p, "converged": to_target < 1e9,
                             "steps_to_target": to_target, "grad_evals_to_target": to_target,
                             "metric_modes": json.dumps({"loss": "min"}), "hparam_source": "default"})
                curves += [{"run_id": run_id, "step": s, "grad_evals": s * (o + 1), "wall_seconds": s / 100,
                            "train_loss": 1.0 / (1 + s * (o + 1)), "val_loss": 1.0 / (1 + s * (o + 1)) + 0.01 * seed}
                           for s in (0, 100, 200, 300)]
    results.write_runs(str(out), runs, curves)
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def md_rows(md: str, first_header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header starts with ``| first_header |``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Path, list[str]]:
    """A folder, its claims, and ``raybench report`` on it (the real CLI); the plot paths it printed."""
    folder = make_folder(tmp_path_factory.mktemp("html") / "results")
    CLAIMS.to_csv(folder / "claims.csv", index=False)
    proc = raybench("report", str(folder), check=True)
    assert f"html:  {folder / 'index.html'}" in proc.stdout
    plots = [line.split(None, 1)[1] for line in proc.stdout.splitlines() if line.startswith("plot:")]
    return folder, plots


# One round trip: every table as {heading, header, rows of cell texts, row and cell classes}.
TABLES_JS = """
return Array.from(document.querySelectorAll('table')).map(t => {
  let h = t.previousElementSibling; while (h && h.tagName !== 'H2') h = h.previousElementSibling;
  return {heading: h ? h.textContent : null,
          header: Array.from(t.querySelectorAll('thead th')).map(c => c.textContent),
          rows: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent)),
          rowClasses: Array.from(t.querySelectorAll('tbody tr')).map(r => r.className),
          cellClasses: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.className))};
});
"""
IMAGES_JS = """
return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                             height: i.naturalHeight, scheme: i.src.split(':')[0]}));
"""


# One round trip: every table as {heading, header, rows of cell texts, row and cell classes}.
TABLES_JS = """
return Array.from(document.querySelectorAll('table')).map(t => {
  let h = t.closest('.box'); while (h && h.tagName !== 'H2') h = h.previousElementSibling || h.parentElement;
  return {heading: h ? h.textContent : null, id: t.id,
          header: Array.from(t.querySelectorAll('thead th')).map(c => c.textContent),
          rows: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent)),
          rowClasses: Array.from(t.querySelectorAll('tbody tr')).map(r => r.className),
          cellClasses: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.className))};
});
"""
SHOWN_ROWS_JS = """
return Array.from(document.querySelectorAll('#results-table tbody tr')).filter(r => !r.hidden && r.offsetParent)
  .map(r => [r.cells[0].textContent, r.cells[1].textContent, r.cells[4].textContent]);
"""
# Per trace of a plot: its optimizer, whether it is drawn, its x values; the x-axis title shown.
PLOT_JS = """
const div = document.getElementById(arguments[0]);
const title = div.querySelector('.g-xtitle');
return {traces: div.data.map(t => ({group: t.legendgroup, name: t.name, visible: t.visible === undefined ? true : t.visible,
                                    x: Array.from(t.x || [])})),
        xtitle: title ? title.textContent : null, ytype: div._fullLayout.yaxis.type,
        legend: Array.from(div.querySelectorAll('.legend .traces .legendtext')).map(e => e.textContent),
        drawn: div.querySelectorAll('.scatterlayer .trace').length};
"""


def open_page(browser, folder: Path) -> None:
    browser.get((folder / "index.html").as_uri())
    browser.get_log("browser")  # a fresh log for each test


def no_console_errors(browser) -> None:
    severe = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert severe == []


def significant_digits(number: str) -> int:
    """How many significant digits a number is written with (``0.0529``: 3, ``1230``: 3)."""
    mantissa = re.split("[eE]", number.lstrip("+-"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits if "." in mantissa else digits.rstrip("0")) or 1


def test_the_page_loads_nothing_from_outside(reported) -> None:
    folder, _ = reported
    text = (folder / "index.html").read_text(encoding="utf-8")
    # Scripts inlined: no script, style sheet, image or frame names a source to fetch.
    tags = re.findall(r"<(script|link|img|iframe|style)\b([^>]*)>", text, re.I)
    assert [t for t, _ in tags if t.lower() == "script"], "plotly and the page's script are inlined"
    assert [(t, a) for t, a in tags if re.search(r"\b(src|href)\s*=", a, re.I)] == []
    assert not re.search(r"<link\b|<img\b|<iframe\b", text, re.I)
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", text, flags=re.S | re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", markup, re.I)
    assert "url(" not in markup and "@import" not in markup
    # The report's data sit in one JSON script that no name can end early.
    assert text.count('<script id="report-data" type="application/json">') == 1
    assert "my<i>opt</i>&co" not in markup


@pytest.mark.browser
def test_page_renders_tables_and_plots_without_console_errors(reported, browser) -> None:
    folder, plots = reported
    open_page(browser, folder)
    assert browser.title == f"raybench report: {folder}"
    assert browser.find_element("tag name", "h1").text == "raybench report"
    meta = browser.find_element("css selector", "p.meta").text
    assert str(folder) in meta and "generated " in meta and "raybench 0." in meta
    # Nothing fetched (the file itself is no resource entry), and no sideways scrolling.
    assert browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)") == []
    assert browser.execute_script("return window.innerWidth") == WIDTH
    assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH

    tables = browser.execute_script(TABLES_JS)
    assert [t["heading"] for t in tables] == ["Results", "AlgoPerf scores", "Claims", "Claims"]
    res, sc, cl, every = tables
    md = (folder / "report.md").read_text()

    # The results table: one row per (problem, optimizer), cell for cell as in report.md, the
    # markup-named optimizer shown as its name (escaped), not as an <i> element.
    assert res["id"] == "results-table"
    assert {(r[0], r[1]) for r in res["rows"]} == {(p, o) for p in PROBLEMS for o in OPTIMIZERS}
    assert res["rows"] == md_rows(md, "problem")
    assert res["header"][:2] == ["problem", "optimizer"] and "speed vs adam" in res["header"][5]
    assert browser.find_elements("css selector", "table i, .legend i") == []
    # best rows (the " *" in report.md) are highlighted: adam has the lowest test loss on both problems
    assert [c == "best" for c in res["rowClasses"]] == [r[4].endswith(" *") for r in res["rows"]]
    assert {(r[0], r[1]) for r, c in zip(res["rows"], res["rowClasses"]) if c == "best"} == {
        ("bowl", "adam"), ("valley", "adam")}

    # AlgoPerf scores: one row per optimizer, the scores of scores.csv.
    scores = pd.read_csv(folder / "scores.csv")
    assert sc["rows"] == md_rows(md, "optimizer")
    assert [r[1] for r in sc["rows"]] == [f"{s:.3f}" for s in scores["score"]]

    # Claims: one row per claim, "claimed vs measured [95% CI]: verdict" toned by the verdict, no
    # number past 3 significant digits, here or in every column behind it; claims.csv as it was.
    assert cl["header"][:3] == ["method", "column", "problem"]
    assert [r[1] for r in cl["rows"]] == list(CLAIMS["column"])  # "<tiny>" shown as text
    assert [r[3] for r in cl["rows"]] == CLAIM_CELLS
    assert [c[3] for c in cl["cellClasses"]] == ["verdict verdict-bad", "verdict verdict-good", "verdict verdict-unsure"]
    assert cl["rows"][1][4] == ("74.1% accuracy, +1.8% over Adam; measured difference -32.4 [-48.3, -16.5] (n=3): "
                                "direction contradicted") and cl["cellClasses"][1][4] == "verdict verdict-bad"
    assert every["header"] == list(CLAIMS.columns) and every["rows"][1][6] == "36.9"
    numbers = [n for t in (cl, every) for row in t["rows"] for cell in row
               for n in re.findall(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", cell)]
    assert numbers and max(significant_digits(n) for n in numbers) <= 3, numbers
    assert pd.read_csv(folder / "claims.csv")["estimate"][1] == CLAIMS["estimate"][1]

    # The plots: profiles (AlgoPerf, then Dolan-Moré on steps and on gradient evaluations), the
    # curves of each problem, the end results of each problem; drawn by plotly, no PNG embedded.
    ids = browser.execute_script("return raybenchReport.graphs.map(g => g.id)")
    assert ids == ["algoperf-profile", "profile-0", "profile-1", "curves-0", "curves-1", "ends-0", "ends-1"]
    algoperf = browser.execute_script(PLOT_JS, "algoperf-profile")
    assert algoperf["legend"] == [f"{o} ({s:.3f})" for o, s in zip(scores["optimizer"], scores["score"])]
    assert ODD + " (" in " ".join(algoperf["legend"])  # the name as written, not markup
    assert browser.execute_script(PLOT_JS, "profile-0")["legend"] == list(OPTIMIZERS)  # the table's order
    assert browser.find_elements("tag name", "img") == []
    # The PNGs stay beside report.md.
    assert [Path(p).name for p in plots] == list(PLOTS)
    assert all(png_size(Path(p))[0] > 0 for p in plots)
    no_console_errors(browser)


@pytest.mark.browser
def test_sorting_reorders_and_filtering_hides_rows(reported, browser) -> None:
    from selenium.webdriver.support.ui import Select

    folder, _ = reported
    open_page(browser, folder)
    before = browser.execute_script(SHOWN_ROWS_JS)
    headers = browser.find_elements("css selector", "#results-table thead th")
    headers[1].click()
    by_name = browser.execute_script(SHOWN_ROWS_JS)
    assert [r[1] for r in by_name] == sorted(r[1] for r in before) and by_name != before
    assert headers[1].get_attribute("aria-sort") == "ascending"
    # The mean +- std column sorts on its number; a second click reverses.
    mean = lambda rows: [float(r[2].split()[0]) for r in rows]  # noqa: E731
    headers[4].click()
    assert mean(browser.execute_script(SHOWN_ROWS_JS)) == sorted(mean(before))
    headers[4].click()
    assert mean(browser.execute_script(SHOWN_ROWS_JS)) == sorted(mean(before), reverse=True)
    assert headers[4].get_attribute("aria-sort") == "descending" and headers[1].get_attribute("aria-sort") is None

    Select(browser.find_element("id", "filter-problem")).select_by_visible_text("valley")
    shown = browser.execute_script(SHOWN_ROWS_JS)
    assert {r[0] for r in shown} == {"valley"} and len(shown) == len(OPTIMIZERS)
    Select(browser.find_element("id", "filter-optimizer")).select_by_visible_text(ODD)
    assert [r[:2] for r in browser.execute_script(SHOWN_ROWS_JS)] == [["valley", ODD]]
    assert browser.find_element("id", "results-count").text == f"1 of {len(PROBLEMS) * len(OPTIMIZERS)} rows"
    Select(browser.find_element("id", "filter-problem")).select_by_visible_text("all")
    assert sorted(r[:2] for r in browser.execute_script(SHOWN_ROWS_JS)) == [[p, ODD] for p in PROBLEMS]
    no_console_errors(browser)


@pytest.mark.browser
def test_curves_toggle_optimizers_and_switch_the_x_axis(reported, browser) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    folder, _ = reported
    open_page(browser, folder)
    plot = browser.execute_script(PLOT_JS, "curves-0")
    # Per optimizer: the band's two edges and the median, in the legend once, by name as written.
    assert plot["legend"] == list(OPTIMIZERS) and plot["drawn"] == 3 * len(OPTIMIZERS)
    assert plot["xtitle"] == "step" and plot["ytype"] == "log"

    # A click on sgd's legend entry hides its median and band in that plot only.
    entry = next(e for e in browser.find_elements("css selector", "#curves-0 .legend .traces")
                 if e.find_element("css selector", ".legendtext").text == "sgd")
    entry.find_element("css selector", ".legendtoggle").click()
    WebDriverWait(browser, 5).until(lambda b: b.execute_script(PLOT_JS, "curves-0")["drawn"] == 3 * (len(OPTIMIZERS) - 1))
    plot = browser.execute_script(PLOT_JS, "curves-0")
    assert {t["group"]: t["visible"] for t in plot["traces"]} == {"adam": True, "sgd": "legendonly", ODD: True}
    assert browser.execute_script(PLOT_JS, "curves-1")["drawn"] == 3 * len(OPTIMIZERS)

    # The page's own toggle hides an optimizer in every plot.
    box = next(b for b in browser.find_elements("css selector", "#optimizer-toggles input") if b.get_attribute("value") == ODD)
    box.click()
    for graph in browser.execute_script("return raybenchReport.graphs.map(g => g.id)"):
        traces = browser.execute_script(PLOT_JS, graph)["traces"]
        assert {t["visible"] for t in traces if t["group"] == ODD} == {"legendonly"}, graph

    # Switching the x-axis redraws every curve on gradient evaluations (here, step x (o + 1)).
    Select(browser.find_element("id", "curves-x")).select_by_visible_text("gradient evaluations")
    for graph in ("curves-0", "curves-1"):
        plot = browser.execute_script(PLOT_JS, graph)
        assert plot["xtitle"] == "gradient evaluations"
        assert [max(t["x"]) for t in plot["traces"][::3]] == [300 * (o + 1) for o in range(len(OPTIMIZERS))]
        assert {t["group"]: t["visible"] for t in plot["traces"]}[ODD] == "legendonly"  # still hidden
    Select(browser.find_element("id", "curves-x")).select_by_visible_text("wall seconds")
    assert browser.execute_script(PLOT_JS, "curves-0")["xtitle"] == "wall seconds"
    no_console_errors(browser)


@pytest.mark.browser
def test_end_results_are_boxplots_against_the_reference(reported, browser) -> None:
    from selenium.webdriver.support.ui import Select

    folder, _ = reported
    open_page(browser, folder)
    boxes = browser.execute_script("const d = document.getElementById('ends-0'); "
                                   "return d.data.map(t => [t.type, t.legendgroup, Array.from(t.y)]);")
    # bowl: test loss 0.1 * (o + 1) + 0.01 * seed, so the difference from adam is 0.1 * o on both seeds
    assert [(t, g) for t, g, _ in boxes] == [("box", o) for o in OPTIMIZERS]
    assert [[round(v, 6) for v in y] for _, _, y in boxes] == [[0.1 * o] * len(SEEDS) for o in range(len(OPTIMIZERS))]
    # sgd switched off stays off when the view changes to the ratio (on a log axis).
    next(b for b in browser.find_elements("css selector", "#optimizer-toggles input")
         if b.get_attribute("value") == "sgd").click()
    Select(browser.find_element("id", "ends-view")).select_by_value("ratio")
    plot = browser.execute_script(PLOT_JS, "ends-0")
    assert [t["visible"] for t in plot["traces"]] == [True, "legendonly", True]
    ratios = browser.execute_script("return document.getElementById('ends-0').data.map(t => Array.from(t.y));")
    assert plot["ytype"] == "log" and [[round(v, 6) for v in y] for y in ratios] == [
        [round((0.1 * (o + 1) + 0.01 * s) / (0.1 + 0.01 * s), 6) for s in SEEDS] for o in range(len(OPTIMIZERS))]
    no_console_errors(browser)


def test_claims_from_the_parquet_table_and_none_without_claims(tmp_path: Path) -> None:
    # No claims: no Claims section; --no-plots: no images, still a page with its plots drawn.
    plain = make_folder(tmp_path / "plain")
    rep = report.make_report(str(plain), plots=False)
    text = rep["html_path"].read_text(encoding="utf-8")
    assert rep["html_path"] == plain / "index.html"
    assert "<h2>Claims</h2>" not in text and "<img" not in text and "<h2>Results</h2>" in text
    assert "<h2>Curves</h2>" in text and "<h2>End results over seeds</h2>" in text
    assert text.count("<tr>") + text.count('<tr class="best">') == 1 + len(PROBLEMS) * len(OPTIMIZERS) + 1 + len(OPTIMIZERS)

    assert report.installed_sections(str(plain)) == []

    # A ``claims`` results table (Parquet) when there is no claims.csv, written to --report-dir.
    folder = make_folder(tmp_path / "parquet")
    results.write(str(folder), claims.CLAIMS.name, CLAIMS.astype(object).where(CLAIMS.notna(), None).to_dict("records"))
    out = tmp_path / "site"
    rep = report.make_report(str(folder), plots=False, out_dir=str(out), sections=report.installed_sections(str(folder)))
    text = rep["html_path"].read_text(encoding="utf-8")
    assert rep["html_path"] == out / "index.html"
    assert "<h2>Claims</h2>" in text and f'<td class="verdict verdict-bad">{CLAIM_CELLS[0]}</td>' in text
    assert "CIFAR-100 &lt;tiny&gt;" in text and "<tiny>" not in text


def test_numbers_shown_to_three_significant_digits() -> None:
    from raybench.report_model import Section, claims_view, shorten_numbers, significant

    assert [significant(x) for x in (36.93333333333334, 0.05290783048942005, 1234.5, 10.0, -0.000513, 2.5e7,
                                     float("nan"), float("inf"))] == [
        "36.9", "0.0529", "1230", "10", "-5.13e-04", "2.5e+07", "-", "inf"]
    # Long decimals shortened where they stand; integers, short numbers and hashes as written.
    assert shorten_numbers("1.143x vs 0.98666x [0.91234, 1.0] (n=16), 2000 runs, commit 3f2a1e50") == \
        "1.14x vs 0.987x [0.912, 1.0] (n=16), 2000 runs, commit 3f2a1e50"
    assert claims_view(Section("Notes", ("claim", "verdict"), (("x", "consistent"),))) is None


@pytest.mark.browser
def test_a_folder_of_the_demos_size_draws_every_plot_without_errors(browser, tmp_path: Path) -> None:
    """``make demo``'s size: 6 problems x 4 baselines x 5 seeds with 101 evaluations each (the
    synthetic folder of benchmarks/report_page_size.py, in the real on-disk format)."""
    from benchmarks.report_page_size import build_folder
    from raybench.report import make_report

    folder = tmp_path / "demo-size"
    build_folder(folder, n_problems=6, n_optimizers=4, n_seeds=5, n_evals=101)
    make_report(str(folder), plots=False)
    open_page(browser, folder)
    graphs = browser.execute_script("return raybenchReport.graphs.map(g => g.id)")
    assert len(graphs) == 1 + 2 + 6 + 6  # AlgoPerf profile, two profiles, curves and end results per problem
    for gid in (g for g in graphs if g.startswith("curves-")):
        assert browser.execute_script(PLOT_JS, gid)["drawn"] == 3 * 4  # median + band per optimizer
    rows = browser.find_elements("css selector", "#results-table tbody tr")
    assert len(rows) == 6 * 4
    assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    no_console_errors(browser)


@pytest.mark.browser
def test_the_tuning_budgets_plots_draw_every_optimizer_without_errors(browser, tmp_path: Path) -> None:
    """External tuning at two budgets (``tuning_summary`` written by hand): per problem, time to
    target and the chosen validation score against K, the markup-named optimizer as text."""
    from raybench import external_tuning  # noqa: F401  (the tuning_summary schema)

    folder = make_folder(tmp_path / "tuned")
    results.write(str(folder), "tuning_summary", [
        {"pair_key": f"{p}/{o}", "problem": p, "optimizer": o, "tuning_budget": k, "score": float("inf") if o == ODD
         else 100.0 * (i + 1) / k, "chosen_val_score": 0.1 * (i + 1) / k, "chosen_point": '{"lr": 0.01}',
         "cost_trials": k, "cost_runs": 2 * k, "cost_steps": 200 * k, "cost_grad_evals": 200 * k,
         "cost_wall_seconds": 1.0 * k}
        for p in PROBLEMS for i, o in enumerate(OPTIMIZERS) for k in (1, 5)])
    report.make_report(str(folder), plots=False)
    open_page(browser, folder)
    graphs = browser.execute_script("return raybenchReport.graphs.map(g => g.id)")
    assert [g for g in graphs if g.startswith("tuning-")] == ["tuning-score-0", "tuning-val-0",
                                                              "tuning-score-1", "tuning-val-1"]
    score = browser.execute_script(PLOT_JS, "tuning-score-0")
    assert score["legend"] == list(OPTIMIZERS) and score["drawn"] == len(OPTIMIZERS)
    assert [t["x"] for t in score["traces"]] == [[1, 5]] * len(OPTIMIZERS)
    assert browser.find_elements("css selector", ".legend i") == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    no_console_errors(browser)
