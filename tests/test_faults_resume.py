"""The driver SIGKILLed mid-experiment, then ``--resume``: multi-init and RL training.

Each command runs as a real subprocess on its own embedded Ray (which dies with its driver),
is SIGKILLed once it has saved some progress, and is then resumed to completion; the Parquet
results must be complete, with no duplicate rows. ``raybench run`` is covered the same way on
the two-node cluster in test_cluster_run.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import raybench.tuning.experiment  # noqa: F401  (registers the rungs table)
from raybench import results
from tests.conftest import ROOT, cli, cli_env, wait_for


@pytest.mark.ray
@pytest.mark.slow
def test_multi_init_driver_sigkill_then_resume_completes(tmp_path: Path, ray_session) -> None:
    """Tune's experiment restore: the driver killed while trials checkpoint the first rung."""
    out = tmp_path / "mi"
    args = [sys.executable, "-m", "raybench.cli", "multi-init", "--problem", "quadratic",
            "--optimizer", "adam", "--num-models", "4", "--reduce-factor", "0.5",
            "--steps-per-round", "10", "--steps", "40", "--out", str(out),
            "--no-progress"]
    env = cli_env()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        # Killed once most trials have checkpointed rung 0, while the scheduler is judging it.
        wait_for(lambda: len(list(out.glob("tune/*/*/checkpoint_*"))) >= 3, 180, proc,
                  "trial checkpoints")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert not (out / "runs").exists(), "killed before the end: nothing final may be written yet"
    done = cli(*args[3:], "--resume")  # the resume in process, on the session's Ray
    assert done.returncode == 0, done.stderr[-3000:]
    runs, curves = results.read(str(out))
    rungs = results.read_table(str(out), "rungs")
    assert len(runs) == 4 and runs["run_id"].is_unique and set(runs["seed"]) == {0, 1, 2, 3}
    assert (runs["status"] == "ok").all(), runs[["seed", "status", "error"]]
    assert rungs.groupby("rung").size().tolist() == [4, 2, 1]
    assert sorted(runs["steps"]) == [10, 10, 20, 40]
    assert not curves.duplicated(["run_id", "step"]).any()


@pytest.mark.ray
@pytest.mark.slow
def test_rl_train_driver_sigkill_then_resume_from_last_checkpoint(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "rl"
    args = [sys.executable, "-m", "raybench.cli", "rl", "train", "--family", "quadratic",
            "--num-problems", "8", "--episode-steps", "20", "--env-runners", "0",
            "--train-batch", "200", "--minibatch", "100", "--epochs", "1", "--iterations", "3",
            "--checkpoint-every", "1", "--seed", "0", "--out", str(out), "--quiet"]
    env = cli_env()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    latest = out / "checkpoints" / "latest.json"
    try:
        wait_for(latest.exists, 300, proc, "the first RLlib checkpoint")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    killed_at = json.loads(latest.read_text())["iteration"]
    assert 1 <= killed_at < 3 and not (out / "policy.safetensors").exists()
    done = cli(*args[3:-1], "--resume")  # the resume in process, on the session's Ray
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"iteration {killed_at}" in done.stderr, done.stderr[-2000:]
    curves = results.read_table(str(out), "rl_curves")
    assert sorted(curves["iteration"]) == [1, 2, 3]  # every iteration once, none twice
    assert json.loads(latest.read_text())["iteration"] == 3
    assert (out / "policy.safetensors").exists() and (out / "policy.json").exists()


def test_collect_takes_the_furthest_checkpoint_not_tunes_possibly_stale_pointer(tmp_path: Path) -> None:
    """After a restore, Tune's ``result.checkpoint`` can lag what the trial saved (its experiment
    snapshot is older than the trial's last report): the run row comes from the checkpoint that
    got furthest, so a trial eliminated at rung 1 is not written with its rung-0 state."""
    import types

    import torch
    from ray.tune import Checkpoint

    from raybench.tuning.experiment import _furthest_saved
    from raybench.tuning.trainable import CHECKPOINT_FILE

    trial = tmp_path / "train_seed_seed=1"
    for i, progress in enumerate((10, 20)):
        (trial / f"checkpoint_00000{i}").mkdir(parents=True)
        torch.save({"progress": progress, "summary": {"steps": progress}, "curves": [], "run": {}},
                   trial / f"checkpoint_00000{i}" / CHECKPOINT_FILE)
    (trial / "checkpoint_000002").mkdir()  # being written when the driver died: no file yet
    stale = types.SimpleNamespace(checkpoint=Checkpoint.from_directory(str(trial / "checkpoint_000000")),
                                  path=str(trial))
    assert _furthest_saved(stale, torch)["summary"]["steps"] == 20
    assert _furthest_saved(types.SimpleNamespace(checkpoint=None, path=str(tmp_path / "none")), torch) is None
