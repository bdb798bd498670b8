"""``raybench run --address`` on a real two-node Ray cluster, and the faults it must survive.

One cluster for the module (tests/cluster_util.py): a head and a worker node, each a
separate ``ray start`` process with its own temp folder and ports on this machine, 1 CPU
each, token auth on, the head's dashboard (job API) on 127.0.0.1. Every check reads the Parquet results back:

- runs execute on both nodes (each run row records its ``node_id``), ``--out`` takes a
  ``file://`` URI (the pyarrow filesystem path that ``s3://`` and ``gs://`` also take), and a
  suite name with ``../`` writes nothing outside ``--out``;
- ``ray job submit -- raybench run --address auto`` (the README's way onto a cluster) runs
  the suite on this cluster;
- (``rl train`` and ``multi-init`` with ``--address`` are in test_rl_cluster.py, on that
  module's cluster whose head offers no CPU: env runners placed, killed and replaced there);
- a worker process SIGKILLed mid-run: Ray retries the run, the suite completes, every run
  exactly once and ``ok``;
- a run lost more often than ``--max-retries`` allows: exit 1 naming it, every other run
  written, ``--resume`` redoes just that one;
- the driver SIGKILLed mid-suite: ``--resume`` completes it, no duplicate run or curve row,
  every file readable;
- the worker node killed mid-suite (raylet and all its processes): its runs are redone on
  the head, every run exactly once. This one runs last: it takes the worker away.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from raybench import results
from tests.cluster_util import LocalCluster
from tests.conftest import ROOT, cli, cli_env, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(worker_nodes=1, head_cpus=1, worker_cpus=1, dashboard=True) as c:
        yield c


def _run_args(cluster: LocalCluster, out: str, *, problems: str, optimizers: str, seeds: int,
              steps: int) -> list[str]:
    return [sys.executable, "-m", "raybench.cli", "run", "--problems", problems,
            "--optimizers", optimizers, "--seeds", str(seeds), "--steps", str(steps),
            "--out", out, "--address", cluster.address, "--no-progress"]


def _env(cluster: LocalCluster, **extra: str) -> dict[str, str]:
    return cluster.env(cli_env(**extra))


def _check_complete(out: Path, n_runs: int) -> pd.DataFrame:
    """Every run exactly once, ok; every curve row once; every file whole."""
    runs, curves = results.read(str(out))  # raises ResultsError on any corrupt part
    assert len(runs) == n_runs and runs["run_id"].is_unique, runs[["run_id", "status"]]
    assert (runs["status"] == "ok").all(), runs[["run_id", "status", "error"]]
    assert set(curves["run_id"]) == set(runs["run_id"])
    assert not curves.duplicated(["run_id", "step"]).any()
    return runs


USER_MODULE = """
import torch


class HalvedSGD(torch.optim.SGD):
    \"\"\"SGD at half the given learning rate: a class no installed package has.\"\"\"

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.0):
        super().__init__(params, lr=lr / 2, momentum=momentum)
