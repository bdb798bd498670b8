"""Learning-rate schedules (``raybench.schedules``): the factors along a known budget, the
learning rate each step really trains at, exact resume from a checkpoint, the one-line errors,
the ``hp_*`` columns, stable run ids, and the CLI's ``--hparam adam.schedule=...``.

Every run here is a few steps of the quadratic (full batch) or the two-moons MLP (minibatches
of 32), without Ray.
"""

from __future__ import annotations

import io
import json
import math

import pyarrow as pa
import pytest
import torch

from raybench import cli, optimizers, problems, results, schedules, schema, suites
from raybench.commands import run_cmd
from raybench.optimizers import OptimizerError
from raybench.spec import RunSpec
from raybench.train import Run
from tests.test_optimizers import EXTRA_HPARAMS

# T = 10, warmup 0.2: W = 2 warm-up steps at (t + 1) / 2, then 0.5 (1 + cos(pi (t - 2) / 8)):
# cos(pi/8) = 0.92388, cos(pi/4) = 0.70711, cos(3pi/8) = 0.38268, and the mirror images.
WARMUP_COSINE_10 = [0.5, 1.0, 1.0, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449,
                    0.5, 0.3086582838174551, 0.14644660940672627, 0.03806023374435663]
# T = 20, warmup 0.1 (W = 2), decay_factor 0.5 at milestones 0.5, 0.75 (steps 10 and 15).
STEP_20 = [0.5] + [1.0] * 9 + [0.5] * 5 + [0.25] * 5


def _lrs_used(run: Run) -> list[float]:
    """The learning rate of each step, read just before the step is taken."""
    lrs = []
    while not run.done:
        lrs.append(run.optimizer.param_groups[0]["lr"])
        run.advance(1)
    return lrs


def test_warmup_cosine_is_the_learning_rate_each_sgd_step_really_takes() -> None:
    run = Run("quadratic", "sgd", {"lr": 0.01, "schedule": "warmup_cosine", "warmup": 0.2}, seed=0, steps=10)
    (x,) = run.instance.parameters()
    for expected in WARMUP_COSINE_10:
        before = x.detach().clone()
        run.advance(1)
        # Plain SGD: x_{t+1} = x_t - lr_t * grad(x_t), and the closure left grad(x_t) in .grad.
        torch.testing.assert_close(before - x.detach(), 0.01 * expected * x.grad, rtol=1e-4, atol=1e-9)
    assert run.step == 10 and run.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # zero at T


@pytest.mark.parametrize(("hparams", "steps", "expected"), [
    ({"schedule": "warmup_cosine", "warmup": 0.2}, 10, WARMUP_COSINE_10),
    ({"schedule": "warmup_cosine"}, 4, [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]),
    ({"schedule": "step", "warmup": 0.1, "decay_factor": 0.5}, 20, STEP_20),
    ({"schedule": "step", "milestones": "0.3,0.6"}, 10, [1.0] * 3 + [0.1] * 3 + [0.01] * 4),
])
def test_schedule_factors_along_a_known_budget(hparams: dict, steps: int, expected: list[float]) -> None:
    run = Run("quadratic", "adam", {"lr": 0.1, **hparams}, seed=0, steps=steps)
    assert _lrs_used(run) == pytest.approx([0.1 * f for f in expected], rel=1e-12)


def test_a_fraction_of_the_budget_rounds_to_the_nearest_step() -> None:
    # 0.05 * 1000 is 50.000000000000007 in floating point: still 50 warm-up steps.
    f = schedules.factor({"schedule": "warmup_cosine", "warmup": 0.05}, 1000)
    assert [f(0), f(48), f(49), f(50)] == [1 / 50, 49 / 50, 1.0, 1.0]
    g = schedules.factor({"schedule": "step", "decay_factor": 0.1, "milestones": (0.1,)}, 30)  # 0.1 * 30 = 3.0000000000000004
    assert [g(2), g(3)] == [1.0, pytest.approx(0.1)]


def test_constant_builds_no_scheduler_and_trains_as_a_bare_loop() -> None:
    run = Run("quadratic", "adam", seed=0, steps=20)
    assert run.scheduler is None and run.state_dict()["scheduler"] is None
    assert "initial_lr" not in run.optimizer.param_groups[0]  # no LambdaLR ever touched it
    inst = problems.get("quadratic").instance(0)
    opt = optimizers.make("adam", inst.parameters())
    for step in range(20):
        opt.step(inst.closure(inst.batch(step)))
    run.advance()
    for a, b in zip(run.instance.parameters(), inst.parameters(), strict=True):
        assert torch.equal(a, b)


def _mlp_run() -> Run:
    return Run("mlp", "adam", {"lr": 0.02, "schedule": "warmup_cosine", "warmup": 0.1}, seed=3,
               steps=30, eval_every=5, options={"n_train": 200, "n_val": 100, "n_test": 100, "hidden": 8})


