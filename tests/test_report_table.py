"""``raybench.report.table`` on hand-made run rows whose right answers are worked out by hand:
paired speed ratios (never-converged runs kept as infinite, seeds both missed counted apart),
the headline metric's mean, std and paired difference, status counts, the best marker and how
each row's learning rate was chosen; and the cells ``report.md`` shows of it."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from raybench import report, report_markdown

INF = math.inf


def rows(optimizer: str, steps: list[float], acc: list[float], status: list[str] | None = None) -> list[dict]:
    status = status or ["ok"] * len(steps)
    return [{"problem": "p", "optimizer": optimizer, "seed": seed, "status": st,
             "steps_to_target": s, "grad_evals_to_target": s, "converged": math.isfinite(s),
             "wall_seconds": 1.0, "test_accuracy": a, "test_extra": None,
             "metric_modes": json.dumps({"accuracy": "max", "loss": "min"})}
            for seed, (s, a, st) in enumerate(zip(steps, acc, status, strict=True))]


@pytest.fixture
def table() -> pd.DataFrame:
    runs = pd.DataFrame(
        rows("adam", [100, 200, INF, INF], [0.80, 0.82, 0.70, 0.75])
        + rows("fast", [50, 100, 300, INF], [0.90, 0.86, 0.80, 0.85])
        + rows("slow", [400, INF, INF, 90], [0.60, 0.70, math.nan, 0.65], ["ok", "ok", "diverged", "ok"]))
    return report.table(runs, baseline="adam", n_boot=500).set_index("optimizer")


def test_paired_speed_ratios(table: pd.DataFrame) -> None:
    fast = table.loc["fast"]
    # per seed: 100/50 = 2, 200/100 = 2, adam missed and fast met -> inf; seed 3 both missed
    assert fast["speed_vs_adam"] == 2.0 and fast["paired_seeds"] == 3 and fast["both_missed"] == 1
    slow = table.loc["slow"]
    # per seed: 100/400 = 0.25, slow missed -> 0, both missed, adam missed and slow met -> inf
    assert slow["paired_seeds"] == 3 and slow["both_missed"] == 1
    assert slow["speed_vs_adam"] == 0.25  # median of (0, 0.25, inf)
    adam = table.loc["adam"]
    assert adam["speed_vs_adam"] == 1.0 and adam["both_missed"] == 2


def test_headline_metric_counts_and_best(table: pd.DataFrame) -> None:
    fast, slow = table.loc["fast"], table.loc["slow"]
    assert fast["metric"] == "test accuracy (higher is better)"
    assert fast["mean"] == pytest.approx((0.90 + 0.86 + 0.80 + 0.85) / 4)
    assert fast["std"] == pytest.approx(pd.Series([0.90, 0.86, 0.80, 0.85]).std())
    # paired differences from adam, same seed: 0.10, 0.04, 0.10, 0.10 -> median 0.10
    assert fast["diff_vs_adam"] == pytest.approx(0.10)
    # slow: the diverged run is left out of the mean and counted apart
    assert slow["mean"] == pytest.approx((0.60 + 0.70 + 0.65) / 3)
    assert (slow["ok"], slow["diverged"], slow["failed"], slow["runs"]) == (3, 1, 0, 4)
    assert fast["reached_target"] == 3 and slow["reached_target"] == 2
    assert table["best"].to_dict() == {"adam": False, "fast": True, "slow": False}


def test_markdown_marks_best_and_missed_baselines(table: pd.DataFrame) -> None:
    text = report_markdown.table(report.results_section(table.reset_index(), baseline="adam"))
    fast_line = next(line for line in text.splitlines() if line.startswith("| p | fast |"))
    assert " *" in fast_line and "2x" in fast_line
    assert "| reached target |" in text.splitlines()[0]


def test_lr_chosen_per_row() -> None:
    def sourced(optimizer: str, sources: list[str]) -> list[dict]:
        out = rows(optimizer, [100.0] * len(sources), [0.8] * len(sources))
        return [{**r, "hparam_source": src} for r, src in zip(out, sources, strict=True)]

    runs = pd.DataFrame(sourced("adam", ["tuned", "tuned"]) + sourced("fast", ["config", "config"])
                        + sourced("slow", ["default", "default"]) + sourced("odd", ["tuned", "default"]))
    tbl = report.table(runs, baseline="adam", n_boot=50).set_index("optimizer")
    assert tbl["lr_chosen"].to_dict() == {"adam": "tuned", "fast": "given", "slow": "default", "odd": "mixed"}
    text = report_markdown.table(report.results_section(tbl.reset_index(), baseline="adam"))
    assert "| lr chosen |" in text.splitlines()[0]
    assert any(line.startswith("| p | fast | given | test accuracy") for line in text.splitlines())
    # a folder written before hparam_source was recorded says so
    assert set(report.table(runs.drop(columns="hparam_source"), n_boot=50)["lr_chosen"]) == {"-"}


def _curves(runs: pd.DataFrame, every: int, last: int) -> pd.DataFrame:
    """Evaluations every ``every`` steps from 0 to ``last`` for every run."""
    return pd.DataFrame([{"run_id": rid, "step": s} for rid in runs["run_id"] for s in range(0, last + 1, every)])


def test_speed_is_an_interval_from_the_evaluations_and_a_tie_the_spacing_cannot_split_is_unresolved() -> None:
    """Evaluations every 10 steps, 6 seeds. adam meets the target at 40 (so somewhere in (30, 40]),
    "fast" at 20 (in (10, 20]): each ratio lies in [30/20, 40/10] = [1.5, 4], point 2. "same"
    meets it at 40 like adam: point 1, allowed [30/40, 40/30] = [0.75, 1.33], which holds both
    faster and slower: unresolved at this spacing, though every point ratio is exactly 1."""
    n = 6
    runs = pd.DataFrame(rows("adam", [40] * n, [0.8] * n) + rows("fast", [20] * n, [0.8] * n)
                        + rows("same", [40] * n, [0.8] * n))
    runs["run_id"] = runs["optimizer"] + runs["seed"].astype(str)
    tbl = report.table(runs, baseline="adam", curves=_curves(runs, 10, 100)).set_index("optimizer")
    fast, same = tbl.loc["fast"], tbl.loc["same"]
    assert fast["speed_vs_adam"] == 2.0 and (fast["ci_low"], fast["ci_high"]) == pytest.approx((1.5, 4.0))
    assert (fast["resolution_low"], fast["resolution_high"]) == pytest.approx((1.5, 4.0)) and not fast["unresolved"]
    assert same["speed_vs_adam"] == 1.0 and (same["ci_low"], same["ci_high"]) == pytest.approx((0.75, 40 / 30))
    assert same["unresolved"]
    text = report_markdown.table(report.results_section(tbl.reset_index(), baseline="adam"))
    line = next(ln for ln in text.splitlines() if ln.startswith("| p | same |"))
    assert "1x [0.75, 1.33] (6), unresolved at this evaluation interval" in line
    assert report.UNRESOLVED not in next(ln for ln in text.splitlines() if ln.startswith("| p | fast |"))
    # Denser evaluations (every step) resolve the tie to [39/40, 40/39] around 1 ...
    dense = report.table(runs, baseline="adam", curves=_curves(runs, 1, 100)).set_index("optimizer")
    assert (dense.loc["same", "ci_low"], dense.loc["same", "ci_high"]) == pytest.approx((39 / 40, 40 / 39))
    # ... and below 6 paired seeds there is no interval at all.
    five = report.table(runs[runs["seed"] < 5], baseline="adam", curves=_curves(runs, 10, 100)).set_index("optimizer")
    assert (five.loc["fast", "ci_low"], five.loc["fast", "ci_high"]) == (-INF, INF)


def test_a_run_that_is_not_ok_counts_as_never_reaching_the_target() -> None:
    runs = pd.DataFrame(rows("adam", [40] * 6, [0.8] * 6)
                        + rows("bad", [math.nan] * 6, [math.nan] * 6, ["diverged"] * 6))
    runs["run_id"] = runs["optimizer"] + runs["seed"].astype(str)
    bad = report.table(runs, baseline="adam").set_index("optimizer").loc["bad"]
    assert bad["speed_vs_adam"] == 0.0 and bad["paired_seeds"] == 6 and bad["both_missed"] == 0
    # ... even one that met the target before it diverged
    early = pd.DataFrame(rows("adam", [40] * 6, [0.8] * 6)
                         + rows("early", [20] * 6, [math.nan] * 6, ["diverged"] * 6))
    early["run_id"] = early["optimizer"] + early["seed"].astype(str)
    assert report.table(early, baseline="adam").set_index("optimizer").loc["early", "speed_vs_adam"] == 0.0
