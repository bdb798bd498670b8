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
from tests.conftest import raybench

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
def test_eval_compares_with_adam_on_held_out_seeds(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = raybench("rl", "eval", "--policy", str(trained / "policy.safetensors"), "--family", "quadratic",
                    "--seeds", "3", "--steps", str(STEPS), "--optimizers", "adam", "--out", str(out),
                    "--no-progress", check=True)
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
    raybench("rl", "export", "--from", str(trained), "--out", str(tmp_path / "again"), check=True)
    a = load_policy(trained / "policy.safetensors").network
    exported = load_policy(tmp_path / "again.safetensors")
    b, meta = exported.network, exported.metadata
    obs = torch.rand(16, a.layout.rows, 11) * 2 - 1
    torch.testing.assert_close(a.act(obs), b.act(obs), rtol=0, atol=0)
    assert meta["training"]["iterations"] == 4


@pytest.mark.ray
@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    proc = raybench("rl", "train", "--out", str(out), "--resume", "--timesteps", "10000", check=True)
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
    proc = raybench(*[a.replace("OUT", str(tmp_path / "o")) for a in args])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.ray
def test_a_pickle_given_as_policy_is_refused_by_run(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(1)}, evil)
    proc = raybench("run", "--problems", "quadratic", "--optimizers", "autonomous", "--seeds", "1",
                    "--steps", "2", "--hparam", f"autonomous.policy={evil}", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "pickle" in proc.stderr, proc.stderr[-2000:]
