"""A problem's declared metric direction is read everywhere: best-so-far, learning-rate choice,
report. The problem here is defined in the test: its target metric ``closeness`` is maximised
and is not called accuracy, so code that guesses direction from a metric's name gets it wrong.

Minimising ``0.5 (w - 1)^2`` with SGD from ``w = 0`` for a few steps: a larger learning rate
(below 1) ends closer to 1, so ``closeness = 1 - |w - 1|`` grows with the learning rate and
``loss`` falls. Ray's workers learn the problem through a ``worker_process_setup_hook``.
"""

from __future__ import annotations

import math

import pytest
import torch

from raybench import problems, report, results
from raybench.spec import RunSpec
from raybench.train import Run

NAME = "test_metric_direction_closeness"


class ClosenessInstance(problems.Instance):
    def __init__(self, seed: int, steps: int) -> None:
        self.model = torch.nn.Module()
        self.model.w = torch.nn.Parameter(torch.zeros(1))
        self.budget = problems.Budget(steps=steps, batch_size=None, eval_every=1)
        self.target = problems.Target("closeness", 0.99)

    def batch(self, step: int) -> None:
        return None

    def loss(self, batch: None = None) -> torch.Tensor:
        return 0.5 * ((self.model.w - 1.0) ** 2).sum()

    def evaluate(self, split: str = "val") -> dict[str, float]:
        w = float(self.model.w)
        return {"closeness": 1.0 - abs(w - 1.0), "loss": 0.5 * (w - 1.0) ** 2}


PROBLEM = problems.Problem(name=NAME, description="test only: closeness to 1, maximised",
                           make=lambda seed, steps: ClosenessInstance(seed, steps),
                           metrics={"closeness": "max", "loss": "min"}, options={"steps": 3})


def register_problem() -> None:
    """Register the test problem by its import path (the driver; Ray workers register it from the import path the runs carry), as a user's own problem is."""
    problems.get(f"{NAME}={__name__}:PROBLEM")


@pytest.fixture
def closeness():
    register_problem()
    yield NAME
    problems.REGISTRY.pop(NAME, None)


def test_target_mode_and_best_so_far_follow_the_declared_direction(closeness) -> None:
    run = Run(NAME, "sgd", {"lr": 0.5}, seed=0)
    assert run.instance.target.mode == "max"
    run.advance()
    # the best closeness is the highest seen (the last, as it only grows), the best loss the lowest
    assert run.best_metrics["closeness"] == pytest.approx(1 - 0.5 ** 3)
    assert run.best_metrics["loss"] == pytest.approx(0.5 * 0.25 ** 3)
    row = run.summary()
    assert row["target_mode"] == "max" and row["metric_modes"] == '{"closeness": "max", "loss": "min"}'
    # closeness never reaches 0.99 in 3 steps at lr 0.5: not converged (a "min" reading would say
    # the start, closeness 0, met the target at step 0)
    assert not row["converged"] and math.isinf(row["steps_to_target"])


def test_an_undeclared_metric_is_a_clear_error(closeness) -> None:
    problems.REGISTRY[NAME] = problems.Problem(name=NAME, description="", make=PROBLEM.make,
                                               metrics={"closeness": "max"}, options={"steps": 3})
    with pytest.raises(problems.ProblemError, match="does not declare; declared: closeness"):
        Run(NAME, "sgd", seed=0).advance(1)


def test_report_marks_the_highest_mean_best_for_a_maximised_metric(closeness) -> None:
    rows = []
    for lr in (0.1, 0.5):
        for seed in (0, 1):
            run = Run(NAME, "sgd", {"lr": lr}, seed=seed)
            run.advance()
            rows.append(run.summary())
    runs = results.conform("runs", rows).to_pandas()
    runs.loc[runs["hp_lr"] == 0.5, "optimizer"] = "sgd_fast"
    tbl = report.table(runs, baseline="sgd")
    by_opt = tbl.set_index("optimizer")
    assert by_opt.loc["sgd_fast", "mean"] > by_opt.loc["sgd", "mean"]
    assert by_opt["best"].to_dict() == {"sgd": False, "sgd_fast": True}
    assert by_opt.loc["sgd", "metric"] == "test closeness (higher is better)"
    # the headline metric is read from the extra-metrics JSON: it has no column of its own
    assert (results.metric(runs, "test", "closeness") > 0).all()


@pytest.fixture
def ray_knows_the_problem(closeness, ray_session):
    """The session's Ray: its workers register this problem from the spec's import path."""
    yield


@pytest.mark.ray
def test_tune_lr_picks_the_highest_value_of_a_maximised_target(ray_knows_the_problem, tmp_path) -> None:
    from raybench import lr_search

    spec = RunSpec.build(NAME, "sgd", 0)
    out = str(tmp_path / "r")
    # the search chooses on validation loss unless told otherwise: here on the maximised target
    tuned = lr_search.tune_specs([spec], out, samples=3, metric="closeness")
    table = results.read_table(out, "lr_search")
    grid_rows = table[~table["extension"]]
    assert len(grid_rows) == 3 * len(lr_search.TUNING_SEEDS)
    assert set(table["mode"]) == {"max"} and set(table["metric"]) == {"closeness"}
    best = table.loc[table["final_val"].idxmax()]
    assert bool(best["chosen"]) and tuned[0].hparams["lr"] == pytest.approx(best["lr"])
    # closeness grows with the learning rate over sgd's grid (1e-4, 1e-2, 1) up to 1.0: the
    # largest wins, and the one value tried past it (100) overshoots
    assert best["lr"] == pytest.approx(max(lr_search.grid("sgd", 3)))
    assert sorted(set(table.loc[table["extension"], "lr"])) == pytest.approx([100.0])
    assert tuned[0].hparam_source == "tuned" and tuned[0].run_id != spec.run_id
