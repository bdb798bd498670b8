"""Running multi-init on Ray Tune: N seed trials under synchronous halving, one results block.

The research summary's first method. N runs of one optimizer on one problem start from N
seeds (every seed a Tune trial, ``raybench.tuning.trainable.train_seed``, on a fractional share of a
GPU or a CPU slot); every ``steps_per_round`` steps all live runs are judged on validation
``metric`` in the problem's declared direction and the best ``max(1, ceil(n * r))`` continue
(``raybench.tuning.scheduler.SynchronousHalvingScheduler``); the last one trains to the full budget.

Results go to the runner's schema (``raybench.results``): one ``runs`` row and the curve rows
of every trial, plus one row per (trial, rung) in this layer's own table, ``rungs``
(``RUNGS``). Tune's own experiment state lives under ``OUT/tune/`` so that ``--resume``
continues an interrupted experiment (``tune.Tuner.restore``). Ray must already be running:
the command starts or joins it once (``raybench.ray_utils.init_ray``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from raybench import schema
from raybench.errors import UsageError
from raybench.tuning.rungs import rung_sizes
from raybench.tuning.spec import MultiInitSpec
from raybench.tuning.trainable import CHECKPOINT_FILE, TIME_ATTR, train_seed

RUNGS = schema.register(schema.TableSchema("rungs", 2, schema.columns(
    ("repeat", pa.int64()), ("seed", pa.int64()), ("run_id", pa.string()), ("trial_id", pa.string()),
    ("rung", pa.int64()), ("step", pa.int64()), ("metric", pa.string()), ("mode", pa.string()),
    ("value", pa.float64()), ("alive", pa.int64()), ("decision", pa.string()), ("error", pa.bool_()),
    ("problem", pa.string()), ("optimizer", pa.string()), ("reduce_factor", pa.float64()),
    ("steps_per_round", pa.int64()), ("budget_steps", pa.int64()), ("num_models", pa.int64()),
)))
"""One row per (trial, rung) of every seed block: ``decision`` is kept / eliminated / survivor,
``mode`` the direction ``value`` was ranked in. Version 2: rows carry ``mode``."""


def fit_halving(trainable: Callable[[dict[str, Any]], None], param_space: dict[str, Any], *,
                metric: str, mode: str, time_attr: str, reduce_factor: float,
                rung_interval: float, storage_path: str, name: str,
                resources: dict[str, float], max_t: float | None = None, resume: bool = False,
                progress: bool = False, callbacks: Sequence[Any] = ()) -> tuple[Any, dict[str, Any]]:
    """Run ``trainable`` over ``param_space`` under synchronous halving; ``(ResultGrid, state)``.

    Ray must already be running (``raybench.ray_utils.init_ray``). The Tune experiment is
    ``storage_path/name``; ``resume=True`` restores it (``tune.Tuner.restore``) when it
    exists. ``state`` is the scheduler's judging record (``state["rows"]``: one per trial
    and rung, keyed by Tune trial id).
    """
    from ray import tune

    from raybench.ray_utils import require_ray
    from raybench.tuning.scheduler import SynchronousHalvingScheduler

    require_ray()  # else Tune would start (or join) a Ray of its own
    # Tune's newer console output ignores verbose=0 and prints a box per experiment; the
    # scheduler's own per-rung lines are the progress display.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    storage_path = os.path.abspath(storage_path)
    path = os.path.join(storage_path, name)
    state_path = os.path.join(storage_path, f"{name}.halving.json")
    wrapped = tune.with_resources(trainable, resources)
    if resume and tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable=wrapped, resume_unfinished=True,
                                   resume_errored=False)
    else:
        if os.path.exists(path) or os.path.exists(state_path):
            raise UsageError(f"{path} already holds a Tune experiment; pass --resume to continue "
                             "it, or choose another --out")
        scheduler = SynchronousHalvingScheduler(
            time_attr=time_attr, metric=metric, mode=mode, reduce_factor=reduce_factor,
            rung_interval=rung_interval, max_t=max_t, state_path=state_path, progress=progress)
        tuner = tune.Tuner(
            wrapped, param_space=param_space,
            tune_config=tune.TuneConfig(scheduler=scheduler, reuse_actors=True),
            run_config=tune.RunConfig(
                name=name, storage_path=storage_path, verbose=0, callbacks=list(callbacks),
                # Only the newest checkpoint is ever restored; keep one spare while it is written.
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                failure_config=tune.FailureConfig(max_failures=0)),
        )
    grid = tuner.fit()
    with open(state_path) as f:
        state = json.load(f)
    return grid, state


def run_spec(spec: MultiInitSpec, seed: int = 0) -> Any:
    """The ``RunSpec`` of one of ``spec``'s trials (for its rows and its code identity)."""
    from raybench.spec import RunSpec

    problem, optimizer = spec.names()  # import-path entries by their paths, as a trial registers them
    return RunSpec.build(problem, optimizer, seed, hparams=spec.hparams, options=spec.options,
                         steps=spec.steps, eval_every=spec.eval_every)


