"""Fair learning-rate tuning (``raybench run --tune-lr``): the same budget and resolution for every optimizer.

For every (problem, optimizer) pair of a suite, a grid search tries ``samples`` values of the
pair's step size, each a full run on every *tuning seed* (``TUNING_SEEDS``: none is ever an
evaluation seed; for problem families each is also a different instance):

- **The grid.** ``samples`` values spaced evenly in log over ``DECADES`` decades centred on the
  optimizer's registry default (``default / 100 .. default * 100``), so every optimizer's grid
  is equally fine: ``DECADES / (samples - 1)`` decades between values, and the default itself is
  a grid point when ``samples`` is odd. The ranges written in raybench's own registry are not
  read (they set unequal widths: 2 to 4 decades); only the hyperparameter they name is. A range
  the *user* gave explicitly (a suite file's ``search_space`` for an import-path optimizer, or
  an installed package's ``OptimizerSpec``) wins: ``samples`` values over exactly that range in
  its ``scaling``; the table's ``spacing`` and ``grid`` columns say so. An optimizer with no
  positive default is centred on its search space's geometric centre.
- **Edge winners are pushed past the edge.** When the winner is the first or last value tried,
  one more value past that edge at the same spacing is tried (on every tuning seed), until the
  winner is interior or ``EXTRA_POINTS`` values were added; the table marks those trials
  (``extension``), counts them per pair (``extra_points``) and says whether the winner is still
  on the edge (``edge_winner``), and the command prints a line for every pair it extended.
- **The choice.** The winner is the value with the lowest mean over the tuning seeds of its
  *score*: the final validation value (never test) of the problem's ``loss`` (or of the
  ``metric`` a caller names; a problem that declares no ``loss`` is judged on its target
  metric), negated where the problem maximises it; a run that diverged or failed scores
  ``inf``, so a value any seed diverged at is the worst. Ties go to the value nearest the default
  (then the smaller); where every value failed, to the smallest.

The seeds are then run with that value (``hparam_source = "tuned"``). Every trial (one row per
value and tuning seed) is recorded in the ``lr_search`` table of the results folder, with its
own score and the mean it was judged by (``mean_score``) and ``chosen`` marking the winning
value's rows, so the choice can be recomputed from the data. With ``--resume`` a finished
search is reused.

Cost: ``len(TUNING_SEEDS)`` runs per value (twice a one-seed search), plus up to
``EXTRA_POINTS`` values per pair whose winner is on the edge. Every trial's row records what it
cost (``steps``, ``grad_evals``, ``wall_seconds``), so a pair's total tuning cost is their sum.

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
``lr_scale`` (centred on its default 1.0 like any learning rate); the table's ``hparam``
column names it and ``lr`` holds its value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa

from raybench import defaults, optimizers, problems, results, schedules, schema
from raybench.spec import RunSpec

# Version 5: one row per (value, tuning seed) over two tuning seeds, chosen on the mean score
# (validation loss by default); grids of equal spacing centred on the default; extension
# trials past an edge winner. Version 6: each trial's cost (steps, grad_evals, wall_seconds). Parts of any other version are refused (``raybench.results``).
LR_SEARCH = schema.register(schema.TableSchema("lr_search", 6, schema.columns(
    ("pair_key", pa.string()), ("problem", pa.string()), ("optimizer", pa.string()), ("hparam", pa.string()),
    ("lr", pa.float64()), ("scaling", pa.string()), ("spacing", pa.float64()), ("grid", pa.string()),
    ("extension", pa.bool_()), ("metric", pa.string()), ("mode", pa.string()), ("tuning_seed", pa.int64()),
    ("final_val", pa.float64()), ("score", pa.float64()), ("mean_score", pa.float64()),
    ("chosen", pa.bool_()), ("extra_points", pa.int64()), ("edge_winner", pa.bool_()), ("selection", pa.string()),
    ("steps", pa.int64()), ("grad_evals", pa.int64()), ("wall_seconds", pa.float64()),
)))

TUNING_SEED = 1_000_003
"""The first seed of the runs that choose learning rates."""
TUNING_SEEDS = (TUNING_SEED, TUNING_SEED + 1)
"""Every seed the search runs each value on (its choice is the mean over them); evaluation seeds
must use none of them."""
DECADES = 4.0
"""Decades every grid spans, centred (in log) on the optimizer's default."""
EXTRA_POINTS = defaults.TUNE_EXTRA
"""At most this many values are tried past an edge winner, one at a time, per pair (``--tune-extra``)."""
SELECTION_METRIC = "loss"
"""What the search chooses on by default, on validation: the problem's loss."""


