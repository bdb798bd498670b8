"""The last stage of ``raybench reproduce``: the claims measured, written and reported.

Every cell of the summary's table comes from the runs the plan made (``raybench.reproduce.claims``
measures and judges it; its rules are fixed there): Adam, Modified Adam, SGD + momentum and the
autonomous optimizer from their runs in ``OUT`` paired by seed, Multi-Init from its seed blocks
(``multi_init_rows``), and the cells that did not run say why; beside the Multi-Init row, what
makes it believable or not (``raybench.reproduce.believability``). The claims are measured on the
tuned baselines (``OUT/claims.md``) and, because the summary does not say it tuned, again on
the registry defaults (``OUT/defaults/claims.md``).
"""

from __future__ import annotations

import math
import os
import statistics
from typing import Any

import pandas as pd

from raybench.reproduce import scales
from raybench.reproduce.plan import DEFAULTS, MULTI_INIT, MULTI_INIT_METHOD, POLICIES, SINGLE, Plan


def multi_init_rows(spec: Any, out: str, singles: pd.DataFrame, blocks: int) -> list[dict[str, Any]]:
    """``claims.measure``'s ``extra`` rows of one multi-init folder: one per seed block.

    A block is paired with single initialization on its own seeds: its ``value`` is the
    survivor's test accuracy in percent, or for steps to target what multi-init spent to get
    there: every step of the trials it eliminated plus the survivor's steps to target (``inf``
    if the survivor never met it), so its speed is charged all the trials' compute, not one
    trial's; its ``adam`` is the median over the block's seeds each trained alone with the same
    optimizer, learning rate and budget. Every run counts as the claims' rules say
    (``claims.run_values``: a run that is not ok at chance accuracy, never converged); steps to
    target carry the evaluation before the one at which the target was seen met (``value_low``,
    ``adam_low``: the median of the seeds' own). The survivor's target is still read on the
    validation curve that ranked the trials (no other split is evaluated during training).
    """
    from raybench import results
    from raybench.reproduce import claims
    from raybench.tuning.experiment import RUNGS

    runs, rungs = results.read_table(out, "runs"), results.read_table(out, RUNGS.name)
    curves = pd.concat([results.read_table(out, "curves"), results.read_table(os.path.join(out, SINGLE), "curves")],
                       ignore_index=True)
    columns = [c for c, col in claims.COLUMNS.items() if col.problem == spec.problem]
    rows = []
    for b in range(blocks):
        alone = singles[singles["seed"].isin(spec.seeds(b))]
        survivor = rungs[(rungs["repeat"] == b) & (rungs["decision"] == "survivor")]
        srow = runs[runs["run_id"].isin(survivor["run_id"])].head(1)
        trials = set(rungs.loc[rungs["repeat"] == b, "run_id"].dropna()) - set(survivor["run_id"])
        eliminated = float(runs.loc[runs["run_id"].isin(trials), "steps"].astype(float).sum())
        for column in columns:
            col = claims.COLUMNS[column]
            mine = claims.run_values(srow, col.metric, curves=curves, chance=col.chance)
            base = claims.run_values(alone, col.metric, curves=curves, chance=col.chance)
            found = len(mine) > 0
            speed = col.metric == "steps_to_target"
            value = float(mine["value"].iloc[0]) if found else (math.inf if speed else math.nan)
            value_low = float(mine["value_low"].iloc[0]) if found else math.nan
            if speed:  # charged every eliminated trial's steps as well
                value, value_low = value + eliminated, value_low + eliminated
            values = base["value"].dropna().tolist()
            lows = base["value_low"].dropna().tolist()
            rows.append({"method": MULTI_INIT_METHOD, "column": column, "key": b, "value": value,
                         "adam": statistics.median(values) if values else math.nan, "threshold": math.nan,
                         "problem": spec.problem,
                         "dataset": str(srow["dataset"].iloc[0]) if len(srow) else None,
                         "value_low": value_low,
                         "adam_low": statistics.median(lows) if lows else math.nan,
                         "ok": bool(mine["ok"].iloc[0]) if found else False,
                         "adam_ok": bool(base["ok"].all()) if len(base) else math.nan})
    return rows


