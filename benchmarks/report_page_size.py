"""The size of ``raybench report``'s ``index.html`` for a results folder of 2,000 runs.

``index.html`` is one self-contained page: plotly's script (about 4.8 MB) and the report's data
inlined. Its data grow with the folder: per problem and optimizer a curve band (thinned to
``raybench.html_report.MAX_POINTS`` evaluations, on three x-axes), per run an end result for
the boxplots. This builds a synthetic folder in the real on-disk format (``results.init`` and
``results.write_runs``, a batch per problem as the runner writes them; no Ray, no training):
problems x optimizers x seeds runs (``--shape``; by default three shapes of 2,000 runs,
``SHAPES``), each with ``--evals`` curve points, registry names (suffixed past the registry's
length), a quarter of the runs never reaching the target.
Then it runs ``raybench.report.make_report`` on it (as ``raybench report --no-plots`` does) and
prints the page's size, what of it is plotly's script and what the report's data, and the time
taken; the same for the folder ``tests/test_html_report.py`` builds.

How to run:
    .venv/bin/python benchmarks/report_page_size.py [--shape 8x10x25 ...] [--evals 301]

Results to expect: every 2,000-run page under 10 MB (plotly's 4.8 MB and 0.6 to 3 MB of data,
the most with one seed per pair); the test folder's page a little over plotly's script alone. Output kept in
``benchmarks/report_page_size.txt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from raybench import optimizers, problems, report, results  # noqa: E402

LIMIT_MB = 10.0
"""The page's size that issue 24 allows for a folder of 2,000 runs."""


def _names(registry: list[str], n: int) -> list[str]:
    """``n`` names: the registry's, then the same with a suffix (``quadratic_1``) as a user's own."""
    return [registry[i % len(registry)] + (f"_{i // len(registry)}" if i >= len(registry) else "") for i in range(n)]