def _step_size(space: dict[str, Any]) -> str | None:
    if "lr" in space:
        return "lr"
    return next(iter(space)) if len(space) == 1 else None


def step_size(optimizer: str) -> str | None:
    """The hyperparameter searched for ``optimizer``: ``lr`` where its registry search space
    has it, else the space's only entry (``lr_scale`` of ``autonomous``); ``None`` if neither."""
    return _step_size(optimizers.get(optimizer).search_space)


@dataclasses.dataclass(frozen=True)
class Axis:
    """The values one pair's search may try, by index: ``0 .. samples - 1`` the grid, indices
    below 0 and from ``samples`` on past its edges, at the same spacing."""

    anchor: float
    """The value at index ``anchor_index``."""
    anchor_index: float
    step: float
    """Between neighbouring values: decades (``log``) or the value's own units (``linear``)."""
    scaling: str
    samples: int
    origin: str
    """Where the range comes from, in words (the table's ``grid``)."""

    def value(self, k: int) -> float:
        if self.scaling == "log":
            value = self.anchor * 10.0 ** ((k - self.anchor_index) * self.step)
        else:
            value = self.anchor + (k - self.anchor_index) * self.step
        return float(f"{value:.12g}")  # 1e-06, not 1.0000000000000002e-06

    def usable(self, k: int) -> bool:
        """Whether index ``k`` is a value a run can take (a linear range may reach zero)."""
        value = self.value(k)
        return math.isfinite(value) and value > 0

    @property
    def grid(self) -> list[float]:
        return [self.value(k) for k in range(self.samples)]


class Knob(NamedTuple):
    """What is searched for one optimizer, read from its registry entry once."""

    hparam: str
    """The hyperparameter searched (``step_size``)."""
    space: dict[str, Any]
    """Its search space as the entry gives it: ``min``, ``max``, ``scaling``."""
    defaults: dict[str, Any]
    """The optimizer's and the schedule's defaults: hyperparameters away from them make another pair."""
    centre: float | None
    """The grid's centre (the default); ``None`` where the user's explicit range wins."""


def _knob(entry: optimizers.OptimizerSpec, hparam: str) -> Knob:
    space = entry.search_space[hparam]
    merged = {**schedules.DEFAULTS, **entry.defaults}
    # A range is the user's own when it comes from outside raybench's registry and is not the
    # default space every import-path optimizer without one gets.
    if entry.origin != "raybench" and entry.search_space != optimizers.DEFAULT_LR_SPACE:
        return Knob(hparam, space, merged, None)
    default = merged.get(hparam)
    ok = isinstance(default, int | float) and not isinstance(default, bool) and math.isfinite(default) and default > 0
    return Knob(hparam, space, merged, float(default) if ok else math.sqrt(space["min"] * space["max"]))


def _axis(knob: Knob, samples: int) -> Axis:
    if knob.centre is not None:
        origin = (f"{DECADES:g} decades centred on the default {knob.centre:g}"
                  if knob.defaults.get(knob.hparam) == knob.centre else
                  f"{DECADES:g} decades centred on {knob.centre:g}, its search space's centre (no positive default)")
        return Axis(knob.centre, (samples - 1) / 2, DECADES / (samples - 1), "log", samples, origin)
    low, high, scaling = knob.space["min"], knob.space["max"], knob.space.get("scaling", "log")
    origin = f"the search space given for it, [{low:g}, {high:g}] ({scaling})"
    if scaling == "log":
        return Axis(float(low), 0, math.log10(high / low) / (samples - 1), "log", samples, origin)
    return Axis(float(low), 0, (high - low) / (samples - 1), "linear", samples, origin)


