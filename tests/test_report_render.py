"""The report as data, then renderers: the renderers (Markdown, CSV, PNG, HTML) import the
report model and nothing of raybench that looks a name up, and a section the caller passes to
``raybench.report.build`` reaches both ``report.md`` and ``index.html``.

Checked on the source (every import statement, function-local ones included, as
``tests/test_layers.py`` reads them) and in a fresh interpreter (what importing the renderers
loads)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from raybench import html_report, report, report_csv, report_markdown
from raybench.report_model import Section
from tests.conftest import ROOT, cli_env
from tests.test_layers import imported_names, modules

RENDERERS = ("raybench.report_markdown", "raybench.report_csv", "raybench.report_png", "raybench.html_report")
MODEL = "raybench.report_model"
MAY_IMPORT = {MODEL, "raybench.profile"}
"""All of raybench a renderer may reach, directly or through the model: the model, and the
``Profile`` data class it holds."""
REGISTRIES = ("raybench.problems", "raybench.optimizers", "raybench.entries", "raybench.registry",
              "raybench.spec", "raybench.schema", "raybench.results")


def reached(start: str) -> set[str]:
    """Every module of ours that ``start`` imports, directly or through the modules it imports."""
    known = modules()
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        for _, imported in imported_names(known[name], name, known):
            if imported in known and imported not in seen and imported != start:
                seen.add(imported)
                todo.append(imported)
    return seen


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_renderer_imports_the_model_and_no_registry(renderer: str) -> None:
    found = reached(renderer)
    assert MODEL in found, f"{renderer} renders something other than the report model"
    assert found <= MAY_IMPORT, f"{renderer} reaches {sorted(found - MAY_IMPORT)}: renderers look nothing up"


def test_importing_the_renderers_loads_no_registry() -> None:
    code = (f"import sys\nimport {', '.join(RENDERERS)}\n"
            "print(sorted(m for m in sys.modules if m.startswith('raybench')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=cli_env(), cwd=ROOT, check=True)
    loaded = proc.stdout.strip()
    assert not [r for r in REGISTRIES if f"'{r}'" in loaded or f"'{r}." in loaded], loaded
    assert "matplotlib" not in loaded  # drawn on demand


def runs_and_curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two optimizers on one problem over two seeds: adam reaches the target at 100 steps, sgd at 200."""
    runs, curves = [], []
    for o, opt in enumerate(("adam", "sgd")):
        for seed in (0, 1):
            run_id = f"{opt}-{seed}"
            runs.append({"run_id": run_id, "problem": "bowl", "optimizer": opt, "seed": seed, "status": "ok",
                         "test_loss": 0.1 * (o + 1), "converged": True, "steps_to_target": 100.0 * (o + 1),
                         "grad_evals_to_target": 100.0 * (o + 1), "wall_seconds": 1.0,
                         "metric_modes": json.dumps({"loss": "min"}), "hparam_source": "default"})
            curves += [{"run_id": run_id, "step": s, "val_loss": 1.0 / (1 + s * (o + 1))} for s in (0, 100, 200)]
    return pd.DataFrame(runs), pd.DataFrame(curves)


NOTES = Section("Notes <b>", ("claim", "verdict"), (("x < y", "consistent"), ("a | b", "not run: no data")),
                text="What the caller adds & why.", verdict_columns=(1,), tones=(("", "good"), ("", "unsure")))


def test_a_section_passed_by_the_caller_reaches_markdown_and_html(tmp_path: Path) -> None:
    runs, curves = runs_and_curves()
    rep = report.build(runs, curves, source="somewhere", sections=[NOTES], n_boot=50)
    # The model holds what the renderers need, decided when it was built.
    assert rep.sections == (NOTES,)
    assert rep.colours == {"adam": report.optimizer_colour("adam"), "sgd": report.optimizer_colour("sgd")}
    assert [r[:2] for r in rep.results.rows] == [("bowl", "adam"), ("bowl", "sgd")]
    assert rep.results.best == (True, False) and "test loss (lower is better)" in rep.results.rows[0]
    assert [(c.problem, c.metric, c.seeds) for c in rep.curves] == [("bowl", "val_loss", 2)]

    md = report_markdown.markdown(rep)
    assert md.startswith("# raybench report\n\n")
    # after the core's tables, in order, and not in what `raybench report` prints
    assert md.index("| problem |") < md.index("| optimizer |") < md.index("## Notes <b>")
    assert "## Notes <b>\n\nWhat the caller adds & why.\n\n| claim | verdict |\n|---|---|\n" in md
    assert "| x < y | consistent |" in md
    assert "Notes" not in report_markdown.tables(rep)

    page = html_report.write_html(tmp_path, rep).read_text(encoding="utf-8")
    assert page.index("<h2>Results</h2>") < page.index("<h2>AlgoPerf scores</h2>") < page.index("<h2>Notes &lt;b&gt;</h2>")
    assert "<p>What the caller adds &amp; why.</p>" in page and "<td>x &lt; y</td>" in page
    assert '<td class="verdict verdict-good">consistent</td>' in page
    assert '<td class="verdict verdict-unsure">not run: no data</td>' in page
    assert "<title>raybench report: somewhere</title>" in page

    table, scores = report_csv.write_csv(rep, tmp_path)
    pd.testing.assert_frame_equal(pd.read_csv(table)[["problem", "optimizer"]], rep.table[["problem", "optimizer"]])
    assert list(pd.read_csv(scores)["optimizer"]) == list(rep.score_table["optimizer"])


def test_make_report_passes_sections_through(tmp_path: Path) -> None:
    from raybench import results

    runs, curves = runs_and_curves()
    results.init(str(tmp_path))
    results.write_runs(str(tmp_path), runs.to_dict("records"), curves.to_dict("records"))
    rep = report.make_report(str(tmp_path), plots=False, sections=[NOTES])
    assert "## Notes <b>" in rep["md_path"].read_text() and "Notes &lt;b&gt;" in rep["html_path"].read_text()
    assert rep["plots"] == [] and rep["report"].sections == (NOTES,)


def test_a_section_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="row 0 has 1 cells, the header 2"):
        Section("bad", ("a", "b"), (("only one",),))
    with pytest.raises(ValueError, match="unknown tone 'green'"):
        Section("bad", ("a",), (("x",),), verdict_columns=(0,), tones=(("green",),))
