"""Fair learning-rate tuning (``raybench run --tune-lr``): the same budget for every optimizer.

For every (problem, optimizer) pair of a suite, a grid search tries ``samples`` learning
rates spaced evenly (log) over the optimizer's registry search space, each a full run on a
*tuning seed* that is not an evaluation seed (``TUNING_SEED``; for problem families
it is also a different instance). The winner is the best final value of the problem's target
metric (or of the ``metric`` a caller names) on the validation split (never test), best in the
direction the problem declares for that metric, a diverged run being the worst. The seeds are
then run with that learning rate (``hparam_source = "tuned"``), and every trial is recorded in
the ``lr_search`` table of the results folder with ``chosen`` marking the winner, so how a
setting was chosen is in the data. With ``--resume`` a finished search is reused.

A pipeline in stages, each taking what the one before resolved: ``plan`` checks the specs
(``check_tunable``) and resolves each pair, its hyperparameter and its grid once;
``previous_choices`` reads the folder's finished searches; ``tune`` searches the rest and
returns the tuned specs. ``tune_specs`` is all three for a library caller.

The trials are plain Ray tasks, as the runs are (``raybench.runner``), not a Ray Tune
experiment: a grid of independent full runs needs no scheduler, and as tasks they run in the
worker processes the command warmed (each Tune trial actor is a new process that imports torch
first) without Tune's controller and experiment state; a search of 4 quadratic trials took 12 s
more under Tune (BENCHMARKS.md). A trial lost to a worker or node failure more often than the
retries allow counts as failed (worst), as a diverged one does.

The hyperparameter searched is the one the registry search space names (``step_size``):
``lr``, or for an optimizer without one the space's only entry, e.g. the learned optimizer's
``lr_scale``; the table's ``hparam`` column names it and ``lr`` holds its value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from raybench import defaults, optimizers, problems, results, schedules, schema
from raybench.spec import RunSpec

# Version 4: ``pair_key`` always holds the hyperparameters away from their defaults and the
# selection metric. Parts of any other version are refused (``raybench.results``).
LR_SEARCH = schema.register(schema.TableSchema("lr_search", 4, schema.columns(
    ("pair_key", pa.string()), ("problem", pa.string()), ("optimizer", pa.string()), ("hparam", pa.string()),
    ("lr", pa.float64()),
    ("target_metric", pa.string()), ("mode", pa.string()), ("final_val", pa.float64()),
    ("score", pa.float64()), ("chosen", pa.bool_()), ("tuning_seed", pa.int64()), ("selection", pa.string()),
)))

TUNING_SEED = 1_000_003
"""Seed of the runs that choose learning rates; evaluation seeds must not use it."""


def _step_size(space: dict[str, Any]) -> str | None:
    if "lr" in space:
        return "lr"
    return next(iter(space)) if len(space) == 1 else None


def step_size(optimizer: str) -> str | None:
    """The hyperparameter searched for ``optimizer``: ``lr`` where its registry search space
    has it, else the space's only entry (``lr_scale`` of ``autonomous``); ``None`` if neither."""
    return _step_size(optimizers.get(optimizer).search_space)


def _grid(space: dict[str, Any], samples: int) -> list[float]:
    if space.get("scaling", "log") == "log":
        return [float(x) for x in np.geomspace(space["min"], space["max"], samples)]
    return [float(x) for x in np.linspace(space["min"], space["max"], samples)]


def grid(optimizer: str, samples: int) -> list[float]:
    """``samples`` values log-spaced over ``optimizer``'s registry search space (of ``step_size``)."""
    space = optimizers.get(optimizer).search_space
    return _grid(space[_step_size(space)], samples)


class Knob(NamedTuple):
    """What is searched for one optimizer, read from its registry entry once."""

    hparam: str
    """The hyperparameter searched (``step_size``)."""
    space: dict[str, Any]
    """Its search space: ``min``, ``max``, ``scaling``."""
    defaults: dict[str, Any]
    """The optimizer's and the schedule's defaults: hyperparameters away from them make another pair."""


