"""The report's tuning sections (``raybench.tuning_report``): each protocol's choice and cost
beside the results it produced, and external tuning's score and end result against the tuning
budget, in ``report.md``, ``index.html`` and ``tuning_budgets.png``.

The results folders are written by hand (``raybench.results.write``: no Ray, no training) with
known costs and scores: an ``lr`` pair, a pair at defaults, and ``external`` pairs scored at
tuning budgets 1 and 5, one problem whose ranking by time to target flips between them and one
whose ranking stays.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from raybench import external_tuning, lr_search, report, results, tuning_report  # noqa: F401 (schemas)

INF = math.inf
STEPS = 100
LR_KEY = repr(("bowl", "adam", None, "[]", None, "[]", None))
# bowl/adam's learning-rate search: 3 values x 2 tuning seeds; the 0.1 run on the second seed
# diverged after 37 steps. Known sums: 3 trials, 6 runs, 537 steps, 1074 gradient evaluations, 3 s.
LR_TRIALS = [(lr, seed, 37 if (lr, seed) == (0.1, 1) else STEPS) for lr in (0.001, 0.01, 0.1) for seed in (0, 1)]
# External tuning, (problem, optimizer) -> tuning budget K -> (time to target, chosen val score,
# cost: trials, runs, steps, gradient evaluations, seconds). logistic: adam faster at K=1, sgd at
# K=5; quadratic: adam ahead at both, sgd never reaching the target.
EXTERNAL = {
    ("logistic", "adam"): {1: (100.0, 0.30, 3, 6, 600, 600, 1.5), 5: (80.0, 0.25, 15, 30, 3000, 3000, 7.5)},
    ("logistic", "sgd"): {1: (200.0, 0.40, 3, 6, 580, 1160, 1.25), 5: (50.0, 0.20, 15, 30, 2900, 5800, 6.25)},
    ("quadratic", "adam"): {1: (60.0, 0.10, 3, 6, 600, 600, 2.0), 5: (40.0, 0.05, 15, 30, 3000, 3000, 10.0)},
    ("quadratic", "sgd"): {1: (INF, 0.50, 3, 6, 600, 600, 2.0), 5: (INF, 0.45, 15, 30, 3000, 3000, 10.0)},
}
POINT = {"lr": 0.0031622776601683794, "warmup": 0.05, "weight_decay": 0.000744}
SOURCES = {("bowl", "adam"): "tuned", ("bowl", "sgd"): "default",
           **{pair: "tuned" for pair in EXTERNAL}}


def _runs() -> tuple[list[dict], list[dict]]:
    runs, curves = [], []
    for i, ((problem, optimizer), source) in enumerate(SOURCES.items()):
        for seed in (0, 1):
            run_id = f"{problem}-{optimizer}-{seed}"
            runs.append({"run_id": run_id, "problem": problem, "optimizer": optimizer, "seed": seed, "status": "ok",
                         "budget_steps": STEPS, "steps": STEPS, "grad_evals": STEPS, "wall_seconds": 1.0,
                         "test_loss": 0.1 * (i + 1) + 0.01 * seed, "converged": True, "steps_to_target": 50.0 + i,
                         "grad_evals_to_target": 50.0 + i, "metric_modes": json.dumps({"loss": "min"}),
                         "hparam_source": source, "hp_lr": 0.01 if source == "tuned" else 0.05})
            if not curves:  # one run's curve: the report draws its PNGs only where there are curves
                curves += [{"run_id": run_id, "step": s, "grad_evals": s, "wall_seconds": s / 100,
                            "train_loss": 1.0 / (1 + s), "val_loss": 1.0 / (1 + s)} for s in (0, 50, 100)]
    return runs, curves


def _lr_rows() -> list[dict]:
    return [{"pair_key": LR_KEY, "problem": "bowl", "optimizer": "adam", "hparam": "lr", "lr": lr,
             "tuning_seed": 1_000_003 + seed, "score": 0.1, "mean_score": 0.1, "chosen": lr == 0.01,
             "steps": steps, "grad_evals": 2 * steps, "wall_seconds": 0.5} for lr, seed, steps in LR_TRIALS]


def _summary_rows(budgets: tuple[int, ...] = (1, 5)) -> list[dict]:
    rows = []
    for (problem, optimizer), at in EXTERNAL.items():
        for k in budgets:
            score, val, trials, runs, steps, grads, seconds = at[k]
            rows.append({"pair_key": repr((problem, optimizer, None, "[]", None, "[]")), "problem": problem,
                         "optimizer": optimizer, "budget_steps": None, "tuning_budget": k, "studies": 3,
                         "score": score, "chosen_val_score": val, "chosen_point": json.dumps(POINT),
                         "chosen_hparams": json.dumps({**POINT, "schedule": "warmup_cosine"}),
                         "cost_trials": trials, "cost_runs": runs, "cost_steps": steps, "cost_grad_evals": grads,
                         "cost_wall_seconds": seconds})
    return rows


def _tables(summary: list[dict] | None = None, lr: list[dict] | None = None) -> tuning_report.Tables:
    return tuning_report.Tables(pd.DataFrame(lr if lr is not None else _lr_rows()),
                                pd.DataFrame({"metric": ["loss"]}),
                                pd.DataFrame(summary if summary is not None else _summary_rows()))


def _cells(section) -> dict[tuple[str, ...], dict[str, str]]:
    """A section's rows by (problem, optimizer[, third column]), each as {header: cell}."""
    return {row[:2]: dict(zip(section.header, row, strict=True)) for row in section.rows}


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tuning") / "results"
    results.init(str(folder))
    runs, curves = _runs()
    results.write_runs(str(folder), runs, curves)
    results.write(str(folder), "lr_search", _lr_rows())
    results.write(str(folder), "tuning", [{"pair_key": "k", "problem": "logistic", "optimizer": "adam",
                                           "metric": "loss"}])
    results.write(str(folder), "tuning_summary", _summary_rows())
    return folder, report.make_report(str(folder))


