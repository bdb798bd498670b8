"""The report: the research summary's kind of results table, with plots, from a results folder.

For each problem x optimizer:
- the problem's headline metric on the test split (the first metric the problem declares, with
  its direction: test accuracy, higher is better; test f - f*, lower is better; ...) as mean
  +- std over the runs that finished ``ok``, and which optimizer is best on it (``best``);
- convergence speed against the baseline (Adam), paired by seed: Adam's steps-to-target over
  the optimizer's, median over seeds. A run's steps to target are seen only at evaluations, so
  each is the interval from the evaluation before to the one at which the target was met
  (``evaluation_before``, from the curves), and each seed's ratio the interval those allow
  (``stats.speed_ratio_bounds``); the 95% interval runs from the Hettmansperger-Sheather lower
  end of the seeds' low bounds to the upper end of their high bounds (``stats.speed_interval``; none,
  (-inf, inf), below 6 paired seeds, where no distribution-free 95% interval for a median
  exists). Where the evaluation spacing alone (the medians of the bounds) allows both faster
  and slower than the baseline, the cell says ``unresolved at this evaluation interval``
  (``raybench run --eval-every`` evaluates more densely). A run that is not ok counts as never
  reaching the target; seeds where neither reached it carry no information and are counted as
  ``both_missed``;
- the headline metric's paired difference from the baseline (same seed, both ok), median with
  the same interval: how "within x% of Adam" is measured;
- runs that are ``not_applicable`` (the optimizer has nothing to act on in the model) apart:
  never trained, paired with nothing, the row "n/a";
- how many runs were ok / diverged / failed, and how many reached the target at some
  evaluation; beside it whether the optimizer *reaches* the target across seeds
  (``raybench.calibration.reaches``: a one-sided t-test of the seeds' final validation values
  beyond the threshold at p < 0.001; columns ``reaches``, ``reaches_p``);
- how its learning rate was chosen (``lr_chosen``): ``default`` (the registry's), ``given``
  (in the suite or on the command line), ``tuned`` (``--tune-lr``), ``mixed`` if seeds differ.

Beside the table, the AlgoPerf score of each optimizer (``raybench.profile``): the normalised
area under its performance profile over problems, on steps to target, up to tau = 4; and the
same score on gradient evaluations to target.

``build`` makes all of it one ``raybench.report_model.Report`` from the runs and curves tables:
every fact a renderer needs (headline metric and direction, optimizer order, each optimizer's
colour, the curves' quantiles and their steps, gradient evaluations and seconds, each seed's end
result beside the baseline's) is looked up here, once. The renderers only lay it out:
``report.md`` (``report_markdown``), ``report.csv`` and ``scores.csv`` (``report_csv``),
``curves_<problem>.png``, ``performance_profile.png`` and ``algoperf_profile.png``
(``report_png``) and ``index.html`` (``html_report``). ``make_report`` reads a folder, builds,
and writes them all, with the folder's tuning (``raybench.tuning_report``: each pair's protocol,
choice and tuning cost; external tuning's score and end result at each tuning budget) after the
other sections. A caller adds sections of its own (``sections=``); ``raybench report``
asks the installed providers of the ``raybench.report_sections`` entry-point group for theirs
(``installed_sections``), so that the core never names the layer that owns them.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raybench import (
    __version__,
    defaults,
    html_report,
    profile,
    report_csv,
    report_markdown,
    report_png,
    results,
    stats,
    tuning_report,
)
from raybench.report_model import Band, Curves, EndResults, ProfilePanel, Report, Section, TuningBudgets

BASELINE = defaults.REFERENCE_OPTIMIZER
TITLE = "raybench report"
SECTION_GROUP = "raybench.report_sections"
"""Entry-point group of report section providers: ``provider(folder: str) -> Section | None``,
asked by ``raybench report`` for the sections a results folder holds beyond the core's."""

LR_CHOSEN = {"default": "default", "config": "given", "tuned": "tuned"}
"""How a run's learning rate was chosen, from its ``hparam_source``, in the report's words."""

