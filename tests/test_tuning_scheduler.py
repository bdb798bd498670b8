"""The synchronous-halving scheduler on real Ray Tune, with a trainable whose losses are known.

Each seed's loss at step t is ``BASE[seed] + SLOPE[seed] * t``: the ranking changes between
rungs, so a test can tell whether the scheduler judged every trial at the rung's own step.
``expected_rungs`` recomputes the elimination order independently. Every executed step is
appended to a log file, so "nothing trained twice" is checked, not assumed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import tempfile
from collections import Counter

import pytest

pytest.importorskip("ray.tune")

from ray import tune  # noqa: E402

from raybench.tuning.experiment import fit_halving  # noqa: E402
from raybench.tuning.scheduler import rung_sizes, survivors_at  # noqa: E402

pytestmark = pytest.mark.ray

N = 16
INTERVAL = 2  # steps between rungs; trials report every step (results between rungs exist)
BASE = {s: ((s * 7) % N) / N for s in range(N)}           # a known permutation of 0..15/16
SLOPE = {s: (((s * 5) % N) - 8) / 200 for s in range(N)}  # re-orders the ranking over time


def loss(seed: int, step: int) -> float:
    return BASE[seed] + SLOPE[seed] * step


def det_trainable(config: dict) -> None:
    """A deterministic function trainable: resumes from its checkpoint, logs each step it runs."""
    seed, step = config["seed"], 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d, open(os.path.join(d, "state.json")) as f:
            step = json.load(f)["step"]
    while step < config["max_t"]:
        if seed in config.get("fail", {}) and step >= config["fail"][seed]:
            raise RuntimeError(f"seed {seed} fails on purpose at step {step}")
        step += 1
        with open(config["log"], "a") as f:
            f.write(f"{seed} {step}\n")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"step": step}, f)
            tune.report({"step": step, "loss": loss(seed, step)},
                        checkpoint=tune.Checkpoint.from_directory(d))


def expected_rungs(seeds: list[int], r: float, failed: dict[int, int] | None = None) -> list[tuple[int, list[int]]]:
    """(rung, kept seeds) per rung, by direct simulation of the rule."""
    failed = failed or {}
    live, out, rung = list(seeds), [], 0
    while len(live) > 1:
        t = (rung + 1) * INTERVAL
        ok = [s for s in live if not (s in failed and failed[s] < t)]
        keep = min(max(1, min(len(live) - 1, math.ceil(len(live) * r - 1e-9))), len(ok))
        kept = sorted(ok, key=lambda s: (loss(s, t), seeds.index(s)))[:keep]
        out.append((rung, sorted(kept)))
        live, rung = kept, rung + 1
    return out


def _release_leftovers(ray, wait_s: float = 120.0) -> list[str]:
    """Free what an earlier experiment of this driver may still hold, as a driver's exit would.

    An interrupted Tune experiment can leave a trial actor or its placement group behind in the
    driver that ran it (a real Ctrl-C ends the process, and Ray frees them with the job); in the
    session's shared Ray they would hold its 2 CPUs and the next experiment would wait for them
    for ever. Removes such placement groups, kills such actors, and waits for both CPUs
    (failing, naming what holds them, if they do not come back). Returns what it released.
    """
    import time

    from ray._private.state import actors
    from ray.util import placement_group_table, remove_placement_group
    from ray.util.placement_group import PlacementGroup

    def alive() -> dict[str, str]:  # Ray's GCS, not the state API: this Ray runs no dashboard
        return {aid: a["ActorClassName"] for aid, a in actors().items() if a["State"] == "ALIVE"}

    released = []
    for pg_id, info in placement_group_table().items():
        if info["state"] in ("CREATED", "PENDING", "RESCHEDULING"):
            remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(pg_id))))
            released.append(f"placement group {pg_id} ({info['state']})")
    for aid, name in alive().items():
        if name.startswith("ImplicitFunc") or "Trainable" in name:
            ray._private.worker.global_worker.core_worker.kill_actor(ray.ActorID(bytes.fromhex(aid)), True)
            released.append(f"actor {name} {aid}")
    deadline = time.monotonic() + wait_s
    while ray.available_resources().get("CPU", 0) < 2:
        if time.monotonic() > deadline:
            pytest.fail(f"the session Ray's 2 CPUs are still held after {wait_s:.0f} s; alive actors: "
                        f"{sorted(alive().values())}; released: {released}")
        time.sleep(0.2)
    return released


@pytest.fixture
def ray_two_cpus(ray_session):
    """The session's Ray, of two CPUs, both free: the slot counts below are about it."""
    assert ray_session.cluster_resources()["CPU"] == 2
    _release_leftovers(ray_session)
    yield


def run(tmp_path, seeds, r, *, cpus, max_t, fail=None, resume=False, callbacks=(), name="exp"):
    log = str(tmp_path / "steps.log")
    grid, state = fit_halving(
        det_trainable, {"seed": tune.grid_search(seeds), "max_t": max_t, "log": log, "fail": fail or {}},
        metric="loss", mode="min", time_attr="step", reduce_factor=r, rung_interval=INTERVAL,
        storage_path=str(tmp_path / "tune"), name=name, resources={"cpu": cpus}, resume=resume,
        callbacks=callbacks)
    seed_of = {res.metrics["trial_id"]: res.config["seed"] for res in grid if res.metrics}
    for res in grid:  # trials that failed before any report carry no metrics
        tid = os.path.basename(res.path).split("_")[2] + "_" + os.path.basename(res.path).split("_")[3]
        seed_of.setdefault(tid, res.config["seed"])
    rows = [dict(row, seed=seed_of[row["trial_id"]]) for row in state["rows"]]
    with open(log) as f:
        steps = [tuple(map(int, line.split())) for line in f]
    return grid, state, rows, steps