def check_tunable(specs: list[RunSpec]) -> dict[str, Knob]:
    """``UsageError`` unless every spec's learning rate can be searched: its optimizer's search
    space names one (``step_size``) and its seed is not the reserved tuning seed. Returns what
    is searched for each optimizer."""
    from raybench.errors import UsageError

    knobs: dict[str, Knob] = {}
    for spec in specs:
        if spec.seed == TUNING_SEED:
            raise UsageError(f"seed {TUNING_SEED} is reserved for learning-rate tuning")
        if spec.optimizer in knobs:
            continue
        entry = optimizers.get(spec.optimizer)
        hparam = _step_size(entry.search_space)
        if hparam is None:
            raise UsageError(f"--tune-lr: optimizer {spec.optimizer!r} ({entry.path}) has no learning rate "
                             "to search (no lr argument or search space); accepted: optimizers taking lr, "
                             "or leave it out of a tuned suite")
        knobs[spec.optimizer] = Knob(hparam, entry.search_space[hparam], {**schedules.DEFAULTS, **entry.defaults})
    return knobs


@dataclasses.dataclass(frozen=True)
class Plan:
    """A learning-rate search, resolved and checked once (``plan``): what ``tune`` takes as given."""

    specs: tuple[RunSpec, ...]
    keys: tuple[tuple, ...]
    """Each spec's pair key: the specs that share one share their learning rate."""
    hparam: dict[str, str]
    """Each optimizer's searched hyperparameter (``step_size``)."""
    grids: dict[tuple, list[float]]
    """Each pair's candidate values."""
    samples: int
    metric: str | None
    """The validation metric chosen on; ``None``: each problem's target metric."""

    @property
    def pairs(self) -> dict[tuple, RunSpec]:
        """Each pair key with the first spec of its pair."""
        first: dict[tuple, RunSpec] = {}
        for key, spec in zip(self.keys, self.specs, strict=True):
            first.setdefault(key, spec)
        return first


def plan(specs: list[RunSpec], *, samples: int, metric: str | None = None) -> Plan:
    """Check ``specs`` for a search of ``samples`` values each (``UsageError``, one line) and
    resolve their pairs, searched hyperparameters and grids."""
    from raybench.errors import UsageError

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(f"--tune-samples must be >= 2, got {samples}")
    knobs = check_tunable(specs)
    keys = tuple(_pair_key(s, knobs[s.optimizer], metric) for s in specs)
    grids = {key: _grid(knobs[s.optimizer].space, samples) for key, s in zip(keys, specs, strict=True)}
    return Plan(tuple(specs), keys, {name: knob.hparam for name, knob in knobs.items()}, grids, samples, metric)


def _pair_key(spec: RunSpec, knob: Knob, metric: str | None) -> tuple:
    """What makes two specs one tuning pair: all but the seed and the searched value. Other
    hyperparameters away from their defaults (the learned optimizer's policy file) or another
    selection metric make another pair."""
    changed = sorted((k, v) for k, v in spec.hparams.items() if k != knob.hparam and v != knob.defaults.get(k))
    return (spec.problem, spec.optimizer, spec.steps, repr(sorted(spec.options.items())), spec.eval_every,
            repr(changed), metric)


def previous_choices(out: str) -> dict[tuple, float]:
    """The values chosen by the searches already in ``out``, by pair key (what ``--resume`` reuses)."""
    table = results.read_table(out, "lr_search")
    if table.empty:
        return {}
    done = table[table["chosen"]]
    return {_eval_key(k): float(lr) for k, lr in zip(done["pair_key"], done["lr"], strict=True)}


def _eval_key(text: str) -> tuple:
    import ast

    return tuple(ast.literal_eval(text))


def tune(search: Plan, out: str, *, previous: dict[tuple, float], cpus_per_run: float = 1.0,
         gpus_per_run: float = 0.0) -> list[RunSpec]:
    """The plan's specs, each with its pair's chosen value (``hparam_source = "tuned"``): from
    ``previous`` (``previous_choices``) where the pair is there, else searched now on Ray (already
    started) and recorded in ``out`` (already initialised). Trusts ``search`` as ``plan`` made it."""
    chosen = {key: previous[key] for key in search.grids if key in previous}
    missing = {k: s for k, s in search.pairs.items() if k not in chosen}
    if missing:
        chosen.update(_search(out, search, missing, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run))
    return [s.with_(hparams={**s.hparams, search.hparam[s.optimizer]: chosen[key]}, hparam_source="tuned")
            for s, key in zip(search.specs, search.keys, strict=True)]


