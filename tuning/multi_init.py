"""Multi-initialization with progressive elimination: N seed trials on Ray Tune.

The research summary's first method. N runs of one optimizer on one problem start from N
seeds (every seed a Tune trial on a fractional share of a GPU, or a CPU slot); every
``steps_per_round`` steps all live runs are judged on validation ``metric`` and the best
``max(1, ceil(n * r))`` continue (``tuning.scheduler.SynchronousHalvingScheduler``); the
last one trains to the full budget. Each trial is the one training loop,
``raybench.train.Run``, advanced one round per ``tune.report`` and checkpointed with it
(``Run.state_dict``), so a trial that waits paused for its rung is resumed exactly where it
stopped.

Results go to the runner's schema (``raybench.results``): one ``runs`` row and the curve rows
of every trial, plus one ``rungs`` row per (trial, rung). Tune's own experiment state lives
under ``OUT/tune/`` so that ``--resume`` continues an interrupted experiment
(``tune.Tuner.restore``).

``compare_single`` answers the summary's "convergence speed" claim honestly: the same seeds
each trained alone to the full budget, the survivor's steps-to-target against theirs, and
always beside it the compute multi-init spent to get there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from raybench.errors import UsageError
from tuning.rungs import rung_sizes

TIME_ATTR = "step"
"""Reported by every trial: optimizer steps scheduled so far (the rung clock)."""
CHECKPOINT_FILE = "run.pt"


@dataclasses.dataclass
class MultiInitSpec:
    """One multi-init experiment: what to train, how many seeds, how to eliminate."""

    problem: str
    optimizer: str
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Overrides of the optimizer's default hyperparameters."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Problem options, e.g. ``{"dataset": "mnist_subset"}``."""
    num_models: int = 16
    """Seed trials started (the summary's 16)."""
    reduce_factor: float = 0.5
    """Fraction r of the judged trials that continue at each rung (the summary's 0.5)."""
    steps_per_round: int = 100
    """Steps K every live trial trains between two rungs."""
    steps: int | None = None
    """Full budget E of the survivor (default: the problem's)."""
    seed_offset: int = 0
    """First seed; repeat b uses seeds ``seed_offset + b*num_models ...`` (disjoint blocks)."""
    metric: str = "loss"
    """Validation metric trials are ranked on (``accuracy`` is maximised, others minimised)."""
    eval_every: int | None = None
    """Steps between curve points; must divide ``steps_per_round`` (default: derived)."""

    @property
    def mode(self) -> str:
        return "max" if self.metric == "accuracy" else "min"

    @property
    def metric_key(self) -> str:
        return f"val_{self.metric}"

    def seeds(self, repeat: int = 0) -> list[int]:
        start = self.seed_offset + repeat * self.num_models
        return list(range(start, start + self.num_models))

    @property
    def rounds(self) -> int:
        """Rungs judged before one trial is left."""
        return len(rung_sizes(self.num_models, self.reduce_factor)) - 1


def check_arguments(num_models: int, reduce_factor: float, steps_per_round: int) -> None:
    """The checks that need no problem: raise ``UsageError`` naming what is accepted."""
    if isinstance(num_models, bool) or int(num_models) != num_models or num_models < 1:
        raise UsageError(f"bad --num-models {num_models}: accepted: an integer >= 1")
    if not 0.0 < reduce_factor < 1.0:
        raise UsageError(f"bad --reduce-factor {reduce_factor}: accepted: a fraction in (0, 1), e.g. 0.5")
    if isinstance(steps_per_round, bool) or int(steps_per_round) != steps_per_round or steps_per_round < 1:
        raise UsageError(f"bad --steps-per-round {steps_per_round}: accepted: an integer >= 1")