def kept_by_rung(rows):
    out = {}
    for row in rows:
        if row["decision"] == "kept":
            out.setdefault(row["rung"], []).append(row["seed"])
    return [(rung, sorted(seeds)) for rung, seeds in sorted(out.items())]


def test_rung_sizes_rule():
    assert rung_sizes(16, 0.5) == [16, 8, 4, 2, 1]
    assert rung_sizes(16, 0.25) == [16, 4, 1]
    assert rung_sizes(10, 0.3) == [10, 3, 1]       # 10 * 0.3 is 3.0000000000000004 in floats
    assert survivors_at(2, 0.9) == 1                # ceil(1.8) = 2 would never end
    assert rung_sizes(1, 0.5) == [1]


def test_halving_16_trials_on_2_slots_follows_rank_order(ray_two_cpus, tmp_path):
    seeds = list(range(N))
    max_t = 12
    grid, state, rows, steps = run(tmp_path, seeds, 0.5, cpus=1.0, max_t=max_t)
    assert Counter(row["rung"] for row in rows) == {0: 16, 1: 8, 2: 4, 3: 2, 4: 1}
    assert kept_by_rung(rows) == expected_rungs(seeds, 0.5)
    # Every trial was judged at its rung's own step, on the loss it had there.
    for row in rows[:-1]:
        assert row["time"] == (row["rung"] + 1) * INTERVAL
        assert row["metric"] == pytest.approx(loss(row["seed"], row["time"]))
    survivor = [row for row in rows if row["decision"] == "survivor"]
    assert len(survivor) == 1 and survivor[0]["time"] == max_t
    assert survivor[0]["seed"] == expected_rungs(seeds, 0.5)[-1][1][0]
    # Paused trials resumed from their checkpoints: no step ran twice, and the work is
    # exactly 16+8+4+2 trials x 2 steps plus the survivor's remaining steps.
    assert len(steps) == len(set(steps))
    assert len(steps) == (16 + 8 + 4 + 2) * INTERVAL + (max_t - 4 * INTERVAL)
    statuses = Counter(res.metrics["step"] for res in grid)
    assert statuses[max_t] == 1


def test_same_outcome_when_more_trials_fit_at_once(ray_two_cpus, tmp_path):
    # 4 at once instead of 2 (not all 16: 16 worker processes starting on 2 CPUs take minutes).
    seeds = list(range(N))
    _, _, rows, steps = run(tmp_path, seeds, 0.5, cpus=0.5, max_t=10)
    assert kept_by_rung(rows) == expected_rungs(seeds, 0.5)
    assert len(steps) == len(set(steps)) == (16 + 8 + 4 + 2) * INTERVAL + 2


def test_quarter_reduction_runs_16_4_1(ray_two_cpus, tmp_path):
    seeds = list(range(N))
    _, _, rows, steps = run(tmp_path, seeds, 0.25, cpus=1.0, max_t=6)
    assert Counter(row["rung"] for row in rows) == {0: 16, 1: 4, 2: 1}
    assert kept_by_rung(rows) == expected_rungs(seeds, 0.25)
    assert len(steps) == len(set(steps)) == 16 * 2 + 4 * 2 + 2


def test_erroring_trials_are_eliminated_not_fatal(ray_two_cpus, tmp_path):
    seeds = list(range(8))
    # Seed 1 dies before its first report; the best seed at rung 0 dies during round 1.
    best_at_rung0 = expected_rungs(seeds, 0.5)[0][1]
    victim = min(best_at_rung0, key=lambda s: loss(s, INTERVAL))
    fail = {1: 0, victim: INTERVAL}
    _, state, rows, _ = run(tmp_path, seeds, 0.5, cpus=1.0, max_t=8, fail=fail)
    assert kept_by_rung(rows) == expected_rungs(seeds, 0.5, failed={s: t for s, t in fail.items()})
    errors = {(row["seed"], row["rung"]) for row in rows if row["error"]}
    assert errors == {(1, 0), (victim, 1)}
    assert all(row["decision"] == "eliminated" for row in rows if row["error"])
    assert state["finished"] and [row["decision"] for row in rows].count("survivor") == 1


class _InterruptAfterRung(tune.Callback):
    """Sends this process SIGINT (what Ctrl-C does) once the first rung has been judged.

    Tune pickles callbacks with the experiment and restores them, so "only once" is a file.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result["step"] > INTERVAL and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGINT)


def test_interrupted_experiment_resumes_to_the_same_outcome(ray_session, ray_two_cpus, tmp_path):
    seeds = list(range(8))
    _, state, _, _ = run(tmp_path, seeds, 0.5, cpus=1.0, max_t=8, callbacks=[_InterruptAfterRung(str(tmp_path / "interrupted"))])
    assert state["live"] and not state["finished"], "the interrupt should stop it mid-way"
    _release_leftovers(ray_session)
    _, state, rows, steps = run(tmp_path, seeds, 0.5, cpus=1.0, max_t=8, resume=True)
    assert state["finished"]
    assert kept_by_rung(rows) == expected_rungs(seeds, 0.5)
    # Resumed from checkpoints, not from scratch: at most the steps in flight at the
    # interrupt (one per running trial) ran twice.
    repeated = sum(c - 1 for c in Counter(steps).values())
    assert repeated <= 2