def test_each_pair_shows_its_protocol_choice_and_total_tuning_cost() -> None:
    runs = pd.DataFrame(_runs()[0])
    section = tuning_report.section(runs, _tables(), order=["adam", "sgd"])
    assert section is not None and section.title == "Tuning"
    assert section.header == ("problem", "optimizer", "protocol", "chosen hyperparameters", "trials", "runs",
                              "steps", "gradient evaluations", "seconds")
    cells = _cells(section)
    assert list(cells) == [("bowl", "adam"), ("bowl", "sgd"), ("logistic", "adam"), ("logistic", "sgd"),
                           ("quadratic", "adam"), ("quadratic", "sgd")]
    # lr: the sums over the pair's lr_search rows (a search at the problem's default budget is its runs').
    lr = cells[("bowl", "adam")]
    assert (lr["protocol"], lr["chosen hyperparameters"]) == ("lr", "lr=0.01")
    assert [lr[c] for c in section.header[4:]] == ["3", "6", "537", "1074", "3"]
    # defaults: nothing tuned, nothing charged.
    at_defaults = cells[("bowl", "sgd")]
    assert (at_defaults["protocol"], at_defaults["chosen hyperparameters"]) == ("defaults", "registry defaults")
    assert [at_defaults[c] for c in section.header[4:]] == ["0", "0", "0", "0", "0"]
    # external: the largest tuning budget's cost, and its chosen point to 3 significant digits.
    ext = cells[("logistic", "sgd")]
    assert ext["protocol"] == "external"
    assert ext["chosen hyperparameters"] == "lr=0.00316, warmup=0.05, weight_decay=0.000744"
    assert [ext[c] for c in section.header[4:]] == ["15", "30", "2900", "5800", "6.25"]
    # The totals over the folder, beside the evaluation runs' own cost.
    trials = 3 + sum(at[5][2] for at in EXTERNAL.values())
    steps = 537 + sum(at[5][4] for at in EXTERNAL.values())
    assert f"Tuning over the folder: {trials} trials, {6 + 4 * 30} runs, {steps} steps" in section.text
    assert f"the evaluation runs: {len(runs)} runs, {len(runs) * STEPS} steps" in section.text


