"""What makes a multi-init claim believable or not: the evidence beside its ``claims.md`` row.

For each multi-init folder (``OUT/multi_init/<problem>/``) and each of its seed blocks, read from
the folder's own tables (``runs``, ``rungs``, ``single/runs``, ``single/curves``):

- the survivor's final test metric (the problem's metric in the summary's table, accuracy for the
  image problems, in the direction the problem registry declares) against the best and the median
  of the same seeds each trained alone to the full budget, and the survivor's rank among them;
- the compute each spent: steps and gradient evaluations of all multi-init trials together, of
  one single run and of all the single runs;
- whether early ranking predicts the final outcome: Spearman's rank correlation, over the seeds
  trained alone, between the validation metric multi-init ranks on at each rung's step and the
  final test metric (``rank_rows``), oriented so that +1 means the rung's order is the final
  test order;
- whether the survivor's edge over the median seed is more than test-set sampling noise: the two
  runs retrained in process (``raybench.train.Run``, deterministic by spec), their per-example
  test correctness compared by a paired bootstrap over test examples (``paired_bootstrap``).
  A problem whose instances give no per-example predictions gets a labelled unpaired binomial
  approximation from the recorded metrics instead (``binomial_difference``).

``write`` stores the two tables (``multi_init_evidence``, ``multi_init_rank_correlation``) in
``OUT``, replacing earlier ones (they are derived, like ``claims``); ``markdown`` is the
``claims.md`` section. The claims stage of ``raybench reproduce`` calls all three, so ``--resume``
on a finished folder recomputes them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from raybench import schema

STR, FLOAT, INT, BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()
EVIDENCE = schema.register(schema.TableSchema("multi_init_evidence", 1, schema.columns(
    ("problem", STR), ("dataset", STR), ("repeat", INT), ("first_seed", INT), ("last_seed", INT),
    ("metric", STR), ("mode", STR), ("survivor_seed", INT), ("survivor", FLOAT), ("survivor_rank", INT),
    ("singles", INT), ("single_best", FLOAT), ("single_median", FLOAT), ("median_seed", INT),
    ("median_seed_value", FLOAT),
    ("steps_multi_init", INT), ("steps_single", INT), ("steps_all_singles", INT),
    ("grad_evals_multi_init", INT), ("grad_evals_single", INT), ("grad_evals_all_singles", INT),
    ("split_check", STR), ("test_examples", INT), ("resamples", INT),
    ("edge", FLOAT), ("edge_ci_low", FLOAT), ("edge_ci_high", FLOAT), ("p_ahead", FLOAT),
    ("reproduced", BOOL),
), derived=True))
"""One row per (problem, seed block): the survivor against the same seeds alone, the compute,
and the resampled-test-split check of its edge over the median seed."""
RANK_CORRELATION = schema.register(schema.TableSchema("multi_init_rank_correlation", 1, schema.columns(
    ("problem", STR), ("repeat", INT), ("rung", INT), ("step", INT), ("alive", INT),
    ("val_metric", STR), ("test_metric", STR), ("spearman", FLOAT), ("n", INT),
), derived=True))
"""One row per (problem, seed block, rung judged), and one at the end of the budget (``rung``
null): Spearman's rho between the seeds' validation metric at ``step`` and their final test metric."""

RESAMPLES = 1000
"""Bootstrap resamples of the test split (paired, over test examples)."""
PAIRED, BINOMIAL = "paired bootstrap", "binomial approximation (unpaired)"


# --- Statistics (no I/O) -----------------------------------------------------------------------

def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties get their average rank; pairs with a
    NaN are dropped). NaN with fewer than 3 pairs or when either side is constant."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 3:
        return math.nan
    ra = pd.Series(a).rank(method="average").to_numpy()
    rb = pd.Series(b).rank(method="average").to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def paired_bootstrap(a: Sequence[bool], b: Sequence[bool], *, resamples: int = RESAMPLES,
                     level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """The difference in accuracy of ``a`` over ``b`` (per-example correctness on the same test
    examples), with a percentile-bootstrap ``level`` CI over test examples resampled in pairs,
    and ``p_ahead``, the fraction of resamples where ``a`` is strictly ahead.

    Only the counts of examples where exactly one is right matter, so a resample draws those
    counts (a multinomial over "only a right", "only b right", "same"), which is the same
    distribution as resampling the examples one by one."""
    ca, cb = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if ca.shape != cb.shape or ca.ndim != 1 or ca.size == 0:
        raise ValueError(f"paired_bootstrap needs two equally long non-empty vectors, got {ca.shape} and {cb.shape}")
    n = ca.size
    only_a, only_b = int((ca & ~cb).sum()), int((cb & ~ca).sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [only_a / n, only_b / n, (n - only_a - only_b) / n], size=resamples)
    diffs = (draws[:, 0] - draws[:, 1]) / n
    alpha = (1 - level) / 2
    return {"edge": (only_a - only_b) / n, "ci_low": float(np.quantile(diffs, alpha)),
            "ci_high": float(np.quantile(diffs, 1 - alpha)), "p_ahead": float(np.mean(diffs > 0)),
            "n": n, "resamples": resamples}


def binomial_difference(p_a: float, p_b: float, n: int, *, level: float = 0.95) -> dict[str, float]:
    """The fallback when per-example predictions are not available: accuracies ``p_a`` and
    ``p_b`` on ``n`` test examples treated as independent binomial proportions (unpaired, so
    wider than the paired bootstrap); normal-approximation CI and ``p_ahead`` = P(diff > 0)."""
    se = math.sqrt(max(p_a * (1 - p_a), 0.0) / n + max(p_b * (1 - p_b), 0.0) / n)
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    d = p_a - p_b
    p_ahead = float(d > 0) if se == 0 else 1.0 - statistics.NormalDist(d, se).cdf(0.0)
    return {"edge": d, "ci_low": d - z * se, "ci_high": d + z * se, "p_ahead": p_ahead, "n": n, "resamples": 0}


def median_seed(values: Mapping[int, float], mode: str, *, avoid: int | None = None) -> int:
    """The seed whose value is the median's: of an even number, the better of the two middle
    ones (the stricter bar for the survivor); ties go to the lower seed. ``avoid`` (the survivor)
    is the median seed only when no other seed has the median's value."""
    order = sorted(values, key=lambda s: (-values[s] if mode == "max" else values[s], s))
    mid = (len(order) - 1) // 2
    if order[mid] == avoid:
        tied = [i for i, s in enumerate(order) if s != avoid and values[s] == values[avoid]]
        if tied:
            return order[min(tied, key=lambda i: (abs(i - mid), i))]
    return order[mid]


