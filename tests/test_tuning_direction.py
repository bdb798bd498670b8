"""Multi-init ranks trials in the direction the problem declares, whatever the metric is called.

A problem defined here and registered for these tests only: its metric ``score`` is maximised
and is not called ``accuracy``. A seed's score is fixed by the seed (training moves only the
loss), so the test knows which seeds every rung must keep. Ray's workers learn the problem
through a ``worker_process_setup_hook`` that registers it in each worker process.
"""

from __future__ import annotations

import math

import pytest
import torch

from raybench import identity, problems, results
from raybench.errors import UsageError
from raybench.tuning.spec import MultiInitSpec, prepare

NAME = "test_tuning_direction_score"
SCORES = {0: 0.1, 1: 0.9, 2: 0.6, 3: 0.3}
"""Seed -> validation score (higher is better): seeds 1 and 2 pass rung 0, seed 1 survives."""


class ScoreInstance(problems.Instance):
    """A two-parameter least-squares problem whose ``score`` is its seed's fixed quality."""

    def __init__(self, seed: int) -> None:
        self.model = torch.nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.model.weight.copy_(torch.randn(1, 2, generator=problems.generator(seed, 1)))
        self.score = SCORES[seed % len(SCORES)]
        self.budget = problems.Budget(steps=3, batch_size=None, eval_every=1)
        self.target = problems.Target("score", 0.8)

    def batch(self, step: int) -> None:
        return None

    def loss(self, batch: None = None) -> torch.Tensor:
        return (self.model.weight ** 2).sum()

    def evaluate(self, split: str = "val") -> dict[str, float]:
        return {"score": self.score, "loss": float(self.loss())}


PROBLEM = problems.Problem(name=NAME, description="test only: a maximised score fixed by the seed",
                           make=lambda seed, **options: ScoreInstance(seed),
                           metrics={"score": "max", "loss": "min"})


def register_problem() -> None:
    """Register the test problem by its import path (the driver; Ray workers register it from the import path the trials carry), as a user's own problem is."""
    problems.get(f"{NAME}={__name__}:PROBLEM")


@pytest.fixture
def score_problem():
    assert NAME not in problems.REGISTRY
    register_problem()
    yield NAME
    problems.REGISTRY.pop(NAME, None)


@pytest.fixture
def ray_knows_the_problem(score_problem, ray_session):
    """The session's Ray: its workers register this problem from the spec's import path."""
    yield


def test_the_spec_takes_its_direction_from_the_problem(score_problem):
    assert MultiInitSpec(NAME, "sgd", metric="score").mode == "max"
    assert MultiInitSpec(NAME, "sgd", metric="loss").mode == "min"
    assert MultiInitSpec("mnist_cnn", "adam", metric="accuracy").mode == "max"
    with pytest.raises(UsageError, match=f"bad --metric: problem '{NAME}' does not report "
                                         "'accuracy'; accepted: score, loss"):
        prepare(MultiInitSpec(NAME, "sgd", num_models=4, steps_per_round=1, metric="accuracy"))


@pytest.mark.ray
def test_a_maximised_metric_keeps_the_trials_with_the_higher_values(ray_knows_the_problem, tmp_path):
    from raybench.tuning.experiment import run_experiment
    from raybench.tuning.report import describe

    out = str(tmp_path)
    spec = prepare(MultiInitSpec(NAME, "sgd", num_models=4, reduce_factor=0.5, steps_per_round=1,
                                 metric="score"))
    assert spec.steps == 3 and spec.mode == "max"
    results.init(out)
    outcome = run_experiment(spec, out, resources={"cpu": 1.0, "gpu": 0.0}, progress=False)
    assert outcome is not None and outcome.survivor_seed == 1

    rungs = results.read_table(out, "rungs")
    assert (rungs["mode"] == "max").all() and (rungs["metric"] == "val_score").all()
    judged = rungs[rungs["decision"] != "survivor"]
    kept = {rung: sorted(int(s) for s in g[g["decision"] == "kept"]["seed"])
            for rung, g in judged.groupby("rung")}
    assert kept == {0: [1, 2], 1: [1]}
    for _, g in judged.groupby("rung"):
        values = dict(zip(g["seed"].astype(int), g["value"]))
        assert values == {s: SCORES[s] for s in values}
        assert g[g["decision"] == "kept"]["value"].min() > g[g["decision"] == "eliminated"]["value"].max()

    text = describe(out, 0)
    assert "survivor seed 1" in text and "ranked on val_score (max) 0.9" in text
    # The rung table's best value and cut-off follow the data's mode: rung 0 best 0.9, cut-off 0.6.
    rung0 = next(line.split() for line in text.splitlines() if line.split()[:1] == ["0"])
    assert [float(v) for v in rung0[4:6]] == [0.9, 0.6]
    runs = results.read_table(out, "runs")
    survivor = runs[runs["seed"] == 1].iloc[0]
    assert survivor["target_mode"] == "max" and survivor["converged"]  # score 0.9 >= 0.8
    assert math.isfinite(survivor["steps_to_target"])
    # every trial's row records the code that made it (the driver's), as a suite's runs do
    assert (runs["source_hash"] == identity.source_hash()).all() and runs["problem_code"].notna().all()
