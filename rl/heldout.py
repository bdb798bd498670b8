"""The held-out protocol of the learned optimizer: fixed tasks, fair tuning, paired measures.

    raybench rl eval --policy policy/policy.safetensors --heldout --out heldout/
    raybench report heldout/                  # the ordinary report of the same runs

The protocol is data here and prose in the docs (docs/heldout.md, "Held-out protocol for the learned
optimizer"), both fixed before any run:

- **Tasks** (``HELDOUT_TASKS``): networks and data never used in meta-training, which trains
  only on problem families (``rl train --family``: problems with ``family=True``, which none of
  these is). Ten tasks (different models, data and horizons: MNIST MLP, CNN and autoencoder on
  the offline subset; full Fashion-MNIST MLP at two horizons and CNN; MNIST-1D MLP at two
  horizons and 1-D CNN; the character GPT), each with its own T (``steps``). Without ``--tasks``
  the three MNIST ones run (``DEFAULT_TASKS``: no data beyond the packaged subset); ``--tasks
  all`` runs all ten (full Fashion-MNIST from ``make data``).
- **Seeds**: the held-out pool ``raybench.rl.env.pool_seeds("heldout", N)``, N = 10 by default; every
  optimizer runs on the same seeds (paired).
- **Tuning, the same budget for all**: the learned optimizer's ``lr_scale`` and Adam's and
  Nesterov momentum's ``lr`` each get ``samples`` values log-spaced over the same number of
  decades around their defaults (extended past an edge winner), run on the two reserved tuning
  seeds, each at the budget it is judged on (the learned optimizer at T, the baselines at
  ``HORIZON`` x T), chosen on the mean final validation loss (``raybench.lr_search``, table
  ``lr_search``).
- **Runs**: the learned optimizer for T steps, each baseline for ``HORIZON`` x T steps (so that
  the steps a baseline needs can be measured past T), evaluated on validation every
  ``eval_every`` steps (``curves``).
- **Measures**, per (task, seed, baseline), from the ``curves`` table: with L the learned
  optimizer's validation loss at step T, the *speed-up* is (the baseline's steps to reach L) / T,
  known only between two evaluations: from the evaluation before the first at which the
  baseline's validation loss is <= L (``speedup_floor``) to that one (``speedup``); the same in
  training seconds beside it (the baseline's seconds to the crossing over the learned run's
  seconds to T). The *final-loss ratio* is L / (the baseline's validation loss at step T). A
  baseline that never reaches L within its ``HORIZON`` x T steps is *censored*: its speed-up is
  known only to lie above ``HORIZON`` (entered as ``inf``, with floor ``HORIZON``). A learned run
  that diverged (or failed) scores speed-up 0 and loss ratio inf; a baseline that diverged
  counts as never reaching L after it (and loss inf at T if before T); nothing is dropped, and
  diverged runs are counted per optimizer and task.
- **Summary**: per task, the median over seeds with a 95% Hettmansperger-Sheather interval
  (none below 6 seeds); over tasks, the interquartile mean (IQM, as in rliable: the mean of the
  middle 50% of all (task, seed) values) with a 95% two-level bootstrap CI (tasks drawn with
  replacement, then seeds within each), so that it speaks for tasks, not only seeds. A
  speed-up interval's low end comes from the floors, its high end and the estimate from the
  evaluations reached. A median with half or more, or an IQM with more than a quarter, of its
  values censored is ``undetermined`` (no number). The per-task medians are the headline beside
  the IQM, and the stated goal (``GOAL_SPEEDUP``) is judged on the IQM's interval: ``met``,
  ``not met``, ``inconclusive`` or ``undetermined`` (``goal``).

``evaluate_heldout`` is the Python API (Ray up; it holds the folder's writer lock and reads its
run ids once); ``run_heldout`` is its stages, for a command that has done that itself. Several
policies evaluated into one folder (``resume=True`` after the first) share the baselines' tuning
and runs: their pair keys and run ids are the same, so ``--resume`` finds them done.

What to expect for the three default tasks: 3 tasks x 10 seeds x (300 learned + 2 x 600
baseline steps), plus per task 6 tuning values x 2 tuning seeds of 300 steps for the learned
optimizer and of 600 for each baseline. Measured per run on the shared 2-core CPU (one torch
thread, under load): learned 300 steps / Adam 600 steps take 4 s / 2 s on ``mnist_mlp``, 10 s /
15 s on ``mnist_cnn``, 4 s / 0.6 s on ``mnist_autoencoder`` (heldout-v2, whose baselines were
tuned at T: about 13 minutes of CPU in all, 7 of wall time). The result is the folder's ``runs`` / ``curves`` / ``lr_search`` and the summary:
``heldout.md``, ``heldout.csv`` and the Parquet table ``heldout``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from raybench import defaults, schema
from raybench.errors import UsageError
from raybench.stats import hierarchical_iqm_ci, median_ci

PROTOCOL = "heldout-v3"
"""The protocol's name and version, recorded with every summary row; a change to anything
below is a new version."""


@dataclasses.dataclass(frozen=True)
class HeldoutTask:
    """One held-out task: a registry problem with fixed options and budget."""

    problem: str
    options: dict[str, Any]
    steps: int
    """T: the learned optimizer's steps (and the tuning runs'); baselines run ``HORIZON`` x T."""
    evals: int
    """Validation evaluations after step 0 at T steps (``eval_every`` = T / evals)."""
    name: str = ""
    """The task's name (``--tasks``, the summary's ``task``); default: the problem's. One problem
    at two horizons is two tasks of two names."""

    @property
    def key(self) -> str:
        return self.name or self.problem

    def eval_every(self, steps: int) -> int:
        """Steps between evaluations for a budget of ``steps``: the largest divisor of ``steps`` at
        most ``steps / evals``, so that step T is an evaluation point of every run."""
        most = max(1, steps // self.evals)
        return max(d for d in range(1, most + 1) if steps % d == 0)


HELDOUT_TASKS = (
    HeldoutTask("mnist_mlp", {"dataset": "mnist_subset"}, steps=300, evals=12),
    HeldoutTask("mnist_cnn", {"dataset": "mnist_subset"}, steps=300, evals=12),
    HeldoutTask("mnist_autoencoder", {"dataset": "mnist_subset"}, steps=300, evals=12),
    HeldoutTask("fashion_mlp", {}, steps=300, evals=12),
    HeldoutTask("fashion_mlp", {}, steps=1000, evals=10, name="fashion_mlp_long"),
    HeldoutTask("fashion_cnn", {}, steps=100, evals=10),
    HeldoutTask("mnist1d_mlp", {}, steps=300, evals=12),
    HeldoutTask("mnist1d_mlp", {}, steps=1000, evals=10, name="mnist1d_mlp_long"),
    HeldoutTask("mnist1d_cnn", {}, steps=300, evals=12),
    HeldoutTask("char_gpt", {}, steps=100, evals=10),
)
"""Ten tasks, none a meta-training family: three MNIST networks (MLP, CNN, autoencoder) on the
offline subset, full Fashion-MNIST (MLP at two horizons, CNN; Debian's files: ``make data``),
MNIST-1D (MLP at two horizons, 1-D CNN) and the character GPT on the packaged corpus. T is set
so that a baseline's 2T steps of adam take at most about 13 s on the 2-core machine
(fashion_cnn 13 s, char_gpt 5 s, the rest under 3 s, measured once under load); the learned
optimizer's runs on them are not timed yet (its step costs a few times adam's)."""
DEFAULT_TASKS = ("mnist_mlp", "mnist_cnn", "mnist_autoencoder")
"""What ``--heldout`` runs without ``--tasks``: the three tasks of heldout-v2, which need no data
beyond the packaged subset; ``--tasks all`` runs every one of ``HELDOUT_TASKS``."""
LEARNED = "autonomous"
REFERENCE = defaults.REFERENCE_OPTIMIZER
"""The baseline of the headline: speed-up IQM against tuned Adam."""
BASELINES = (REFERENCE, "momentum")
HORIZON = 2
"""Baselines run HORIZON x T steps: speed-ups up to HORIZON are measured, larger ones censored."""
DEFAULT_SEEDS = 10
DEFAULT_SAMPLES = 6
SELECTION_METRIC = "loss"
"""Tuning chooses on this validation metric (every problem reports it)."""
GOAL_SPEEDUP = 1.0
"""What is reported against (not tuned for): speed-up IQM vs tuned Adam >= this, no diverged run."""
N_BOOT = 2000

STR, FLOAT, INT = pa.string(), pa.float64(), pa.int64()
HELDOUT = schema.register(schema.TableSchema("heldout", 2, schema.columns(
    ("evaluation", STR), ("protocol", STR), ("policy", STR), ("policy_sha256", STR),
    ("task", STR), ("dataset", STR), ("baseline", STR), ("statistic", STR),
    ("seeds", INT), ("steps", INT), ("baseline_steps", INT), ("tune_samples", INT),
    ("lr_scale", FLOAT), ("baseline_lr", FLOAT),
    ("speedup", FLOAT), ("speedup_lo", FLOAT), ("speedup_hi", FLOAT), ("censored", INT), ("speedup_note", STR),
    ("speedup_seconds", FLOAT), ("speedup_seconds_lo", FLOAT), ("speedup_seconds_hi", FLOAT),
    ("loss_ratio", FLOAT), ("loss_ratio_lo", FLOAT), ("loss_ratio_hi", FLOAT),
    ("learned_loss", FLOAT), ("baseline_loss", FLOAT), ("learned_diverged", INT), ("baseline_diverged", INT),
    ("goal", STR),
), derived=True))


# -- the measures -------------------------------------------------------------------------------
def usable(steps: Sequence[int], losses: Sequence[float], status: str) -> tuple[list[int], list[float]]:
    """A run's curve points that measure it: all of an ok run's; a diverged run's but its last,
    which evaluates the parameters after the non-finite step."""
    points = sorted(zip((int(s) for s in steps), (float(v) for v in losses), strict=True))
    if status != "ok" and points:
        points = points[:-1]
    return [s for s, _ in points], [v for _, v in points]


def loss_at(steps: Sequence[int], losses: Sequence[float], step: int) -> float:
    """The loss at evaluation step ``step``; ``nan`` if the curve has no finite value there."""
    for s, v in zip(steps, losses, strict=True):
        if s == step:
            return v if math.isfinite(v) else math.nan
    return math.nan


def steps_to_reach(steps: Sequence[int], losses: Sequence[float], level: float) -> float:
    """The first evaluation step whose loss is <= ``level``; ``inf`` if none (non-finite values
    never reach)."""
    return reach_interval(steps, losses, level)[1]


def reach_interval(steps: Sequence[int], losses: Sequence[float], level: float) -> tuple[float, float]:
    """Where a curve first reaches ``level``, as the evaluations can say it: ``(the evaluation
    before, the first evaluation at or below it]``; ``(0, 0)`` when the first evaluation already
    is; ``(last evaluation, inf)`` when none is (non-finite values never reach)."""
    before = 0.0
    for s, v in sorted(zip(steps, losses, strict=True)):
        if math.isfinite(v) and v <= level:
            return (before if s > 0 else 0.0), float(s)
        before = float(s)
    return before, math.inf


def _at(steps: Sequence[int], values: Sequence[float], step: float) -> float:
    """``values`` at evaluation step ``step`` (``nan`` if the curve has none there)."""
    if step == 0:
        return 0.0
    return next((float(v) for s, v in zip(steps, values, strict=True) if s == step), math.nan)


def measure_pair(learned: tuple[Sequence[Any], ...], baseline: tuple[Sequence[Any], ...], *,
                 steps: int, horizon: int = HORIZON) -> dict[str, Any]:
    """The measures of one (task, seed, baseline) pair from two curves ``(steps, val losses,
    status)``, each with its training seconds at those steps as a fourth item where known.

    ``speedup``: the baseline's steps to the learned optimizer's loss at ``steps``, over
    ``steps``, at the evaluation where it was reached; ``speedup_floor``: the same at the
    evaluation before (the true crossing lies between them: verdicts use both). A baseline that
    never got there within ``horizon`` x ``steps`` is ``censored``: ``speedup`` is ``inf``
    and ``speedup_floor`` the horizon (its true value is known only to lie above). 0 if the
    learned run diverged. ``speedup_seconds`` / ``speedup_seconds_floor``: the same in training
    seconds (the baseline's seconds to the crossing over the learned run's seconds to ``steps``;
    ``nan`` without seconds). ``loss_ratio``: learned loss over the baseline's at ``steps`` (inf
    if the learned run diverged, 0 if only the baseline did), both losses and whether each run
    diverged.
    """
    l_steps, l_losses = usable(*learned[:3])
    b_steps, b_losses = usable(*baseline[:3])
    final = loss_at(l_steps, l_losses, steps)
    base = loss_at(b_steps, b_losses, steps)
    learned_diverged = learned[2] != "ok" or math.isnan(final)
    out = {"learned_loss": final, "baseline_loss": base, "learned_diverged": learned_diverged,
           "baseline_diverged": baseline[2] != "ok", "censored": False}
    if learned_diverged:
        return {**out, "speedup": 0.0, "speedup_floor": 0.0, "speedup_seconds": 0.0,
                "speedup_seconds_floor": 0.0, "loss_ratio": math.inf}
    before, reach = reach_interval(b_steps, b_losses, final)
    out["censored"] = math.isinf(reach)
    if out["censored"]:
        out["speedup"], out["speedup_floor"] = math.inf, float(horizon)
    else:
        out["speedup"], out["speedup_floor"] = reach / steps, before / steps
    out["speedup_seconds"], out["speedup_seconds_floor"] = _seconds_ratio(learned, baseline, steps, before, reach,
                                                                         out["censored"])
    if math.isnan(base):
        out["loss_ratio"] = 0.0
    elif base == 0.0:
        out["loss_ratio"] = 1.0 if final == 0.0 else math.inf
    else:
        out["loss_ratio"] = final / base
    return out


def _seconds_ratio(learned: tuple, baseline: tuple, steps: int, before: float, reach: float,
                   censored: bool) -> tuple[float, float]:
    if len(learned) < 4 or len(baseline) < 4:
        return math.nan, math.nan
    own = _at(learned[0], learned[3], steps)
    if not own > 0:
        return math.nan, math.nan
    floor = _at(baseline[0], baseline[3], before) / own
    if censored:
        return math.inf, floor
    return _at(baseline[0], baseline[3], reach) / own, floor


def _speed_summary(group: Sequence[dict[str, Any]], key: str, statistic: str, *,
                   tasks: Sequence[Sequence[dict[str, Any]]] = (), n_boot: int = N_BOOT) -> tuple[float, ...]:
    """``(estimate, lo, hi)`` of a speed-up: the estimate from the values at the evaluation
    where each baseline reached (``inf`` when censored), the CI's low end from the evaluation
    before, its high end from the one reached (so the interval holds every crossing the
    evaluations allow). Per task the median with a Hettmansperger-Sheather interval (none below 6
    seeds); over tasks the IQM with a two-level bootstrap (tasks, then seeds)."""
    if statistic == "median":
        est = float(np.median([p[key] for p in group]))
        lo = median_ci([p[f"{key}_floor"] for p in group])[1]
        hi = median_ci([p[key] for p in group])[2]
        return est, lo, hi
    upper = [[p[key] for p in g] for g in tasks]
    floor = [[p[f"{key}_floor"] for p in g] for g in tasks]
    est, _, hi = hierarchical_iqm_ci(upper, n_boot=n_boot)
    lo = hierarchical_iqm_ci(floor, n_boot=n_boot)[1]
    return est, lo, hi


def _undetermined(censored: int, n: int, statistic: str) -> str | None:
    """Why a speed-up has no value: its statistic would read a censored value (a median with at
    least half of them censored, an IQM with more than a quarter)."""
    limit = n / 2 if statistic == "median" else n / 4
    too_many = censored >= limit if statistic == "median" else censored > limit
    if censored and too_many:
        return f"undetermined: {censored} of {n} values censored at {HORIZON}x (the baseline never got there)"
    return None


def goal(row: dict[str, Any]) -> str:
    """The stated goal against this IQM row: ``met`` when the CI lies at or above
    ``GOAL_SPEEDUP`` with no diverged learned run, ``not met`` when it lies below or a learned
    run diverged, ``undetermined`` when censoring leaves no value, else ``inconclusive``."""
    if row["learned_diverged"]:
        return "not met"
    if row.get("speedup_note"):
        return "undetermined"
    if row["speedup_lo"] >= GOAL_SPEEDUP:
        return "met"
    if row["speedup_hi"] < GOAL_SPEEDUP:
        return "not met"
    return "inconclusive"


def summarise(pairs: Sequence[dict[str, Any]], *, n_boot: int = N_BOOT) -> list[dict[str, Any]]:
    """Summary rows from pair rows (``measure_pair`` plus ``task``, ``seed``, ``baseline``): per
    (task, baseline) the median over seeds with its 95% Hettmansperger-Sheather CI, and per
    baseline an ``IQM`` row over all tasks with the two-level bootstrap CI (tasks, then seeds);
    speed-ups as intervals between evaluations, ``undetermined`` where censoring decides the
    statistic; divergences and censored values counted; the goal judged on the IQM row."""
    rows = []
    by_baseline: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for pair in pairs:
        by_baseline.setdefault(pair["baseline"], {}).setdefault(pair["task"], []).append(pair)
    for baseline, tasks in by_baseline.items():
        for task, group in tasks.items():
            row = {"task": task, "baseline": baseline, "statistic": "median over seeds", "seeds": len(group),
                   **_counts(group)}
            _speeds(row, group, "median", (), n_boot)
            row["loss_ratio"], row["loss_ratio_lo"], row["loss_ratio_hi"] = median_ci([p["loss_ratio"] for p in group])
            for measure in ("learned_loss", "baseline_loss"):  # a diverged run's loss is inf, not dropped
                row[measure] = float(np.median([math.inf if math.isnan(p[measure]) else p[measure] for p in group]))
            rows.append(row)
        everything = [p for group in tasks.values() for p in group]
        row = {"task": "IQM", "baseline": baseline, "statistic": "IQM over tasks and seeds",
               "seeds": min(len(g) for g in tasks.values()), **_counts(everything)}
        _speeds(row, everything, "IQM", list(tasks.values()), n_boot)
        row["loss_ratio"], row["loss_ratio_lo"], row["loss_ratio_hi"] = hierarchical_iqm_ci(
            [[p["loss_ratio"] for p in g] for g in tasks.values()], n_boot=n_boot)
        for measure in ("learned_loss", "baseline_loss"):
            row[measure] = math.nan  # losses of different tasks do not average
        row["goal"] = goal(row)
        rows.append(row)
    return rows


def _speeds(row: dict[str, Any], group: Sequence[dict[str, Any]], statistic: str,
            tasks: Sequence[Sequence[dict[str, Any]]], n_boot: int) -> None:
    row["speedup_note"] = _undetermined(row["censored"], len(group), statistic)
    for key in ("speedup", "speedup_seconds"):
        values = _speed_summary(group, key, "median" if statistic == "median" else "IQM", tasks=tasks, n_boot=n_boot)
        if row["speedup_note"] or any(math.isnan(p[key]) for p in group):
            values = (math.nan, values[1], values[2])
        row[key], row[f"{key}_lo"], row[f"{key}_hi"] = values


def _counts(group: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {"censored": sum(bool(p["censored"]) for p in group),
            "learned_diverged": sum(bool(p["learned_diverged"]) for p in group),
            "baseline_diverged": sum(bool(p["baseline_diverged"]) for p in group)}


# -- the plan and the runs ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HeldoutPlan:
    """An evaluation, resolved and checked: the policy, tasks, seeds, budgets and the specs at T
    (before tuning), one per (task, optimizer, seed)."""

    policy: str
    policy_sha256: str
    tasks: tuple[HeldoutTask, ...]
    seeds: tuple[int, ...]
    samples: int
    steps: dict[str, int]
    specs: tuple[Any, ...]
    extra_points: int = defaults.TUNE_EXTRA
    spec_tasks: tuple[str, ...] = ()
    """Each spec's task (``HeldoutTask.key``), in the order of ``specs``."""
    """Values the search tries past a grid's edge winner, per pair (``--tune-extra``)."""

    @property
    def evaluation(self) -> str:
        """A stable id of the evaluation: protocol, policy (path and weights), tasks, seeds, budgets."""
        key = json.dumps([PROTOCOL, self.policy, self.policy_sha256, [t.key for t in self.tasks],
                          list(self.seeds), self.samples, self.steps, HORIZON], sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:16]