def test_no_tuning_section_when_nothing_was_tuned_and_a_step_budget_column_when_pairs_ran_at_several() -> None:
    runs = pd.DataFrame(_runs()[0])
    at_defaults = runs.assign(hparam_source="default")
    empty = tuning_report.Tables(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert tuning_report.section(at_defaults, empty) is None
    assert tuning_report.parts(at_defaults, empty) == ((), ())
    # Tuned runs whose search is not in the folder (merged without its tables): said, cost unknown.
    lost = tuning_report.section(runs[runs["problem"] == "logistic"], empty)
    assert {row[2:] for row in lost.rows} == {("tuned (not recorded)", "lr=0.01", "-", "-", "-", "-", "-")}
    assert "(2 pairs tuned by no recorded search not counted)" in lost.text
    # One tuning budget: the cost section, but no budgets section and no plot.
    one = _tables(summary=_summary_rows((5,)))
    sections, plots = tuning_report.parts(runs, one)
    assert [s.title for s in sections] == ["Tuning"] and plots == ()
    # A pair searched at two step budgets: one row per budget, each with its own search's cost.
    rows = [{**r, "pair_key": repr(("bowl", "adam", b, "[]", None, "[]", None))} for r in _lr_rows() for b in (50, 100)]
    twice = runs[(runs["problem"] == "bowl") & (runs["optimizer"] == "adam")]
    twice = pd.concat([twice, twice.assign(budget_steps=50, run_id=twice["run_id"] + "-50")])
    section = tuning_report.section(twice, _tables(summary=[], lr=rows))
    assert section.header[:3] == ("problem", "optimizer", "step budget")
    assert [(r[2], r[5], r[7]) for r in section.rows] == [("50", "3", "537"), ("100", "3", "537")]


def test_the_budget_table_ranks_by_time_to_target_and_says_where_the_ranking_changes() -> None:
    section = tuning_report.budget_section(_tables(), order=["adam", "sgd"])
    assert section is not None and section.title == "Tuning budgets"
    assert section.header == ("problem", "optimizer", "tuning budget K", "time to target (steps)",
                              "chosen val score", "rank by time to target")
    assert list(section.rows) == [
        ("logistic", "adam", "1", "100", "0.3", "1"), ("logistic", "sgd", "1", "200", "0.4", "2"),
        ("logistic", "sgd", "5", "50", "0.2", "1"), ("logistic", "adam", "5", "80", "0.25", "2"),
        ("quadratic", "adam", "1", "60", "0.1", "1"), ("quadratic", "sgd", "1", "not reached", "0.5", "2"),
        ("quadratic", "adam", "5", "40", "0.05", "1"), ("quadratic", "sgd", "5", "not reached", "0.45", "2")]
    assert "logistic: adam ahead of sgd at K=1, behind at K=5" in section.text
    assert "quadratic: the same at every tuning budget (K=1, 5)" in section.text
    assert "chosen trial's validation loss (lower is better)" in section.text
    # Ties share a rank; becoming level is a change too.
    tbl = pd.DataFrame({"problem": "p", "optimizer": ["adam", "sgd"] * 2, "tuning_budget": [1, 1, 5, 5],
                        "rank": [1, 2, 1, 1]})
    assert tuning_report.ranking_changes(tbl, order=["adam", "sgd"]) == ["p: adam ahead of sgd at K=1, level at K=5"]


def test_the_report_shows_both_sections_and_draws_the_budgets_plot(reported) -> None:
    folder, rep = reported
    md = (folder / "report.md").read_text()
    assert "\n## Tuning\n" in md and "\n## Tuning budgets\n" in md
    assert "| bowl | adam | lr | lr=0.01 | 3 | 6 | 537 | 1074 | 3 |" in md
    assert "| bowl | sgd | defaults | registry defaults | 0 | 0 | 0 | 0 | 0 |" in md
    assert "| logistic | sgd | 5 | 50 | 0.2 | 1 |" in md
    assert "logistic: adam ahead of sgd at K=1, behind at K=5" in md
    # The PNG, beside the others.
    png = folder / "tuning_budgets.png"
    assert png in rep["plots"] and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # index.html: both tables, and the plot's data for the page's script to draw.
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "<h2>Tuning</h2>" in page and "<h2>Tuning budgets</h2>" in page
    assert '<div id="tuning-budgets"></div>' in page and "tuning-score-" in page
    data = json.loads(page.split('<script id="report-data" type="application/json">')[1].split("</script>")[0])
    by_problem = {t["problem"]: t for t in data["tuning"]}
    assert sorted(by_problem) == ["logistic", "quadratic"]
    assert by_problem["logistic"]["budgets"] == [1, 5]
    assert by_problem["logistic"]["score"] == {"adam": [100.0, 80.0], "sgd": [200.0, 50.0]}
    assert by_problem["quadratic"]["score"]["sgd"] == [None, None]  # not reached: a gap
    assert by_problem["quadratic"]["val"]["adam"] == [0.1, 0.05]
    assert data["colours"]["sgd"] == report.optimizer_colour("sgd")


def test_a_folder_without_tuning_has_no_tuning_sections_or_plot(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    results.init(str(folder))
    runs, curves = _runs()
    results.write_runs(str(folder), [{**r, "hparam_source": "default"} for r in runs], curves)
    rep = report.make_report(str(folder), plots=False)
    assert [s.title for s in rep["report"].sections] == [] and rep["report"].tuning_budgets == ()
    assert json.loads((folder / "index.html").read_text().split('type="application/json">')[1]
                      .split("</script>")[0])["tuning"] == []
