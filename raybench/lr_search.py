"""Fair learning-rate tuning (``raybench run --tune-lr``): the same budget for every optimizer.

For every (problem, optimizer) pair of a suite, a Ray Tune grid search tries ``samples``
learning rates spaced evenly (log) over the optimizer's registry search space, each a full
run on a *tuning seed* that is not an evaluation seed (``TUNING_SEED``; for problem families
it is also a different instance). The winner is the best final value of the problem's target
metric (or of the ``metric`` a caller names) on the validation split (never test), best in the
direction the problem declares for that metric, a diverged run being the worst. The seeds are
then run with that learning rate (``hparam_source = "tuned"``), and every trial is recorded in
the ``lr_search`` table of the results folder with ``chosen`` marking the winner, so how a
setting was chosen is in the data. With ``--resume`` a finished search is reused.

The hyperparameter searched is the one the registry search space names (``step_size``):
``lr``, or for an optimizer without one the space's only entry, e.g. the learned optimizer's
``lr_scale``; the table's ``hparam`` column names it and ``lr`` holds its value.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from raybench import optimizers, problems, results, schedules, schema
from raybench.spec import RunSpec

# Version 3 added ``hparam``; older parts read it as null, which means "lr".
LR_SEARCH = schema.register(schema.TableSchema("lr_search", 3, schema.columns(
    ("pair_key", pa.string()), ("problem", pa.string()), ("optimizer", pa.string()), ("hparam", pa.string()),
    ("lr", pa.float64()),
    ("target_metric", pa.string()), ("mode", pa.string()), ("final_val", pa.float64()),
    ("score", pa.float64()), ("chosen", pa.bool_()), ("tuning_seed", pa.int64()), ("selection", pa.string()),
)))

TUNING_SEED = 1_000_003
"""Seed of the runs that choose learning rates; evaluation seeds must not use it."""


def step_size(optimizer: str) -> str | None:
    """The hyperparameter searched for ``optimizer``: ``lr`` where its registry search space
    has it, else the space's only entry (``lr_scale`` of ``autonomous``); ``None`` if neither."""
    space = optimizers.get(optimizer).search_space
    if "lr" in space:
        return "lr"
    return next(iter(space)) if len(space) == 1 else None


def grid(optimizer: str, samples: int) -> list[float]:
    """``samples`` values log-spaced over ``optimizer``'s registry search space (of ``step_size``)."""
    space = optimizers.get(optimizer).search_space[step_size(optimizer)]
    if space.get("scaling", "log") == "log":
        return [float(x) for x in np.geomspace(space["min"], space["max"], samples)]
    return [float(x) for x in np.linspace(space["min"], space["max"], samples)]


def _pair_key(spec: RunSpec, metric: str | None = None) -> tuple:
    key = (spec.problem, spec.optimizer, spec.steps, repr(sorted(spec.options.items())), spec.eval_every)
    # Other hyperparameters away from their defaults (the learned optimizer's policy file) or
    # another selection metric make another pair; without them the key is what older folders hold.
    defaults = {**schedules.DEFAULTS, **optimizers.get(spec.optimizer).defaults}
    hp = step_size(spec.optimizer)
    changed = sorted((k, v) for k, v in spec.hparams.items() if k != hp and v != defaults.get(k))
    if changed or metric is not None:
        key += (repr(changed), metric)
    return key


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


def _trainable(config: dict[str, Any]) -> None:
    from ray import tune

    from raybench.runner import execute

    row, _ = execute(RunSpec.from_config(config["spec"]), config["device"])
    metric = config.get("metric") or row.get("target_metric")
    mode = row.get("target_mode") if metric == row.get("target_metric") else problems.get(row["problem"]).direction(metric)
    tune.report({"score": _score(row, metric), "status": row.get("status"), "target_metric": metric, "mode": mode})


def check_tunable(specs: list[RunSpec]) -> None:
    """``UsageError`` unless every spec's learning rate can be searched: its optimizer's search
    space names one (``step_size``) and its seed is not the reserved tuning seed."""
    from raybench.errors import UsageError

    for spec in specs:
        if spec.seed == TUNING_SEED:
            raise UsageError(f"seed {TUNING_SEED} is reserved for learning-rate tuning")
        entry = optimizers.get(spec.optimizer)
        if step_size(spec.optimizer) is None:
            raise UsageError(f"--tune-lr: optimizer {spec.optimizer!r} ({entry.path}) has no learning rate "
                             "to search (no lr argument or search space); accepted: optimizers taking lr, "
                             "or leave it out of a tuned suite")