"""


def test_suite_runs_on_both_nodes_and_writes_to_a_uri(cluster: LocalCluster, tmp_path: Path) -> None:
    """One suite on both nodes, written to a file:// URI, with a hostile suite name, and an
    optimizer from a module that lives only in a temporary folder (not installed, not on any
    path the nodes have): ``--py-modules`` ships it to both nodes, and every run, wherever Ray
    puts it, builds the user's class from it."""
    box = tmp_path / "box"
    out = box / "both"
    uri = out.as_uri()  # file:///...
    assert uri.startswith("file:///")
    module = tmp_path / "only_here" / "halved_sgd_mod.py"
    module.parent.mkdir()
    module.write_text(USER_MODULE)
    # A suite whose name tries to climb out of --out: names are data, never paths.
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: ../../../escape\nproblems: [quadratic, logistic]\n"
                     "optimizers: [adam, {name: halved, path: 'halved_sgd_mod:HalvedSGD'}]\n"
                     "hparams: {halved: {momentum: 0.5}}\nseeds: 2\nsteps: 40\n")
    proc = subprocess.run(
        [sys.executable, "-m", "raybench.cli", "run", "--config", str(suite), "--out", uri,
         "--address", cluster.address, "--py-modules", str(module), "--no-progress"],
        capture_output=True, text=True, timeout=300, env=_env(cluster), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = _check_complete(out, 8)
    nodes = {cluster.node_id(cluster.head), cluster.node_id(cluster.workers[0])}
    assert set(runs["node_id"]) == nodes, runs["node_id"].value_counts()
    halved = runs[runs["optimizer"] == "halved"]
    assert set(halved["optimizer_path"]) == {"halved_sgd_mod:HalvedSGD"} and (halved["hp_momentum"] == 0.5).all()
    assert len(halved) == 4 and (halved["status"] == "ok").all()
    # The same dataset through the URI and through pandas on the plain path.
    assert len(results.read_table(uri, "runs")) == 8
    assert len(pd.read_parquet(out / "runs")) == 8
    outside = [p for p in tmp_path.rglob("*")
               if p not in (box, out, suite, module, module.parent) and out not in p.parents]
    assert outside == []
    # Without --py-modules the same optimizer is refused up front: the module is nowhere to import.
    refused = cli("run", "--problems", "quadratic", "--optimizers", "halved_sgd_mod:HalvedSGD",
                  "--out", str(tmp_path / "none"), "--check")
    assert refused.returncode == 2 and "module 'halved_sgd_mod' does not import" in refused.stderr, refused.stderr


def test_external_tuning_runs_unchanged_on_the_cluster(cluster: LocalCluster, tmp_path: Path) -> None:
    """AlgoPerf's external tuning, 1 study x 2 trials, joined to the two-node cluster: the trials
    and the tuned runs are ordinary runs there, and the tables say what was tried and chosen."""
    out = tmp_path / "external"
    proc = subprocess.run(
        [sys.executable, "-m", "raybench.cli", "run", "--problems", "quadratic", "--optimizers", "adam",
         "--seeds", "1", "--steps", "20", "--tuning", "external", "--studies", "1", "--trials", "2",
         "--out", str(out), "--address", cluster.address, "--no-progress"],
        capture_output=True, text=True, timeout=300, env=_env(cluster), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = results.read_table(str(out), "tuning")
    assert sorted(trials["trial"]) == [0, 1] and (trials["study"] == 0).all() and trials["chosen"].sum() == 1
    summary = results.read_table(str(out), "tuning_summary")
    assert len(summary) == 1 and summary["cost_trials"].item() == 2
    runs = _check_complete(out, 1)  # the chosen point on the evaluation seed
    assert (runs["hparam_source"] == "tuned").all()
    chosen = trials[trials["chosen"]].iloc[0]
    assert runs["hp_lr"].item() == pytest.approx(json.loads(chosen["point"])["lr"])


def test_run_submitted_as_a_ray_job_joins_the_cluster_it_runs_on(cluster: LocalCluster, tmp_path: Path) -> None:
    """The README's way onto a cluster: ``ray job submit -- raybench run ... --address auto``."""
    out = tmp_path / "job"
    entry = (f"{sys.executable} -m raybench.cli run --problems quadratic --optimizers adam,sgd "
             f"--seeds 2 --steps 40 --address auto --out {out} --no-progress")
    ray_cli = str(Path(sys.executable).with_name("ray"))
    proc = subprocess.run([ray_cli, "job", "submit", "--address", cluster.dashboard_url,
                           "--submission-id", "raybench-job-test", "--", *entry.split()],
                          capture_output=True, text=True, timeout=300, env=_env(cluster), cwd=ROOT)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "4 runs in" in proc.stdout + proc.stderr  # the job's own output, followed to the end
    assert "succeeded" in proc.stdout + proc.stderr
    runs = _check_complete(out, 4)
    # The job's driver joined this cluster (it did not start a private Ray on the head).
    assert set(runs["node_id"]) <= {cluster.node_id(cluster.head), cluster.node_id(cluster.workers[0])}




def test_a_gpu_request_no_node_meets_waits_pending_timeout_then_exit_2(cluster: LocalCluster, tmp_path: Path) -> None:
    """On a cluster an autoscaler may still add GPU nodes: a warning, then after
    ``--pending-timeout`` one line and exit 2, with no run started."""
    out = tmp_path / "gpu"
    args = _run_args(cluster, str(out), problems="quadratic", optimizers="adam", seeds=1, steps=10)
    proc = subprocess.run([*args, "--gpus-per-run", "0.5", "--pending-timeout", "2"],
                          capture_output=True, text=True, timeout=300, env=_env(cluster), cwd=ROOT)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("raybench: warning:") and "waiting for the autoscaler" in ln for ln in lines), lines
    assert lines[-1].startswith("raybench: error: no node with 1 CPUs and 0.5 GPUs for a run appeared "
                                "within --pending-timeout 2 s"), lines
    assert not (out / "runs").exists()


def _kill_worker_node_runs(cluster: LocalCluster, args: list[str]) -> tuple[subprocess.Popen, str, list[int]]:
    """Start ``args``, SIGKILL the worker processes running a run on the worker node, let the
    driver finish: ``(process, its stderr, the pids killed)``."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(cluster), cwd=ROOT)
    try:
        worker = cluster.workers[0]
        victims = wait_for(lambda: worker.task_pids("execute"), 120, proc, "a run on the worker node")
        time.sleep(0.2)  # inside the run (a run here takes seconds)
        for pid in victims:
            subprocess.run(["kill", "-9", str(pid)], check=False)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    return proc, err, victims


@pytest.mark.parametrize("token", [None, "not-the-clusters-token"])
def test_a_cluster_that_wants_a_token_is_one_line_and_exit_2_at_once(cluster: LocalCluster, tmp_path: Path,
                                                                    token: str | None) -> None:
    # Ray 2.60 clusters ask for a token; without the right one ray.init retried for 20 s, logging a
    # warning a second, and ended in a traceback.
    env = {k: v for k, v in cli_env().items() if not k.startswith("RAY_AUTH_")}
    if token is not None:
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    else:
        env["RAY_AUTH_MODE"] = "disabled"
    proc = subprocess.run(_run_args(cluster, str(tmp_path / "r"), problems="quadratic", optimizers="adam",
                                    seeds=1, steps=5), capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("raybench: error: the Ray cluster at --address") and "RAY_AUTH_MODE=token" in last
    assert ("a token that is not the cluster's" if token else "sent no token") in last
    # One connection tried, not Ray's 20 (each logs this warning of Ray's own).
    assert "Traceback" not in proc.stderr and proc.stderr.count("Failed to get cluster ID") < 5, proc.stderr
    assert not (tmp_path / "r" / "runs").exists()


def test_killed_worker_process_is_retried(cluster: LocalCluster, tmp_path: Path) -> None:
    out = tmp_path / "wkill"
    proc, err, _ = _kill_worker_node_runs(cluster, _run_args(
        cluster, str(out), problems="quadratic", optimizers="adam,sgd", seeds=2, steps=300))
    assert proc.returncode == 0, err[-3000:]
    _check_complete(out, 4)


def test_run_lost_beyond_max_retries_exits_1_keeps_the_rest_and_resume_redoes_it(
        cluster: LocalCluster, tmp_path: Path) -> None:
    out = tmp_path / "lost"
    args = [*_run_args(cluster, str(out), problems="quadratic", optimizers="adam,sgd", seeds=2, steps=300),
            "--max-retries", "0"]
    proc, err, victims = _kill_worker_node_runs(cluster, args)
    assert proc.returncode == 1, err[-3000:]
    assert f"{len(victims)} runs lost to worker or node failures after 0 retries" in err, err[-3000:]
    assert "rerun with --resume" in err and "Traceback" not in err
    kept = results.read_table(str(out), "runs")
    assert len(kept) == 4 - len(victims) and (kept["status"] == "ok").all()
    done = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=300,
                          env=_env(cluster), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_complete(out, 4)


def test_driver_sigkill_then_resume_completes_exactly_once(cluster: LocalCluster, tmp_path: Path) -> None:
    out = tmp_path / "dkill"
    # Long enough that the driver is surely killed mid-suite even on an idle machine.
    args = _run_args(cluster, str(out), problems="quadratic,logistic", optimizers="adam,sgd",
                     seeds=4, steps=1500)
    env = _env(cluster, RAYBENCH_FLUSH_EVERY_RUNS="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        wait_for(lambda: list((out / "runs").glob("part-*.parquet")), 180, proc, "the first finished run")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    partial = results.read_table(str(out), "runs")
    assert 0 < len(partial) < 16
    done = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resume: {len(partial)} of 16 runs already" in done.stderr
    runs = _check_complete(out, 16)
    assert set(partial["run_id"]) <= set(runs["run_id"])


def test_killed_worker_node_runs_are_redone_on_the_head(cluster: LocalCluster, tmp_path: Path) -> None:
    out = tmp_path / "nkill"
    worker = cluster.workers[0]
    lost_node = cluster.node_id(worker)
    proc = subprocess.Popen(_run_args(cluster, str(out), problems="quadratic", optimizers="adam,sgd",
                                      seeds=2, steps=300),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(cluster), cwd=ROOT)
    try:
        wait_for(lambda: worker.task_pids("execute"), 120, proc, "a run on the worker node")
        time.sleep(0.2)
        worker.kill(signal.SIGKILL)  # the whole node at once, as a lost machine
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    runs = _check_complete(out, 4)
    # The run that was on the lost node was not recorded there: it was redone on the head.
    head = cluster.node_id(cluster.head)
    assert (runs["node_id"] == head).sum() >= 1
    assert set(runs["node_id"]) <= {head, lost_node}
