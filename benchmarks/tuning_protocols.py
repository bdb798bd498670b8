"""The optimizer zoo under three tuning protocols, two tuning budgets and three step budgets.

    python benchmarks/tuning_protocols.py run OUT       # the six raybench commands (about an hour here)
    python benchmarks/tuning_protocols.py analyse OUT   # tables and CSVs from their folders

``run`` runs ``raybench run`` six times, into ``OUT/<protocol>_<group>``:

- protocols: ``defaults`` (no tuning), ``lr`` (the learning-rate search: 6 values over 4 decades
  centred on each default, 2 tuning seeds, up to 3 values past an edge winner) and ``external``
  (AlgoPerf's external tuning: 3 studies x 5 Sobol points of each optimizer's declared space,
  each trial on 2 tuning seeds), the last scored at tuning budgets 1 and 5 trials per study from
  the same trials;
- groups: ``cheap`` = quadratic and logistic at step budgets 100, 200 and 400 (each budget its own
  warmup-cosine schedule and its own tuning), ``main`` = mlp and mnist_mlp (the offline MNIST
  subset) at 500 steps each (shrunk from their default budgets, 1,000 and 1,250 steps, so that the
  whole measurement fits about an hour on the 2-core machine: at the defaults the main group's
  runs took 11 minutes for the defaults protocol alone, SOAP and Muon about 40 s a run on
  mnist_mlp under load. At the defaults, Adam met mnist_mlp's target (0.88) at step 125 (median
  of 6 seeds) and mlp's (0.95) only prodigy met within 1,000 steps: on mlp the cut shortens a
  race few finish either way);
- ten optimizers (``ZOO``) and 6 evaluation seeds (0-5: the fewest at which a 95%
  distribution-free interval for a median exists), the same seeds under every protocol, so
  results pair by seed.

Each command's wall time and exit code go to ``OUT/timings.json``; its output to
``OUT/<folder>.log``. Rerunning ``run`` resumes (``--resume``) what is not finished.

``analyse`` reads the folders (``raybench.results``) and writes into OUT:

- ``protocols_scores.csv``: each optimizer's AlgoPerf score (performance-profile area on steps to
  target over the problem instances) per protocol and group, and its rank;
- ``protocols_end.csv``: per problem (and step budget), optimizer and protocol the median test
  headline metric over seeds, runs not ok, and the rank;
- ``protocols_budgets.csv``: the external protocol's time to target (median over studies of each
  study's fastest trial) and chosen validation score at tuning budgets 1 and 5, with ranks;
- ``protocols_cost.csv``: each protocol's total tuning cost per pair (runs, steps, seconds);
- ``zoo_claims.csv``: each zoo optimizer's published headline claim against what this scale
  measures, judged by ``docs/verdict_rules.md`` (``reproduce.claims``' rules);
- ``protocols.md``: the same as Markdown tables, with where rankings change.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ZOO = "adam,adamw,nadam,lion,muon,soap,schedule_free_adamw,prodigy,adan,momentum"
SEEDS = 6
GROUPS = {
    "cheap": ["--problems", "quadratic,logistic", "--step-budgets", "100,200,400"],
    "main": ["--problems", "mlp,mnist_mlp", "--steps", "500"],
}
PROTOCOLS = {
    "defaults": ["--tuning", "defaults"],
    "lr": ["--tuning", "lr"],
    "external": ["--tuning", "external", "--studies", "3", "--trials", "5", "--tuning-budgets", "1,5"],
}


def folders() -> list[tuple[str, str, str]]:
    """(folder name, protocol, group) of every command, in the order ``run`` runs them."""
    return [(f"{p}_{g}", p, g) for p in PROTOCOLS for g in GROUPS]


def run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for name, protocol, group in folders():
        if timings.get(name, {}).get("rc") == 0:
            print(f"{name}: done before ({timings[name]['seconds']:.0f} s)", flush=True)
            continue
        resume = ["--resume"] if (out / name).exists() else []
        cmd = [sys.executable, "-m", "raybench.cli", "run", *GROUPS[group], "--optimizers", ZOO,
               "--seeds", str(SEEDS), *PROTOCOLS[protocol], "--out", str(out / name), "--no-progress", *resume]
        print(f"{name}: {' '.join(cmd[2:])}", flush=True)
        t0 = time.perf_counter()
        with open(out / f"{name}.log", "a") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - t0
        timings[name] = {"rc": rc, "seconds": seconds, "command": " ".join(["raybench", *cmd[3:]])}
        timings_path.write_text(json.dumps(timings, indent=1))
        print(f"{name}: exit {rc} after {seconds:.0f} s", flush=True)
    total = sum(t["seconds"] for t in timings.values())
    print(f"total {total:.0f} s ({total / 60:.1f} min)")


# --- analyse ----------------------------------------------------------------------------------

CLASSIFIERS = {"mlp": 50.0, "mnist_mlp": 10.0}
"""Chance accuracy (percent) of the classifiers: a run that is not ok counts at it (the rules)."""

ZOO_CLAIMS = [
    # (optimizer, baseline, kind, claim interval, as written, source, its protocol, the baseline's)
    ("muon", "adamw", "ratio", (1.65, 1.75), "1.7x fewer steps than AdamW (about 3,250 vs 5,600 to val loss 3.28)",
     "modded-nanogpt optimization track (Jordan et al. 2024)", "external", "external"),
    ("soap", "adamw", "ratio", (1.667, float("inf")), "over 40% fewer iterations than AdamW (>= 1.67x)",
     "Vyas et al. 2024, arXiv 2409.11321", "external", "external"),
    ("schedule_free_adamw", "adamw", "diff", (0.0, float("inf")),
     "matches or beats AdamW with a tuned schedule (end result >= AdamW's)",
     "Defazio et al. 2024, arXiv 2405.15682", "external", "external"),
    ("lion", "adamw", "diff", (0.0, float("inf")), "matches or outperforms AdamW (end result >= AdamW's)",
     "Chen et al. 2023, arXiv 2302.06675", "external", "external"),
    ("prodigy", "adam", "diff", (0.0, 0.0), "untuned, matches hand-tuned Adam (end result = tuned Adam's)",
     "Mishchenko & Defazio 2023, arXiv 2306.06101", "defaults", "external"),
]


def _read(out: Path) -> tuple:
    import pandas as pd

    from raybench import results, step_budgets

    runs, curves, lr, summary = [], [], [], []
    for name, protocol, group in folders():
        folder = str(out / name)
        if not (out / name / "runs").exists():
            print(f"{name}: no runs (not run yet?)", file=sys.stderr)
            continue
        r, c = results.read(folder)
        runs.append(step_budgets.label(r).assign(protocol=protocol, group=group))
        curves.append(c)
        t = results.read_table(folder, "lr_search")
        if not t.empty:
            lr.append(t.assign(protocol=protocol, group=group))
        t = results.read_table(folder, "tuning_summary")
        if not t.empty:
            summary.append(t.assign(protocol=protocol, group=group))
    cat = lambda xs: pd.concat(xs, ignore_index=True) if xs else pd.DataFrame()  # noqa: E731
    return cat(runs), cat(curves), cat(lr), cat(summary)


def _end_values(runs, curves):
    """Each run's end result as the rules count it: test accuracy in percent (chance if not ok)
    for the classifiers, test f - f* (its step-0 value if not ok) otherwise; lower-is-better sign."""
    import pandas as pd

    from raybench.reproduce import claims

    parts = []
    for base, group in runs.groupby(runs["problem"].str.split(" @").str[0]):
        if base in CLASSIFIERS:
            v = claims.run_values(group, "accuracy", curves=curves, chance=CLASSIFIERS[base])
        else:
            v = claims.run_values(group.assign(target_metric="suboptimality"), "suboptimality", curves=curves)
        parts.append(group.assign(end=v["value"], higher=base in CLASSIFIERS))
    return pd.concat(parts)


def _rank(frame, by: str, higher) -> list[int]:
    """Ranks (1 = best; ties share the better rank) of ``by`` within ``frame``."""
    values = frame[by].astype(float)
    return list((-values if higher else values).rank(method="min").astype(int))


def _changes(table, key: str, who: str, rank: str, across: str, order: list) -> list[str]:
    """Per ``key`` value, the pairs of ``who`` whose order differs between the first and the
    other values of ``across`` (e.g. protocols)."""
    lines = []
    for k, g in table.groupby(key):
        firsts = {a: dict(zip(sub[who], sub[rank], strict=True)) for a, sub in g.groupby(across)}
        present = [a for a in order if a in firsts]
        for a, b in zip(present, present[1:]):
            ra, rb = firsts[a], firsts[b]
            common = sorted(set(ra) & set(rb))
            flips = [(x, y) for i, x in enumerate(common) for y in common[i + 1:]
                     if (ra[x] - ra[y]) * (rb[x] - rb[y]) < 0]
            top_a = sorted(x for x in common if ra[x] == min(ra[c] for c in common))
            top_b = sorted(x for x in common if rb[x] == min(rb[c] for c in common))
            lines.append(f"{k}: {a} -> {b}: {len(flips)} of {len(common) * (len(common) - 1) // 2} pairs swap; "
                         f"best {'/'.join(top_a)} -> {'/'.join(top_b)}")
    return lines


def _better(verdict: str, ci_low: float, interval: tuple[float, float], kind: str) -> str:
    """``contradicted`` because the whole CI lies above the claim (widened by the rules' margin)
    reads ``better than claimed``, as the rules label a proportion above its claim."""
    from raybench.reproduce import claims

    if verdict == claims.CONTRADICTED and ci_low > interval[1] + claims.MARGIN[kind]:
        return claims.BETTER_THAN_CLAIMED
    return verdict


def _claim_rows(ends, curves):
    """Each zoo claim on each accuracy problem: the paired quantity, its 95% CI and the verdict."""
    import math

    import numpy as np

    from raybench import stats
    from raybench.reproduce import claims

    rows = []
    for opt, base, kind, interval, words, source, p_opt, p_base in ZOO_CLAIMS:
        for problem in sorted(CLASSIFIERS):
            mine = ends[(ends["optimizer"] == opt) & (ends["protocol"] == p_opt) & (ends["problem"] == problem)]
            theirs = ends[(ends["optimizer"] == base) & (ends["protocol"] == p_base) & (ends["problem"] == problem)]
            paired = mine.merge(theirs, on="seed", suffixes=("", "_base"))
            row = {"optimizer": opt, "protocol": p_opt, "baseline": base, "baseline_protocol": p_base,
                   "problem": problem, "claim": words, "source": source, "kind": kind,
                   "claim_low": interval[0], "claim_high": interval[1], "n": len(paired),
                   "not_ok": int((paired["status"] != "ok").sum()),
                   "not_applicable": int((paired["status"] == "not_applicable").sum())}
            if row["not_applicable"] == len(paired) and len(paired):
                rows.append({**row, "verdict": "not applicable (nothing for it to act on)"})
                continue
            if kind == "ratio":
                vals = claims.run_values(paired, "steps_to_target", curves=curves)
                bvals = claims.run_values(paired.assign(run_id=paired["run_id_base"],
                                                        status=paired["status_base"],
                                                        steps_to_target=paired["steps_to_target_base"]),
                                          "steps_to_target", curves=curves)
                bounds = [stats.speed_ratio_bounds((bl, b), (vl, v)) for bl, b, vl, v in
                          zip(bvals["value_low"].fillna(0), bvals["value"], vals["value_low"].fillna(0), vals["value"])]
                ratios = [stats.speed_ratio(b, v) for b, v in zip(bvals["value"], vals["value"])]
                informative = [(r, bd) for r, bd in zip(ratios, bounds) if not math.isnan(bd[0])]
                lo, hi, *resolution = stats.speed_interval([bd for _, bd in informative], claims.LEVEL)
                est = float(np.median([r for r, _ in informative])) if informative else math.nan
                verdict = _better(claims.ratio_verdict(interval, (lo, hi), resolution, len(informative)),
                                  lo, interval, "ratio")
                rows.append({**row, "estimate": est, "ci_low": lo, "ci_high": hi, "informative": len(informative),
                             "resolution_low": resolution[0], "resolution_high": resolution[1],
                             "both_missed": len(ratios) - len(informative),
                             "baseline_missed": sum(math.isinf(r) for r, _ in informative),
                             "method_missed": sum(r == 0 for r, _ in informative), "verdict": verdict})
            else:
                diffs = (paired["end"] - paired["end_base"]).astype(float).tolist()
                est, lo, hi = stats.mean_ci(diffs)
                verdict = _better(claims.value_verdict(interval, (lo, hi), len(diffs), kind="percent"),
                                  lo, interval, "percent")
                rows.append({**row, "estimate": est, "ci_low": lo, "ci_high": hi, "verdict": verdict})
    return rows


def _md(frame, floatfmt: str = ".3g") -> str:
    cols = list(frame.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        out.append("| " + " | ".join(format(v, floatfmt) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(out)


def analyse(out: Path) -> None:
    import pandas as pd

    from raybench import profile

    runs, curves, lr, summary = _read(out)
    order = list(PROTOCOLS)
    # AlgoPerf scores per protocol over all eight problem instances (both groups pooled).
    scores = []
    for protocol, g in runs.groupby("protocol"):
        sc = profile.profile(g).scores.assign(protocol=protocol)
        sc["rank"] = _rank(sc, "score", True)
        scores.append(sc)
    scores = pd.concat(scores, ignore_index=True)
    scores.to_csv(out / "protocols_scores.csv", index=False)
    # End results: median over seeds, every run counted.
    ends = _end_values(runs, curves)
    end = (ends.groupby(["problem", "optimizer", "protocol"])
           .agg(median=("end", "median"), not_ok=("status", lambda s: int((s != "ok").sum())),
                not_applicable=("status", lambda s: int((s == "not_applicable").sum())),
                seeds=("seed", "nunique"), higher=("higher", "first")).reset_index())
    end = end[end["not_applicable"] < end["seeds"]]
    end["rank"] = 0
    for _, idx in end.groupby(["problem", "protocol"]).groups.items():
        sub = end.loc[idx]
        end.loc[idx, "rank"] = _rank(sub, "median", bool(sub["higher"].iloc[0]))
    end.to_csv(out / "protocols_end.csv", index=False)
    # The external protocol's two tuning budgets.
    budgets = pd.DataFrame()
    if not summary.empty:
        budgets = summary.assign(problem=summary["problem"] + " @" + summary["budget_steps"].astype(str))
        budgets.loc[budgets["group"] == "main", "problem"] = summary["problem"]
        budgets = budgets[["problem", "optimizer", "tuning_budget", "score", "chosen_val_score", "chosen_hparams",
                           "cost_runs", "cost_steps", "cost_wall_seconds"]].copy()
        budgets["rank"] = 0
        for _, idx in budgets.groupby(["problem", "tuning_budget"]).groups.items():
            budgets.loc[idx, "rank"] = _rank(budgets.loc[idx], "chosen_val_score", False)
        budgets.to_csv(out / "protocols_budgets.csv", index=False)
    # Tuning cost per protocol.
    cost = []
    if not lr.empty:
        c = lr.groupby(["problem", "optimizer"]).agg(runs=("lr", "size"), steps=("steps", "sum"),
                                                     seconds=("wall_seconds", "sum")).reset_index()
        cost.append(c.assign(protocol="lr"))
    if not summary.empty:
        top = summary[summary["tuning_budget"] == summary["tuning_budget"].max()]
        c = top.groupby(["problem", "optimizer"]).agg(runs=("cost_runs", "sum"), steps=("cost_steps", "sum"),
                                                      seconds=("cost_wall_seconds", "sum")).reset_index()
        cost.append(c.assign(protocol="external"))
    cost = pd.concat(cost, ignore_index=True) if cost else pd.DataFrame()
    if len(cost):
        cost.to_csv(out / "protocols_cost.csv", index=False)
    claims_rows = pd.DataFrame(_claim_rows(ends, curves))
    claims_rows.to_csv(out / "zoo_claims.csv", index=False)
    # Markdown.
    wide = scores.pivot_table(index="optimizer", columns="protocol", values="score").reindex(columns=order)
    ranks = scores.pivot_table(index="optimizer", columns="protocol", values="rank").reindex(columns=order)
    score_md = pd.DataFrame({"optimizer": wide.index, **{
        p: [f"{s:.3f} ({int(r)})" if pd.notna(s) else "-" for s, r in zip(wide[p], ranks[p])] for p in order}})
    score_md = score_md.sort_values("optimizer")
    end_wide = end.assign(cell=[f"{m:.4g} ({r})" + (f" [{n} not ok]" if n else "")
                                for m, r, n in zip(end["median"], end["rank"], end["not_ok"])])
    end_md = end_wide.pivot_table(index=["problem", "optimizer"], columns="protocol", values="cell",
                                  aggfunc="first").reindex(columns=order).reset_index()
    text = ["# The zoo under three tuning protocols", "",
            "AlgoPerf score (rank) per protocol, over the 8 problem instances:", "", _md(score_md), "",
            "Where the ranking by AlgoPerf score changes between protocols:", "",
            *[f"- {line}" for line in _changes(scores.assign(all="all"), "all", "optimizer", "rank", "protocol", order)],
            "", "End results, median over 6 seeds (rank within problem and protocol; runs not ok counted as the rules "
            "say: chance accuracy, step-0 f - f*):", "", _md(end_md.fillna("-")), "",
            "Where the end-result ranking changes between protocols:", "",
            *[f"- {line}" for line in _changes(end, "problem", "optimizer", "rank", "protocol", order)], ""]
    if len(budgets):
        bw = budgets.assign(cell=[("not reached" if s == float("inf") else f"{s:.4g}") + f" / {v:.4g} ({r})"
                                  for s, v, r in zip(budgets["score"], budgets["chosen_val_score"], budgets["rank"])])
        bmd = bw.pivot_table(index=["problem", "optimizer"], columns="tuning_budget", values="cell",
                             aggfunc="first").reset_index()
        bmd.columns = [str(c) if not isinstance(c, (int, float)) else f"K={c}" for c in bmd.columns]
        text += ["External tuning at tuning budgets K = 1 and 5 trials per study (same trials): time to target "
                 "(median over 3 studies of each study's fastest trial) / chosen trial's validation score "
                 "(rank by it):", "", _md(bmd), "", "Where the ranking by chosen validation score changes from K=1 to K=5:",
                 "", *[f"- {line}" for line in _changes(budgets, "problem", "optimizer", "rank", "tuning_budget", [1, 5])], ""]
    if len(cost):
        tot = cost.groupby("protocol")[["runs", "steps", "seconds"]].sum().reset_index()
        text += ["Total tuning cost (all trials, every pair):", "", _md(tot, ".4g"), ""]
    if len(claims_rows):
        cols = [c for c in ("optimizer", "protocol", "baseline", "baseline_protocol", "problem", "claim", "estimate",
                            "ci_low", "ci_high", "n", "baseline_missed", "method_missed", "verdict") if c in claims_rows]
        text += ["Published headline claims against this scale (docs/verdict_rules.md):", "",
                 _md(claims_rows[cols].astype(object).fillna("-")), ""]
    (out / "protocols.md").write_text("\n".join(text))
    print("\n".join(text))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["run", "analyse"])
    p.add_argument("out", type=Path)
    args = p.parse_args()
    if args.what == "run":
        run(args.out)
    else:
        analyse(args.out)


if __name__ == "__main__":
    main()
