"""``raybench rl`` end to end on the CPU: a short real PPO training, eval, export, resume, errors.

One training (8,000 env steps on ``quadratic``, 0 env runners, ~30 s) is shared by the tests
of this module; nothing about RLlib or Ray is mocked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from raybench.learned.policy import load_policy
from raybench.rl.env import pool_seeds
from raybench.train import Run
from tests.conftest import cli, ok, raybench
from tests.test_tuning_cli import _spy_ray, user_modules, write_module  # noqa: F401 (a fixture)

HELDOUT = 10
STEPS = 40


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rl") / "policy"
    proc = raybench("rl", "train", "--family", "quadratic", "--num-problems", "90", "--episode-steps", str(STEPS),
                    "--env-runners", "0", "--timesteps", "8000", "--checkpoint-every", "2", "--seed", "0",
                    "--out", str(out), timeout=400, check=True)
    assert "iter    4" in proc.stderr, proc.stderr[-2000:]  # progress while it trains
    return out


def _mean_final_objective(policy: Path) -> float:
    finals = []
    for seed in pool_seeds("heldout", HELDOUT):
        run = Run("quadratic", "autonomous", {"policy": str(policy)}, seed, steps=STEPS, eval_every=STEPS)
        run.advance()
        assert run.status == "ok"
        finals.append(run.last_metrics["loss"])
    return sum(finals) / len(finals)


@pytest.mark.ray
@pytest.mark.slow
def test_training_writes_curves_checkpoint_and_policy(trained: Path) -> None:
    curves = pd.read_parquet(trained / "rl_curves").sort_values("iteration")
    assert list(curves["iteration"]) == [1, 2, 3, 4]
    assert list(curves["env_steps"]) == [2000, 4000, 6000, 8000]
    assert curves["episode_return_mean"].notna().all() and (curves["env_steps_per_s"] > 0).all()
    assert json.loads((trained / "checkpoints" / "latest.json").read_text())["iteration"] == 4
    meta = load_policy(trained / "policy.safetensors").metadata
    assert meta["training"]["family"] == "quadratic" and meta["training"]["env_steps"] == 8000
    assert meta["history"] == 25 and meta["update_scale"] == 0.1


@pytest.mark.ray
@pytest.mark.slow
def test_trained_policy_beats_the_untrained_one_on_held_out_instances(trained: Path) -> None:
    """Same network before (policy_init) and after PPO, same held-out seeds, same budget."""
    before = _mean_final_objective(trained / "policy_init.safetensors")
    after = _mean_final_objective(trained / "policy.safetensors")
    assert after < before, (after, before)


@pytest.mark.ray
@pytest.mark.slow
def test_eval_compares_with_adam_on_held_out_seeds(trained: Path, tmp_path: Path, ray_session) -> None:
    out = tmp_path / "eval"
    proc = ok(cli("rl", "eval", "--policy", str(trained / "policy.safetensors"), "--family", "quadratic",
                  "--seeds", "3", "--steps", str(STEPS), "--optimizers", "adam", "--out", str(out), "--no-progress"))
    assert "| quadratic | autonomous |" in proc.stdout and "| quadratic | adam |" in proc.stdout
    runs = pd.read_parquet(out / "runs")
    assert sorted(runs["seed"].unique()) == pool_seeds("heldout", 3)
    assert set(runs["optimizer"]) == {"adam", "autonomous"} and (runs["status"] == "ok").all()
    auto = runs[runs["optimizer"] == "autonomous"].set_index("seed")["final_val_loss"]
    # The Ray workers computed what this process computes (up to float summation order: the
    # workers run torch on one thread).
    for seed, value in auto.items():
        run = Run("quadratic", "autonomous", {"policy": str(trained / "policy.safetensors")}, seed,
                  steps=STEPS, eval_every=STEPS)
        run.advance()
        assert run.last_metrics["loss"] == pytest.approx(value, rel=1e-5)


@pytest.mark.ray
@pytest.mark.slow
def test_export_from_checkpoint_gives_identical_actions(trained: Path, tmp_path: Path) -> None:
    ok(cli("rl", "export", "--from", str(trained), "--out", str(tmp_path / "again")))
    a = load_policy(trained / "policy.safetensors").network
    exported = load_policy(tmp_path / "again.safetensors")
    b, meta = exported.network, exported.metadata
    obs = torch.rand(16, a.layout.rows, 11) * 2 - 1
    torch.testing.assert_close(a.act(obs), b.act(obs), rtol=0, atol=0)
    assert meta["training"]["iterations"] == 4


@pytest.mark.ray
@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(trained: Path, tmp_path: Path, ray_session) -> None:
    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    proc = ok(cli("rl", "train", "--out", str(out), "--resume", "--timesteps", "10000"))
    assert "resumed from" in proc.stderr and "iteration 4" in proc.stderr
    curves = pd.read_parquet(out / "rl_curves").sort_values("iteration")
    assert list(curves["iteration"]) == [1, 2, 3, 4, 5]
    assert curves["env_steps"].iloc[-1] == 10000
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["iteration"] == 5


@pytest.mark.parametrize("args, message", [
    (["rl", "train", "--family", "mnist_cnn", "--out", "OUT"], "unknown family 'mnist_cnn'"),
    (["rl", "train", "--env-runners", "-1", "--out", "OUT"], "--env-runners"),
    (["rl", "train", "--resume", "--out", "OUT"], "nothing to resume"),
    (["rl", "eval", "--policy", "OUT/none.safetensors", "--family", "quadratic", "--out", "OUT/e"], "not found"),
])
def test_user_errors_are_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = cli(*[a.replace("OUT", str(tmp_path / "o")) for a in args])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.ray
def test_a_pickle_given_as_policy_is_refused_by_run(tmp_path: Path, ray_session) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(1)}, evil)
    proc = cli("run", "--problems", "quadratic", "--optimizers", "autonomous", "--seeds", "1",
                    "--steps", "2", "--hparam", f"autonomous.policy={evil}", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "pickle" in proc.stderr, proc.stderr[-2000:]


USER_MODULE = '''
import torch

from raybench.problems import Problem
from raybench.problems.quadratic import QuadraticInstance


class HalfSGD(torch.optim.SGD):
    """An optimizer of the user's."""


