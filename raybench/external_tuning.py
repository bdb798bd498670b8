"""AlgoPerf's external-tuning protocol (``raybench run --tuning external``): studies of quasi-random trials.

For every (problem, optimizer) pair of a suite, over the optimizer's declared search space
(``raybench.search_space``; a suite file may override it):

- **Studies of trials.** ``studies`` studies (default 3) of ``trials`` trials each (default 5).
  Study ``s``'s points are the first ``trials`` points of a scrambled Sobol sequence seeded by
  ``s`` (``search_space.points``), mapped through the space, so its first ``K`` points are the
  same whatever the number of trials is.
- **A trial is a full run** of the suite's budget with those hyperparameters on every tuning seed
  (``lr_search.TUNING_SEEDS``, never evaluation seeds), as ordinary Ray work through the runner
  (``runner.run_specs``): trials are runs with run ids, written to their own results folder
  ``OUT/trials/`` (``hparam_source = "trial"``), so that ``OUT/runs`` and its report hold only
  the evaluation runs, and ``--resume`` reruns no finished trial.
- **A trial's numbers** are means over its tuning seeds: steps to target (``inf`` if any seed
  misses the target) and the validation score the learning-rate search chooses on (final
  validation loss, or the target metric where the problem declares no loss; ``inf`` if any seed
  failed or diverged: ``lr_search.mean_score``).
- **Time to target** at tuning budget ``K`` (``--tuning-budgets``, default ``trials``): the
  median over studies of each study's fastest trial among its first ``K`` (``inf`` for a study
  none of whose trials reaches the target): AlgoPerf's score.
- **The end result** at budget ``K``: the trial with the lowest validation score over all
  studies' first ``K`` trials (ties: the earlier study, then the earlier trial). The largest
  budget's is run on the suite's evaluation seeds (``hparam_source = "tuned"``) and tested on the
  test split like any run, so the results folder holds one tuned run per pair and seed, as with
  every protocol; a smaller budget's is its chosen trial and validation score (no run added).

Every trial is a row of the ``tuning`` table (its point, steps to target, validation score and
cost: steps, gradient evaluations and wall seconds summed over its seeds); ``tuning_summary`` has
one row per (problem, optimizer, step budget, tuning budget): the score, the chosen point and the
total tuning cost of the trials that budget saw. Both are rebuilt from ``OUT/trials`` on every
command, so a resumed command recomputes them from the same trials. Budgets are scored from the
same trials: a budget adds no run.

A pipeline in stages, as ``raybench.lr_search``'s: ``plan`` checks the specs and their spaces
and builds every trial's specs once; ``tune`` runs the trials not yet in ``OUT/trials``, scores
them and returns the evaluation specs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from raybench import problems, results, schema, search_space
from raybench.errors import UsageError
from raybench.lr_search import SELECTION_METRIC, TUNING_SEEDS, first_of_pairs, mean_score, validation_score
from raybench.search_space import SearchSpace
from raybench.spec import RunSpec

STUDIES = 3
"""AlgoPerf's external-tuning ruleset: 3 studies ..."""
TRIALS = 5
"""... of 5 trials each."""
TRIALS_FOLDER = "trials"
"""The trials' own results folder, inside the command's ``--out``."""

_STR, _FLOAT, _INT, _BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()

TUNING = schema.register(schema.TableSchema("tuning", 1, schema.columns(
    ("pair_key", _STR), ("problem", _STR), ("optimizer", _STR), ("budget_steps", _INT), ("study", _INT),
    ("trial", _INT), ("point", _STR), ("space", _STR), ("tuning_seeds", _STR), ("run_ids", _STR), ("status", _STR),
    ("steps_to_target", _FLOAT), ("metric", _STR), ("val_score", _FLOAT),
    ("steps", _INT), ("grad_evals", _INT), ("wall_seconds", _FLOAT), ("chosen", _BOOL),
), dynamic=schema.RUNS.dynamic))

TUNING_SUMMARY = schema.register(schema.TableSchema("tuning_summary", 1, schema.columns(
    ("pair_key", _STR), ("problem", _STR), ("optimizer", _STR), ("budget_steps", _INT), ("tuning_budget", _INT),
    ("studies", _INT), ("score", _FLOAT), ("study_fastest", _STR), ("chosen_study", _INT), ("chosen_trial", _INT),
    ("chosen_point", _STR), ("chosen_hparams", _STR), ("chosen_val_score", _FLOAT), ("eval_run_ids", _STR),
    ("cost_trials", _INT), ("cost_runs", _INT), ("cost_steps", _INT), ("cost_grad_evals", _INT),
    ("cost_wall_seconds", _FLOAT),
)))