def grid(optimizer: str, samples: int) -> list[float]:
    """The ``samples`` values a search starts from for ``optimizer`` (of ``step_size``): see the
    module docstring."""
    entry = optimizers.get(optimizer)
    return _axis(_knob(entry, _step_size(entry.search_space)), samples).grid


def check_tunable(specs: list[RunSpec]) -> dict[str, Knob]:
    """``UsageError`` unless every spec's learning rate can be searched: its optimizer's search
    space names one (``step_size``) and its seed is none of the reserved tuning seeds. Returns
    what is searched for each optimizer."""
    from raybench.errors import UsageError

    knobs: dict[str, Knob] = {}
    for spec in specs:
        if spec.seed in TUNING_SEEDS:
            raise UsageError(f"seed {spec.seed} is reserved for learning-rate tuning "
                             f"(seeds {', '.join(map(str, TUNING_SEEDS))}); choose other evaluation seeds")
        if spec.optimizer in knobs:
            continue
        entry = optimizers.get(spec.optimizer)
        hparam = _step_size(entry.search_space)
        if hparam is None:
            raise UsageError(f"--tune-lr: optimizer {spec.optimizer!r} ({entry.path}) has no learning rate "
                             "to search (no lr argument or search space); accepted: optimizers taking lr, "
                             "or leave it out of a tuned suite")
        knobs[spec.optimizer] = _knob(entry, hparam)
    return knobs


def first_of_pairs(keys: Sequence[tuple], specs: Sequence[RunSpec]) -> dict[tuple, RunSpec]:
    """Each pair key with the first spec of its pair, in the order of first appearance (``keys[i]``
    is ``specs[i]``'s pair key): the spec a pair's tuning is built from. Both tuning protocols'
    plans (this module's and ``raybench.external_tuning``'s) take their pairs from here."""
    first: dict[tuple, RunSpec] = {}
    for key, spec in zip(keys, specs, strict=True):
        first.setdefault(key, spec)
    return first


@dataclasses.dataclass(frozen=True)
class Plan:
    """A learning-rate search, resolved and checked once (``plan``): what ``tune`` takes as given."""

    specs: tuple[RunSpec, ...]
    keys: tuple[tuple, ...]
    """Each spec's pair key: the specs that share one share their learning rate."""
    hparam: dict[str, str]
    """Each optimizer's searched hyperparameter (``step_size``)."""
    axes: dict[tuple, Axis]
    """Each pair's values: its grid and the values past its edges."""
    samples: int
    metric: str | None
    """The validation metric a caller named; ``None``: each problem's loss (``SELECTION_METRIC``)."""
    judged: dict[tuple, str | None]
    """Each pair's selection metric; ``None``: the problem's target metric (it declares no loss)."""
    seeds: tuple[int, ...] = TUNING_SEEDS
    extra_points: int = EXTRA_POINTS

    @property
    def grids(self) -> dict[tuple, list[float]]:
        """Each pair's grid (the values tried before any extension)."""
        return {key: axis.grid for key, axis in self.axes.items()}

    @property
    def pairs(self) -> dict[tuple, RunSpec]:
        """Each pair key with the first spec of its pair."""
        return first_of_pairs(self.keys, self.specs)


