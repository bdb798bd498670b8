"""The report: the research summary's kind of results table, with plots, from a results folder.

For each problem x optimizer:
- the problem's headline metric on the test split (the first metric the problem declares, with
  its direction: test accuracy, higher is better; test f - f*, lower is better; ...) as mean
  +- std over the runs that finished ``ok``, and which optimizer is best on it (``best``);
- convergence speed against the baseline (Adam), paired by seed: Adam's steps-to-target over
  the optimizer's, median over seeds with a 95% bootstrap CI (seeds where neither reached the
  target carry no information and are counted as ``both_missed``);
- the headline metric's paired difference from the baseline (same seed, both ok), median with
  a 95% bootstrap CI: how "within x% of Adam" is measured;
- how many runs were ok / diverged / failed, and how many reached the target;
- how its learning rate was chosen (``lr_chosen``): ``default`` (the registry's), ``given``
  (in the suite or on the command line), ``tuned`` (``--tune-lr``), ``mixed`` if seeds differ.

Beside the table, the AlgoPerf score of each optimizer (``raybench.profile``): the normalised
area under its performance profile over problems, on steps to target, up to tau = 4; and the
same score on gradient evaluations to target.

Writes ``report.md``, ``report.csv``, ``scores.csv``, ``curves_<problem>.png`` (median and
interquartile band over seeds), ``performance_profile.png`` (Dolan-Moré, per (problem, seed))
and ``algoperf_profile.png`` (the scored profile, per problem) into the folder, and all of it
as one self-contained page, ``index.html`` (``raybench.html_report``). Every plot draws an
optimizer in the same colour (``optimizer_colour``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raybench import profile, results, stats

BASELINE = "adam"

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


def table(runs: pd.DataFrame, *, baseline: str = BASELINE, n_boot: int = 2000) -> pd.DataFrame:
    """One row per (problem, optimizer); see the module docstring for the columns."""
    from raybench import optimizers

    order = {name: i for i, name in enumerate([baseline, *optimizers.names()])}
    runs = runs.assign(_order=runs["optimizer"].map(lambda o: order.get(o, len(order))))
    runs = runs.sort_values(["_order", "optimizer"], kind="stable")
    rows: list[dict[str, Any]] = []
    for problem, prun in runs.groupby("problem", sort=True):
        name, label, mode = headline(prun)
        prun = prun.assign(_headline=results.metric(prun, "test", name))
        col = "_headline"
        base = prun[prun["optimizer"] == baseline].set_index("seed")["steps_to_target"]
        base_ok = prun[(prun["optimizer"] == baseline) & (prun["status"] == "ok")].set_index("seed")
        first = len(rows)
        for opt, orun in prun.groupby("optimizer", sort=False):
            ok = orun[orun["status"] == "ok"]
            vals = ok[col].astype(float).dropna()
            row: dict[str, Any] = {
                "problem": problem, "optimizer": opt,
                "lr_chosen": lr_chosen(orun["hparam_source"]) if "hparam_source" in orun else "-",
                "metric": label, "mode": mode,
                "mean": float(vals.mean()) if len(vals) else math.nan,
                "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
                "runs": len(orun), "ok": int((orun["status"] == "ok").sum()),
                "diverged": int((orun["status"] == "diverged").sum()),
                "failed": int((orun["status"] == "failed").sum()),
                "reached_target": int(orun["converged"].fillna(False).astype(bool).sum()),
                "median_steps_to_target": float(orun["steps_to_target"].median()),
                "median_grad_evals_to_target": float(orun["grad_evals_to_target"].median()),
                "median_wall_seconds": float(orun["wall_seconds"].median()) if "wall_seconds" in orun else math.nan,
            }
            ratios = []
            both_missed = 0
            for seed, steps in orun.set_index("seed")["steps_to_target"].items():
                if seed in base.index:
                    r = stats.speed_ratio(float(base[seed]), float(steps))
                    if math.isnan(r):
                        both_missed += 1
                    else:
                        ratios.append(r)
            med, lo, hi = stats.bootstrap_median_ci(ratios, n_boot=n_boot)
            row.update({f"speed_vs_{baseline}": med, "ci_low": lo, "ci_high": hi,
                        "paired_seeds": len(ratios), "both_missed": both_missed})
            # Headline metric minus the baseline's on the same seed (both ok): "within x% of Adam".
            diffs = [float(v) - float(base_ok.at[seed, col]) for seed, v in ok.set_index("seed")[col].items()
                     if seed in base_ok.index and col in base_ok]
            dmed, dlo, dhi = stats.bootstrap_median_ci(diffs, n_boot=n_boot)
            row.update({f"diff_vs_{baseline}": dmed, "diff_ci_low": dlo, "diff_ci_high": dhi})
            rows.append(row)
        _mark_best(rows[first:], mode)
    return pd.DataFrame(rows)


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


def cells(tbl: pd.DataFrame, *, baseline: str = BASELINE) -> tuple[list[str], list[list[str]]]:
    """The report table as text: its header and one list of cells per row of ``tbl``, as
    ``report.md`` and ``index.html`` both show them."""
    speed = f"speed_vs_{baseline}"
    header = ["problem", "optimizer", "lr chosen", "metric", "mean +- std (* best)",
              f"speed vs {baseline} [95% CI] (paired seeds)", f"{baseline} paired diff [95% CI]",
              "reached target", "ok / diverged / failed"]
    rows = []
    for r in tbl.itertuples(index=False):
        d = r._asdict()
        if not d["paired_seeds"]:
            sp = f"- ({d['both_missed']} both missed)"
        elif math.isinf(d[speed]):
            sp = f"inf: {baseline} missed ({d['paired_seeds']})"
        else:
            sp = f"{_fmt(d[speed], 3)}x [{_fmt(d['ci_low'], 3)}, {_fmt(d['ci_high'], 3)}] ({d['paired_seeds']})"
        rows.append([
            str(d["problem"]), str(d["optimizer"]), str(d.get("lr_chosen", "-")), str(d["metric"]),
            f"{_fmt(d['mean'])} +- {_fmt(d['std'], 2)}{' *' if d['best'] else ''}", sp,
            f"{_fmt(d['diff_vs_' + baseline], 3)} [{_fmt(d['diff_ci_low'], 2)}, {_fmt(d['diff_ci_high'], 2)}]",
            f"{d['reached_target']}/{d['runs']}", f"{d['ok']} / {d['diverged']} / {d['failed']}"])
    return header, rows


def markdown(tbl: pd.DataFrame, *, baseline: str = BASELINE) -> str:
    header, rows = cells(tbl, baseline=baseline)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_curves(curves: pd.DataFrame, runs: pd.DataFrame, folder: Path) -> list[Path]:
    """One PNG per problem: median and interquartile band over seeds of the curve metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    meta = runs[["run_id", "problem", "optimizer", "seed"]]
    merged = curves.merge(meta, on="run_id", how="inner")
    for problem, pc in merged.groupby("problem", sort=False):
        metric = curve_metric(pc)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        positive = True
        for opt, oc in pc.groupby("optimizer", sort=False):
            pivot = oc.pivot_table(index="step", columns="seed", values=metric, aggfunc="last").sort_index()
            pivot = pivot.ffill()
            q = pivot.quantile([0.25, 0.5, 0.75], axis=1).T
            positive &= bool((q > 0).all().all())
            colour = optimizer_colour(str(opt))
            ax.plot(q.index, q[0.5], label=opt, lw=1.5, color=colour)
            ax.fill_between(q.index, q[0.25], q[0.75], color=colour, alpha=0.2, lw=0)
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(metric.replace("_", " "))
        n_seeds = pc["seed"].nunique()
        ax.set_title(f"{problem}: median and IQR over {n_seeds} seeds")
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        path = folder / f"curves_{problem}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_profile(runs: pd.DataFrame, folder: Path) -> Path | None:
    """Dolan-Moré performance profiles over every (problem, seed) instance.

    Two panels: cost in steps to target and in gradient evaluations to target (the fair one
    for L-BFGS, whose steps call the gradient several times).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    costs = ("steps_to_target", "grad_evals_to_target")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    taus = np.logspace(0, 3, 200)
    drawn = False
    for ax, cost in zip(axes, costs, strict=True):
        wide = runs.pivot_table(index=["problem", "seed"], columns="optimizer", values=cost, aggfunc="first")
        wide = wide.dropna()  # instances every optimizer ran (inf = never reached, kept)
        if wide.empty:
            continue
        drawn = True
        prof = stats.performance_profile({o: wide[o].tolist() for o in wide.columns}, taus)
        for opt, ys in prof.items():
            ax.step(taus, ys, where="post", label=opt, color=optimizer_colour(str(opt)))
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"tau: within a factor tau of the best {cost.replace('_', ' ')}")
        ax.set_title(f"{cost.replace('_', ' ')}, {len(wide)} (problem, seed) instances", fontsize=10)
    if not drawn:
        plt.close(fig)
        return None
    axes[0].set_ylabel("fraction of instances")
    axes[1].legend(fontsize=8, ncol=2)
    fig.suptitle("Performance profiles (never reaching the target counts as infinite cost)")
    fig.tight_layout()
    path = folder / "performance_profile.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_algoperf_profile(prof: profile.Profile, folder: Path) -> Path | None:
    """The scored profile: rho_s(tau) per optimizer over problems, tau in [1, tau_max], the
    score (normalised area) in the legend."""
    if prof.scores.empty or not int(prof.scores["problems"].max()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for r in prof.scores.itertuples(index=False):
        ax.step(prof.curves["tau"], prof.curves[r.optimizer], where="post", lw=1.5,
                color=optimizer_colour(str(r.optimizer)), label=f"{r.optimizer} ({r.score:.3f})")
    ax.set_xlim(1, prof.tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"tau: within a factor tau of the fastest median {prof.cost.replace('_', ' ')}")
    ax.set_ylabel("fraction of problems")
    excluded = f"; {len(prof.excluded)} unsolved excluded" if prof.excluded else ""
    ax.set_title(f"AlgoPerf performance profile over {int(prof.scores['problems'].max())} problems"
                 f"{excluded}\n(legend: score = normalised area up to tau = {prof.tau_max:g})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="score", title_fontsize=8)
    fig.tight_layout()
    path = folder / "algoperf_profile.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_report(folder: str, *, baseline: str = BASELINE, plots: bool = True,
                out_dir: str | None = None) -> dict[str, Any]:
    """Build the table and plots of a results folder (local or URI) into ``out_dir``
    (default: the folder itself); returns the table and the paths written."""
    runs, curves = results.read(folder)
    if runs.empty:
        raise results.ResultsError(f"{folder} holds no runs (expected {folder}/runs/*.parquet)")
    out = Path(out_dir or folder.removeprefix("file://"))
    out.mkdir(parents=True, exist_ok=True)
    tbl = table(runs, baseline=baseline)
    prof = profile.profile(runs)
    # The same score on gradient evaluations: L-BFGS's line search spends several per step.
    prof_grad = profile.profile(runs, cost="grad_evals_to_target")
    md = markdown(tbl, baseline=baseline) + "\n" + profile.markdown(prof, also=prof_grad)
    summary = (f"{len(runs)} runs, {runs['problem'].nunique()} problems, "
               f"{runs['optimizer'].nunique()} optimizers, seeds {sorted(runs['seed'].unique().tolist())}.\n"
               f"Metric: mean +- sample std over ok runs. Speed: {baseline}'s steps-to-target over the "
               f"optimizer's, paired by seed, median with 95% bootstrap CI. lr chosen: default (registry), "
               f"given (suite or --hparam), tuned (--tune-lr), mixed (seeds differ).")
    (out / "report.md").write_text(f"# raybench report\n\n{summary}\n\n" + md)
    tbl.to_csv(out / "report.csv", index=False)
    scores = prof.scores.merge(prof_grad.scores[["optimizer", "score"]].rename(columns={"score": "score_grad_evals"}),
                               on="optimizer", how="left")
    scores.to_csv(out / "scores.csv", index=False)
    pngs: list[Path] = []
    if plots and not curves.empty:
        pngs = plot_curves(curves, runs, out)
        for path in (plot_profile(runs, out), plot_algoperf_profile(prof, out)):
            if path is not None:
                pngs.append(path)
    from raybench import html_report  # it renders this module's table: imported here, not at the top

    html_path = html_report.write_html(out, table=tbl, baseline=baseline, summary=summary,
                                       profiles=(prof, prof_grad), plots=pngs, source=folder)
    return {"table": tbl, "markdown": md, "md_path": out / "report.md", "csv_path": out / "report.csv",
            "scores": scores, "scores_path": out / "scores.csv", "plots": pngs, "html_path": html_path}