def heldout_plan(policy: str, *, seeds: int | None = None, samples: int | None = None,
                 steps: int | None = None, tasks: Sequence[str] | None = None,
                 extra_points: int = defaults.TUNE_EXTRA) -> HeldoutPlan:
    """Check everything and build the specs, without Ray; one-line ``UsageError``s."""
    from raybench.learned.policy import PolicyError, load_policy
    from raybench.rl.env import pool_seeds
    from raybench.spec import RunSpec

    try:
        sha = str(load_policy(policy).metadata.get("sha256", ""))
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    seeds = DEFAULT_SEEDS if seeds is None else seeds
    try:
        seed_list = pool_seeds("heldout", seeds)
    except ValueError as exc:
        raise UsageError(f"--seeds: {exc}") from None
    samples = DEFAULT_SAMPLES if samples is None else samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(f"bad --tune-samples {samples!r}; accepted: an integer >= 2")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise UsageError(f"bad --steps {steps!r}; accepted: a positive integer")
    known = {t.key: t for t in HELDOUT_TASKS}
    names = list(DEFAULT_TASKS) if not tasks else list(known) if list(tasks) == ["all"] else list(dict.fromkeys(tasks))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown held-out task {unknown[0]!r}; accepted: {', '.join(known)}, or all")
    chosen = tuple(known[n] for n in names)
    budgets = {t.key: steps or t.steps for t in chosen}
    if steps is not None and len({(t.problem, repr(sorted(t.options.items()))) for t in chosen}) < len(chosen):
        raise UsageError("--steps sets one T for every task, and two chosen tasks are one problem at two horizons; "
                         "leave out --steps or choose one of them with --tasks")
    policy_path = os.path.abspath(policy)
    specs, spec_tasks = [], []
    for task in chosen:
        t = budgets[task.key]
        for seed in seed_list:
            for name in (LEARNED, *BASELINES):
                hparams = {"policy": policy_path} if name == LEARNED else {}
                specs.append(RunSpec.build(task.problem, name, seed, hparams=hparams, options=task.options,
                                           steps=t, eval_every=task.eval_every(t)))
                spec_tasks.append(task.key)
    return HeldoutPlan(policy=policy_path, policy_sha256=sha, tasks=chosen, seeds=tuple(seed_list),
                       samples=samples, steps=budgets, specs=tuple(specs), extra_points=extra_points,
                       spec_tasks=tuple(spec_tasks))