def plan(specs: list[RunSpec], *, samples: int, metric: str | None = None,
         extra_points: int = EXTRA_POINTS) -> Plan:
    """Check ``specs`` for a search of ``samples`` values each (``UsageError``, one line) and
    resolve their pairs, searched hyperparameters, grids and selection metrics. ``extra_points``:
    the most values tried past an edge winner (0: none)."""
    from raybench.errors import UsageError

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(f"--tune-samples must be >= 2, got {samples}")
    if isinstance(extra_points, bool) or not isinstance(extra_points, int) or extra_points < 0:
        raise UsageError(f"extra points must be an integer >= 0, got {extra_points!r}")
    knobs = check_tunable(specs)
    keys = tuple(_pair_key(s, knobs[s.optimizer], metric) for s in specs)
    axes = {key: _axis(knobs[s.optimizer], samples) for key, s in zip(keys, specs, strict=True)}
    judged = {key: metric or (SELECTION_METRIC if SELECTION_METRIC in problems.get(s.problem).metrics else None)
              for key, s in zip(keys, specs, strict=True)}
    return Plan(tuple(specs), keys, {name: knob.hparam for name, knob in knobs.items()}, axes, samples, metric,
                judged, TUNING_SEEDS, extra_points)


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
         gpus_per_run: float = 0.0, progress: bool = True) -> list[RunSpec]:
    """The plan's specs, each with its pair's chosen value (``hparam_source = "tuned"``): from
    ``previous`` (``previous_choices``) where the pair is there, else searched now on Ray (already
    started) and recorded in ``out`` (already initialised). Trusts ``search`` as ``plan`` made it."""
    chosen = {key: previous[key] for key in search.axes if key in previous}
    missing = {k: s for k, s in search.pairs.items() if k not in chosen}
    if missing:
        chosen.update(_search(out, search, missing, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                              progress=progress))
    return [s.with_(hparams={**s.hparams, search.hparam[s.optimizer]: chosen[key]}, hparam_source="tuned")
            for s, key in zip(search.specs, search.keys, strict=True)]


def tune_specs(specs: list[RunSpec], out: str, *, samples: int = defaults.TUNE_SAMPLES, cpus_per_run: float = 1.0,
               gpus_per_run: float = 0.0, resume: bool = False, metric: str | None = None,
               extra_points: int = EXTRA_POINTS) -> list[RunSpec]:
    """``specs`` with the learning rate of each (problem, optimizer) pair chosen by a grid search
    (see the module docstring); the library's one call, which checks and reads ``out`` itself
    (``plan``, ``previous_choices`` with ``resume``, then ``tune``).

    ``metric``: the validation metric to choose on (default: each problem's loss)."""
    search = plan(specs, samples=samples, metric=metric, extra_points=extra_points)
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


def validation_score(row: dict[str, Any], metric: str | None = None) -> float:
    """What a tuning trial's run is judged by (``_score``): shared with ``raybench.external_tuning``."""
    return _score(row, metric)


def _trial(config: dict[str, Any], device: str, metric: str | None,
           code: dict[str, Any] | None = None) -> dict[str, Any]:
    """One trial, on a Ray worker: the run and what the search chooses on (``metric``; ``None``:
    the run's target metric). ``code``: the driver's code identity; a worker on other raybench
    code raises ``CodeMismatch`` (``raybench.runner.execute``) rather than score a trial."""
    from raybench.runner import execute

    row, _ = execute(RunSpec.from_config(config), device, code)
    metric = metric or row.get("target_metric")
    mode = row.get("target_mode") if metric == row.get("target_metric") else problems.get(row["problem"]).direction(metric)
    return {"score": _score(row, metric), "status": row.get("status"), "metric": metric, "mode": mode,
            "steps": int(row.get("steps") or 0), "grad_evals": int(row.get("grad_evals") or 0),
            "wall_seconds": float(row.get("wall_seconds") or 0.0)}


def mean_score(scores: list[float]) -> float:
    """What a value is judged by: the mean of its tuning seeds' scores; ``inf`` if any is (a
    value one seed diverged at is the worst)."""
    return math.inf if not scores or any(not math.isfinite(s) for s in scores) else sum(scores) / len(scores)