# Registry names, in registry order: matplotlib's tab10, then tab20's light shades.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
           "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#c7c7c7")
# Any other name: dark shades from tab20b/tab20c, none of them in PALETTE.
EXTRA_PALETTE = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3", "#8ca252",
                 "#bd9e39", "#ad494a", "#a55194", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")


def optimizer_colour(name: str) -> str:
    """The colour of optimizer ``name`` in every plot, whatever else a folder holds.

    The registry's names (registered in a fixed order when ``raybench.optimizers`` is
    imported) take ``PALETTE`` in registry order; any other name (a user's optimizer) takes a
    colour from ``EXTRA_PALETTE`` picked by a hash of the name that does not change between
    processes (not Python's salted ``hash``).
    """
    import zlib

    from raybench import optimizers

    registry = optimizers.names()
    if name in registry and registry.index(name) < len(PALETTE):
        return PALETTE[registry.index(name)]
    return EXTRA_PALETTE[zlib.crc32(name.encode()) % len(EXTRA_PALETTE)]


def lr_chosen(sources: pd.Series) -> str:
    """One row's ``lr chosen``: its seeds' common ``hparam_source`` in the report's words,
    ``mixed`` when seeds differ, ``-`` when the folder does not record it."""
    seen = {LR_CHOSEN.get(s, s) for s in sources.dropna().astype(str)}
    if not seen:
        return "-"
    return seen.pop() if len(seen) == 1 else "mixed"


def metric_modes(runs: pd.DataFrame) -> dict[str, str]:
    """One problem's declared metrics and directions, headline first, as its run rows recorded
    them (``metric_modes``); for folders written before that column, the problem registry's."""
    recorded = runs["metric_modes"].dropna() if "metric_modes" in runs else pd.Series(dtype=object)
    if len(recorded):
        return json.loads(recorded.iloc[0])
    from raybench import problems

    name = runs["problem"].iloc[0]
    return dict(problems.get(name).metrics) if name in problems.REGISTRY else {"loss": "min"}


LABELS = {"suboptimality": "f - f*", "param_error": "param error"}


def headline(runs: pd.DataFrame) -> tuple[str, str, str]:
    """(metric, label, mode) of the headline metric of one problem's runs."""
    name, mode = next(iter(metric_modes(runs).items()))
    better = "higher" if mode == "max" else "lower"
    return name, f"test {LABELS.get(name, name)} ({better} is better)", mode


def curve_metric(curves: pd.DataFrame) -> str:
    for col in ("val_suboptimality", "val_loss"):
        if col in curves and curves[col].notna().any():
            return col
    return "train_loss"


def in_report_order(runs: pd.DataFrame, *, baseline: str = BASELINE) -> pd.DataFrame:
    """``runs`` with the baseline's rows first, then the registry's optimizers in registry
    order, then any other by name: the order of the results table and of every plot."""
    from raybench import optimizers

    order = {name: i for i, name in enumerate([baseline, *optimizers.names()])}
    runs = runs.assign(_order=runs["optimizer"].map(lambda o: order.get(o, len(order))))
    return runs.sort_values(["_order", "optimizer"], kind="stable").drop(columns="_order")


def evaluation_before(runs: pd.DataFrame, steps: pd.Series, curves: pd.DataFrame | None) -> np.ndarray:
    """The step of the evaluation before the one at which each run's target was seen met: the
    largest step of its curve below ``steps`` (its steps to target), 0 where none is known. A
    run's steps to target are known only to lie in (that, ``steps``]."""
    known = pd.DataFrame(columns=["run_id", "step"]) if curves is None or curves.empty or "run_id" not in runs \
        else curves[curves["run_id"].isin(runs["run_id"])]
    by_run = {rid: np.sort(g["step"].astype(float).to_numpy()) for rid, g in known.groupby("run_id")}
    out = np.zeros(len(runs))
    for i, (rid, s) in enumerate(zip(runs.get("run_id", pd.Series([None] * len(runs))), steps, strict=True)):
        evals = by_run.get(rid)
        if evals is not None and math.isfinite(s):
            below = evals[evals < s]
            out[i] = float(below[-1]) if below.size else 0.0
    return out