def evaluate_heldout(policy: str | HeldoutPlan, out: str, *, seeds: int | None = None,
                     samples: int | None = None, steps: int | None = None, tasks: Sequence[str] | None = None,
                     resume: bool = False, progress: bool = True, prepare_data: bool = True) -> dict[str, Any]:
    """Run the protocol for ``policy`` (a file, or a ``heldout_plan``) into ``out`` on the running
    Ray; returns ``{"pairs", "summary", "markdown", "md_path"}``. The Python API: it resolves
    everything itself (the plan, the folder held as its writer, its run ids read once), then
    ``run_heldout``.

    ``resume`` reuses the search and runs already in ``out`` (another policy's baselines too).
    ``prepare_data``: fetch or check the data once here first (the embedded local Ray's workers
    share this machine's files; on a cluster pass False)."""
    from raybench import results, runner

    plan = policy if isinstance(policy, HeldoutPlan) else heldout_plan(
        policy, seeds=seeds, samples=samples, steps=steps, tasks=tasks)
    with results.writer(out):
        done = runner.check_folder(out, resume=resume, specs=plan.specs)
        return run_heldout(plan, out, done=done, resume=resume, progress=progress, prepare_data=prepare_data)


def run_heldout(plan: HeldoutPlan, out: str, *, done: set[str], resume: bool, progress: bool,
                prepare_data: bool, max_retries: int = defaults.MAX_RETRIES) -> dict[str, Any]:
    """The protocol's stages for a caller that holds ``out`` as its writer and has read its run
    ids (``done``, ``runner.check_folder``), with Ray up: all of that is taken as given. Tune
    (``lr_search.plan`` once, then ``lr_search.tune``), run (``runner.run_specs``), measure,
    write the summary."""
    from raybench import lr_search, results, runner

    specs = runner.prepare_data(list(plan.specs)) if prepare_data else list(plan.specs)
    # Each optimizer is tuned at the budget it is judged on: the baselines at HORIZON x T.
    specs = [s if s.optimizer == LEARNED else s.with_(steps=HORIZON * s.steps) for s in specs]
    search = lr_search.plan(specs, samples=plan.samples, metric=SELECTION_METRIC, extra_points=plan.extra_points)
    _say(f"heldout 1/3: tuning lr_scale and lr ({plan.samples} values each, seeds "
         f"{', '.join(map(str, lr_search.TUNING_SEEDS))}, "
         f"validation {SELECTION_METRIC}) -> {out}/lr_search")
    tuned = lr_search.tune(search, out, previous=lr_search.previous_choices(out) if resume else {})
    final = tuned
    _say(f"heldout 2/3: {len(final)} runs ({len(plan.tasks)} tasks x {len(plan.seeds)} seeds x "
         f"{LEARNED} + {', '.join(BASELINES)} at {HORIZON}x its steps) -> {out}")
    runner.run_specs(final, out, done=done, resume=resume, cpus_per_run=1.0, gpus_per_run=0.0,
                     progress=progress, max_retries=max_retries)
    _say(f"heldout 3/3: measures -> {out}/heldout.md, heldout.csv, heldout/")
    runs, curves = results.read(out)
    pairs = pair_measures(plan, final, runs, curves)
    rows = _summary_rows(plan, final, summarise(pairs))
    written = results.read_table(out, "heldout")
    if written.empty or plan.evaluation not in set(written["evaluation"]):
        results.write(out, "heldout", rows)
    md_path = write_summary(out)
    return {"pairs": pairs, "summary": rows, "markdown": markdown(rows), "md_path": md_path}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def pair_measures(plan: HeldoutPlan, final: Sequence[Any], runs: Any, curves: Any) -> list[dict[str, Any]]:
    """``measure_pair`` for every (task, seed, baseline) of ``final`` (the tuned specs that ran),
    read from the folder's ``runs`` and ``curves``."""
    status = dict(zip(runs["run_id"], runs["status"], strict=True))
    points = {rid: (list(g["step"]), list(g["val_loss"]), list(g["wall_seconds"]))
              for rid, g in curves.groupby("run_id")}
    ids = {(task, s.seed, s.optimizer): s.run_id for task, s in zip(plan.spec_tasks, final, strict=True)}

    def curve(rid: str) -> tuple[list[int], list[float], str, list[float]]:
        steps, losses, seconds = points.get(rid, ([], [], []))
        return steps, losses, status.get(rid, "failed"), seconds

    pairs = []
    for task in plan.tasks:
        for seed in plan.seeds:
            learned = curve(ids[(task.key, seed, LEARNED)])
            for baseline in BASELINES:
                m = measure_pair(learned, curve(ids[(task.key, seed, baseline)]),
                                 steps=plan.steps[task.key])
                pairs.append({"task": task.key, "seed": seed, "baseline": baseline, **m})
    return pairs


