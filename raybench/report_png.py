"""The report's plots as PNG: ``curves_<problem>.png`` (median and interquartile band over
seeds), ``performance_profile.png`` (Dolan-Moré, per (problem, seed)),
``algoperf_profile.png`` (the scored profile, per problem) and, where external tuning was scored
at several tuning budgets, ``tuning_budgets.png``. Every plot draws an optimizer in the colour
the model gives it. Renders a ``raybench.report_model.Report``; matplotlib (Agg) is
imported when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from raybench.report_model import Curves, Profile, ProfilePanel, Report, TuningBudgets

DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def curves(problem: Curves, colours: Mapping[str, str], folder: Path) -> Path:
    """``curves_<problem>.png``: each optimizer's median and interquartile band over seeds, on a
    log scale when every value drawn is positive."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    positive = True
    for band in problem.bands:
        positive &= bool(all((np.asarray(q) > 0).all() for q in (band.low, band.median, band.high)))
        colour = colours.get(band.optimizer)
        ax.plot(band.steps, band.median, label=band.optimizer, lw=1.5, color=colour)
        ax.fill_between(band.steps, band.low, band.high, color=colour, alpha=0.2, lw=0)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(problem.metric.replace("_", " "))
    ax.set_title(f"{problem.problem}: median and IQR over {problem.seeds} seeds")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return _save(fig, folder / f"curves_{problem.problem}.png")


def performance_profile(panels: tuple[ProfilePanel, ...], colours: Mapping[str, str], folder: Path) -> Path | None:
    """``performance_profile.png``: one panel per cost (steps, then gradient evaluations, the fair
    one for L-BFGS); ``None`` when no panel has an instance every optimizer ran."""
    if not any(p.instances for p in panels):
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 4.5), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, panel in zip(axes, panels, strict=True):
        if not panel.instances:
            continue
        for opt, ys in panel.fractions.items():
            ax.step(panel.taus, ys, where="post", label=opt, color=colours.get(opt))
        words = panel.cost.replace("_", " ")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"tau: within a factor tau of the best {words}")
        ax.set_title(f"{words}, {panel.instances} (problem, seed) instances", fontsize=10)
    axes[0].set_ylabel("fraction of instances")
    axes[-1].legend(fontsize=8, ncol=2)
    fig.suptitle("Performance profiles (never reaching the target counts as infinite cost)")
    fig.tight_layout()
    return _save(fig, folder / "performance_profile.png")


def algoperf_profile(prof: Profile, colours: Mapping[str, str], folder: Path) -> Path | None:
    """``algoperf_profile.png``: rho_s(tau) per optimizer over problems, tau in [1, tau_max], the
    score (normalised area) in the legend; ``None`` when no problem was scored."""
    if prof.scores.empty or not int(prof.scores["problems"].max()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for r in prof.scores.itertuples(index=False):
        ax.step(prof.curves["tau"], prof.curves[r.optimizer], where="post", lw=1.5,
                color=colours.get(str(r.optimizer)), label=f"{r.optimizer} ({r.score:.3f})")
    ax.set_xlim(1, prof.tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"tau: within a factor tau of the fastest median {prof.cost.replace('_', ' ')}")
    ax.set_ylabel("fraction of problems")
    excluded = f"; {len(prof.excluded)} unsolved excluded" if prof.excluded else ""
    ax.set_title(f"AlgoPerf performance profile over {int(prof.scores['problems'].max())} problems"
                 f"{excluded}\n(legend: score = normalised area up to tau = {prof.tau_max:g})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="score", title_fontsize=8)
    fig.tight_layout()
    return _save(fig, folder / "algoperf_profile.png")


def tuning_budgets(plots: tuple[TuningBudgets, ...], colours: Mapping[str, str], folder: Path) -> Path | None:
    """``tuning_budgets.png``: one row per problem, each optimizer's time to target (left; a
    budget where it was not reached is an x at the top) and chosen validation score (right)
    against the tuning budget K; ``None`` when there is none to draw."""
    if not plots:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(plots), 2, figsize=(11, 3.4 * len(plots)), squeeze=False)
    for (left, right), plot in zip(axes, plots, strict=True):
        ks = np.asarray(plot.budgets, dtype=float)
        for opt, score in plot.score.items():
            colour = colours.get(opt)
            drawn = np.where(np.isfinite(score), score, np.nan)
            left.plot(ks, drawn, marker="o", lw=1.5, color=colour, label=opt)
            missed = np.isinf(score) & (score > 0)
            if missed.any():  # not reached: at the top of the panel, whatever its scale
                left.plot(ks[missed], [1.0] * int(missed.sum()), "x", color=colour, ms=8, clip_on=False,
                          transform=left.get_xaxis_transform())
            right.plot(ks, plot.val_score[opt], marker="o", lw=1.5, color=colour, label=opt)
        for ax in (left, right):
            ax.set_xticks(ks)
            ax.set_xlabel("tuning budget K (trials per study)")
        left.set_ylabel("time to target (steps)")
        left.set_title(f"{plot.problem}: time to target (x at the top: not reached)", fontsize=10)
        right.set_ylabel(plot.val_label, fontsize=8)
        right.set_title(f"{plot.problem}: end result of the chosen trial", fontsize=10)
        right.legend(fontsize=8)
    fig.suptitle("External tuning against the tuning budget")
    fig.tight_layout()
    return _save(fig, folder / "tuning_budgets.png")


def write_png(report: Report, folder: Path) -> list[Path]:
    """Every plot of ``report`` into ``folder``: the curves of each problem, then the two
    profiles and the tuning budgets (each where there is something to draw); the paths written,
    in that order."""
    paths = [curves(c, report.colours, folder) for c in report.curves]
    for path in (performance_profile(report.profiles, report.colours, folder),
                 algoperf_profile(report.algoperf, report.colours, folder),
                 tuning_budgets(report.tuning_budgets, report.colours, folder)):
        if path is not None:
            paths.append(path)
    return paths