def _roundtrip(state: dict) -> dict:
    """Through bytes as multi-init's trainable checkpoints it (torch.save / torch.load)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _without_wall(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in rows]


def test_resume_from_a_checkpoint_is_exact_under_warmup_cosine() -> None:
    whole = _mlp_run()
    whole_rows = whole.advance()

    first = _mlp_run()
    first_rows = first.advance(12)  # mid-schedule, between evaluations
    state = _roundtrip(first.state_dict())
    assert state["scheduler"]["last_epoch"] == 12

    resumed = _mlp_run()
    resumed.load_state_dict(state)
    assert resumed.optimizer.param_groups[0]["lr"] == first.optimizer.param_groups[0]["lr"]
    rest = resumed.advance()
    assert _without_wall(first_rows + rest) == _without_wall(whole_rows)
    for a, b in zip(whole.instance.parameters(), resumed.instance.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.optimizer.param_groups[0]["lr"] == whole.optimizer.param_groups[0]["lr"]

    # What makes it exact is the scheduler's state: a checkpoint without it (as written before
    # schedules existed) still loads, but the schedule restarts and the run goes elsewhere.
    stale = _mlp_run()
    stale.load_state_dict({k: v for k, v in _roundtrip(first.state_dict()).items() if k != "scheduler"})
    stale.advance()
    assert not all(torch.equal(a, b) for a, b in zip(whole.instance.parameters(), stale.instance.parameters()))


@pytest.mark.parametrize(("hparams", "words"), [
    ({"schedule": "linear"}, ["'linear'", "adam.schedule", "constant, warmup_cosine, step"]),
    ({"schedule": "warmup_cosine", "warmup": 1.5}, ["1.5", "adam.warmup", "0 <= warmup < 1"]),
    ({"schedule": "warmup_cosine", "warmup": "soon"}, ["'soon'", "adam.warmup", "a number"]),
    ({"warmup": 0.05}, ["adam.warmup", "schedule=warmup_cosine or step", "'constant'"]),
    ({"schedule": "warmup_cosine", "decay_factor": 0.5}, ["adam.decay_factor", "schedule=step"]),
    ({"schedule": "step", "decay_factor": 0.0}, ["0.0", "adam.decay_factor", "0 < decay_factor <= 1"]),
    ({"schedule": "step", "milestones": "0.75,0.5"}, ["'0.75,0.5'", "adam.milestones", "increasing fractions"]),
    ({"schedule": "step", "milestones": "0.5,1.5"}, ["adam.milestones", "each in (0, 1)"]),
    ({"schedule": "step", "milestones": "half"}, ["'half'", "adam.milestones"]),
    ({"warmpu": 0.1}, ["adam.warmpu", "accepted: amsgrad, betas, decoupled_weight_decay, eps, lr, weight_decay",
                       "schedule, warmup, decay_factor, milestones"]),
])
def test_bad_schedule_hyperparameters_are_one_line_errors(hparams: dict, words: list[str]) -> None:
    with pytest.raises(OptimizerError) as info:
        RunSpec.build("quadratic", "adam", 0, hparams=hparams)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize("name", optimizers.names())
def test_every_registered_optimizer_follows_a_schedule_or_refuses_it(name: str, tmp_path) -> None:
    """An optimizer with ``lr`` in its param groups trains at lr * factor(t); one without (the
    learned optimizer's ``lr_scale``) refuses any schedule but ``constant`` in one line."""
    extra = EXTRA_HPARAMS[name](tmp_path) if name in EXTRA_HPARAMS else {}
    has_lr = "lr" in optimizers.make(name, [torch.nn.Parameter(torch.ones(3))], **extra).param_groups[0]
    hparams = {**extra, "schedule": "warmup_cosine", "warmup": 0.5}
    if not has_lr:
        with pytest.raises(OptimizerError) as info:
            Run("quadratic", name, hparams, seed=0, steps=4)
        assert "\n" not in str(info.value) and f"{name}.schedule=constant" in str(info.value)
        return
    run = Run("quadratic", name, hparams, seed=0, steps=4)
    if run.status == "not_applicable":  # Muon, SOAP: nothing of theirs in a vector; the mlp has matrices
        run = Run("mlp", name, hparams, seed=0, steps=4)
    base = run.optimizer.param_groups[0]["initial_lr"]
    assert _lrs_used(run) == pytest.approx([base * f for f in (0.5, 1.0, 1.0, 0.5)], rel=1e-12)
    assert run.status == "ok" and run.step == 4


def test_factories_never_see_the_schedule_hyperparameters() -> None:
    seen = {}

    def factory(params, **hparams):
        seen.update(hparams)
        return torch.optim.SGD(params, **hparams)

    spec = optimizers.OptimizerSpec("_probe_sgd", "test only", factory, {"lr": 0.1}, {})
    optimizers.REGISTRY[spec.name] = spec
    try:
        resolved = optimizers.resolve_hparams(spec.name, {"schedule": "step"})
        assert set(resolved) == {"lr", *schedules.DEFAULTS} and set(seen) == {"lr"}
        seen.clear()
        optimizers.build(spec.name, [torch.nn.Parameter(torch.ones(2))], resolved)
        assert set(seen) == {"lr"}
    finally:
        del optimizers.REGISTRY[spec.name]
    with pytest.raises(ValueError, match="'warmup' is a schedule hyperparameter"):
        optimizers.register(optimizers.OptimizerSpec("_probe_clash", "test only", torch.optim.SGD,
                                                     {"lr": 0.1, "warmup": 0.0}, {}))
    assert "_probe_clash" not in optimizers.REGISTRY


def test_hp_columns_record_the_schedule() -> None:
    run = Run("quadratic", "adam", {"schedule": "warmup_cosine", "warmup": "0.05"}, seed=0, steps=5)
    run.advance()
    row = run.summary(test=False)
    assert (row["hp_schedule"], row["hp_warmup"]) == ("warmup_cosine", 0.05)
    assert json.loads(row["hparams"])["schedule"] == "warmup_cosine"
    fields = schema.RUNS.schema()
    assert fields.field("hp_schedule").type == pa.string() and fields.field("hp_milestones").type == pa.string()
    assert fields.field("hp_warmup").type == pa.float64() and fields.field("hp_decay_factor").type == pa.float64()
    back = results.conform("runs", [row, Run("quadratic", "sgd", seed=0, steps=1).summary(test=False)]).to_pandas()
    assert back["hp_schedule"].tolist() == ["warmup_cosine", "constant"]
    assert back["hp_warmup"].tolist() == [0.05, 0.0] and back["hp_milestones"].tolist() == ["0.5,0.75"] * 2


def test_every_schedule_is_its_own_run_and_the_default_is_the_constant_one() -> None:
    ids = {RunSpec.build("quadratic", "adam", 0, steps=50, hparams=h).run_id for h in (
        {}, {"schedule": "warmup_cosine"}, {"schedule": "warmup_cosine", "warmup": 0.05},
        {"schedule": "step"}, {"schedule": "step", "milestones": "0.3,0.6"})}
    assert len(ids) == 5
    assert RunSpec.build("quadratic", "adam", 0, steps=50, hparams={"schedule": "constant"}).run_id == \
        RunSpec.build("quadratic", "adam", 0, steps=50).run_id


def test_resolved_hyperparameters_resolve_to_themselves() -> None:
    # Specs are rebuilt from resolved hparams (spec.with_, multi-init trials, --tune-lr), and
    # suite files give lists: the same hparams and the same id every time.
    first = optimizers.resolve_hparams("adam", {"schedule": "step", "milestones": [0.3, 0.6, 0.9]})
    assert first["milestones"] == (0.3, 0.6, 0.9)
    assert optimizers.resolve_hparams("adam", first) == first
    as_json = json.loads(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in first.items()}))
    spec = RunSpec.build("quadratic", "adam", 0, hparams=first)
    assert RunSpec.build("quadratic", "adam", 0, hparams=as_json).run_id == spec.run_id
    assert spec.with_(seed=0).run_id == spec.run_id