def trials_folder(out: str) -> str:
    """Where the trials of ``out``'s tuning are written: a results folder of their own."""
    return f"{out.rstrip('/')}/{TRIALS_FOLDER}"


def parse_budgets(text: str | Sequence[int] | None, trials: int) -> tuple[int, ...]:
    """``"1,5"`` (or a list) -> ``(1, 5)``, each ``1 <= K <= trials``; ``None``: ``(trials,)``."""
    if text is None:
        return (trials,)
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    budgets = []
    for item in items:
        try:
            if isinstance(item, bool) or isinstance(item, float) and not item.is_integer():
                raise ValueError(item)
            k = int(item)
        except (TypeError, ValueError):
            raise UsageError(f"bad tuning budget {item!r}; accepted: integers 1..{trials} (trials per study), "
                             "e.g. --tuning-budgets 1,5") from None
        if not 1 <= k <= trials:
            raise UsageError(f"tuning budget {k} is outside 1..{trials}: a budget K scores the first K trials "
                             "of each study, so 1 <= K <= --trials")
        budgets.append(k)
    if not budgets:
        raise UsageError("--tuning-budgets is empty; accepted: integers 1..--trials, e.g. 1,5")
    return tuple(sorted(set(budgets)))


def check_counts(studies: int, trials: int) -> None:
    for flag, value in (("--studies", studies), ("--trials", trials)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{flag} must be an integer >= 1, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Trial:
    """One point of one study of one pair, and its run on every tuning seed."""

    pair_key: tuple
    study: int
    index: int
    point: dict[str, Any]
    specs: tuple[RunSpec, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    """An external tuning, resolved and checked once (``plan``): what ``tune`` takes as given."""

    specs: tuple[RunSpec, ...]
    keys: tuple[tuple, ...]
    """Each spec's pair key: the specs that share one share their tuning."""
    spaces: dict[str, SearchSpace]
    """Each optimizer's search space."""
    judged: dict[tuple, str | None]
    """Each pair's selection metric; ``None``: the problem's target metric (it declares no loss)."""
    trials: tuple[Trial, ...]
    studies: int
    trials_per_study: int
    budgets: tuple[int, ...]

    @property
    def pairs(self) -> dict[tuple, RunSpec]:
        """Each pair key with the first spec of its pair."""
        return first_of_pairs(self.keys, self.specs)

    @property
    def trial_specs(self) -> list[RunSpec]:
        return [spec for trial in self.trials for spec in trial.specs]


def pair_key(spec: RunSpec, space: SearchSpace) -> tuple:
    """What makes two specs one tuning pair: all but the seed and the hyperparameters searched."""
    searched = set(space.names) | {"betas", "schedule"}
    fixed = sorted((k, v) for k, v in spec.hparams.items() if k not in searched)
    return (spec.problem, spec.optimizer, spec.steps, repr(sorted(spec.options.items())), spec.eval_every, repr(fixed))


def plan(specs: Sequence[RunSpec], spaces: dict[str, SearchSpace], *, studies: int = STUDIES,
         trials: int = TRIALS, budgets: Sequence[int] | None = None) -> Plan:
    """Check ``specs`` for an external tuning (``UsageError``, one line, before any run): the
    counts, every optimizer's space declared, no evaluation seed a tuning seed, every trial's
    hyperparameters valid; and build every trial's specs."""
    check_counts(studies, trials)
    budgets = parse_budgets(list(budgets) if budgets is not None else None, trials)
    for spec in specs:
        if spec.seed in TUNING_SEEDS:
            raise UsageError(f"seed {spec.seed} is reserved for tuning (seeds {', '.join(map(str, TUNING_SEEDS))}); "
                             "choose other evaluation seeds")
        if not spaces.get(spec.optimizer):
            raise UsageError(f"--tuning external: optimizer {spec.optimizer!r} declares no search space; give it "
                             "one in a suite file (search_space: {NAME: {min, max, scaling}}) or leave it out")
    keys = tuple(pair_key(s, spaces[s.optimizer]) for s in specs)
    first = first_of_pairs(keys, specs)
    judged = {key: SELECTION_METRIC if SELECTION_METRIC in problems.get(s.problem).metrics else None
              for key, s in first.items()}
    found: list[Trial] = []
    for key, spec in first.items():
        space = spaces[spec.optimizer]
        for study in range(studies):
            for index, point in enumerate(search_space.points(space, study, trials)):
                hparams = search_space.hparams(point, spec.hparams)
                runs = tuple(spec.with_(seed=seed, hparams=hparams, hparam_source="trial") for seed in TUNING_SEEDS)
                found.append(Trial(key, study, index, point, runs))
    return Plan(tuple(specs), keys, dict(spaces), judged, tuple(found), studies, trials, budgets)


def tune(search: Plan, out: str, *, done: set[str], resume: bool, cpus_per_run: float = 1.0,
         gpus_per_run: float = 0.0, progress: bool = True, max_retries: int = 3) -> list[RunSpec]:
    """Run the trials whose run ids are not in ``done`` (the trials folder's, ``previous``) on Ray
    (already started), record the ``tuning`` and ``tuning_summary`` tables in ``out`` and return
    the evaluation specs: each spec with its pair's chosen point at every tuning budget."""
    from raybench import runner

    folder = trials_folder(out)
    results.init(folder)
    todo = [s for s in search.trial_specs if s.run_id not in done]
    print(f"tuning external: {len(search.trials)} trials ({len(search.pairs)} pairs x {search.studies} studies x "
          f"{search.trials_per_study} trials) x {len(TUNING_SEEDS)} tuning seeds = {len(search.trial_specs)} runs "
          f"in {folder}; {len(search.trial_specs) - len(todo)} already there", file=sys.stderr)
    runner.run_specs(search.trial_specs, folder, done=done, resume=resume, cpus_per_run=cpus_per_run,
                     gpus_per_run=gpus_per_run, progress=progress, max_retries=max_retries)
    runs = results.read_table(folder, "runs")
    by_id = {row["run_id"]: row for row in runs.to_dict("records")} if len(runs) else {}
    rows, summary, chosen = score(search, by_id)
    results.replace(out, "tuning", rows)
    results.replace(out, "tuning_summary", summary)
    return chosen


def previous(out: str, search: Plan, *, resume: bool, rerun_changed: bool = False, drop: bool = True) -> set[str]:
    """The trials already in ``out``'s trials folder (run ids) that ``tune`` skips; without
    ``resume`` a folder holding trials is refused, as ``runner.check_resume`` refuses runs, and
    trials made by other code than now are refused unless ``rerun_changed`` (then, with
    ``drop``, removed to be run again)."""
    from raybench import runner

    folder = trials_folder(out)
    runs = runner.check_resume(folder, resume=resume or rerun_changed)
    state = runner.check_code(folder, search.trial_specs, runs, rerun_changed=rerun_changed)
    if state.redo and drop:
        results.drop_runs(folder, state.redo)
    return state.done


@dataclasses.dataclass(frozen=True)
class _Measured:
    trial: Trial
    status: str
    steps_to_target: float
    metric: str | None
    val_score: float
    steps: int
    grad_evals: int
    wall_seconds: float


def _measure(trial: Trial, judged: str | None, by_id: dict[str, dict[str, Any]]) -> _Measured:
    rows = [by_id.get(s.run_id) for s in trial.specs]
    found = [r for r in rows if r is not None]
    statuses = sorted({r["status"] for r in found} | ({"lost"} if len(found) < len(rows) else set()))
    to_target = [float(r["steps_to_target"]) if r is not None and r.get("steps_to_target") is not None else math.inf
                 for r in rows]
    to_target = [math.inf if math.isnan(v) else v for v in to_target]
    metric = judged or (found[0]["target_metric"] if found else None)
    scores = [validation_score(r, judged) if r is not None else math.inf for r in rows]
    return _Measured(trial, ",".join(statuses), mean_score(to_target), metric, mean_score(scores),
                     sum(int(r.get("steps") or 0) for r in found), sum(int(r.get("grad_evals") or 0) for r in found),
                     sum(float(r.get("wall_seconds") or 0.0) for r in found))


def time_to_target(fastest: Sequence[float]) -> float:
    """AlgoPerf's score from each study's fastest trial: their median (``inf`` counts, so a
    majority of studies with no trial at the target scores ``inf``)."""
    return float(statistics.median(fastest)) if fastest else math.inf


def score(search: Plan, by_id: dict[str, dict[str, Any]]) -> tuple[list[dict], list[dict], list[RunSpec]]:
    """The ``tuning`` rows (one per trial), the ``tuning_summary`` rows (one per pair and budget)
    and the evaluation specs, from the trials' run rows ``by_id``; prints a line per pair and budget."""
    measured = {(t.pair_key, t.study, t.index): _measure(t, search.judged[t.pair_key], by_id) for t in search.trials}
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    chosen_by_pair: dict[tuple, dict[int, _Measured]] = {}
    for key, spec in search.pairs.items():
        space = search.spaces[spec.optimizer]
        mine = [m for (k, _, _), m in measured.items() if k == key]
        chosen_by_pair[key] = {}
        for budget in search.budgets:
            seen = [m for m in mine if m.trial.index < budget]
            fastest = [min(m.steps_to_target for m in seen if m.trial.study == s) for s in range(search.studies)]
            best = min(seen, key=lambda m: (m.val_score, m.trial.study, m.trial.index))
            chosen_by_pair[key][budget] = best
            hparams = best.trial.specs[0].hparams
            summary.append({
                "pair_key": repr(key), "problem": spec.problem, "optimizer": spec.optimizer,
                "budget_steps": best.trial.specs[0].steps, "tuning_budget": budget, "studies": search.studies,
                "score": time_to_target(fastest), "study_fastest": json.dumps(fastest),
                "chosen_study": best.trial.study, "chosen_trial": best.trial.index,
                "chosen_point": search_space.to_json(best.trial.point), "chosen_hparams": json.dumps(hparams, default=str),
                "chosen_val_score": best.val_score, "eval_run_ids": "",
                "cost_trials": len(seen), "cost_runs": len(seen) * len(TUNING_SEEDS),
                "cost_steps": sum(m.steps for m in seen), "cost_grad_evals": sum(m.grad_evals for m in seen),
                "cost_wall_seconds": sum(m.wall_seconds for m in seen)})
        full = chosen_by_pair[key][max(search.budgets)]
        for m in mine:
            hparams = m.trial.specs[0].hparams
            rows.append({
                "pair_key": repr(key), "problem": spec.problem, "optimizer": spec.optimizer,
                "budget_steps": m.trial.specs[0].steps, "study": m.trial.study, "trial": m.trial.index,
                "point": search_space.to_json(m.trial.point), "space": json.dumps(space.as_data(), sort_keys=True),
                "tuning_seeds": ",".join(map(str, TUNING_SEEDS)),
                "run_ids": json.dumps([s.run_id for s in m.trial.specs]), "status": m.status,
                "steps_to_target": m.steps_to_target, "metric": m.metric, "val_score": m.val_score,
                "steps": m.steps, "grad_evals": m.grad_evals, "wall_seconds": m.wall_seconds,
                "chosen": m is full,
                **{f"hp_{k}": v for k, v in hparams.items()}})
    evaluation: list[RunSpec] = []
    eval_ids: dict[tuple, list[str]] = {}
    # Only the largest budget's choice is run on the evaluation seeds: one tuned run per seed and
    # pair, as every protocol gives (smaller budgets are scored from the trials alone).
    for spec, key in zip(search.specs, search.keys, strict=True):
        best = chosen_by_pair[key][max(search.budgets)]
        tuned = spec.with_(hparams=search_space.hparams(best.trial.point, spec.hparams), hparam_source="tuned")
        evaluation.append(tuned)
        eval_ids.setdefault(key, []).append(tuned.run_id)
    for row in summary:
        key = next(k for k in search.pairs if repr(k) == row["pair_key"])
        row["eval_run_ids"] = json.dumps(eval_ids[key] if row["tuning_budget"] == max(search.budgets) else [])
        _say(row, search)
    return rows, summary, evaluation


def _say(row: dict[str, Any], search: Plan) -> None:
    point = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in json.loads(row["chosen_point"]).items())
    print(f"tuning external: {row['problem']}/{row['optimizer']} budget {row['tuning_budget']} of "
          f"{search.trials_per_study} trials x {search.studies} studies: time to target {row['score']:.4g} steps "
          f"(median of each study's fastest); chosen {point} (val score {row['chosen_val_score']:.4g}); "
          f"cost {row['cost_runs']} runs, {row['cost_steps']} steps, {row['cost_grad_evals']} gradient "
          f"evaluations, {row['cost_wall_seconds']:.1f} s")