def tune_specs(specs: list[RunSpec], out: str, *, samples: int = defaults.TUNE_SAMPLES, cpus_per_run: float = 1.0,
               gpus_per_run: float = 0.0, resume: bool = False, metric: str | None = None) -> list[RunSpec]:
    """``specs`` with the learning rate of each (problem, optimizer) pair chosen by a grid search
    (see the module docstring); the library's one call, which checks and reads ``out`` itself
    (``plan``, ``previous_choices`` with ``resume``, then ``tune``).

    ``metric``: the validation metric to choose on (default: each problem's target metric)."""
    search = plan(specs, samples=samples, metric=metric)
    results.init(out)
    return tune(search, out, previous=previous_choices(out) if resume else {},
                cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)


def _score(row: dict[str, Any], metric: str | None = None) -> float:
    """Lower is better: the final validation value of ``metric`` (default: the target metric),
    negated where the problem maximises it; ``inf`` for a run that did not finish ok or has no
    finite value."""
    if row.get("status") != "ok":
        return math.inf
    metric = metric or row["target_metric"]
    frame = results.metric(pd.DataFrame([row]), "final_val", metric)
    value = float(frame.iloc[0])
    if not math.isfinite(value):
        return math.inf
    return -value if problems.get(row["problem"]).direction(metric) == "max" else value


def _trial(config: dict[str, Any], device: str, metric: str | None) -> dict[str, Any]:
    """One trial, on a Ray worker: the run and what the search chooses on."""
    from raybench.runner import execute

    row, _ = execute(RunSpec.from_config(config), device)
    metric = metric or row.get("target_metric")
    mode = row.get("target_mode") if metric == row.get("target_metric") else problems.get(row["problem"]).direction(metric)
    return {"score": _score(row, metric), "status": row.get("status"), "target_metric": metric, "mode": mode}


def _search(out: str, search: Plan, pairs: dict[tuple, RunSpec], *, cpus_per_run: float,
            gpus_per_run: float) -> dict[tuple, float]:
    import ray

    from raybench.ray_utils import require_ray

    require_ray()
    device = "cuda" if gpus_per_run > 0 else "cpu"
    remote = ray.remote(_trial).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                        max_retries=defaults.MAX_RETRIES, retry_exceptions=False,
                                        scheduling_strategy="SPREAD")
    pending = {}
    for key, spec in pairs.items():
        for lr in search.grids[key]:
            trial = spec.with_(seed=TUNING_SEED, hparams={**spec.hparams, search.hparam[spec.optimizer]: lr},
                               hparam_source="tuning")
            pending[remote.remote(trial.as_config(), device, search.metric)] = (key, lr)
    print(f"tune-lr: {len(pending)} trials ({len(pairs)} pairs x {search.samples} learning rates) "
          f"on seed {TUNING_SEED}, chosen on validation")
    found: dict[tuple, dict[str, Any]] = {}
    # On Ctrl-C nothing is recorded (a partial search would be reused by --resume), and the
    # trials in flight are not cancelled but end with Ray, as the runner's runs do: ray.cancel
    # on a task whose result is arriving aborts Ray 2.60's core (raybench.runner._fan_out).
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            trial = pending.pop(ref)
            try:
                found[trial] = ray.get(ref)
            except ray.exceptions.RayError:  # lost beyond its retries: counts as failed
                found[trial] = {}
    rows, chosen = [], {}
    judged = "the target metric" if search.metric is None else search.metric
    for key, spec in pairs.items():
        hparam = search.hparam[spec.optimizer]
        cands = [(float(found.get((key, lr), {}).get("score", math.inf)), lr) for lr in search.grids[key]]
        best_score, best_lr = min(cands)  # ties -> the smaller learning rate
        chosen[key] = best_lr
        for score, lr in cands:
            trial = found.get((key, lr), {})
            mode = trial.get("mode")
            rows.append({"pair_key": repr(key), "problem": spec.problem, "optimizer": spec.optimizer,
                         "hparam": hparam, "lr": lr,
                         "target_metric": trial.get("target_metric"), "mode": mode,
                         "final_val": -score if mode == "max" else score,
                         "score": score, "chosen": lr == best_lr, "tuning_seed": TUNING_SEED,
                         "selection": f"final validation value of {judged}, best in its "
                                      "declared direction (score: lower is better)"})
        print(f"tune-lr: {spec.problem}/{spec.optimizer}: {hparam}={best_lr:.3g} (val score {best_score:.4g})")
    results.write(out, "lr_search", rows)
    return chosen