UNRESOLVED = "unresolved at this evaluation interval"
"""A speed whose evaluation spacing alone allows both faster and slower than the baseline."""


def table(runs: pd.DataFrame, *, baseline: str = BASELINE, n_boot: int = 2000,
          curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (problem, optimizer); see the module docstring for the columns. ``curves``
    give each run's evaluation steps, so that steps to target are intervals (without them each
    is taken as exact, as a caller that passes none has no evaluation steps to say otherwise).
    (``n_boot`` is unused since the intervals are order-statistic ones; kept for callers.)"""
    runs = in_report_order(runs, baseline=baseline)
    # A run that is not ok never reached the target, whatever it saw before it diverged or failed.
    steps = runs["steps_to_target"].astype(float).fillna(math.inf).where(runs["status"] == "ok", math.inf)
    runs = runs.assign(_steps=steps, _reached_low=steps.to_numpy() if curves is None
                       else evaluation_before(runs, steps, curves))
    rows: list[dict[str, Any]] = []
    for problem, prun in runs.groupby("problem", sort=True):
        name, label, mode = headline(prun)
        prun = prun.assign(_headline=results.metric(prun, "test", name))
        col = "_headline"
        # A run that is not applicable (the optimizer has nothing to act on in this model) never
        # trained: it has no speed and no metric, is paired with nothing and counted apart.
        na_counts = prun.loc[prun["status"] == "not_applicable", "optimizer"].value_counts()
        order = list(dict.fromkeys(prun["optimizer"]))
        prun = prun[prun["status"] != "not_applicable"]
        base = prun[prun["optimizer"] == baseline].set_index("seed")[["_steps", "_reached_low"]]
        base_ok = prun[(prun["optimizer"] == baseline) & (prun["status"] == "ok")].set_index("seed")
        first = len(rows)
        for opt in order:
            orun, na = prun[prun["optimizer"] == opt], int(na_counts.get(opt, 0))
            ok = orun[orun["status"] == "ok"]
            vals = ok[col].astype(float).dropna()
            row: dict[str, Any] = {
                "problem": problem, "optimizer": opt,
                "lr_chosen": lr_chosen(orun["hparam_source"]) if "hparam_source" in orun else "-",
                "metric": label, "mode": mode,
                "mean": float(vals.mean()) if len(vals) else math.nan,
                "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
                "runs": len(orun), "not_applicable": na, "ok": int((orun["status"] == "ok").sum()),
                "diverged": int((orun["status"] == "diverged").sum()),
                "failed": int((orun["status"] == "failed").sum()),
                "reached_target": int(orun["converged"].fillna(False).astype(bool).sum()),
                **_reaches(orun),
                "median_steps_to_target": float(orun["steps_to_target"].median()),
                "median_grad_evals_to_target": float(orun["grad_evals_to_target"].median()),
                "median_wall_seconds": float(orun["wall_seconds"].median()) if "wall_seconds" in orun else math.nan,
            }
            ratios, bounds = [], []
            both_missed = 0
            for seed, steps, low in orun[["seed", "_steps", "_reached_low"]].itertuples(index=False):
                if seed in base.index:
                    b, b_low = (float(x) for x in base.loc[seed, ["_steps", "_reached_low"]])
                    r = stats.speed_ratio(b, float(steps))
                    bound = stats.speed_ratio_bounds((b_low, b), (float(low), steps))
                    if math.isnan(r) or math.isnan(bound[0]):
                        both_missed += 1
                    else:
                        ratios.append(r)
                        bounds.append(bound)
            med = stats.median_ci(ratios)[0]
            lo, hi, res_lo, res_hi = stats.speed_interval(bounds)
            if len(bounds) < 6:  # no distribution-free 95% interval for a median (stats.median_ci)
                lo, hi = -math.inf, math.inf
            row.update({f"speed_vs_{baseline}": med, "ci_low": lo, "ci_high": hi,
                        "resolution_low": res_lo, "resolution_high": res_hi,
                        "unresolved": bool(res_lo < 1.0 < res_hi) if bounds else False,
                        "paired_seeds": len(ratios), "both_missed": both_missed})
            # Headline metric minus the baseline's on the same seed (both ok): "within x% of Adam".
            diffs = [float(v) - float(base_ok.at[seed, col]) for seed, v in ok.set_index("seed")[col].items()
                     if seed in base_ok.index and col in base_ok]
            dmed, dlo, dhi = stats.median_ci(diffs)
            row.update({f"diff_vs_{baseline}": dmed, "diff_ci_low": dlo, "diff_ci_high": dhi})
            rows.append(row)
        _mark_best(rows[first:], mode)
    return pd.DataFrame(rows)


def _reaches(orun: pd.DataFrame) -> dict[str, Any]:
    """``reaches`` / ``reaches_p``: the target reached across seeds by ``calibration.reaches``
    (a one-sided t-test of the seeds' final validation values at p < 0.001); ``None`` / nan where
    the runs carry no target or are fewer than 2."""
    from raybench import calibration

    if not {"target_metric", "target_mode", "target_threshold"} <= set(orun) or orun["target_metric"].isna().all() \
            or orun["target_threshold"].isna().any() or orun["target_mode"].nunique() != 1:
        return {"reaches": None, "reaches_p": math.nan}
    verdict, p = calibration.reaches(calibration.final_values(orun), float(orun["target_threshold"].iloc[0]),
                                     str(orun["target_mode"].iloc[0]), ok=(orun["status"] == "ok").tolist())
    return {"reaches": verdict, "reaches_p": p}


def _mark_best(rows: list[dict[str, Any]], mode: str) -> None:
    """``best`` is True for the optimizer(s) with the best mean headline metric of a problem."""
    means = [r["mean"] for r in rows if math.isfinite(r["mean"])]
    top = (max(means) if mode == "max" else min(means)) if means else math.nan
    for r in rows:
        r["best"] = bool(means) and r["mean"] == top


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.{digits}g}"


def _reaches_text(d: dict[str, Any]) -> str:
    verdict = d.get("reaches")
    if verdict is None or (isinstance(verdict, float) and math.isnan(verdict)):
        return ""
    return f"; {'reaches' if verdict else 'not shown to reach'} (p {_fmt(d['reaches_p'], 2)})"


def results_section(tbl: pd.DataFrame, *, baseline: str = BASELINE) -> Section:
    """The results table (``table``) as text: one row of cells per row of ``tbl``, best rows
    marked, as ``report.md`` and ``index.html`` both show it."""
    speed = f"speed_vs_{baseline}"
    header = ("problem", "optimizer", "lr chosen", "metric", "mean +- std (* best)",
              f"speed vs {baseline} [95% CI] (paired seeds)", f"{baseline} paired diff [95% CI]",
              "reached target", "ok / diverged / failed")
    rows = []
    for r in tbl.itertuples(index=False):
        d = r._asdict()
        if d.get("not_applicable") and not d["runs"]:
            rows.append((str(d["problem"]), str(d["optimizer"]), str(d.get("lr_chosen", "-")), str(d["metric"]),
                         "n/a: not applicable", "-", "-", "-", f"{d['not_applicable']} not applicable"))
            continue
        if not d["paired_seeds"]:
            sp = f"- ({d['both_missed']} both missed)"
        elif math.isinf(d[speed]):
            sp = f"inf: {baseline} missed ({d['paired_seeds']})"
        else:
            sp = f"{_fmt(d[speed], 3)}x [{_fmt(d['ci_low'], 3)}, {_fmt(d['ci_high'], 3)}] ({d['paired_seeds']})"
            if d.get("unresolved") and d["optimizer"] != baseline:
                sp += f", {UNRESOLVED}"
        rows.append((
            str(d["problem"]), str(d["optimizer"]), str(d.get("lr_chosen", "-")), str(d["metric"]),
            f"{_fmt(d['mean'])} +- {_fmt(d['std'], 2)}{' *' if d['best'] else ''}", sp,
            f"{_fmt(d['diff_vs_' + baseline], 3)} [{_fmt(d['diff_ci_low'], 2)}, {_fmt(d['diff_ci_high'], 2)}]",
            f"{d['reached_target']}/{d['runs']}{_reaches_text(d)}", f"{d['ok']} / {d['diverged']} / {d['failed']}"))
    best = tuple(bool(b) for b in tbl["best"]) if "best" in tbl else ()
    return Section("Results", header, tuple(rows), best=best)


def scores_section(prof: profile.Profile, also: profile.Profile | None = None) -> Section:
    """The AlgoPerf score table, with one line saying how it was computed and which problems
    were left out; ``also``, a profile on another cost, adds its score as a column."""
    def words(p: profile.Profile) -> str:
        return p.cost.removesuffix("_to_target").replace("_", " ")

    n = int(prof.scores["problems"].max()) if len(prof.scores) else 0
    rule = f"Score: {prof.rule}; {n} problems."
    if prof.excluded:
        rule += f" Excluded (no optimizer reached the target): {', '.join(prof.excluded)}."
    header = ["optimizer", f"score on {words(prof)}", f"problems within {prof.tau_max:g}x of the fastest",
              "problems reached"]
    extra: dict[str, float] = {}
    if also is not None:
        header.append(f"score on {words(also)}")
        extra = dict(zip(also.scores["optimizer"], also.scores["score"], strict=True))
    rows = []
    for r in prof.scores.itertuples(index=False):
        row = [str(r.optimizer), f"{r.score:.3f}", f"{r.within_tau_max}/{r.problems}", f"{r.reached}/{r.problems}"]
        if also is not None:
            row.append(f"{extra[r.optimizer]:.3f}" if r.optimizer in extra else "-")
        rows.append(tuple(row))
    return Section("AlgoPerf scores", tuple(header), tuple(rows), text=rule)


CURVE_COSTS = ("grad_evals", "wall_seconds")
"""The curves' costs besides the step, each also an x-axis of a band (median over seeds)."""


def curve_bands(curves: pd.DataFrame, runs: pd.DataFrame) -> tuple[Curves, ...]:
    """Per problem, the curve metric's median and interquartile band over seeds per optimizer
    (a seed's last value carried forward over steps it did not evaluate), and at each step the
    median over seeds of the gradient evaluations and wall seconds spent (where recorded)."""
    out = []
    meta = runs[["run_id", "problem", "optimizer", "seed"]]
    wanted = ["run_id", "step", *CURVE_COSTS, "val_suboptimality", "val_loss", "train_loss"]
    merged = curves[[c for c in wanted if c in curves]].merge(meta, on="run_id", how="inner")
    for problem, pc in merged.groupby("problem", sort=False):
        metric = curve_metric(pc)
        costs = [c for c in CURVE_COSTS if c in pc and pc[c].notna().any()]
        bands = []
        for opt, oc in pc.groupby("optimizer", sort=False):
            # One pass: per (step, seed) the last value of the metric and of each cost.
            wide = oc[["step", "seed", metric, *costs]].groupby(["step", "seed"]).last().unstack("seed").sort_index()
            values = wide[metric].dropna(how="all")
            q = values.ffill().quantile([0.25, 0.5, 0.75], axis=1).T
            at = {c: wide[c].reindex(q.index).median(axis=1).to_numpy(dtype=float) if c in costs else None
                  for c in CURVE_COSTS}
            bands.append(Band(str(opt), q.index.to_numpy(), q[0.25].to_numpy(), q[0.5].to_numpy(),
                              q[0.75].to_numpy(), grad_evals=at["grad_evals"], seconds=at["wall_seconds"]))
        out.append(Curves(str(problem), metric, int(pc["seed"].nunique()), tuple(bands)))
    return tuple(out)


def end_results(runs: pd.DataFrame, *, baseline: str = BASELINE) -> tuple[EndResults, ...]:
    """Per problem, every ok run's headline test metric per optimizer, and each paired with the
    ``baseline``'s on the same seed (both ok): the boxplots relative to the reference."""
    out = []
    for problem, prun in in_report_order(runs, baseline=baseline).groupby("problem", sort=True):
        name, label, _ = headline(prun)
        ok = prun[prun["status"] == "ok"]
        ok = ok.assign(_value=results.metric(ok, "test", name).astype(float))
        ok = ok[ok["_value"].notna()]
        base = ok[ok["optimizer"] == baseline].groupby("seed")["_value"].first()
        values, paired = {}, {}
        for opt, orun in ok.groupby("optimizer", sort=False):
            values[str(opt)] = orun["_value"].to_numpy(dtype=float)
            both = orun[orun["seed"].isin(base.index)]
            paired[str(opt)] = np.column_stack([both["_value"].to_numpy(dtype=float),
                                                base.reindex(both["seed"]).to_numpy(dtype=float)])
        out.append(EndResults(str(problem), label, baseline, values, paired))
    return tuple(out)


PROFILE_COSTS = ("steps_to_target", "grad_evals_to_target")
"""Dolan-Moré profiles are drawn on both: gradient evaluations are the fair cost for L-BFGS,
whose steps call the gradient several times."""


def profile_panels(runs: pd.DataFrame) -> tuple[ProfilePanel, ...]:
    """Dolan-Moré performance profiles over every (problem, seed) instance that every optimizer
    ran (never reaching the target counts as infinite cost), one per ``PROFILE_COSTS``."""
    taus = np.logspace(0, 3, 200)
    panels = []
    for cost in PROFILE_COSTS:
        wide = runs.pivot_table(index=["problem", "seed"], columns="optimizer", values=cost, aggfunc="first")
        wide = wide.dropna()  # instances every optimizer ran (inf = never reached, kept)
        fractions = ({} if wide.empty else
                     stats.performance_profile({o: wide[o].tolist() for o in wide.columns}, taus))
        panels.append(ProfilePanel(cost, len(wide), taus, {str(o): np.asarray(y) for o, y in fractions.items()}))
    return tuple(panels)


def build(runs: pd.DataFrame, curves: pd.DataFrame | None = None, *, source: str = "",
          baseline: str = BASELINE, sections: Sequence[Section] = (), n_boot: int = 2000,
          tuning: tuning_report.Tables | None = None) -> Report:
    """The report of a runs table and its curves (``raybench.results.read``): the results
    table, the AlgoPerf scores on steps and on gradient evaluations, the curves' bands, the
    performance profiles, every optimizer's colour, and the caller's ``sections`` after the
    scores. ``source`` names the results folder. Runs of one name made by different code are
    told apart first (``raybench.identity.split_by_code``: the older code's runs are named
    ``NAME@CODE``), and the summary lists the raybench versions the runs were made by.
    ``tuning``, the folder's tuning tables (``raybench.tuning_report.read``), adds the "Tuning"
    and "Tuning budgets" sections last and the tuning budgets' plots, where they apply."""
    from raybench import identity, optimizers, step_budgets

    tuned: tuple[Section, ...] = ()
    budget_plots: tuple[TuningBudgets, ...] = ()
    if tuning is not None:  # on the runs as recorded: their names are the tuning tables' names
        tuned, budget_plots = tuning_report.parts(runs, tuning, order=[baseline, *optimizers.names()])
    runs, renamed = identity.split_by_code(runs)
    budgets = step_budgets.section(runs, reference=baseline, headline=headline)
    if budgets is not None:  # the other tables take each budget of a problem as its own problem
        runs, sections = step_budgets.label(runs), (*sections, budgets)
    tbl = table(runs, baseline=baseline, n_boot=n_boot, curves=curves)
    prof = profile.profile(runs)
    # The same score on gradient evaluations: L-BFGS's line search spends several per step.
    prof_grad = profile.profile(runs, cost="grad_evals_to_target")
    scores = prof.scores.merge(prof_grad.scores[["optimizer", "score"]].rename(columns={"score": "score_grad_evals"}),
                               on="optimizer", how="left")
    summary = (f"{len(runs)} runs, {runs['problem'].nunique()} problems, "
               f"{runs['optimizer'].nunique()} optimizers, seeds {sorted(runs['seed'].unique().tolist())}.\n"
               f"Metric: mean +- sample std over ok runs. Speed: {baseline}'s steps-to-target over the "
               f"optimizer's, paired by seed: median with its 95% Hettmansperger-Sheather interval (none, [-inf, inf], below 6 paired seeds; a run's steps to target are read at evaluations). lr chosen: default (registry), "
               f"given (suite or --hparam), tuned (--tune-lr), mixed (seeds differ).")
    made_by = identity.versions(runs)
    if made_by:
        summary += "\nMade by: " + "; ".join(made_by) + "."
    if renamed:
        summary += "\n" + " ".join(f"{line}." for line in renamed)
    na = runs[runs["status"] == "not_applicable"].groupby("optimizer")["problem"].unique()
    if len(na):
        summary += ("\nNot applicable (never trained; in the AlgoPerf score they count as never reaching the "
                    "target, as a workload a submission cannot run does): "
                    + "; ".join(f"{opt} on {', '.join(sorted(map(str, probs)))}" for opt, probs in na.items()) + ".")
    return Report(
        title=TITLE, source=source, version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        summary=summary, results=results_section(tbl, baseline=baseline), scores=scores_section(prof, prof_grad),
        table=tbl, score_table=scores, algoperf=prof,
        curves=curve_bands(curves, runs) if curves is not None and not curves.empty else (),
        profiles=profile_panels(runs),
        colours={o: optimizer_colour(o) for o in dict.fromkeys(
            [*map(str, runs["optimizer"].unique()), *(o for p in budget_plots for o in p.score)])},
        sections=(*sections, *tuned), baseline=baseline, ends=end_results(runs, baseline=baseline),
        tuning_budgets=budget_plots)


def plot_algoperf_profile(prof: profile.Profile, folder: Path) -> Path | None:
    """``algoperf_profile.png`` of ``prof`` in ``folder``, every optimizer in its colour."""
    colours = {str(o): optimizer_colour(str(o)) for o in prof.scores["optimizer"]}
    return report_png.algoperf_profile(prof, colours, Path(folder))


def installed_sections(folder: str) -> list[Section]:
    """The sections the installed ``SECTION_GROUP`` providers find in results folder ``folder``
    (the research summary's claims, where ``raybench.reproduce`` wrote them), by provider name."""
    from importlib import metadata

    found = []
    for ep in sorted(metadata.entry_points(group=SECTION_GROUP), key=lambda e: e.name):
        section = ep.load()(folder)
        if section is not None:
            found.append(section)
    return found


def make_report(folder: str, *, baseline: str = BASELINE, plots: bool = True, out_dir: str | None = None,
                sections: Sequence[Section] = ()) -> dict[str, Any]:
    """Build the report of a results folder (local or URI) and write it into ``out_dir``
    (default: the folder itself): ``report.md``, ``report.csv``, ``scores.csv``, the plots
    (unless ``plots`` is false or the folder has no curves) and ``index.html``, with
    ``sections`` after the scores. Returns the model (``report``), the results table, the
    tables as Markdown and the paths written."""
    runs, curves = results.read(folder)
    if runs.empty:
        raise results.ResultsError(f"{folder} holds no runs (expected {folder}/runs/*.parquet)")
    out = Path(out_dir or folder.removeprefix("file://"))
    out.mkdir(parents=True, exist_ok=True)
    rep = build(runs, curves, source=folder, baseline=baseline, sections=sections,
                tuning=tuning_report.read(folder))
    (out / "report.md").write_text(report_markdown.markdown(rep))
    csv_path, scores_path = report_csv.write_csv(rep, out)
    pngs = report_png.write_png(rep, out) if plots and not curves.empty else []
    html_path = html_report.write_html(out, rep)  # draws its own plots, interactive
    return {"report": rep, "table": rep.table, "markdown": report_markdown.tables(rep), "md_path": out / "report.md",
            "csv_path": csv_path, "scores": rep.score_table, "scores_path": scores_path, "plots": pngs,
            "html_path": html_path}