def rank_of(value: float, others: Sequence[float], mode: str) -> int:
    """1 + how many of ``others`` are strictly better than ``value`` (ties share the rank)."""
    better = [o for o in others if (o > value if mode == "max" else o < value)]
    return 1 + len(better)


# --- Retraining for per-example test predictions ------------------------------------------------

def test_correct(run: Any) -> np.ndarray | None:
    """Per-example correctness of ``run``'s model on its problem's test split, or ``None`` where the
    instance does not expose a classifier's test split (``instance.splits``: the image problems).

    Checked against the problem's own ``Run.evaluate("test")`` accuracy, so a model or split read
    wrongly here is ``None`` (the fallback), never a silently different number."""
    import torch

    inst = run.instance
    splits = getattr(inst, "splits", None)
    if splits is None or not hasattr(splits, "test") or not hasattr(splits, "normalise"):
        return None
    x_all, y_all = splits.test
    inst.train_mode(False)
    try:
        with torch.no_grad():
            correct = torch.cat([inst.model(splits.normalise(x_all[i:i + 1000])).argmax(1) == y_all[i:i + 1000]
                                 for i in range(0, len(y_all), 1000)])
    finally:
        inst.train_mode(True)
    out = correct.cpu().numpy().astype(bool)
    accuracy = run.evaluate("test").get("accuracy")
    if accuracy is None or abs(float(out.mean()) - accuracy) > 1e-9:
        return None
    return out