def _summary_rows(plan: HeldoutPlan, final: Sequence[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``summarise``'s rows with the evaluation's facts: policy, budgets, the tuned values."""
    from raybench import lr_search

    tuned = {(task, s.optimizer): float(s.hparams[lr_search.step_size(s.optimizer)])
             for task, s in zip(plan.spec_tasks, final, strict=True)}
    dataset = {t.key: t.options.get("dataset") or t.problem for t in plan.tasks}
    out = []
    for row in rows:
        t = plan.steps.get(row["task"])
        out.append({**row, "evaluation": plan.evaluation, "protocol": PROTOCOL, "policy": plan.policy,
                    "policy_sha256": plan.policy_sha256, "dataset": dataset.get(row["task"]),
                    "steps": t, "baseline_steps": None if t is None else HORIZON * t,
                    "tune_samples": plan.samples,
                    "lr_scale": tuned.get((row["task"], LEARNED)),
                    "baseline_lr": tuned.get((row["task"], row["baseline"]))})
    return out


# -- the summary files --------------------------------------------------------------------------
def _ci(value: float, lo: float, hi: float, note: str | None = None) -> str:
    if note:
        return f"undetermined [{_num(lo)}, {_num(hi)}]"
    return f"{_num(value)} [{_num(lo)}, {_num(hi)}]"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The summary of one evaluation's rows as a markdown section: protocol, table, headline."""
    first = next(r for r in rows if r["task"] != "IQM")
    tasks = [r["task"] for r in rows if r["task"] != "IQM" and r["baseline"] == first["baseline"]]
    lines = [
        f"## `{os.path.basename(first['policy'])}` ({first['protocol']})", "",
        f"Policy `{first['policy']}` (sha256 {str(first['policy_sha256'])[:12]}), protocol `{first['protocol']}` "
        "(docs: \"Held-out protocol for the learned optimizer\"): tasks "
        f"{', '.join(f'`{t}`' for t in tasks)}, {first['seeds']} held-out seeds each; `{LEARNED}` for T steps, "
        f"{', '.join(f'`{b}`' for b in BASELINES)} for {HORIZON}T; `lr_scale` and `lr` tuned with "
        f"{first['tune_samples']} values each on the reserved tuning seeds, chosen on validation {SELECTION_METRIC}. "
        "Speed-up: the baseline's steps (or training seconds) to the learned optimizer's final validation loss, "
        "over the learned run's T; the baseline's crossing is known only between two evaluations, so each "
        "interval runs from the evaluation before (its low end) to the one reached (its high end and the "
        f"estimate). A baseline that never got there in {HORIZON}T is censored (above {HORIZON}); a median with "
        "half or more, or an IQM with more than a quarter, of its values censored is `undetermined`. Loss ratio: "
        "learned / baseline validation loss at T (< 1: the learned optimizer ends lower). Per task: median over "
        "seeds [95% Hettmansperger-Sheather CI; none below 6 seeds]; IQM: over all tasks and seeds [95% "
        "two-level bootstrap CI: tasks, then seeds within them].", "",
        "| task | T | baseline | speed-up (steps) | speed-up (seconds) | censored | loss ratio "
        "| diverged (learned / baseline) | lr_scale | baseline lr |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["task"] == "IQM", r["baseline"] != REFERENCE, r["baseline"])):
        n = r["seeds"] * (len(tasks) if r["task"] == "IQM" else 1)
        note = r.get("speedup_note") or None
        lines.append(
            f"| {r['task']} | {_num(r['steps'], '.0f')} | {r['baseline']} "
            f"| {_ci(r['speedup'], r['speedup_lo'], r['speedup_hi'], note)} "
            f"| {_ci(r['speedup_seconds'], r['speedup_seconds_lo'], r['speedup_seconds_hi'], note)} "
            f"| {r['censored']}/{n} "
            f"| {_ci(r['loss_ratio'], r['loss_ratio_lo'], r['loss_ratio_hi'])} "
            f"| {r['learned_diverged']} / {r['baseline_diverged']} "
            f"| {_num(r['lr_scale'])} | {_num(r['baseline_lr'])} |")
    per_task = [r for r in rows if r["task"] != "IQM" and r["baseline"] == REFERENCE]
    head = next(r for r in rows if r["task"] == "IQM" and r["baseline"] == REFERENCE)
    lines += ["", f"**Against tuned {REFERENCE}, per task (median speed-up in steps [95% CI]): "
              + "; ".join(f"`{r['task']}` {_ci(r['speedup'], r['speedup_lo'], r['speedup_hi'], r.get('speedup_note'))}"
                          for r in per_task)
              + f". IQM over the {len(tasks)} tasks: {_ci(head['speedup'], head['speedup_lo'], head['speedup_hi'], head.get('speedup_note'))}"
              f"; diverged learned runs: {head['learned_diverged']}.** Goal stated before the runs (reported "
              f"against, not tuned for): IQM >= {GOAL_SPEEDUP:g} with no diverged run: {head.get('goal') or goal(head)} "
              "(met: the whole CI at or above it; not met: below it, or a diverged run; inconclusive: the CI holds "
              f"{GOAL_SPEEDUP:g}).", ""]
    if head.get("speedup_note"):
        lines += [f"The IQM is {head['speedup_note']}: a longer horizon would measure it.", ""]
    return "\n".join(lines)


def _num(value: Any, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:{spec}}"


def write_summary(out: str) -> str:
    """``OUT/heldout.md`` and ``OUT/heldout.csv`` from the folder's ``heldout`` table: every
    evaluation in it (one per policy of an ablation), each once; returns the markdown's path."""
    from raybench import results

    table = results.read_table(out, "heldout")
    table = table.drop_duplicates(["evaluation", "task", "baseline"], keep="first")
    sections = ["# Held-out protocol for the learned optimizer", ""]
    for _, group in table.groupby("evaluation", sort=False):
        sections.append(markdown(group.to_dict("records")))
    results.write_file(out, "heldout.csv", table.to_csv(index=False))
    return results.write_file(out, "heldout.md", "\n".join(sections))