def build_folder(folder: Path, *, n_problems: int, n_optimizers: int, n_seeds: int, n_evals: int) -> int:
    """A results folder of n_problems x n_optimizers x n_seeds runs with curves; returns the
    number of curve rows written."""
    rng = np.random.default_rng(0)
    names = _names(list(problems.REGISTRY), n_problems)
    opts = _names(optimizers.names(), n_optimizers)
    steps = np.linspace(0, 3000, n_evals).round().astype(int)
    results.init(str(folder))
    curve_rows = 0
    for p, problem in enumerate(names):
        accuracy = p % 2 == 1  # half the problems with a "max" headline metric
        modes = {"accuracy": "max", "loss": "min"} if accuracy else {"loss": "min"}
        runs, curves = [], []
        for o, opt in enumerate(opts):
            rate = 1e-3 * (1 + o) * (1 + 0.3 * p)
            for seed in range(n_seeds):
                run_id = f"{problem}-{opt}-{seed}"
                noise = rng.normal(0, 0.05, n_evals).cumsum() * 0.01
                loss = np.exp(-rate * steps) * (1 + 0.1 * rng.random()) + 0.01 + np.abs(noise)
                grad_evals = steps * (3 if opt == "lbfgs" else 1)
                seconds = steps * (0.002 + 0.0005 * o) * (1 + 0.05 * rng.random())
                reached = rng.random() > 0.25
                to_target = float(steps[n_evals // (2 + o % 3)]) if reached else float("inf")
                runs.append({
                    "run_id": run_id, "problem": problem, "optimizer": opt, "seed": seed, "status": "ok",
                    "steps": int(steps[-1]), "grad_evals": int(grad_evals[-1]), "wall_seconds": float(seconds[-1]),
                    "test_loss": float(loss[-1]), "final_val_loss": float(loss[-1]),
                    **({"test_accuracy": float(100 * (1 - loss[-1]))} if accuracy else {}),
                    "converged": reached, "steps_to_target": to_target,
                    "grad_evals_to_target": to_target * (3 if opt == "lbfgs" else 1),
                    "metric_modes": json.dumps(modes), "hparam_source": "default",
                })
                curves += [{"run_id": run_id, "step": int(s), "grad_evals": int(g), "wall_seconds": float(t),
                            "train_loss": float(v * 0.95), "val_loss": float(v)}
                           for s, g, t, v in zip(steps, grad_evals, seconds, loss, strict=True)]
        results.write_runs(str(folder), runs, curves)
        curve_rows += len(curves)
    return curve_rows


def open_in_chromium(page: Path) -> str:
    """Open ``page`` in headless Chromium (1,366 px wide): seconds until every plot is drawn,
    console errors, resources fetched, page width; "" where Chromium or selenium is missing."""
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return ""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return ""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    try:
        start = time.perf_counter()
        driver.get(page.as_uri())  # returns once the page's scripts have run: every plot drawn
        seconds = time.perf_counter() - start
        graphs, fetched, width = driver.execute_script(
            "return [raybenchReport.graphs.length, performance.getEntriesByType('resource').length, "
            "document.documentElement.scrollWidth]")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    return (f"  in headless Chromium 1366 px wide: {graphs} plots drawn in {seconds:.1f} s, {len(errors)} console "
            f"errors, {fetched} resources fetched, page {width} px wide")


def measure(folder: Path) -> dict[str, object]:
    """Report ``folder`` (no PNGs) and measure its ``index.html``."""
    from plotly.offline import get_plotlyjs

    start = time.perf_counter()
    rep = report.make_report(str(folder), plots=False)
    seconds = time.perf_counter() - start
    text = rep["html_path"].read_text(encoding="utf-8")
    data = text.split('<script id="report-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    return {"bytes": len(text.encode()), "plotly": len(get_plotlyjs().encode()), "data": len(data.encode()),
            "seconds": seconds, "browser": open_in_chromium(rep["html_path"])}


def line(label: str, m: dict[str, object]) -> str:
    rest = m["bytes"] - m["plotly"] - m["data"]
    return (f"{label}: index.html {m['bytes'] / 1e6:.2f} MB = plotly.js {m['plotly'] / 1e6:.2f} MB "
            f"+ data {m['data'] / 1e6:.2f} MB + tables and markup {rest / 1e6:.2f} MB; report built in {m['seconds']:.1f} s")


SHAPES = ("8x10x25", "14x18x8", "100x20x1")
"""Problems x optimizers x seeds of 2,000 runs each: a typical study; many optimizers on every
problem; one seed per pair (the most curves, hence the fewest points each)."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", action="append", help=f"PROBLEMSxOPTIMIZERSxSEEDS, repeatable (default: {', '.join(SHAPES)})")
    ap.add_argument("--evals", type=int, default=301, help="curve points per run")
    args = ap.parse_args()
    import plotly

    from raybench import html_report

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"raybench report page size (commit {commit}, plotly {plotly.__version__}; curves thinned to at most "
          f"{html_report.MAX_POINTS} points, {html_report.CURVE_POINTS} over the page; data to "
          f"{html_report.DATA_DIGITS} digits)")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for k, shape in enumerate(args.shape or SHAPES):
            n_problems, n_optimizers, n_seeds = (int(x) for x in shape.split("x"))
            n_runs = n_problems * n_optimizers * n_seeds
            folder = Path(tmp) / f"results{k}"
            start = time.perf_counter()
            rows = build_folder(folder, n_problems=n_problems, n_optimizers=n_optimizers, n_seeds=n_seeds,
                                n_evals=args.evals)
            print(f"folder: {n_runs} runs ({n_problems} problems x {n_optimizers} optimizers x {n_seeds} seeds), "
                  f"{rows} curve rows ({args.evals} per run), written in {time.perf_counter() - start:.1f} s; "
                  f"{html_report.points_per_curve(n_problems * n_optimizers)} points per curve")
            m = measure(folder)
            print(line(f"  {n_runs} runs", m))
            if m["browser"]:
                print(m["browser"])
            worst = max(worst, m["bytes"] / 1e6)

        from tests.test_html_report import make_folder  # the folder the browser test opens

        small = measure(make_folder(Path(tmp) / "test_folder"))
        print(line("tests/test_html_report.py folder (12 runs)", small))
        if small["browser"]:
            print(small["browser"])
    verdict = "within" if worst <= LIMIT_MB else "OVER"
    print(f"largest page: {worst:.2f} MB, {verdict} the {LIMIT_MB:g} MB limit")
    return 0 if verdict == "within" else 1


if __name__ == "__main__":
    sys.exit(main())
