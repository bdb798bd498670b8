"""Step budgets as an axis (``raybench run --step-budgets``): every problem at each budget with
its own schedule, compared at the end of training; where rankings change; the reference's steps
to match an end result, interpolated in log-steps (Wen et al.)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raybench import report, runner, step_budgets
from raybench.cli import build_parser, main
from raybench.commands.run_cmd import build_specs


def test_the_reference_steps_are_interpolated_in_log_steps_and_beyond_range_outside() -> None:
    budgets, ends = [100, 200, 400], [1.0, 0.5, 0.25]  # a loss: lower is better
    assert step_budgets.reference_steps(0.5, budgets, ends, "min") == pytest.approx(200)
    assert step_budgets.reference_steps(0.375, budgets, ends, "min") == pytest.approx(math.sqrt(200 * 400))
    assert step_budgets.reference_steps(0.1, budgets, ends, "min") == step_budgets.BEYOND  # better than any
    assert step_budgets.reference_steps(2.0, budgets, ends, "min") == step_budgets.BEYOND  # worse than any
    accuracy = [0.80, 0.90, 0.95]  # higher is better
    assert step_budgets.reference_steps(0.85, budgets, accuracy, "max") == pytest.approx(math.sqrt(100 * 200))
    assert math.isnan(step_budgets.reference_steps(0.5, budgets[:2], ends[:2], "min"))  # needs 3 budgets


def _runs(spec: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = []
    for (optimizer, budget), losses in spec.items():
        for seed, loss in enumerate(losses):
            rows.append({"run_id": f"{optimizer}-{budget}-{seed}", "problem": "p", "optimizer": optimizer,
                         "seed": seed, "budget_steps": budget, "status": "ok", "test_loss": loss,
                         "metric_modes": '{"loss": "min"}', "target_metric": "loss", "steps_to_target": math.inf,
                         "grad_evals_to_target": math.inf, "converged": False, "wall_seconds": 1.0,
                         "hparam_source": "default"})
    return pd.DataFrame(rows)


def test_rankings_by_budget_and_where_they_change() -> None:
    # adam is ahead at 100 steps; sgd, slower to start, ends lower at 400.
    runs = _runs({("adam", 100): [1.0, 1.0, 1.0], ("adam", 200): [0.5] * 3, ("adam", 400): [0.25] * 3,
                  ("sgd", 100): [2.0] * 3, ("sgd", 200): [0.6] * 3, ("sgd", 400): [0.2] * 3})
    tbl = step_budgets.table(runs, reference="adam", headline=report.headline).set_index(["optimizer", "budget"])
    assert tbl.loc[("adam", 100), "rank"] == 1 and tbl.loc[("sgd", 400), "rank"] == 1
    assert tbl.loc[("sgd", 200), "reference_steps"] == pytest.approx(math.exp(
        math.log(100) + (0.6 - 1.0) / (0.5 - 1.0) * (math.log(200) - math.log(100))))
    assert tbl.loc[("sgd", 400), "speedup"] == step_budgets.BEYOND  # adam never gets to 0.2 here
    assert tbl.loc[("adam", 200), "speedup"] == pytest.approx(1.0)
    assert step_budgets.ranking_changes(tbl.reset_index()) == ["p, 200 -> 400 steps: sgd overtakes adam"]

    rep = report.build(runs, n_boot=20)
    section = next(s for s in rep.sections if s.title == "Step budgets")
    assert "sgd overtakes adam" in section.text and len(section.rows) == 6
    # The results table never pools budgets: each budget of the problem is its own row group.
    assert sorted({r[0] for r in rep.results.rows}) == ["p @100", "p @200", "p @400"]


def test_the_command_runs_every_problem_at_each_budget_with_its_own_schedule(tmp_path) -> None:
    args = build_parser().parse_args(["run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--seeds", "1",
                                      "--step-budgets", "40,10,20", "--out", str(tmp_path / "r")])
    specs = build_specs(args)
    assert sorted((s.optimizer, s.steps) for s in specs) == [(o, b) for o in ("adam", "sgd") for b in (10, 20, 40)]
    assert {s.hparams["schedule"] for s in specs} == {"warmup_cosine"}  # each decays to its own budget
    assert len({s.run_id for s in specs}) == 6
    # Real runs, in this process: the report's section reads them.
    runs = pd.DataFrame([runner.execute(s)[0] for s in specs])
    assert (runs["status"] == "ok").all() and sorted(runs["budget_steps"].unique()) == [10, 20, 40]
    section = step_budgets.section(runs, reference="adam", headline=report.headline)
    assert section is not None and {r[2] for r in section.rows} == {"10", "20", "40"}


@pytest.mark.parametrize(("flags", "message"), [
    (["--step-budgets", "100"], "bad --step-budgets '100'; accepted: at least 2"),
    (["--step-budgets", "0,10"], "bad --step-budgets '0,10'"),
    (["--step-budgets", "a,b"], "bad --step-budgets 'a,b'"),
    (["--step-budgets", "10,20", "--steps", "5"], "--steps and --step-budgets both set the budget; give one"),
])
def test_bad_step_budgets_are_one_line_and_exit_2(flags: list[str], message: str, tmp_path, capsys) -> None:
    assert main(["run", "--problems", "quadratic", *flags, "--out", str(tmp_path / "r"), "--check"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