def test_size(problem: str, options: Mapping[str, Any], seed: int) -> int | None:
    """Test examples of an instance, where it says (``splits.test`` or ``data["test"]``)."""
    from raybench import problems

    inst = problems.get(problem).instance(seed, **options)
    splits, data = getattr(inst, "splits", None), getattr(inst, "data", None)
    test = getattr(splits, "test", None) or (data.get("test") if isinstance(data, dict) else None)
    return None if test is None else len(test[1])


def retrain(row: Mapping[str, Any], device: str) -> tuple[Any, bool]:
    """The single run of ``row`` (a ``runs`` row) retrained to its budget, evaluated only at its
    end; and whether the rebuilt spec is the recorded one (same ``run_id``)."""
    import json

    import torch

    from raybench.spec import RunSpec
    from raybench.train import Run

    steps = int(row["budget_steps"])
    spec = RunSpec.build(str(row["problem"]), str(row["optimizer"]), int(row["seed"]),
                         hparams=json.loads(row["hparams"]), options=json.loads(row["options"]),
                         steps=steps, eval_every=steps)
    # One intra-op thread, as Ray gives the workers that trained the recorded runs: the same
    # arithmetic, and no spinning against whatever else holds the cores (profiled: a CNN step
    # took 30x longer with 2 threads on a loaded 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = Run(spec, device=device)
        run.advance()
    finally:
        torch.set_num_threads(threads)
    return run, spec.run_id == row["run_id"]


# --- One multi-init folder ------------------------------------------------------------------------

def headline_metric(problem: str, runs: pd.DataFrame) -> str:
    """The metric the summary's table measures ``problem`` by (``claims.COLUMNS``), else
    the problem's target metric."""
    from raybench.reproduce import claims

    for column in claims.COLUMNS.values():
        if column.problem == problem and column.metric != "steps_to_target":
            return column.metric
    return str(runs["target_metric"].dropna().iloc[0])