def code_file(out: str, repeat: int) -> str:
    """Where a seed block's Tune experiment records the code it was started with."""
    return os.path.join(os.path.abspath(out), "tune", f"{experiment_name(repeat)}.code.json")


def check_code(spec: MultiInitSpec, out: str, repeats: int) -> None:
    """``--resume`` continues only what this code made: the finished blocks' runs (their
    identity columns) and every started block's Tune experiment (its ``code_file``) are compared
    with this process's code (``raybench.identity``: raybench's source, a user entry's files, a
    policy's weights); a difference is ``UsageError`` naming the entry, before Ray starts."""
    import pandas as pd

    from raybench import identity, results

    rows = results.read_table(out, "runs")
    started = []
    for repeat in range(repeats):
        path = code_file(out, repeat)
        if os.path.exists(path):
            with open(path) as f:
                started.append({**json.load(f), "run_id": f"{experiment_name(repeat)} (unfinished)"})
    if started:
        rows = pd.concat([rows, pd.DataFrame(started)], ignore_index=True) if len(rows) else pd.DataFrame(started)
    changed = identity.changes([run_spec(spec)], rows)
    if changed:
        raise UsageError(f"{out} holds a multi-init experiment made by other code than now: "
                         f"{identity.describe(changed)}; choose another --out")


def _record_code(out: str, repeat: int, spec: MultiInitSpec, code: dict[str, Any]) -> None:
    path = code_file(out, repeat)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"problem": spec.problem, "optimizer": spec.optimizer,
                       "hparams": json.dumps(spec.hparams, default=str), **code}, f)


def default_resources(num_models: int, *, gpus_per_trial: float | None,
                      cpus_per_trial: float | None) -> dict[str, float]:
    """Per-trial resources: ``1/num_models`` GPU where the cluster has GPUs, else 1 CPU.

    With GPUs every trial also asks for ``min(1, cluster CPUs / num_models)`` CPUs, so all
    N trials fit on one GPU node at once. Without, one CPU per trial: torch in each trial
    runs one thread, and on 2 CPUs two trials train at once while the rest wait paused.
    Ray must already be running.
    """
    import ray

    from raybench.ray_utils import require_ray

    require_ray()
    total = ray.cluster_resources()
    if gpus_per_trial is None:
        gpus_per_trial = 1.0 / num_models if total.get("GPU", 0) > 0 else 0.0
    if cpus_per_trial is None:
        cpus_per_trial = min(1.0, total.get("CPU", 1) / num_models) if gpus_per_trial > 0 else 1.0
    if cpus_per_trial <= 0 or gpus_per_trial < 0:
        raise UsageError(f"--cpus-per-trial must be > 0 and --gpus-per-trial >= 0, got "
                         f"{cpus_per_trial} and {gpus_per_trial}")
    return {"cpu": float(cpus_per_trial), "gpu": float(gpus_per_trial)}


@dataclasses.dataclass
class Outcome:
    """One finished multi-init experiment (one seed block)."""

    repeat: int
    runs: list[dict[str, Any]]
    curves: list[dict[str, Any]]
    rungs: list[dict[str, Any]]
    survivor_seed: int | None


def experiment_name(repeat: int) -> str:
    return f"multi_init_r{repeat}"


def run_experiment(spec: MultiInitSpec, out: str, *, repeat: int = 0, resources: dict[str, float],
                   resume: bool = False, progress: bool = True,
                   callbacks: Sequence[Any] = ()) -> Outcome | None:
    """Run (or with ``resume``, continue) seed block ``repeat`` and write it to ``out``.

    ``spec`` must come from ``tuning.spec.prepare``. Returns ``None`` when Tune was
    interrupted (Ctrl-C) before the survivor finished: what ran is saved for ``--resume``.
    """
    from ray import tune

    from raybench import identity, results

    seeds = spec.seeds(repeat)
    code = identity.of_spec(run_spec(spec)).columns()  # the driver's: every row records it
    _record_code(out, repeat, spec, code)
    problem, optimizer = spec.names()  # a trial registers import-path entries from these
    param_space = {
        "seed": tune.grid_search(seeds), "problem": problem, "optimizer": optimizer,
        "hparams": spec.hparams, "options": spec.options, "steps": spec.steps,
        "eval_every": spec.eval_every, "steps_per_round": spec.steps_per_round,
        "metric": spec.metric, "use_gpu": resources.get("gpu", 0) > 0,
    }
    if progress:
        sizes = " -> ".join(str(n) for n in rung_sizes(spec.num_models, spec.reduce_factor))
        print(f"multi-init: {spec.problem} / {spec.optimizer}, seeds {seeds[0]}..{seeds[-1]}, "
              f"{sizes} trials, a rung every {spec.steps_per_round} steps, survivor to "
              f"{spec.steps} steps ({resources['cpu']:g} CPU, {resources['gpu']:g} GPU per trial)",
              flush=True)
    grid, state = fit_halving(
        train_seed, param_space, metric=spec.metric_key, mode=spec.mode, time_attr=TIME_ATTR,
        reduce_factor=spec.reduce_factor, rung_interval=spec.steps_per_round,
        storage_path=os.path.join(os.path.abspath(out), "tune"), name=experiment_name(repeat),
        resources=resources, max_t=spec.steps, resume=resume, progress=progress,
        callbacks=callbacks)
    if state["live"] and not state["finished"]:
        return None
    outcome = collect(spec, grid, state, repeat)
    for row in outcome.runs:
        row.update(code)
    results.write_runs(out, outcome.runs, outcome.curves)
    results.write(out, RUNGS.name, outcome.rungs)  # last: done_repeats reads it as "block done"
    return outcome