def test_cli_hparam_flags_reach_the_run(tmp_path, capsys: pytest.CaptureFixture) -> None:
    args = cli.build_parser().parse_args([
        "run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--steps", "10",
        "--hparam", "adam.schedule=warmup_cosine", "--hparam", "adam.warmup=0.2", "--out", str(tmp_path)])
    specs = {s.optimizer: s for s in run_cmd.build_specs(args)}
    assert specs["adam"].hparams["schedule"] == "warmup_cosine" and specs["adam"].hparams["warmup"] == 0.2
    assert specs["sgd"].hparams["schedule"] == "constant"
    assert specs["adam"].hparam_source == "config"
    assert _lrs_used(Run(specs["adam"])) == pytest.approx([1e-3 * f for f in WARMUP_COSINE_10], rel=1e-12)
    # the same through a suite file's mapping
    suite = {"problems": ["quadratic"], "optimizers": ["adam"],
             "hparams": {"adam": {"schedule": "step", "milestones": [0.5]}}}
    (spec,) = suites.expand(suite, steps=10)
    assert spec.hparams["milestones"] == (0.5,)
    # and a bad value is exit 2 with one line, before any data or Ray
    code = cli.main(["run", "--problems", "quadratic", "--hparam", "adam.schedule=linear",
                     "--out", str(tmp_path / "never"), "--check"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bad value 'linear' for adam.schedule" in err[0]
    assert not (tmp_path / "never" / "runs").exists()