def prepare(spec: MultiInitSpec) -> MultiInitSpec:
    """Validate ``spec`` (names, options, budget) and fill in the derived defaults.

    Builds one problem instance here, in the driver, so that every user error (unknown
    problem or optimizer, bad option, missing data) is a one-line message before Ray starts.
    """
    import problems
    from raybench import optimizers

    check_arguments(spec.num_models, spec.reduce_factor, spec.steps_per_round)
    from raybench.train import CANONICAL_METRICS

    if spec.metric not in CANONICAL_METRICS:
        raise UsageError(f"bad --metric {spec.metric!r}; accepted: {', '.join(CANONICAL_METRICS)}")
    prob = problems.get(spec.problem)
    hparams = optimizers.resolve_hparams(spec.optimizer, spec.hparams)
    unknown = sorted(set(spec.options) - set(prob.options))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} for problem {spec.problem!r}; "
                         f"accepted: {', '.join(sorted(prob.options)) or 'none'}")
    options = prob.prepare(**spec.options)  # fetch / check data once; resolves dataset="auto"
    instance = prob.instance(spec.seed_offset, **options)
    steps = int(spec.steps if spec.steps is not None else instance.budget.steps)
    K = int(spec.steps_per_round)
    needed = spec.rounds * K
    if steps < needed:
        raise UsageError(
            f"--steps {steps} is too small: {spec.num_models} models at --reduce-factor "
            f"{spec.reduce_factor} need {spec.rounds} rounds of --steps-per-round {K}, "
            f"so --steps must be >= {needed}")
    if spec.eval_every is None:
        default = max(1, int(instance.budget.eval_every))
        # The largest divisor of K not above the problem's own interval: every rung is an
        # evaluation point, and curves stay about as dense as the problem asks.
        eval_every = max(d for d in range(1, K + 1) if K % d == 0 and d <= default)
    else:
        eval_every = int(spec.eval_every)
        if eval_every < 1 or K % eval_every:
            raise UsageError(f"bad --eval-every {spec.eval_every}: accepted: a divisor of "
                             f"--steps-per-round {K}")
    if spec.metric not in instance.evaluate("val"):
        raise UsageError(f"problem {spec.problem!r} does not report {spec.metric!r}; "
                         f"accepted: {', '.join(sorted(instance.evaluate('val')))}")
    return dataclasses.replace(spec, hparams=hparams, options=options, steps=steps, eval_every=eval_every)