def claims_table(plan: Plan, runs: pd.DataFrame, extra: list[dict[str, Any]],
                 not_run: dict[Any, str] | None = None, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """``claims.measure`` of ``runs`` (the plan's, nothing else, with their ``curves``) and the
    multi-init rows, with reduced networks named in the dataset column; absolute accuracies are
    judged only at the summary's own scale (``full``)."""
    from raybench.reproduce import claims

    runs = runs.copy()
    for problem in plan.problems:
        reduced = scales.reduced(plan.scale, problem)
        if reduced and "dataset" in runs:
            mask = (runs["problem"] == problem) & runs["dataset"].notna()
            runs.loc[mask, "dataset"] = runs.loc[mask, "dataset"].astype(str) + f" ({reduced})"
    extra_frame = pd.DataFrame(extra, columns=list(claims.PER_SEED_COLUMNS)) if extra else None
    return claims.measure(runs, curves=curves, extra=extra_frame, not_run_why={**plan.not_run, **(not_run or {})},
                          summary_scale=plan.scale.name == "full")


def notes(plan: Plan, *, tuned: bool, runs: pd.DataFrame) -> str:
    """How this table was measured, for the end of ``claims.md``."""
    s = plan.scale
    lrs = ""
    if tuned and len(runs):
        chosen = runs[runs["hparam_source"] == "tuned"].groupby(["problem", "optimizer"])["hp_lr"].first()
        lrs = "; ".join(f"{p}/{o} {lr:.3g}" for (p, o), lr in chosen.items())
    budget = ", ".join(f"{p} {plan.budget.get(p, {}).get('steps', s.steps[p] or 'default')} steps"
                       for p in plan.problems)
    rl = (f"given in {plan.policy_dir}" if plan.policy_dir else
          f"trained by `raybench rl train` per family ({plan.scale.rl['num_problems']} problems, "
          f"{plan.scale.rl['passes']} passes, {plan.scale.rl['episode_steps']} steps per episode"
          + (f", budget cut to {plan.scale.rl['timesteps']} optimizee steps" if plan.scale.rl.get("timesteps") else "")
          + f"), in {plan.folder(POLICIES)}")
    lines = [
        "## How this was measured", "",
        f"- `raybench reproduce --scale {s.name}`: {s.description}.",
        f"- Seeds 0..{s.seeds - 1} for every optimizer, paired by seed; budgets: {budget}; early stopping with "
        f"patience {scales.PATIENCE} evaluations (epochs) on validation loss for "
        f"{', '.join(p for p in scales.EARLY_STOPPING if p in plan.problems)}; CNN batch {scales.CNN_BATCH}.",
        ("- Adam, Modified Adam, SGD + momentum: learning rate tuned with the same budget for each "
         f"({s.tune_samples} values on each of the two reserved tuning seeds, chosen on the mean validation loss; `lr_search` table): {lrs}. "
         f"At registry defaults instead: `{DEFAULTS}/claims.md`." if tuned else
         "- Adam, Modified Adam, SGD + momentum at their registry defaults (the summary does not say it tuned); "
         "the autonomous optimizer as in `../claims.md`. The tuned table: `../claims.md`."),
        f"- Autonomous: the policy of each problem's family ({', '.join(f'{p} <- {scales.POLICY_FAMILY[p]}' for p in plan.problems)}), {rl}.",
        (f"- Multi-Init (16): {scales.NUM_MODELS} seeds, r = {scales.REDUCE_FACTOR}, ranked on validation "
         f"{scales.MULTI_INIT_METRIC}, Adam at its tuned learning rate, {s.multi_init_blocks} disjoint seed "
         f"block(s) on {', '.join(plan.multi_init) or 'nothing'}; each block's survivor against the median of "
         "the same seeds trained alone (`multi_init/<problem>/`); its convergence speed charged every trial's "
         "steps until the survivor met the target (the eliminated trials' steps plus the survivor's), its "
         "target read on the validation split that also ranked the trials." if tuned else
         "- Multi-Init (16) ran with Adam's tuned learning rate: see `../claims.md`."),
    ]
    if s.name != "full":
        lines.append(f"- Budgets, data and networks at this scale are smaller than the summary's (above): each verdict "
                     f"judges a claim against what `{s.name}` measured, not against the summary's own protocol.")
    return "\n".join(lines) + "\n"


def write_all(plan: Plan, tuned_ids: set[str], default_ids: set[str], auto_ids: set[str],
              extra: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Measure, write (``claims.write``) and report (``report.make_report``, the claims as a
    section of it) both tables, with the multi-init evidence (``reproduce.believability``) in the
    tuned one; the tuned table and the top report's paths."""
    from raybench import results
    from raybench.report import make_report
    from raybench.reproduce import believability, claims

    runs, curves = results.read_table(plan.out, "runs"), results.read_table(plan.out, "curves")
    mine = runs[runs["run_id"].isin(tuned_ids | auto_ids)]
    table = claims_table(plan, mine, extra, curves=curves)
    evidence, ranks = believability.measure_all({p: plan.folder(MULTI_INIT, p) for p in plan.multi_init})
    believability.write(plan.out, evidence, ranks)
    section = believability.markdown(evidence, ranks)
    claims.write(plan.out, table, notes=(f"{section}\n" if section else "") + notes(plan, tuned=True, runs=mine))
    defaults = pd.concat([results.read_table(plan.folder(DEFAULTS), "runs").query("run_id in @default_ids"),
                          runs[runs["run_id"].isin(auto_ids)]], ignore_index=True)
    once = "multi-init ran once, with Adam's tuned learning rate: see ../claims.md"
    default_curves = pd.concat([results.read_table(plan.folder(DEFAULTS), "curves"), curves], ignore_index=True)
    at_defaults = claims_table(plan, defaults, [], not_run={
        (MULTI_INIT_METHOD, c): once for c in claims.COLUMNS
        if c not in plan.not_run and (MULTI_INIT_METHOD, c) not in plan.not_run}, curves=default_curves)
    claims.write(plan.folder(DEFAULTS), at_defaults, notes=notes(plan, tuned=False, runs=defaults))
    make_report(plan.folder(DEFAULTS), sections=[claims.report_section(at_defaults)])
    return table, make_report(plan.out, sections=[claims.report_section(table)])
