"""Chaos: kill Ray worker processes, a worker node and the driver during ``raybench run``.

Starts a real multi-node Ray cluster on this machine (tests/cluster_util.py: a head and two
worker nodes, each a separate ``ray start`` process with its own temp folder and ports, token
auth on), then runs one suite through ``raybench run --address`` under each fault:

1. ``worker-processes``: every few seconds a random Ray worker process that is executing a
   run is SIGKILLed (Ray retries the task);
2. ``worker-node``: one worker node is killed whole (raylet and every process of it) in the
   middle of the suite, and a fresh node joins later, as an autoscaler would replace it;
3. ``driver``: the ``raybench run`` driver is SIGKILLed, several times, each time after some
   runs are on disk; ``raybench run --resume`` is started again until the suite completes;
4. ``two-writers``: while one ``raybench run`` writes the folder, the same command with
   ``--resume`` is started on it, ``kills`` times: each must be refused (exit 2, naming the
   first writer), and the first completes alone.

For each it reads the Parquet results back and prints runs planned / completed / lost /
duplicated (and failed, the kills done and the wall time). "Lost" is a planned run with no
row; "duplicated" is a run with more than one row, or a curve point written twice.

How to run:
    .venv/bin/python benchmarks/chaos.py [--seeds 4] [--steps 300] [--kills 4]

Results to expect: every scenario completes with lost 0 and duplicated 0 and failed 0; the
wall time grows with the work the kills throw away. Numbers in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from raybench import results, suites  # noqa: E402
from tests.cluster_util import LocalCluster  # noqa: E402

PROBLEMS = ["quadratic", "logistic"]
OPTIMIZERS = ["adam", "sgd", "rmsprop"]


def planned_ids(seeds: int, steps: int) -> set[str]:
    suite = {"name": "chaos", "problems": PROBLEMS, "optimizers": OPTIMIZERS}
    return {spec.run_id for spec in suites.expand(suite, steps=steps, seeds=seeds)}


def run_args(cluster: LocalCluster, out: Path, seeds: int, steps: int) -> list[str]:
    return [sys.executable, "-m", "raybench.cli", "run", "--problems", ",".join(PROBLEMS),
            "--optimizers", ",".join(OPTIMIZERS), "--seeds", str(seeds), "--steps", str(steps),
            "--out", str(out), "--address", cluster.address, "--no-progress"]


def driver_env(cluster: LocalCluster) -> dict[str, str]:
    env = cluster.env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["RAYBENCH_FLUSH_EVERY_RUNS"] = "1"  # write each run as it finishes: the most crash points
    return env


def tally(out: Path, planned: set[str]) -> dict[str, int]:
    runs, curves = results.read(str(out))  # raises (naming the file) on any corrupt part
    # the rows as written (the reader keeps the first of a run written twice: count them here)
    raw = pd.read_parquet(out / "runs", columns=["run_id"]) if (out / "runs").exists() else runs
    ids = list(raw["run_id"]) if "run_id" in raw else []
    dup_curves = int(curves.duplicated(["run_id", "step"]).sum()) if len(curves) else 0
    return {
        "planned": len(planned),
        "completed": len(set(ids) & planned),
        "lost": len(planned - set(ids)),
        "duplicated": len(ids) - len(set(ids)) + dup_curves,
        "failed": int((runs["status"] != "ok").sum()) if len(runs) else 0,
    }


def scenario_worker_processes(cluster: LocalCluster, out: Path, seeds: int, steps: int,
                              kills: int) -> dict[str, int]:
    proc = subprocess.Popen(run_args(cluster, out, seeds, steps), env=driver_env(cluster), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = 0
    rng = random.Random(0)
    nodes = [cluster.head, *cluster.workers]
    while proc.poll() is None and done < kills:
        victims = [pid for node in nodes for pid in node.task_pids("execute")]
        if victims:
            time.sleep(rng.uniform(0.2, 1.0))  # somewhere inside the run
            pid = rng.choice(victims)
            try:
                os.kill(pid, signal.SIGKILL)
                done += 1
            except ProcessLookupError:
                pass
            time.sleep(1.5)
        else:
            time.sleep(0.1)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"raybench run failed ({proc.returncode}):\n{err[-3000:]}")
    return {"kills": done}


def scenario_worker_node(cluster: LocalCluster, out: Path, seeds: int, steps: int,
                         kills: int) -> dict[str, int]:
    proc = subprocess.Popen(run_args(cluster, out, seeds, steps), env=driver_env(cluster), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    victim = cluster.workers[-1]
    # Kill the node while it is running something, once a few runs are done elsewhere.
    while proc.poll() is None:
        if victim.task_pids("execute") and len(list((out / "runs").glob("part-*"))) >= 2:
            break
        time.sleep(0.1)
    killed = 0
    if proc.poll() is None:
        victim.kill(signal.SIGKILL)
        cluster.workers.remove(victim)
        victim.stop()
        killed = 1
        # A replacement node joins a little later (what the autoscaler does on a cloud).
        replacement = threading.Timer(5.0, cluster.add_worker)
        replacement.start()
    _, err = proc.communicate()
    if killed:
        replacement.join()
    if proc.returncode != 0:
        raise SystemExit(f"raybench run failed ({proc.returncode}):\n{err[-3000:]}")
    return {"kills": killed}


def scenario_driver(cluster: LocalCluster, out: Path, seeds: int, steps: int, kills: int) -> dict[str, int]:
    args = run_args(cluster, out, seeds, steps)
    done = 0
    attempts = 0
    while True:
        attempts += 1
        resume = ["--resume"] if attempts > 1 else []
        before = len(list((out / "runs").glob("part-*"))) if out.exists() else 0
        proc = subprocess.Popen([*args, *resume], env=driver_env(cluster), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done < kills:
            # Let this attempt finish two more runs, then SIGKILL it.
            while proc.poll() is None and len(list((out / "runs").glob("part-*"))) < before + 2:
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                done += 1
                continue
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"raybench run failed ({proc.returncode}):\n{err[-3000:]}")
        return {"kills": done, "drivers started": attempts}


def scenario_two_writers(cluster: LocalCluster, out: Path, seeds: int, steps: int,
                         kills: int) -> dict[str, int]:
    args = run_args(cluster, out, seeds, steps)
    first = subprocess.Popen(args, env=driver_env(cluster), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    refused = 0
    while first.poll() is None and not (out / results.LOCK).exists():
        time.sleep(0.05)
    for _ in range(kills):
        if first.poll() is not None:
            break
        second = subprocess.run([*args, "--resume"], env=driver_env(cluster), cwd=ROOT,
                                capture_output=True, text=True)
        if second.returncode == 2 and "is being written by" in second.stderr:
            refused += 1
        elif first.poll() is None:
            raise SystemExit(f"second writer was not refused ({second.returncode}):\n{second.stderr[-3000:]}")
    _, err = first.communicate()
    if first.returncode != 0:
        raise SystemExit(f"raybench run failed ({first.returncode}):\n{err[-3000:]}")
    return {"kills": refused, "second writers refused": refused}


SCENARIOS = {
    "worker-processes": scenario_worker_processes,
    "worker-node": scenario_worker_node,
    "driver": scenario_driver,
    "two-writers": scenario_two_writers,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds per (problem, optimizer)")
    parser.add_argument("--steps", type=int, default=300, help="steps per run")
    parser.add_argument("--kills", type=int, default=4, help="kills per scenario (the node: one)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    args = parser.parse_args()
    planned = planned_ids(args.seeds, args.steps)
    print(f"suite: {', '.join(PROBLEMS)} x {', '.join(OPTIMIZERS)} x {args.seeds} seeds, "
          f"{args.steps} steps: {len(planned)} runs per scenario", flush=True)
    header = f"{'scenario':<18}{'kills':>6}{'planned':>9}{'completed':>11}{'lost':>6}{'duplicated':>12}" \
             f"{'failed':>8}{'wall s':>8}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        for name in args.scenarios.split(","):
            # A fresh cluster per scenario (head + 2 workers, 1 CPU each), so no fault leaks over.
            with LocalCluster(worker_nodes=2, head_cpus=1, worker_cpus=1) as cluster:
                out = Path(tmp) / name
                t0 = time.perf_counter()
                extra = SCENARIOS[name](cluster, out, args.seeds, args.steps, args.kills)
                wall = time.perf_counter() - t0
                counts = tally(out, planned)
            row = (f"{name:<18}{extra['kills']:>6}{counts['planned']:>9}{counts['completed']:>11}"
                   f"{counts['lost']:>6}{counts['duplicated']:>12}{counts['failed']:>8}{wall:>8.1f}")
            rows.append(row)
            print(row if len(rows) > 1 else f"{header}\n{row}", flush=True)
    print("\n" + header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