@dataclasses.dataclass
class _Pair:
    """One pair's search in progress: the indices tried (contiguous) and what is outstanding."""

    axis: Axis
    low: int
    high: int
    extra: int = 0
    outstanding: int = 0

    def best(self, scores: dict[int, float]) -> int:
        """The winning index. Ties go to the value nearest the grid's centre (the default), so a
        flat stretch never walks the search past an edge, then to the smaller; where nothing
        finished (all ``inf``), to the smallest, where a run is likeliest to be stable."""
        centre = (self.axis.samples - 1) / 2
        return min(range(self.low, self.high + 1),
                   key=lambda k: (scores[k], abs(k - centre) if math.isfinite(scores[k]) else 0, k))


def _search(out: str, search: Plan, pairs: dict[tuple, RunSpec], *, cpus_per_run: float,
            gpus_per_run: float, progress: bool = True) -> dict[tuple, float]:
    import ray

    from raybench import identity
    from raybench.ray_utils import require_ray

    require_ray()
    device = "cuda" if gpus_per_run > 0 else "cpu"
    remote = ray.remote(_trial).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                        max_retries=defaults.MAX_RETRIES, retry_exceptions=False,
                                        scheduling_strategy="SPREAD")
    pending: dict[Any, tuple[tuple, int, int]] = {}
    state = {key: _Pair(search.axes[key], 0, search.samples - 1) for key in pairs}

    def submit(key: tuple, k: int) -> None:
        spec = pairs[key]
        value = state[key].axis.value(k)
        for seed in search.seeds:
            trial = spec.with_(seed=seed, hparams={**spec.hparams, search.hparam[spec.optimizer]: value},
                               hparam_source="tuning")
            code = identity.of_spec(trial).columns()
            pending[remote.remote(trial.as_config(), device, search.judged[key], code)] = (key, k, seed)
            state[key].outstanding += 1

    for key in pairs:
        for k in range(search.samples):
            submit(key, k)
    judged = sorted({m or "the target metric" for m in (search.judged[k] for k in pairs)})
    print(f"tune-lr: {len(pending)} trials ({len(pairs)} pairs x {search.samples} values x "
          f"{len(search.seeds)} tuning seeds {', '.join(map(str, search.seeds))}), chosen on the mean final "
          f"validation {' / '.join(judged)}; up to {search.extra_points} more values per pair whose winner is on an edge")
    found: dict[tuple, dict[str, Any]] = {}
    from raybench.runner import _Progress

    bar = _Progress(len(pending), cpus_per_run, enabled=progress, unit="trial")

    def scores(key: tuple) -> dict[int, float]:
        p = state[key]
        return {k: mean_score([float(found.get((key, k, s), {}).get("score", math.inf)) for s in search.seeds])
                for k in range(p.low, p.high + 1)}

    def not_applicable(key: tuple) -> bool:
        p = state[key]
        return all(found.get((key, k, s), {}).get("status") == "not_applicable"
                   for k in range(p.low, p.high + 1) for s in search.seeds)

    def extend(key: tuple) -> None:
        """Once all of a pair's trials are in: one value past the edge its winner is on, if allowed."""
        p = state[key]
        if not_applicable(key):
            return  # nothing to search: every run of the pair ends untrained
        best = p.best(scores(key))
        if p.extra >= search.extra_points or best not in (p.low, p.high):
            return
        k = p.low - 1 if best == p.low else p.high + 1
        if not p.axis.usable(k):
            return
        p.low, p.high, p.extra = min(p.low, k), max(p.high, k), p.extra + 1
        submit(key, k)
        bar.grow(len(search.seeds))

    # On Ctrl-C nothing is recorded (a partial search would be reused by --resume), and the
    # trials in flight are not cancelled but end with Ray, as the runner's runs do: ray.cancel
    # on a task whose result is arriving aborts Ray 2.60's core (raybench.runner._fan_out).
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                trial = pending.pop(ref)
                try:
                    found[trial] = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    if isinstance(getattr(exc, "cause", None), identity.CodeMismatch):
                        raise identity.CodeMismatch(str(exc.cause)) from None  # nothing recorded
                    found[trial] = {}  # lost beyond its retries: counts as failed
                bar.update(found[trial].get("status") or "lost")
                state[trial[0]].outstanding -= 1
                if state[trial[0]].outstanding == 0:
                    extend(trial[0])
            bar.refresh(len(pending))
    finally:
        bar.close()
    return _record(out, search, pairs, state, found, scores)