# -- the trainable ------------------------------------------------------------------------
def train_seed(config: dict[str, Any]) -> None:
    """Tune function trainable: one seed's ``Run``, one ``tune.report`` per round of K steps.

    Every report carries a checkpoint (the run's state, its curve rows so far and its
    summary row), because the scheduler may pause the trial at any rung and Tune resumes a
    function trainable from its last reported checkpoint. A run that diverged keeps
    reporting its (NaN) metric at the scheduled steps without training, so that it is
    judged, and eliminated, at the rung like everyone else.
    """
    import torch
    from ray import tune

    from raybench.train import Run

    device = "cuda" if config.get("use_gpu") and torch.cuda.is_available() else "cpu"
    run = Run(config["problem"], config["optimizer"], config["hparams"], config["seed"],
              steps=config["steps"], options=config["options"], eval_every=config["eval_every"],
              device=device)
    curves: list[dict[str, Any]] = []
    progress = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location=device, weights_only=False)
        run.load_state_dict(state["run"])
        curves, progress = state["curves"], state["progress"]
    K = int(config["steps_per_round"])
    while progress < run.steps:
        target = min(run.steps, (progress // K + 1) * K)
        if not run.done:
            curves.extend(run.advance(target - run.step))
        progress = target
        final = progress >= run.steps
        summary = run.summary(test=final and run.status == "ok")
        metrics = {TIME_ATTR: progress, "run_step": run.step, "grad_evals": run.grad_evals,
                   "status": run.status}
        metrics.update({f"val_{k}": v for k, v in run.last_metrics.items()})
        if run.status != "ok":
            metrics[f"val_{config['metric']}"] = math.nan
        with tempfile.TemporaryDirectory() as d:
            torch.save({"run": run.state_dict(), "curves": curves, "progress": progress,
                        "summary": summary}, os.path.join(d, CHECKPOINT_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


# -- running it on Tune -------------------------------------------------------------------
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

    from tuning.scheduler import SynchronousHalvingScheduler

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


def default_resources(num_models: int, *, gpus_per_trial: float | None,
                      cpus_per_trial: float | None) -> dict[str, float]:
    """Per-trial resources: ``1/num_models`` GPU where the cluster has GPUs, else 1 CPU.

    With GPUs every trial also asks for ``min(1, cluster CPUs / num_models)`` CPUs, so all
    N trials fit on one GPU node at once. Without, one CPU per trial: torch in each trial
    runs one thread, and on 2 CPUs two trials train at once while the rest wait paused.
    Call after Ray has started.
    """
    import ray

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

    ``spec`` must come from ``prepare``. Returns ``None`` when Tune was interrupted (Ctrl-C)
    before the survivor finished: what ran is saved for ``--resume``.
    """
    from raybench import results

    seeds = spec.seeds(repeat)
    param_space = {
        "seed": _grid(seeds), "problem": spec.problem, "optimizer": spec.optimizer,
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
    results.write_runs(out, outcome.runs, outcome.curves)
    results.write(out, "rungs", outcome.rungs)
    return outcome


def _grid(seeds: list[int]) -> Any:
    from ray import tune

    return tune.grid_search(seeds)


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
        saved = None
        checkpoint = result.checkpoint or _newest_checkpoint(result.path)
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                saved = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location="cpu",
                                   weights_only=False)
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
    rungs = []
    for r in state["rows"]:
        seed = seed_of.get(r["trial_id"])
        rungs.append({
            "repeat": repeat, "seed": seed, "run_id": run_of.get(seed) if seed is not None else None,
            "trial_id": r["trial_id"], "rung": int(r["rung"]), "step": r["time"],
            "metric": spec.metric_key, "value": r["metric"], "alive": int(r["alive"]),
            "decision": r["decision"], "error": bool(r["error"]),
            "problem": spec.problem, "optimizer": spec.optimizer,
            "reduce_factor": spec.reduce_factor, "steps_per_round": spec.steps_per_round,
            "budget_steps": spec.steps, "num_models": spec.num_models,
        })
    survivors = [r["seed"] for r in rungs if r["decision"] == "survivor"]
    return Outcome(repeat, runs, curves, rungs, survivors[0] if survivors else None)


def _seed_from_path(path: str) -> int:
    import re

    found = re.search(r"seed=(\d+)", os.path.basename(path))
    if found is None:
        raise RuntimeError(f"cannot tell the seed of trial folder {path}")
    return int(found.group(1))


def _newest_checkpoint(path: str) -> Any:
    from ray.tune import Checkpoint

    found = sorted(d for d in os.listdir(path) if d.startswith("checkpoint_")) if os.path.isdir(path) else []
    return Checkpoint.from_directory(os.path.join(path, found[-1])) if found else None


def _trial_id_from_path(path: str) -> str:
    # Tune's trial directory names end in "_<trial_id>_<index>_<tag>..." only loosely;
    # results always carry "trial_id" once a trial reported, so this is the rare fallback.
    return os.path.basename(path)


def _failed_row(spec: MultiInitSpec, seed: int) -> dict[str, Any]:
    """The run row of a trial that failed before its first report (no checkpoint)."""
    from raybench.provenance import provenance
    from raybench.train import run_id

    return {"run_id": run_id(spec.problem, spec.optimizer, spec.hparams, seed, spec.steps, spec.options),
            "problem": spec.problem, "optimizer": spec.optimizer, "seed": seed,
            "budget_steps": spec.steps, "status": "failed", "error": None, "steps": 0,
            "grad_evals": 0, "converged": False, "steps_to_target": math.inf,
            "grad_evals_to_target": math.inf, "seconds_to_target": math.inf,
            **provenance("cpu")}


# -- reading back and reporting -------------------------------------------------------------
def done_repeats(out: str) -> set[int]:
    """Seed blocks already written to ``out`` (a ``rungs`` part is written last)."""
    from raybench import results

    rungs = results.read_table(out, "rungs")
    return set(int(r) for r in rungs["repeat"].unique()) if "repeat" in rungs else set()


def rung_table(rungs: Any) -> str:
    """The rung-by-rung table of one seed block, as text."""
    lines = [f"{'rung':>4} {'step':>7} {'alive':>5} {'kept':>4} {'best':>10} {'cut-off':>10}  eliminated seeds"]
    for rung, g in rungs.groupby("rung", sort=True):
        kept = g[g["decision"].isin(["kept", "survivor"])]
        gone = g[g["decision"] == "eliminated"]
        values = g["value"].astype(float)
        best = values.max() if (g["metric"].iloc[0] == "val_accuracy") else values.min()
        cut = kept["value"].astype(float)
        cutoff = (cut.min() if g["metric"].iloc[0] == "val_accuracy" else cut.max()) if len(cut) else math.nan
        failed = gone[gone["error"]]
        gone_text = ", ".join(str(int(s)) + ("!" if s in set(failed["seed"]) else "")
                              for s in sorted(gone["seed"].dropna()))
        lines.append(f"{int(rung):>4} {float(g['step'].max()):>7g} {len(g):>5} {len(kept):>4} "
                     f"{best:>10.4g} {cutoff:>10.4g}  {gone_text}")
    lines.append("(best / cut-off: the rung's best value and the worst value that was kept; "
                 "! = the trial failed)")
    return "\n".join(lines)


def describe(out: str, repeat: int) -> str:
    """Survivor, its metrics and the rung table of block ``repeat``, read back from ``out``."""
    from raybench import results

    runs, rungs = results.read_table(out, "runs"), results.read_table(out, "rungs")
    block = rungs[rungs["repeat"] == repeat]
    lines = []
    surv = block[block["decision"] == "survivor"]
    if surv.empty:
        lines.append(f"block {repeat}: no survivor (every trial failed)")
    else:
        s = surv.iloc[0]
        row = runs[runs["run_id"] == s["run_id"]].iloc[0]
        acc = row.get("final_val_accuracy", math.nan)
        test_acc = row.get("test_accuracy", math.nan)
        lines.append(
            f"block {repeat}: survivor seed {int(s['seed'])} ({row['status']}): {int(row['steps'])} steps, "
            f"final val loss {row['final_val_loss']:.4g}"
            + (f", val accuracy {acc:.4f}" if _finite(acc) else "")
            + (f", test accuracy {test_acc:.4f}" if _finite(test_acc) else "")
            + f", test loss {row.get('test_loss', math.nan):.4g}"
            + ", steps to target " + (f"{row['steps_to_target']:g}" if _finite(row["steps_to_target"])
                                      else "never (not converged)"))
    lines.append(rung_table(block))
    ids = set(block["run_id"].dropna())
    spent = runs[runs["run_id"].isin(ids)]
    lines.append(f"compute: {int(spent['steps'].sum())} steps and {int(spent['grad_evals'].sum())} "
                 f"gradient evaluations over all {len(spent)} trials "
                 f"(one run to the full budget: {int(block['budget_steps'].iloc[0])} steps)")
    return "\n".join(lines)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


# -- against single initialization ---------------------------------------------------------
def single_specs(spec: MultiInitSpec, repeats: int) -> list[Any]:
    """Every seed of every block trained alone to the full budget, on the same eval grid."""
    from raybench.runner import RunSpec

    return [RunSpec(spec.problem, spec.optimizer, seed, hparams=dict(spec.hparams), steps=spec.steps,
                    options=dict(spec.options), eval_every=spec.eval_every)
            for b in range(repeats) for seed in spec.seeds(b)]


def compare(spec: MultiInitSpec, out: str, single_runs: Any, repeats: int, *,
            n_boot: int = 2000) -> dict[str, Any]:
    """The survivor against single initialization, and what it cost, per block and overall.

    Per block b: ``speedup_b`` = the median single-init steps-to-target over the block's
    seeds divided by the survivor's (``raybench.stats.speed_ratio``: a never-converged
    survivor gives 0, never-converged singles against a converged survivor give inf).
    ``compute_b`` = all trials' steps (and gradient evaluations) over one single run's; and
    ``compute_to_target_b`` = steps all trials spent until the survivor met the target
    (eliminated trials' steps plus the survivor's steps-to-target) over the median single
    run's steps-to-target. Medians over blocks come with 95% bootstrap intervals.
    """
    from raybench import results, stats

    runs, rungs = results.read_table(out, "runs"), results.read_table(out, "rungs")
    blocks = []
    for b in range(repeats):
        block = rungs[rungs["repeat"] == b]
        surv = block[block["decision"] == "survivor"]
        ids = set(block["run_id"].dropna())
        trials = runs[runs["run_id"].isin(ids)]
        singles = single_runs[single_runs["seed"].isin(spec.seeds(b))]
        single_stt = [float(x) for x in singles["steps_to_target"]]
        single_med = statistics.median(single_stt) if single_stt else math.nan
        if surv.empty:
            surv_stt, surv_seed, surv_steps = math.inf, None, 0.0
        else:
            srow = runs[runs["run_id"] == surv.iloc[0]["run_id"]].iloc[0]
            surv_stt, surv_seed = float(srow["steps_to_target"]), int(surv.iloc[0]["seed"])
            surv_steps = float(srow["steps"])
        total_steps = float(trials["steps"].sum())
        total_grads = float(trials["grad_evals"].sum())
        single_grads = statistics.median(float(x) for x in singles["grad_evals"]) if len(singles) else math.nan
        eliminated_steps = total_steps - surv_steps
        to_target = eliminated_steps + surv_stt if math.isfinite(surv_stt) else math.inf
        blocks.append({
            "repeat": b, "survivor_seed": surv_seed, "survivor_steps_to_target": surv_stt,
            "single_median_steps_to_target": single_med,
            "single_converged": int(sum(math.isfinite(x) for x in single_stt)),
            "singles": len(single_stt),
            "speedup": stats.speed_ratio(single_med, surv_stt),
            "total_steps": total_steps, "total_grad_evals": total_grads,
            "compute_ratio_steps": total_steps / spec.steps,
            "compute_ratio_grad_evals": total_grads / single_grads if single_grads else math.nan,
            "compute_to_target_ratio": stats.speed_ratio(to_target, single_med) if math.isfinite(single_med)
            else math.nan,
        })
    summary = {"blocks": blocks, "repeats": repeats, "num_models": spec.num_models,
               "metric": spec.metric_key}
    for key in ("speedup", "compute_ratio_steps", "compute_ratio_grad_evals", "compute_to_target_ratio"):
        summary[key] = stats.bootstrap_median_ci([blk[key] for blk in blocks], n_boot=n_boot, seed=0)
    return summary


def comparison_text(c: dict[str, Any]) -> str:
    def ci(key: str) -> str:
        med, lo, hi = c[key]
        return f"{med:.3g}x (95% CI {lo:.3g}-{hi:.3g})"

    n = c["repeats"]
    lines = [
        f"multi-init ({c['num_models']} seeds) against single initialization, over {n} "
        f"block{'s' if n != 1 else ''} of disjoint seeds:",
        f"  convergence speed (median single-init steps-to-target / survivor's): {ci('speedup')}",
        f"  compute spent (all trials' steps / one single run's steps):           {ci('compute_ratio_steps')}",
        f"  compute spent (all trials' gradient evaluations / one single run's):   {ci('compute_ratio_grad_evals')}",
        f"  steps spent by all trials until the survivor met the target, against a single run's "
        f"steps-to-target: {ci('compute_to_target_ratio')} (below 1: multi-init reached it with less compute)",
    ]
    if n < 3:
        lines.append(f"  (only {n} block{'s' if n != 1 else ''}: the interval says little; use --repeats 5 or more)")
    for blk in c["blocks"]:
        stt = blk["survivor_steps_to_target"]
        lines.append(
            f"  block {blk['repeat']}: survivor seed {blk['survivor_seed']} steps-to-target "
            f"{stt:g}; singles median {blk['single_median_steps_to_target']:g} "
            f"({blk['single_converged']}/{blk['singles']} converged); {blk['total_steps']:g} steps spent")
    return "\n".join(lines)


def write_comparison(out: str, c: dict[str, Any]) -> str:
    """``OUT/multi_init_comparison.json`` (written whole, then renamed)."""
    path = os.path.join(os.path.abspath(out), "multi_init_comparison.json")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(c, f, indent=1, default=float)
    os.replace(tmp, path)
    return path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