def make_family():
    return Problem(name="my_quad_family", description="a 3-d quadratic family", family=True,
                   metrics={"suboptimality": "min", "loss": "min"},
                   make=lambda seed, **o: QuadraticInstance(seed, dim=3, eig_min=1.0, eig_max=2.0, steps=8,
                                                            target_gap=1e-3))
'''
"""A family and an optimizer of the user's, in a module that lives only in a test's temporary folder."""


@pytest.mark.parametrize("args, message", [
    (["rl", "train", "--family", "quadratic,mymod:make_family", "--out", "OUT"],
     "problem 'mymod:make_family': module 'mymod' does not import"),
    (["rl", "eval", "--policy", "OUT/p.safetensors", "--family", "quadratic", "--py-modules", "OUT/none.py",
      "--out", "OUT/e"], "--py-modules OUT/none.py: not a .py file or a package folder"),
    (["rl", "eval", "--policy", "OUT/p.safetensors", "--family", "quadratic", "--optimizers", "adam,nomod:Opt",
      "--out", "OUT/e"], "optimizer 'nomod:Opt': module 'nomod' does not import"),
    (["rl", "eval", "--policy", "OUT/p.safetensors", "--heldout", "--py-modules", "OUT/none.py", "--out", "OUT/e"],
     "--py-modules does not apply with --heldout"),
    (["rl", "eval", "--policy", "OUT/p.safetensors", "--family", "quadratic", "--max-retries", "-1",
      "--out", "OUT/e"], "bad --max-retries -1"),
])
@pytest.mark.usefixtures("user_modules")
def test_new_options_are_checked_in_one_line_before_ray(args: list[str], message: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    started = _spy_ray(monkeypatch)
    proc = cli(*[a.replace("OUT", str(tmp_path)) for a in args])
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and message.replace("OUT", str(tmp_path)) in err[0], err
    assert not started and not (tmp_path / "e").exists()


@pytest.mark.usefixtures("user_modules")
def test_eval_takes_a_family_and_baselines_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rl eval resolves --family and --optimizers as run does (import paths, --py-modules shipped to
    Ray), reads the folder once before Ray starts and hands the specs to the runner's stage."""
    import raybench.runner
    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    module = write_module(tmp_path / "mods", "my_rl_entries", USER_MODULE)
    policy, _ = save_policy(CoordinatewisePolicy(), tmp_path / "p", update_scale=0.05)
    started = _spy_ray(monkeypatch)
    handed: dict = {}

    class Stop(Exception):
        pass

    def run_specs(specs, out, **kw):
        handed.update(specs=list(specs), **kw)
        raise Stop

    monkeypatch.setattr(raybench.runner, "run_specs", run_specs)
    with pytest.raises(Stop):
        cli("rl", "eval", "--policy", str(policy), "--family", "my_rl_entries:make_family",
            "--optimizers", f"adam,halfsgd={module.stem}:HalfSGD", "--py-modules", str(module),
            "--seeds", "2", "--out", str(tmp_path / "e"))
    assert [k["py_modules"] for _, k in started] == [[str(module)]]
    specs = handed["specs"]
    assert {(s.problem, s.problem_path) for s in specs} == {("my_quad_family", "my_rl_entries:make_family")}
    assert sorted({(s.optimizer, s.optimizer_path) for s in specs}) == [
        ("adam", None), ("autonomous", None), ("halfsgd", "my_rl_entries:HalfSGD")]
    assert handed["done"] == set() and len(specs) == 2 * 3