def _record(out: str, search: Plan, pairs: dict[tuple, RunSpec], state: dict[tuple, _Pair],
            found: dict[tuple, dict[str, Any]], scores: Any) -> dict[tuple, float]:
    """Write every trial of the finished searches (one ``lr_search`` part) and say what was
    chosen; returns the chosen values."""
    rows, chosen = [], {}
    seeds = ", ".join(map(str, search.seeds))
    for key, spec in pairs.items():
        p, hparam, metric = state[key], search.hparam[spec.optimizer], search.judged[key]
        options = "".join(f" {k}={v}" for k, v in sorted(spec.options.items()))
        pair = f"{spec.problem}/{spec.optimizer}" + (f" ({options.strip()})" if options else "")
        means = scores(key)
        best = p.best(means)
        chosen[key] = p.axis.value(best)
        edge = best in (p.low, p.high)
        words = metric if metric is not None else "the target metric (the problem declares no loss)"
        selection = (f"lowest mean over tuning seeds {seeds} of the score: the final validation {words}, "
                     "negated where maximised, inf for a failed or diverged run; ties to the value nearest the "
                     "grid's centre, then the smaller")
        for k in range(p.low, p.high + 1):
            for seed in search.seeds:
                trial = found.get((key, k, seed), {})
                score, mode = float(trial.get("score", math.inf)), trial.get("mode")
                rows.append({"pair_key": repr(key), "problem": spec.problem, "optimizer": spec.optimizer,
                             "hparam": hparam, "lr": p.axis.value(k), "scaling": p.axis.scaling,
                             "spacing": p.axis.step, "grid": p.axis.origin,
                             "extension": not 0 <= k < search.samples,
                             "metric": trial.get("metric", metric), "mode": mode, "tuning_seed": seed,
                             "final_val": -score if mode == "max" else score, "score": score,
                             "mean_score": means[k], "chosen": k == best, "extra_points": p.extra,
                             "edge_winner": edge, "selection": selection,
                             "steps": int(trial.get("steps", 0)), "grad_evals": int(trial.get("grad_evals", 0)),
                             "wall_seconds": float(trial.get("wall_seconds", 0.0))})
        statuses = {found.get((key, k, s), {}).get("status") for k in range(p.low, p.high + 1) for s in search.seeds}
        if statuses == {"not_applicable"}:
            print(f"tune-lr: {pair}: not applicable (every trial ended not_applicable; "
                  f"its runs will too): nothing searched past the grid")
            continue
        print(f"tune-lr: {pair}: {hparam}={chosen[key]:.3g} "
              f"(mean val score {means[best]:.4g} over {len(search.seeds)} seeds)")
        if p.extra:
            side = "upper" if p.high >= search.samples else "lower"
            if edge:
                print(f"tune-lr: {pair}: edge winner after {p.extra} extra points "
                      f"({side} edge, {hparam}={chosen[key]:.3g}): the best value may lie further out")
            else:
                print(f"tune-lr: {pair}: winner was on the grid's edge; "
                      f"{p.extra} extra points past it, winner now interior")
        elif edge:
            why = "extension off" if search.extra_points == 0 else "no usable value past it"
            print(f"tune-lr: {pair}: edge winner after 0 extra points ({why})")
    extra = sum(row["extension"] for row in rows)
    print(f"tune-lr: {len(rows)} trials in all, {extra} of them past a grid's edge "
          f"({sum(1 for p in state.values() if p.extra)} of {len(pairs)} pairs extended)")
    results.write(out, "lr_search", rows)
    return chosen
