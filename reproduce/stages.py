"""The stages of ``raybench reproduce``, each through the machinery of its own command.

1. ``baselines``: ``raybench run --tune-lr`` (``raybench.lr_search`` then ``raybench.runner``)
   into ``OUT``, and the same runs at registry defaults into ``OUT/defaults``;
2. ``policies`` (``raybench rl train``, ``raybench.rl.train``) and ``autonomous`` (the runner again);
3. ``multi_init``: ``raybench multi-init --compare-single --repeats B`` (``tuning``).

Each writes Parquet as it goes and continues what is there, as the command read it once before
the first stage (``plan.Written``): the runner skips finished runs, the learning-rate search
reuses its recorded choices, a policy folder with its exported policy is done (one without
continues from its last checkpoint), a multi-init seed block whose ``rungs`` are written is
done (one without is restored from Tune's state). So ``--resume`` after a crash or Ctrl-C
redoes nothing finished. Ray must be up, and the requests and retries checked (the command
does both).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from raybench.reproduce import scales
from raybench.reproduce.plan import DEFAULTS, LEARNED_METHOD, MULTI_INIT, SINGLE, Plan, Written, optimizer_of


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(specs: list[Any], out: str, written: Written, *, cpus: float, gpus: float, progress: bool,
         max_retries: int) -> None:
    """``runner.run_specs`` into ``out``, skipping the runs ``written`` found there."""
    from raybench import results, runner

    results.init(out)
    runner.run_specs(specs, out, done=written.done[out], resume=False, cpus_per_run=cpus, gpus_per_run=gpus,
                     progress=progress, max_retries=max_retries)


def baselines(plan: Plan, written: Written, *, cpus: float, gpus: float, progress: bool,
              max_retries: int) -> list[Any]:
    """Stage 1: the tuned baselines into ``OUT``, the same at registry defaults into ``OUT/defaults``;
    returns the tuned specs."""
    from raybench import lr_search

    say(f"stage 1/4: baselines, learning rates tuned -> {plan.out}")
    tuned = lr_search.tune(plan.search, plan.out, previous=written.previous, cpus_per_run=cpus, gpus_per_run=gpus)
    _run(tuned, plan.out, written, cpus=cpus, gpus=gpus, progress=progress, max_retries=max_retries)
    say(f"stage 1/4: baselines at registry defaults -> {plan.folder(DEFAULTS)}")
    _run(plan.specs, plan.folder(DEFAULTS), written, cpus=cpus, gpus=gpus, progress=progress,
         max_retries=max_retries)
    return tuned


def policies(plan: Plan, *, progress: bool) -> dict[str, str]:
    """Stage 2a: a policy per problem family (``--policy-dir``'s, or trained by ``rl.train``)."""
    if plan.policy_dir:
        say(f"stage 2/4: policies from {plan.policy_dir}")
        return dict(plan.policies)
    import ray

    from raybench.rl.settings import settings_path
    from raybench.rl.train import train

    runners = min(plan.scale.env_runners, int(ray.cluster_resources().get("CPU", 1)))
    for family in plan.families:
        policy = plan.policies[family]
        if os.path.isfile(policy):
            say(f"resume: the {family} policy is trained ({policy})")
            continue
        s = plan.rl_settings(family, runners)
        say(f"stage 2/4: training the {family} policy (RLlib PPO, {s.budget_timesteps} optimizee steps) -> {s.out}")
        train(s, resume=os.path.isfile(settings_path(s.out)), progress=progress)
    return dict(plan.policies)


def autonomous(plan: Plan, written: Written, found: dict[str, str], *, cpus: float, gpus: float, progress: bool,
               max_retries: int) -> list[Any]:
    """Stage 2b: the autonomous optimizer on every problem, each with its family's policy."""
    from raybench.spec import RunSpec

    specs = [RunSpec.build(p, optimizer_of(LEARNED_METHOD), seed,
                           hparams={"policy": found[scales.POLICY_FAMILY[p]]}, options=plan.options[p],
                           steps=plan.scale.steps[p],
                           patience=scales.PATIENCE if p in scales.EARLY_STOPPING else None)
             for p in plan.problems for seed in range(plan.scale.seeds)]
    say(f"stage 2/4: {len(specs)} runs of the autonomous optimizer -> {plan.out}")
    _run(specs, plan.out, written, cpus=cpus, gpus=gpus, progress=progress, max_retries=max_retries)
    return specs


def multi_init(plan: Plan, written: Written, tuned: list[Any], *, gpus: float, progress: bool,
               max_retries: int) -> list[dict[str, Any]]:
    """Stage 3: multi-init in disjoint seed blocks against the same seeds trained alone, per
    problem; returns ``claims.measure``'s per-block rows (``measure.multi_init_rows``)."""
    from raybench import results
    from raybench.reproduce import measure
    from raybench.tuning.compare import compare, single_specs, write_comparison
    from raybench.tuning.experiment import default_resources, run_experiment
    from raybench.tuning.spec import MultiInitSpec, prepare

    rows: list[dict[str, Any]] = []
    blocks = plan.scale.multi_init_blocks
    for problem in plan.multi_init:
        lr = next(s.hparams["lr"] for s in tuned
                  if s.problem == problem and s.optimizer == scales.MULTI_INIT_OPTIMIZER)
        spec = prepare(MultiInitSpec(
            problem=problem, optimizer=scales.MULTI_INIT_OPTIMIZER, hparams={"lr": lr}, options=plan.options[problem],
            num_models=scales.NUM_MODELS, reduce_factor=scales.REDUCE_FACTOR,
            steps_per_round=plan.steps_per_round(problem), steps=plan.scale.steps[problem],
            metric=scales.MULTI_INIT_METRIC))
        out = plan.folder(MULTI_INIT, problem)
        results.init(out, kind="multi-init")
        resources = default_resources(spec.num_models, gpus_per_trial=gpus, cpus_per_trial=None)
        # The seeds alone first: the runner's warm workers are still up (Tune's trials end theirs).
        say(f"stage 3/4: the {blocks * spec.num_models} seeds of {problem} trained alone -> {out}/{SINGLE}")
        alone = os.path.join(out, SINGLE)
        _run(single_specs(spec, blocks), alone, written, cpus=resources["cpu"], gpus=resources["gpu"],
             progress=progress, max_retries=max_retries)
        singles = results.read_table(alone, "runs")  # what compare measures: the runs just written too
        for b in range(blocks):
            if b in written.blocks[problem]:
                say(f"resume: multi-init seed block {b} of {problem} already in {out}")
                continue
            say(f"stage 3/4: multi-init on {problem}, seed block {b} ({spec.seeds(b)[0]}..{spec.seeds(b)[-1]}) -> {out}")
            if run_experiment(spec, out, repeat=b, resources=resources, resume=True, progress=progress) is None:
                raise KeyboardInterrupt
        write_comparison(out, compare(spec, out, singles, blocks))
        rows += measure.multi_init_rows(spec, out, singles, blocks)
    return rows
