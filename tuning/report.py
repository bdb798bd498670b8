"""A finished multi-init block read back from its results folder, as text.

``describe`` prints the survivor, its metrics and the rung-by-rung table (``rung_table``).
Which way is better comes from the ``rungs`` rows' own ``mode`` column, written from the
problem's declared direction, never from the metric's name.
"""

from __future__ import annotations

import math
from typing import Any

from raybench.tuning.experiment import RUNGS


def rung_table(rungs: Any) -> str:
    """The rung-by-rung table of one seed block, as text."""
    lines = [f"{'rung':>4} {'step':>7} {'alive':>5} {'kept':>4} {'best':>10} {'cut-off':>10}  eliminated seeds"]
    for rung, g in rungs.groupby("rung", sort=True):
        maximise = g["mode"].iloc[0] == "max"
        kept = g[g["decision"].isin(["kept", "survivor"])]
        gone = g[g["decision"] == "eliminated"]
        values = g["value"].astype(float)
        best = values.max() if maximise else values.min()
        cut = kept["value"].astype(float)
        cutoff = (cut.min() if maximise else cut.max()) if len(cut) else math.nan
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

    runs, rungs = results.read_table(out, "runs"), results.read_table(out, RUNGS.name)
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
            f"ranked on {s['metric']} ({s['mode']}) {float(s['value']):.4g}, "
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
