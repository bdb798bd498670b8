"""The learning-rate search is equally fine for every optimizer, pushes past an edge winner, and
chooses on validation loss over two tuning seeds (``raybench.lr_search``).

The Ray tests search SGD's learning rate on a problem defined here whose answer is known in
closed form: ``0.5 c (w - 1)^2`` from ``w = 0`` for 3 steps, so SGD at learning rate ``lr``
ends at ``w = 1 - (1 - lr c)^3``: the loss is lowest at ``lr = 1 / c`` (one step lands on 1)
and grows past it. Its ``accuracy`` (``1 - |w - 0.5|``, maximised, the target metric) peaks
at ``w = 0.5`` instead, so a choice on accuracy and one on loss differ. Ray's workers learn the
problem by its import path, as a user's own.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raybench import lr_search, optimizers, problems, results
from raybench.errors import UsageError
from raybench.spec import RunSpec

NAME = "test_lr_search_bowl"
NO_LOSS = "test_lr_search_no_loss"


class BowlInstance(problems.Instance):
    def __init__(self, seed: int, steps: int, curvature: float) -> None:
        self.model = torch.nn.Module()
        self.model.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.curvature = curvature
        self.budget = problems.Budget(steps=steps, batch_size=None, eval_every=steps)
        self.target = problems.Target("accuracy", 0.99)

    def batch(self, step: int) -> None:
        return None

    def loss(self, batch: None = None) -> torch.Tensor:
        return 0.5 * self.curvature * ((self.model.w - 1.0) ** 2).sum()

    def evaluate(self, split: str = "val") -> dict[str, float]:
        w = float(self.model.w)
        return {"accuracy": 1.0 - abs(w - 0.5), "loss": 0.5 * self.curvature * (w - 1.0) ** 2}


PROBLEM = problems.Problem(name=NAME, description="test only: a 1-d bowl of curvature c",
                           make=lambda seed, steps, curvature: BowlInstance(seed, steps, curvature),
                           metrics={"accuracy": "max", "loss": "min"}, options={"steps": 3, "curvature": 1.0})


@pytest.fixture
def bowl():
    problems.get(f"{NAME}={__name__}:PROBLEM")
    yield NAME
    problems.REGISTRY.pop(NAME, None)


# -- the grid: no Ray -------------------------------------------------------------------------


@pytest.mark.parametrize("samples", [3, 6, 9])
def test_every_registry_grid_spans_the_same_decades_centred_on_its_default(samples: int) -> None:
    spacing = lr_search.DECADES / (samples - 1)
    seen = 0
    for name in optimizers.names():
        hparam = lr_search.step_size(name)
        if hparam is None:
            continue
        default = optimizers.get(name).defaults[hparam]
        logs = np.log10(lr_search.grid(name, samples))
        assert np.diff(logs) == pytest.approx([spacing] * (samples - 1)), name
        assert logs.mean() == pytest.approx(math.log10(default)), name  # centred (in log) on the default
        assert logs[-1] - logs[0] == pytest.approx(lr_search.DECADES), name
        seen += 1
    assert seen >= 10


def test_two_optimizers_with_different_defaults_get_equally_fine_grids() -> None:
    # adam's default 1e-3, sgd's 1e-2: the registry once gave them 3 and 4 decades
    adam, sgd = lr_search.grid("adam", 5), lr_search.grid("sgd", 5)
    assert adam == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    assert sgd == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert lr_search.grid("autonomous", 3) == pytest.approx([0.01, 1.0, 100.0])  # lr_scale, default 1


def test_an_import_path_optimizer_without_a_range_is_centred_on_its_signature_default() -> None:
    before = dict(optimizers.REGISTRY)
    try:
        name = optimizers.get("torch.optim:ASGD").name  # lr=0.01 in its signature
        assert lr_search.grid(name, 3) == pytest.approx([1e-4, 1e-2, 1.0])
        given = optimizers.get("given=torch.optim:ASGD", search_space={"lr": {"min": 1e-3, "max": 1e-1}}).name
        assert lr_search.grid(given, 3) == pytest.approx([1e-3, 1e-2, 1e-1])  # the user's own range wins
    finally:
        for added in set(optimizers.REGISTRY) - set(before):
            del optimizers.REGISTRY[added]


def test_a_user_range_wins_and_a_linear_one_stops_at_zero() -> None:
    knob = lr_search.Knob("lr", {"min": 0.1, "max": 0.5, "scaling": "linear"}, {}, None)
    axis = lr_search._axis(knob, 3)
    assert axis.grid == pytest.approx([0.1, 0.3, 0.5])
    assert axis.value(3) == pytest.approx(0.7) and axis.usable(3)
    assert axis.value(-1) == pytest.approx(-0.1) and not axis.usable(-1)
    log = lr_search._axis(lr_search.Knob("lr", {"min": 1e-3, "max": 1e-1}, {}, None), 3)
    assert log.grid == pytest.approx([1e-3, 1e-2, 1e-1]) and log.value(-1) == pytest.approx(1e-4)


def test_the_tuning_seeds_are_two_and_no_evaluation_seed_may_use_either(bowl) -> None:
    assert len(lr_search.TUNING_SEEDS) >= 2 and lr_search.TUNING_SEED in lr_search.TUNING_SEEDS
    for seed in lr_search.TUNING_SEEDS:
        with pytest.raises(UsageError, match=f"seed {seed} is reserved for learning-rate tuning"):
            lr_search.plan([RunSpec.build(NAME, "sgd", seed)], samples=3)


def test_the_choice_is_on_loss_unless_the_problem_declares_none(bowl) -> None:
    problems.REGISTRY[NO_LOSS] = problems.Problem(name=NO_LOSS, description="", make=PROBLEM.make,
                                                  metrics={"accuracy": "max"}, options=PROBLEM.options)
    try:
        search = lr_search.plan([RunSpec.build(NAME, "sgd", 0), RunSpec.build(NO_LOSS, "sgd", 0)], samples=3)
    finally:
        problems.REGISTRY.pop(NO_LOSS, None)
    assert {key[0]: metric for key, metric in search.judged.items()} == {NAME: "loss", NO_LOSS: None}
    named = lr_search.plan([RunSpec.build(NAME, "sgd", 0)], samples=3, metric="accuracy")
    assert list(named.judged.values()) == ["accuracy"]


def test_a_value_any_seed_diverged_at_is_the_worst() -> None:
    assert lr_search.mean_score([1.0, 3.0]) == 2.0
    assert lr_search.mean_score([0.0, math.inf]) == math.inf and lr_search.mean_score([]) == math.inf


def test_a_tie_goes_to_the_value_nearest_the_default_so_a_flat_stretch_stops_the_extension() -> None:
    axis = lr_search._axis(lr_search._knob(optimizers.get("sgd"), "lr"), 3)  # 1e-4, 1e-2, 1
    pair = lr_search._Pair(axis, -1, 2)  # one value past the lower edge tried
    assert pair.best({-1: 0.5, 0: 0.5, 1: 0.7, 2: 0.9}) == 0  # the old edge: interior now, the search stops
    assert pair.best({-1: 0.4, 0: 0.5, 1: 0.7, 2: 0.9}) == -1  # strictly better past the edge: it wins
    assert pair.best({-1: 0.7, 0: 0.5, 1: 0.5, 2: 0.5}) == 1  # the default
    assert pair.best(dict.fromkeys(range(-1, 3), math.inf)) == -1  # nothing finished: the smallest


# -- the search on Ray ------------------------------------------------------------------------


@pytest.mark.ray
def test_an_edge_winner_gets_extra_points_until_interior_or_the_cap(bowl, ray_session, tmp_path, capsys) -> None:
    """sgd's grid at 3 samples is 1e-4, 1e-2, 1 (2 decades apart). At curvature 1e-4 the best
    learning rate is 1e4: the search walks up 1e2, 1e4, 1e6 and ends interior at 1e4. At 1e-7
    the loss still falls at 1e6 (lr c = 0.1): the cap of 3 leaves the winner on the edge."""
    out = str(tmp_path / "r")
    specs = [RunSpec.build(NAME, "sgd", 0, options={"curvature": c}) for c in (1e-4, 1e-7)]
    tuned = lr_search.tune_specs(specs, out, samples=3)
    assert [s.hparams["lr"] for s in tuned] == pytest.approx([1e4, 1e6])
    table = results.read_table(out, "lr_search")
    for spec, chosen, edge in zip(specs, (1e4, 1e6), (False, True), strict=True):
        mine = table[table["pair_key"].str.contains(repr(("curvature", spec.options["curvature"])), regex=False)]
        assert sorted(set(mine["lr"])) == pytest.approx([1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6])
        assert sorted(set(mine.loc[mine["extension"], "lr"])) == pytest.approx([1e2, 1e4, 1e6])
        assert (mine["extra_points"] == 3).all() and (mine["edge_winner"] == edge).all()
        assert list(mine.loc[mine["chosen"], "lr"]) == pytest.approx([chosen] * 2)
        assert list(mine["spacing"]) == pytest.approx([2.0] * len(mine)) and (mine["scaling"] == "log").all()
    captured = capsys.readouterr()
    printed = captured.out
    assert "edge winner after 3 extra points" in printed and "3 extra points past it, winner now interior" in printed
    # The progress bar counts every trial, the 2 x 3 x 2 past the edges joining its total.
    assert "24/24 [" in captured.err


@pytest.mark.ray
def test_the_choice_is_the_mean_validation_loss_over_two_tuning_seeds(bowl, ray_session, tmp_path) -> None:
    """At curvature 1, learning rate 1 lands on w = 1 (loss 0, accuracy 0.5) and 1e-2 ends near
    w = 0.03 (loss 0.47, accuracy 0.53): loss chooses 1, accuracy would choose 1e-2."""
    spec = RunSpec.build(NAME, "sgd", 0)
    tuned = lr_search.tune_specs([spec], str(tmp_path / "loss"), samples=3)
    assert tuned[0].hparams["lr"] == pytest.approx(1.0)
    table = results.read_table(str(tmp_path / "loss"), "lr_search")
    assert (table["metric"] == "loss").all() and (table["mode"] == "min").all()
    assert "over tuning seeds 1000003, 1000004" in table["selection"].iloc[0]
    # one row per value and tuning seed, the choice recomputable from them
    assert (table.groupby("lr")["tuning_seed"].apply(sorted) == [list(lr_search.TUNING_SEEDS)] * 4).all()
    means = table.groupby("lr")["score"].mean()
    assert table.groupby("lr")["mean_score"].first().to_dict() == pytest.approx(means.to_dict())
    assert set(table.loc[table["chosen"], "lr"]) == {means.idxmin()} == {1.0}
    # 1 was the grid's top: one value past it (100, where SGD blows up) made it interior
    assert sorted(set(table.loc[table["extension"], "lr"])) == pytest.approx([100.0])
    assert (table["extra_points"] == 1).all() and not table["edge_winner"].any()
    # each trial records its cost: the steps its run took (the budget where it finished, fewer
    # where it diverged: lr 100 does)
    budget = problems.get(NAME).instance(0).budget.steps
    assert (table["steps"] > 0).all() and (table["steps"] <= budget).all()
    assert (table.loc[table["lr"] < 10, "steps"] == budget).all()
    assert (table["grad_evals"] >= table["steps"]).all() and (table["wall_seconds"] > 0).all()
    by_acc = lr_search.tune_specs([spec], str(tmp_path / "accuracy"), samples=3, metric="accuracy")
    assert by_acc[0].hparams["lr"] == pytest.approx(1e-2)
    acc = results.read_table(str(tmp_path / "accuracy"), "lr_search")
    assert (acc["metric"] == "accuracy").all() and (acc["mode"] == "max").all() and not acc["extension"].any()


@pytest.mark.ray
def test_a_pair_whose_runs_are_not_applicable_is_not_extended(ray_session, tmp_path, capsys) -> None:
    # Muon on the quadratic (no hidden matrix): every trial ends not_applicable, whatever its lr, so
    # the search stops at the grid instead of walking 3 more values past an "edge winner".
    spec = RunSpec.build("quadratic", "muon", 0, steps=5)
    out = str(tmp_path / "na")
    lr_search.tune_specs([spec], out, samples=2)
    table = results.read_table(out, "lr_search")
    assert len(table) == 2 * len(lr_search.TUNING_SEEDS) and not table["extension"].any()
    assert "quadratic/muon: not applicable" in capsys.readouterr().out


def test_tune_extra_sets_the_cap_and_a_negative_one_is_exit_2(tmp_path, capsys) -> None:
    from raybench.cli import build_parser, main
    from raybench.commands import run_cmd

    args = ["run", "--problems", "quadratic", "--optimizers", "adam", "--tune-lr", "--out", str(tmp_path / "r")]
    assert run_cmd._prepare(build_parser().parse_args([*args, "--tune-extra", "0"]), None).search.extra_points == 0
    assert run_cmd._prepare(build_parser().parse_args(args), None).search.extra_points == lr_search.EXTRA_POINTS
    assert main([*args, "--tune-extra", "-1", "--check"]) == 2
    assert "extra points must be an integer >= 0, got -1" in capsys.readouterr().err