def tune_specs(specs: list[RunSpec], out: str, *, samples: int = 6, cpus_per_run: float = 1.0,
               gpus_per_run: float = 0.0, resume: bool = False, metric: str | None = None) -> list[RunSpec]:
    """Search each pair's learning rate, record it in ``out``, and return the specs with it set.

    ``metric``: the validation metric to choose on (default: each problem's target metric)."""
    from raybench.errors import UsageError

    if samples < 2:
        raise UsageError(f"--tune-samples must be >= 2, got {samples}")
    check_tunable(specs)
    pairs: dict[tuple, RunSpec] = {}
    for spec in specs:
        pairs.setdefault(_pair_key(spec, metric), spec)
    results.init(out)
    chosen = _previous_choices(out) if resume else {}
    missing = {k: s for k, s in pairs.items() if k not in chosen}
    if missing:
        chosen.update(_search(out, missing, samples=samples, metric=metric,
                              cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run))
    return [s.with_(hparams={**s.hparams, step_size(s.optimizer): chosen[_pair_key(s, metric)]},
                    hparam_source="tuned") for s in specs]


def _previous_choices(out: str) -> dict[tuple, float]:
    table = results.read_table(out, "lr_search")
    if table.empty:
        return {}
    done = table[table["chosen"]]
    return {tuple(k): float(lr) for k, lr in zip(done["pair_key"].map(eval_key), done["lr"], strict=True)}


def eval_key(text: str) -> tuple:
    import ast

    return tuple(ast.literal_eval(text))


def _search(out: str, pairs: dict[tuple, RunSpec], *, samples: int, metric: str | None,
            cpus_per_run: float, gpus_per_run: float) -> dict[tuple, float]:
    from ray import tune

    from raybench.ray_utils import require_ray

    require_ray()
    trials = []
    for key, spec in pairs.items():
        for lr in grid(spec.optimizer, samples):
            base = spec.with_(seed=TUNING_SEED, hparams={**spec.hparams, step_size(spec.optimizer): lr},
                              hparam_source="tuning")
            trials.append((key, lr, base.as_config()))
    device = "cuda" if gpus_per_run > 0 else "cpu"
    print(f"tune-lr: {len(trials)} trials ({len(pairs)} pairs x {samples} learning rates) "
          f"on seed {TUNING_SEED}, chosen on validation")
    tuner = tune.Tuner(
        tune.with_resources(_trainable, {"cpu": cpus_per_run, "gpu": gpus_per_run}),
        param_space={"spec": tune.grid_search([t[2] for t in trials]), "device": device, "metric": metric},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="raybench-tune-lr-"), verbose=0),
    )
    grid_results = tuner.fit()
    if any(res.error is None and "score" not in (res.metrics or {}) for res in grid_results):
        # Tune stops gracefully on Ctrl-C: trials that never reported did not fail, they did not
        # run. Choosing without them would record (and --resume would reuse) a partial search.
        raise KeyboardInterrupt
    found: dict[tuple[tuple, float], dict[str, Any]] = {}
    for res in grid_results:
        spec = RunSpec.from_config(res.config["spec"])
        metrics = res.metrics if res.metrics and res.error is None else {}
        found[(_pair_key(spec, metric), spec.hparams[step_size(spec.optimizer)])] = metrics
    rows, chosen = [], {}
    judged = "the target metric" if metric is None else metric
    for key, spec in pairs.items():
        cands = [(float(found.get((key, lr), {}).get("score", math.inf)), lr) for lr in grid(spec.optimizer, samples)]
        best_score, best_lr = min(cands)  # ties -> the smaller learning rate
        chosen[key] = best_lr
        for score, lr in cands:
            trial = found.get((key, lr), {})
            mode = trial.get("mode")
            rows.append({"pair_key": repr(key), "problem": spec.problem, "optimizer": spec.optimizer,
                         "hparam": step_size(spec.optimizer), "lr": lr,
                         "target_metric": trial.get("target_metric"), "mode": mode,
                         "final_val": -score if mode == "max" else score,
                         "score": score, "chosen": lr == best_lr, "tuning_seed": TUNING_SEED,
                         "selection": f"final validation value of {judged}, best in its "
                                      "declared direction (score: lower is better)"})
        print(f"tune-lr: {spec.problem}/{spec.optimizer}: {step_size(spec.optimizer)}={best_lr:.3g} "
              f"(val score {best_score:.4g})")
    results.write(out, "lr_search", rows)
    return chosen