def measure_folder(folder: str, *, resamples: int = RESAMPLES, device: str | None = None,
                   seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(evidence rows, rank-correlation rows)`` of one multi-init folder, one block at a time."""
    import os

    from raybench import problems, results

    runs, rungs = results.read_table(folder, "runs"), results.read_table(folder, "rungs")
    single_dir = os.path.join(folder, "single")
    singles, curves = results.read_table(single_dir, "runs"), results.read_table(single_dir, "curves")
    if rungs.empty or singles.empty:
        return [], []
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    problem = str(rungs["problem"].iloc[0])
    metric = headline_metric(problem, singles)
    mode = problems.get(problem).direction(metric)
    val_metric, val_mode = str(rungs["metric"].iloc[0]), str(rungs["mode"].iloc[0])
    # +1: a better validation value at the rung goes with a better final test value.
    orient = (1 if val_mode == "max" else -1) * (1 if mode == "max" else -1)
    evidence, ranks = [], []
    for b in sorted(int(r) for r in rungs["repeat"].unique()):
        block = rungs[rungs["repeat"] == b]
        seeds = sorted(int(s) for s in block.loc[block["rung"] == block["rung"].min(), "seed"].dropna())
        alone = singles[singles["seed"].isin(seeds) & (singles["status"] == "ok")]
        final = dict(zip(alone["seed"].astype(int), results.metric(alone, "test", metric), strict=True))
        final = {s: v for s, v in final.items() if not math.isnan(v)}
        trials = runs[runs["run_id"].isin(set(block["run_id"].dropna()))]
        surv = block[block["decision"] == "survivor"]
        srow = trials[trials["run_id"].isin(surv["run_id"])].head(1)
        s_seed = int(surv["seed"].iloc[0]) if len(surv) else None
        s_value = float(results.metric(srow, "test", metric).iloc[0]) if len(srow) else math.nan
        row: dict[str, Any] = {
            "problem": problem, "dataset": str(alone["dataset"].iloc[0]) if len(alone) else None,
            "repeat": b, "first_seed": seeds[0], "last_seed": seeds[-1], "metric": f"test_{metric}", "mode": mode,
            "survivor_seed": s_seed, "survivor": s_value, "singles": len(final),
            "steps_multi_init": int(trials["steps"].sum()), "grad_evals_multi_init": int(trials["grad_evals"].sum()),
            "steps_all_singles": int(alone["steps"].sum()), "grad_evals_all_singles": int(alone["grad_evals"].sum()),
        }
        if len(alone):
            row["steps_single"] = int(statistics.median(alone["steps"].astype(int)))
            row["grad_evals_single"] = int(statistics.median(alone["grad_evals"].astype(int)))
        if final:
            best = max(final.values()) if mode == "max" else min(final.values())
            m_seed = median_seed(final, mode, avoid=s_seed)
            row.update(single_best=best, single_median=statistics.median(final.values()), median_seed=m_seed,
                       median_seed_value=final[m_seed])
            if not math.isnan(s_value):
                row["survivor_rank"] = rank_of(s_value, [v for s, v in final.items() if s != s_seed], mode)
                row.update(_split_check(alone, s_seed, m_seed, s_value, final[m_seed], metric,
                                        resamples=resamples, device=device, seed=seed))
        evidence.append(row)
        ranks += _rank_rows(problem, b, block, alone, curves, final, val_metric, metric, orient)
    return evidence, ranks


def _split_check(alone: pd.DataFrame, s_seed: int, m_seed: int, s_value: float, m_value: float, metric: str,
                 *, resamples: int, device: str, seed: int) -> dict[str, Any]:
    """The resampled-test-split check of the survivor's edge over the median seed."""
    import json

    if s_seed == m_seed:
        return {"split_check": "survivor is the median seed", "edge": 0.0, "edge_ci_low": 0.0,
                "edge_ci_high": 0.0, "p_ahead": 0.0, "resamples": 0}
    rows = {int(r["seed"]): r for r in alone.to_dict("records")}
    if s_seed not in rows or m_seed not in rows:
        return {"split_check": f"not checked: seed {s_seed if s_seed not in rows else m_seed} has no single run"}
    correct, reproduced = [], True
    if metric == "accuracy":
        for s in (s_seed, m_seed):
            run, same = retrain(rows[s], device)
            found = test_correct(run)
            if found is None:
                correct = []
                break
            correct.append(found)
            reproduced = reproduced and same and abs(float(found.mean()) - float(rows[s][f"test_{metric}"])) < 1e-9
    if len(correct) == 2:
        got = paired_bootstrap(correct[0], correct[1], resamples=resamples, seed=seed)
        how = PAIRED
    else:
        if metric != "accuracy":
            return {"split_check": f"not checked: test {metric} is not a per-example proportion"}
        first = rows[s_seed]
        n = test_size(str(first["problem"]), json.loads(first["options"]), s_seed)
        if n is None:
            return {"split_check": "not checked: the problem gives neither per-example predictions nor its test size"}
        got, how, reproduced = binomial_difference(s_value, m_value, n), BINOMIAL, None
    return {"split_check": how, "test_examples": got["n"], "resamples": got["resamples"], "edge": got["edge"],
            "edge_ci_low": got["ci_low"], "edge_ci_high": got["ci_high"], "p_ahead": got["p_ahead"],
            "reproduced": reproduced}


def _rank_rows(problem: str, b: int, block: pd.DataFrame, alone: pd.DataFrame, curves: pd.DataFrame,
               final: dict[int, float], val_metric: str, metric: str, orient: int) -> list[dict[str, Any]]:
    from raybench import results

    seed_of = dict(zip(alone["run_id"], alone["seed"].astype(int), strict=True))
    mine = curves[curves["run_id"].isin(seed_of)].copy()
    mine["seed"] = mine["run_id"].map(seed_of)
    mine["value"] = results.metric(mine, "val", val_metric.removeprefix("val_"))
    judged = block[block["alive"] > 1].groupby("rung").agg(step=("step", "first"), alive=("alive", "first"))
    budget = int(alone["budget_steps"].max()) if len(alone) else None
    points = [(int(r), int(j["step"]), int(j["alive"])) for r, j in judged.iterrows()] + [(None, budget, None)]
    out = []
    for rung, step, alive in points:
        at = mine[mine["step"] == step].drop_duplicates("seed").set_index("seed")["value"]
        seeds = [s for s in final if s in at.index]
        rho = spearman([at[s] for s in seeds], [final[s] for s in seeds])
        out.append({"problem": problem, "repeat": b, "rung": rung, "step": step, "alive": alive,
                    "val_metric": val_metric, "test_metric": f"test_{metric}",
                    "spearman": orient * rho if not math.isnan(rho) else math.nan, "n": len(seeds)})
    return out


# --- Tables and the claims.md section ---------------------------------------------------------------

def write(out: str, evidence: list[dict[str, Any]], ranks: list[dict[str, Any]]) -> None:
    """Both tables into results folder ``out``, each replacing its earlier parts (derived data)."""
    from raybench import results

    for table, rows in ((EVIDENCE.name, evidence), (RANK_CORRELATION.name, ranks)):
        results.replace(out, table, rows)


def _value(x: Any, metric: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.1f}%" if metric.endswith("accuracy") else f"{x:.4g}"


def _edge(r: Mapping[str, Any]) -> str:
    if not isinstance(r.get("edge"), float) or math.isnan(r["edge"]):
        return "-"
    scale, unit = (100.0, " pp") if str(r["metric"]).endswith("accuracy") else (1.0, "")
    return (f"{scale * r['edge']:+.1f} [{scale * r['edge_ci_low']:+.1f}, {scale * r['edge_ci_high']:+.1f}]{unit}"
            if unit else f"{r['edge']:+.4g} [{r['edge_ci_low']:+.4g}, {r['edge_ci_high']:+.4g}]")


def markdown(evidence: list[dict[str, Any]], ranks: list[dict[str, Any]]) -> str:
    """The ``claims.md`` section "Multi-init: what makes it believable" ("" without multi-init)."""
    if not evidence:
        return ""
    lines = ["## Multi-init: what makes it believable", ""]
    ev = pd.DataFrame(evidence, columns=EVIDENCE.columns)
    rk = pd.DataFrame(ranks, columns=RANK_CORRELATION.columns)
    for problem, rows in ev.groupby("problem", sort=False):
        first = rows.iloc[0]
        metric, n = str(first["metric"]), int(rows["singles"].max())
        name = metric.removeprefix("test_")
        checks = sorted(set(rows["split_check"].dropna()) & {PAIRED, BINOMIAL})
        lines += [
            f"### {problem} ({first['dataset']})", "",
            f"Each seed block's survivor against the same {n} seeds each trained alone to the full budget: final "
            f"test {name}, the survivor's rank among them (1 = best), the compute spent, and the survivor's edge "
            f"over the median seed (of the two middle seeds, the better) on the test split with its 95% CI and the "
            f"share of resampled test splits on which the survivor is ahead ({', '.join(checks) or 'not checked'}; "
            f"the two runs retrained, {RESAMPLES} resamples of the test examples).", "",
            "| block | seeds | survivor (seed) | rank | best alone | median alone | median seed | steps: multi-init / "
            "one alone / all alone | edge over median seed [95% CI] | ahead in | test examples |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows.to_dict("records"):
            checked = r.get("split_check") in (PAIRED, BINOMIAL)
            rank = f"{int(r['survivor_rank'])} of {int(r['singles'])}" if pd.notna(r.get("survivor_rank")) else "-"
            s_seed = f" ({int(r['survivor_seed'])})" if pd.notna(r.get("survivor_seed")) else ""
            m_seed = (f"{int(r['median_seed'])} ({_value(r['median_seed_value'], metric)})"
                      if pd.notna(r.get("median_seed")) else "-")
            edge, ahead = (_edge(r), f"{100 * r['p_ahead']:.0f}%") if checked else ("-", "-")
            if r.get("split_check") not in (PAIRED, None) and pd.notna(r.get("split_check")):
                edge += f" ({r['split_check']})"
            lines.append(
                f"| {r['repeat']} | {r['first_seed']}..{r['last_seed']} | {_value(r['survivor'], metric)}{s_seed} | {rank} "
                f"| {_value(r.get('single_best'), metric)} | {_value(r.get('single_median'), metric)} | {m_seed} "
                f"| {_int(r.get('steps_multi_init'))} / {_int(r.get('steps_single'))} / "
                f"{_int(r.get('steps_all_singles'))} | {edge} "
                f"| {ahead} | {_int(r.get('test_examples'))} |")
        mine = rk[rk["problem"] == problem]
        val_metric = str(mine["val_metric"].iloc[0]) if len(mine) else "the validation metric"
        lines += [
            "", f"Does early ranking predict the final outcome? Spearman's rank correlation, over each block's "
            f"seeds trained alone, between {val_metric} at the rung's step (what multi-init ranks on) and the final "
            f"{metric}, oriented so that +1 means the rung orders the seeds as the final test does; median over "
            f"the {len(rows)} block(s) and range. The last line is validation at the end of the budget: how well "
            "validation predicts test at all.", "",
            "| rung | step | trials judged | Spearman median | range | blocks |", "|---|---|---|---|---|---|",
        ]
        summary = _rung_summary(mine)
        for s in summary:
            rng = f"{s['low']:+.2f} .. {s['high']:+.2f}" if s["blocks"] else "-"
            med = f"{s['median']:+.2f}" if s["blocks"] else "-"
            lines.append(f"| {s['rung'] if s['rung'] is not None else 'end'} | {s['step']} | "
                         f"{s['alive'] if s['alive'] is not None else '-'} | {med} | {rng} | {s['blocks']} |")
        lines += ["", "Reading: " + _reading(rows, summary, name), ""]
    return "\n".join(lines)


def _int(x: Any) -> str:
    return "-" if x is None or pd.isna(x) else str(int(x))


def _rung_summary(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per rung (and the end): median, low and high of rho over blocks (NaN blocks left out)."""
    out = []
    if rows.empty:
        return out
    keyed = rows.assign(order=rows["rung"].fillna(10**9))
    for _, g in keyed.groupby("order", sort=True):
        rho = g["spearman"].dropna()
        rung = g["rung"].iloc[0]
        alive = g["alive"].iloc[0]
        out.append({"rung": None if pd.isna(rung) else int(rung), "step": int(g["step"].iloc[0]),
                    "alive": None if pd.isna(alive) else int(alive), "blocks": len(rho),
                    "median": float(rho.median()) if len(rho) else math.nan,
                    "low": float(rho.min()) if len(rho) else math.nan,
                    "high": float(rho.max()) if len(rho) else math.nan})
    return out


def _reading(rows: pd.DataFrame, summary: list[dict[str, Any]], name: str) -> str:
    """One line of what the numbers say, by fixed rules (no threshold tuned to any result)."""
    n = len(rows)
    ranked = rows.dropna(subset=["survivor", "single_median"])
    better = rows["mode"].iloc[0] == "max"
    above = int(((ranked["survivor"] > ranked["single_median"]) if better
                 else (ranked["survivor"] < ranked["single_median"])).sum())
    checked = rows[rows["split_check"].isin([PAIRED, BINOMIAL])]
    beyond = int((checked["edge_ci_low"] > 0).sum())
    best = int((ranked["survivor_rank"] == 1).sum())
    parts = [f"the survivor's final test {name} is above the median of its seeds alone in {above} of {n} "
             f"block(s) and the best of them in {best}",
             f"its edge over the median seed is beyond test-sampling noise (95% CI above 0) in {beyond} of "
             f"{len(checked)} checked"]
    judged = [s for s in summary if s["rung"] is not None and s["blocks"]]
    if judged:
        parts.append(f"early rankings agree with the final test order at median rho {judged[0]['median']:+.2f} "
                     f"(first rung) to {judged[-1]['median']:+.2f} (last judged rung)")
    single = (rows["steps_multi_init"] / rows["steps_single"]).dropna()
    every = (rows["steps_multi_init"] / rows["steps_all_singles"]).dropna()
    if len(single) and len(every):
        parts.append(f"it spent {statistics.median(single):.2f}x the steps of one single run "
                     f"({statistics.median(every):.2f}x those of all its seeds alone)")
    return "; ".join(parts) + "."


def measure_all(folders: Mapping[str, str], **kwargs: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``measure_folder`` over ``{problem: multi-init folder}``, rows concatenated."""
    evidence: list[dict[str, Any]] = []
    ranks: list[dict[str, Any]] = []
    for folder in folders.values():
        e, r = measure_folder(folder, **kwargs)
        evidence += e
        ranks += r
    return evidence, ranks
