"""``raybench rl train --address`` and ``raybench multi-init --address`` on a real two-node Ray
cluster whose head offers no CPU: multi-init's trials run on the worker node with a problem of the
user's shipped by --py-modules, and mixed-family meta-training whose env runners sample on the
worker node survives one of them being killed.

One cluster for the module (tests/cluster_util.py): a head node that offers no CPU and a
worker node with two, each a separate ``ray start`` process on this machine. An env runner is
an actor of one CPU, so both env runners of ``--env-runners 2`` land on the worker node by
construction (not by timing), while the driver (and its learner) runs beside the head.

The check: once PPO iteration 1 is done, SIGKILL one env runner's process. RLlib takes it out
of service, the iteration goes on with the other, Ray restarts the actor on the worker node and
RLlib brings it back (``rl.train.ppo_config``'s fault tolerance); the command still exits 0
with every iteration in ``rl_curves``, whose ``env_runner_restarts`` records the restart.
RLlib only brings a runner back at the start of an iteration, so the other env runner is held
(SIGSTOP) until the replacement is up: how fast Ray restarts an actor on a loaded machine
cannot decide whether that happens before the last iteration.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.cluster_util import LocalCluster
from tests.conftest import ROOT, cli_env, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

ENV_RUNNER = "SingleAgentEnvRunner"  # RLlib's env runner class on the new API stack
ITERATIONS = 6
FAMILIES = "quadratic,logistic,mlp"  # rl.mixed_env: a family and its sizes drawn per episode


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(worker_nodes=1, head_cpus=0, worker_cpus=2) as c:
        yield c


CLUSTER_PROBLEM = """
import dataclasses

from raybench import problems


def make_problem():
    return dataclasses.replace(problems.get("quadratic"), name="cluster_quadratic")
"""
"""A problem of the user's: the quadratic under its own name, in a module only in tmp_path."""


def test_multi_init_runs_unchanged_on_the_cluster(cluster: LocalCluster, tmp_path: Path) -> None:
    """``raybench multi-init --address``: the head offers no CPU and every trial needs one, so
    every trial runs on the worker node by construction, whichever trial Tune starts first and
    wherever. The problem is named by import path from a module that lives only in a temporary
    folder: it reaches the worker node's trials through --py-modules alone."""
    module = tmp_path / "mods" / "cluster_problem.py"
    module.parent.mkdir()
    module.write_text(CLUSTER_PROBLEM)
    mi = tmp_path / "mi"  # one machine, so every node sees this folder (Tune's trial checkpoints)
    proc = subprocess.run(
        [sys.executable, "-m", "raybench.cli", "multi-init", "--problem", "cluster_problem:make_problem",
         "--py-modules", str(module), "--optimizer", "adam",
         "--num-models", "4", "--steps-per-round", "5", "--steps", "40",
         "--address", cluster.address, "--out", str(mi), "--no-progress"],
        capture_output=True, text=True, timeout=300, env=cluster.env(cli_env()), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    worker = cluster.node_id(cluster.workers[0])
    trials = pd.read_parquet(mi / "runs")
    assert sorted(trials["seed"]) == [0, 1, 2, 3] and sorted(trials["steps"]) == [5, 5, 10, 40]
    assert set(trials["node_id"]) == {worker}, trials[["seed", "node_id"]]
    assert (trials["status"] == "ok").all(), trials[["status", "error"]]
    assert set(trials["problem"]) == {"cluster_quadratic"}
    assert set(trials["problem_path"]) == {"cluster_problem:make_problem"}


def test_env_runners_sample_on_the_worker_node_and_a_killed_one_is_replaced(
        cluster: LocalCluster, tmp_path: Path) -> None:
    out, log = tmp_path / "rl", tmp_path / "rl_train.stderr"
    args = [sys.executable, "-m", "raybench.cli", "rl", "train", "--family", FAMILIES,
            "--batch-problems", "4", "--num-problems", "8", "--episode-steps", "20",
            "--env-runners", "2", "--envs-per-runner", "2", "--train-batch", "200",
            "--minibatch", "100", "--epochs", "1", "--timesteps", "1000000",
            "--iterations", str(ITERATIONS), "--checkpoint-every", "3",
            "--address", cluster.address, "--out", str(out)]
    worker, head = cluster.workers[0], cluster.head
    with open(log, "w") as stderr:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env=cluster.env(cli_env()), cwd=ROOT)
        try:
            wait_for(lambda: re.search(r"^iter +[1-9]", log.read_text(), re.M), 240, proc, "PPO iteration 1", log)
            # Both env runners, which sampled iteration 1, are processes of the worker node.
            runners = worker.actor_pids(ENV_RUNNER)
            assert len(runners) == 2 and head.actor_pids(ENV_RUNNER) == [], (runners, head.actor_pids(ENV_RUNNER))
            victim, other = runners
            # The other env runner is paused until the killed one's replacement is up: the
            # iteration under way cannot end without it, so RLlib meets the replacement at the
            # start of a later iteration however long Ray takes to restart the actor.
            os.kill(other, signal.SIGSTOP)
            try:
                os.kill(victim, signal.SIGKILL)
                replacement = wait_for(lambda: [
                    pid for pid in worker.actor_pids(ENV_RUNNER, idle=True) if pid not in runners],
                    240, proc, "a restarted env runner on the worker node", log)
            finally:
                os.kill(other, signal.SIGCONT)
            assert head.actor_pids(ENV_RUNNER) == []
            stdout, _ = proc.communicate(timeout=300)
        finally:
            proc.kill()
            proc.communicate()
    err = log.read_text()
    assert proc.returncode == 0, err[-3000:]
    assert f"trained {ITERATIONS} iterations" in stdout, stdout
    assert (out / "policy.safetensors").exists() and (out / "policy.json").exists()
    curves = pd.read_parquet(out / "rl_curves").sort_values("iteration")
    assert list(curves["iteration"]) == list(range(1, ITERATIONS + 1))
    assert (curves["env_steps"].diff().dropna() > 0).all(), curves[["iteration", "env_steps"]]
    # RLlib took the killed env runner out of service and brought its replacement back.
    faults = curves[["iteration", "env_runners_healthy", "env_runner_restarts"]]
    assert curves["env_runners_healthy"].min() == 1 and curves["env_runners_healthy"].iloc[-1] == 2, faults
    assert curves["env_runner_restarts"].iloc[-1] == 1, faults
    assert re.search(r"env runners 1/2 in service, 0 restarts", err), err[-3000:]
    assert re.search(r"env runners 2/2 in service, 1 restarts", err), err[-3000:]
    assert len(replacement) == 1
