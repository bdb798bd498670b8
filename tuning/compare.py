"""Multi-init against single initialization: the survivor's speed and what it cost.

The summary's "convergence speed" claim, answered honestly: the same seeds each trained alone
to the full budget (``single_specs``, run by ``raybench.runner``), the survivor's
steps-to-target against theirs (``compare``), and always beside it the compute multi-init
spent to get there; ``comparison_text`` and ``write_comparison`` report it.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from typing import TYPE_CHECKING, Any

from raybench.tuning.experiment import RUNGS
from raybench.tuning.spec import MultiInitSpec

if TYPE_CHECKING:
    from raybench.spec import RunSpec


def single_specs(spec: MultiInitSpec, repeats: int) -> list[RunSpec]:
    """Every seed of every block trained alone to the full budget, on the same eval grid."""
    from raybench.spec import RunSpec

    return [RunSpec.build(spec.problem, spec.optimizer, seed, hparams=dict(spec.hparams),
                          options=dict(spec.options), steps=spec.steps, eval_every=spec.eval_every)
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
    run's steps-to-target. Medians over blocks come with 95% Hettmansperger-Sheather intervals
    (``raybench.stats.median_ci``: none, (-inf, inf), below 6 blocks). ``n_boot`` is unused (kept
    for callers).
    """
    from raybench import results, stats

    runs, rungs = results.read_table(out, "runs"), results.read_table(out, RUNGS.name)
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
        summary[key] = stats.median_ci([blk[key] for blk in blocks])
    return summary


def comparison_text(c: dict[str, Any]) -> str:
    """``compare``'s answer as the lines the command prints: speed and compute together."""
    def ci(key: str) -> str:
        med, lo, hi = c[key]
        if math.isinf(lo) and math.isinf(hi):
            return f"{med:.3g}x (no 95% interval from {c['repeats']} blocks: 6 or more give one)"
        return f"{med:.3g}x (95% CI {lo:.3g}-{hi:.3g})"

    n = c["repeats"]
    lines = [
        f"multi-init ({c['num_models']} seeds) against single initialization, over {n} "
        f"block{'s' if n != 1 else ''} of disjoint seeds:",
        f"  steps spent by all trials until the survivor met the target, against a single run's "
        f"steps-to-target: {ci('compute_to_target_ratio')} (below 1: multi-init reached it with less compute)",
        f"  the survivor's own speed, its trials' compute not counted (median single-init steps-to-target / "
        f"survivor's): {ci('speedup')}",
        f"  compute spent (all trials' steps / one single run's steps):           {ci('compute_ratio_steps')}",
        f"  compute spent (all trials' gradient evaluations / one single run's):   {ci('compute_ratio_grad_evals')}",
    ]
    if n < 6:
        lines.append(f"  (only {n} block{'s' if n != 1 else ''}: no distribution-free 95% interval for a median "
                     "exists below 6; use --repeats 6 or more)")
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