def collect(spec: MultiInitSpec, grid: Any, state: dict[str, Any], repeat: int) -> Outcome:
    """Rows for the results folder from Tune's results and the scheduler's record."""
    import torch

    runs: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    seed_of: dict[str, int] = {}
    run_of: dict[int, str] = {}
    for result in grid:
        # A trial restored after the driver was killed, and stopped by the scheduler before it
        # reported again, comes back without config, last result or checkpoint: read them from
        # its folder (seed in the name Tune gives it, newest checkpoint_* inside).
        config = result.config or {}
        seed = int(config["seed"]) if "seed" in config else _seed_from_path(result.path)
        tid = (result.metrics or {}).get("trial_id") or _trial_id_from_path(result.path)
        seed_of[tid] = seed
        saved = _furthest_saved(result, torch)
        if saved is not None:
            row = dict(saved["summary"])
            curves.extend(saved["curves"])
        else:
            row = _failed_row(spec, seed)
        if result.error is not None:
            row["status"] = "failed"
            row["error"] = f"{type(result.error).__name__}: {result.error}"[:2000]
        runs.append(row)
        run_of[seed] = row["run_id"]
    mode = spec.mode
    rungs = []
    for r in state["rows"]:
        seed = seed_of.get(r["trial_id"])
        rungs.append({
            "repeat": repeat, "seed": seed, "run_id": run_of.get(seed) if seed is not None else None,
            "trial_id": r["trial_id"], "rung": int(r["rung"]), "step": r["time"],
            "metric": spec.metric_key, "mode": mode, "value": r["metric"], "alive": int(r["alive"]),
            "decision": r["decision"], "error": bool(r["error"]),
            "problem": spec.problem, "optimizer": spec.optimizer,
            "reduce_factor": spec.reduce_factor, "steps_per_round": spec.steps_per_round,
            "budget_steps": spec.steps, "num_models": spec.num_models,
        })
    survivors = [r["seed"] for r in rungs if r["decision"] == "survivor"]
    return Outcome(repeat, runs, curves, rungs, survivors[0] if survivors else None)


def _seed_from_path(path: str) -> int:
    found = re.search(r"seed=(\d+)", os.path.basename(path))
    if found is None:
        raise RuntimeError(f"cannot tell the seed of trial folder {path}")
    return int(found.group(1))


def _furthest_saved(result: Any, torch: Any) -> dict[str, Any] | None:
    """The trial's saved state that got furthest (largest ``progress``): from Tune's result
    checkpoint and every ``checkpoint_*`` in its folder. After the driver was killed and the
    experiment restored, Tune's pointer can be older than what the trial saved (its experiment
    snapshot lags the trial's last reports; seen: a trial eliminated at rung 1 whose
    ``result.checkpoint`` was its rung-0 one), so the pointer alone is not trusted."""
    from ray.tune import Checkpoint

    candidates = [result.checkpoint] if result.checkpoint is not None else []
    path = result.path
    if path and os.path.isdir(path):
        candidates += [Checkpoint.from_directory(os.path.join(path, d))
                       for d in sorted(os.listdir(path)) if d.startswith("checkpoint_")]
    best = None
    for checkpoint in candidates:
        try:
            with checkpoint.as_directory() as d:
                saved = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError):
            continue  # a checkpoint being written when the driver died
        if best is None or saved["progress"] > best["progress"]:
            best = saved
    return best


def _trial_id_from_path(path: str) -> str:
    # Tune's trial directory names end in "_<trial_id>_<index>_<tag>..." only loosely;
    # results always carry "trial_id" once a trial reported, so this is the rare fallback.
    return os.path.basename(path)


def _failed_row(spec: MultiInitSpec, seed: int) -> dict[str, Any]:
    """The run row of a trial that failed before its first report (no checkpoint)."""
    from raybench.train import failed_row

    return failed_row(run_spec(spec, seed), None)


def done_repeats(out: str) -> set[int]:
    """Seed blocks already written to ``out`` (a block's ``rungs`` part is written last)."""
    from raybench import results

    rungs = results.read_table(out, RUNGS.name)
    return set(int(r) for r in rungs["repeat"].unique()) if "repeat" in rungs else set()
