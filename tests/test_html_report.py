"""``index.html`` of ``raybench report``, opened in a real headless browser (Debian's Chromium
through Selenium and chromedriver): the title, the results table row for row as ``report.md``
has it, the AlgoPerf scores, the claims with their verdicts (a section that ``raybench.reproduce``
provides through the ``raybench.report_sections`` entry points), and every plot the report
wrote decoded at its own size, with no console errors and nothing loaded from outside the file.

The results folder is made by hand (``raybench.results.write``, no Ray, no training), with an
optimizer whose name is markup, so that escaping is checked where it matters: in the page the
browser builds. ``make test`` installs Chromium and chromedriver when they are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest

from raybench import report, results
from raybench.reproduce import claims
from tests.conftest import raybench

PROBLEMS = ("bowl", "valley")
# A user's optimizer may be named anything: this one is markup that must show as text.
ODD = "my<i>opt</i>&co"
OPTIMIZERS = ("adam", "sgd", ODD)
SEEDS = (0, 1)
PLOTS = ("curves_bowl.png", "curves_valley.png", "performance_profile.png", "algoperf_profile.png")
CLAIMS = pd.DataFrame({
    "method": ["multi_init_16", "autonomous", "adam"],
    "column": ["Convergence Speed", "CIFAR-100 <tiny>", "Quadratic"],
    "claimed": ["1.143x", "74.1%", "Optimal"],
    "verdict": ["contradicted", "direction holds", "not run: no CIFAR-100 files in the data folder"]})
NEEDS_BROWSER = ("`make test` installs them (Debian packages chromium and chromium-driver: "
                 "apt-get install chromium chromium-driver)")


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
                curves += [{"run_id": run_id, "step": s, "grad_evals": s, "wall_seconds": s / 100,
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


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail(f"this test opens the report in headless Chromium, and chromium / chromedriver are "
                    f"not on PATH: {NEEDS_BROWSER}", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[test]' (make test does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


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


@pytest.mark.browser
@pytest.mark.ray
def test_page_renders_tables_and_every_plot_without_console_errors(reported, browser) -> None:
    folder, plots = reported
    page = folder / "index.html"
    text = page.read_text(encoding="utf-8")
    # One self-contained file: nothing to fetch, nothing to run.
    assert "<script" not in text.lower() and "<link" not in text.lower() and "url(" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text, re.I)
    assert re.findall(r'src="([a-z]+):', text) == ["data"] * len(PLOTS)

    browser.get(page.as_uri())
    assert browser.title == f"raybench report: {folder}"
    assert browser.find_element("tag name", "h1").text == "raybench report"
    meta = browser.find_element("css selector", "p.meta").text
    assert str(folder) in meta and "generated " in meta and "raybench 0." in meta

    tables = {t["heading"]: t for t in browser.execute_script(TABLES_JS)}
    assert list(tables) == ["Results", "AlgoPerf scores", "Claims"]
    md = (folder / "report.md").read_text()

    # The results table: one row per (problem, optimizer), cell for cell as in report.md, the
    # markup-named optimizer shown as its name (escaped), not as an <i> element.
    res = tables["Results"]
    assert {(r[0], r[1]) for r in res["rows"]} == {(p, o) for p in PROBLEMS for o in OPTIMIZERS}
    assert len(res["rows"]) == len(PROBLEMS) * len(OPTIMIZERS)
    assert res["rows"] == md_rows(md, "problem")
    assert res["header"][:2] == ["problem", "optimizer"] and "speed vs adam" in res["header"][5]
    assert browser.find_elements("css selector", "table i") == []
    # best rows (the " *" in report.md) are highlighted: adam has the lowest test loss on both problems
    assert [c == "best" for c in res["rowClasses"]] == [r[4].endswith(" *") for r in res["rows"]]
    assert {(r[0], r[1]) for r, c in zip(res["rows"], res["rowClasses"]) if c == "best"} == {
        ("bowl", "adam"), ("valley", "adam")}

    # AlgoPerf scores: one row per optimizer, the scores of scores.csv.
    scores = pd.read_csv(folder / "scores.csv")
    sc = tables["AlgoPerf scores"]
    assert sc["rows"] == md_rows(md, "optimizer")
    assert [r[0] for r in sc["rows"]] == list(scores["optimizer"])
    assert [r[1] for r in sc["rows"]] == [f"{s:.3f}" for s in scores["score"]]

    # Claims: claims.csv as it is, verdicts coloured by how they read.
    cl = tables["Claims"]
    assert cl["header"] == list(CLAIMS.columns)
    assert [r[1] for r in cl["rows"]] == list(CLAIMS["column"])  # "<tiny>" shown as text
    assert [r[3] for r in cl["rows"]] == list(CLAIMS["verdict"])
    assert [c[3] for c in cl["cellClasses"]] == ["verdict verdict-bad", "verdict verdict-good", "verdict verdict-unsure"]

    # Every plot the report wrote, embedded and decoded at the PNG's own size.
    assert [Path(p).name for p in plots] == list(PLOTS)
    images = browser.execute_script(IMAGES_JS)
    assert [i["alt"] for i in images] == list(PLOTS)
    for img, path in zip(images, plots):
        assert img["complete"] and img["scheme"] == "data", img
        assert img["width"] > 0 and (img["width"], img["height"]) == png_size(Path(path)), img

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_claims_from_the_parquet_table_and_none_without_claims(tmp_path: Path) -> None:
    # No claims: no Claims section; --no-plots: no images, still a page.
    plain = make_folder(tmp_path / "plain")
    rep = report.make_report(str(plain), plots=False)
    text = rep["html_path"].read_text(encoding="utf-8")
    assert rep["html_path"] == plain / "index.html"
    assert "<h2>Claims</h2>" not in text and "<img" not in text and "<h2>Results</h2>" in text
    assert text.count("<tr>") + text.count('<tr class="best">') == 1 + len(PROBLEMS) * len(OPTIMIZERS) + 1 + len(OPTIMIZERS)

    assert report.installed_sections(str(plain)) == []

    # A ``claims`` results table (Parquet) when there is no claims.csv, written to --report-dir.
    folder = make_folder(tmp_path / "parquet")
    results.write(str(folder), claims.CLAIMS.name, CLAIMS.to_dict("records"))  # the claims table's own schema
    out = tmp_path / "site"
    rep = report.make_report(str(folder), plots=False, out_dir=str(out), sections=report.installed_sections(str(folder)))
    text = rep["html_path"].read_text(encoding="utf-8")
    assert rep["html_path"] == out / "index.html"
    assert "<h2>Claims</h2>" in text and '<td class="verdict verdict-bad">contradicted</td>' in text
    assert "CIFAR-100 &lt;tiny&gt;" in text and "<tiny>" not in text
