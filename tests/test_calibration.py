"""Targets by calibration and the across-seeds rule for reaching one (``raybench.calibration``),
on hand-made runs whose right answers are worked out by hand; and the report's cell for it."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from raybench import calibration, report, report_markdown, stats


def test_t_cdf_matches_published_quantiles() -> None:
    # Student's t tables: t(0.975; 4) = 2.776, t(0.999; 9) = 4.297, t(0.95; 1) = 6.314
    assert stats.t_cdf(2.776, 4) == pytest.approx(0.975, abs=1e-4)
    assert stats.t_cdf(4.297, 9) == pytest.approx(0.999, abs=1e-5)
    assert stats.t_cdf(-6.314, 1) == pytest.approx(0.05, abs=1e-4)
    assert stats.t_cdf(0.0, 3) == 0.5 and stats.t_cdf(math.inf, 3) == 1.0


def test_reaches_is_a_one_sided_t_test_at_p_below_0001() -> None:
    # gaps beyond the threshold 0.02, 0.04, 0.03, 0.05, 0.06: mean 0.04, sd 0.0158, t = 5.66 on 4 df
    values = [0.90, 0.92, 0.91, 0.93, 0.94]
    verdict, p = calibration.reaches(values, 0.88, "max")
    t = 0.04 / (np.std([0.02, 0.04, 0.03, 0.05, 0.06], ddof=1) / math.sqrt(5))
    assert t == pytest.approx(5.657, abs=1e-3) and p == pytest.approx(1 - stats.t_cdf(t, 4))
    assert 0.001 < p < 0.01 and verdict is False  # clearly above on average, not at p < 0.001 with 5 seeds
    more, p10 = calibration.reaches(values * 2, 0.88, "max")  # the same spread over 10 seeds
    assert more is True and p10 < 0.001
    # the direction: for a loss, below the threshold counts
    assert calibration.reaches([1.0, 1.1, 0.9, 1.05, 0.95] * 2, 1.3, "min")[0] is True
    assert calibration.reaches([1.0, 1.1, 0.9, 1.05, 0.95] * 2, 1.3, "max")[0] is False
    # no spread: beyond the threshold is certain, short of it never
    assert calibration.reaches([0.9, 0.9, 0.9], 0.88, "max") == (True, 0.0)
    assert calibration.reaches([0.88, 0.88], 0.88, "max") == (False, 1.0)


def test_a_run_not_ok_means_not_reached_and_one_seed_cannot_say() -> None:
    assert calibration.reaches([0.99] * 6, 0.88, "max", ok=[True] * 5 + [False]) == (False, 1.0)
    assert calibration.reaches([0.99, math.inf], 0.88, "max") == (False, 1.0)
    verdict, p = calibration.reaches([0.99], 0.88, "max")
    assert verdict is None and math.isnan(p)
    with pytest.raises(ValueError, match="mode"):
        calibration.reaches([1, 2], 0, "up")


def _reference(values_at_80: list[float], status: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """adamw runs of budget 100, evaluated every 10 steps: val accuracy step / 200 everywhere but
    at step 80, where it is the given value (so the calibration must read step 80 exactly)."""
    status = status or ["ok"] * len(values_at_80)
    runs, curves = [], []
    for seed, (v, st) in enumerate(zip(values_at_80, status, strict=True)):
        rid = f"r{seed}"
        runs.append({"run_id": rid, "problem": "p", "optimizer": "adamw", "seed": seed, "status": st,
                     "budget_steps": 100, "target_metric": "accuracy", "target_mode": "max"})
        curves += [{"run_id": rid, "step": s, "val_accuracy": v if s == 80 else s / 200} for s in range(0, 101, 10)]
    return pd.DataFrame(runs), pd.DataFrame(curves)


def test_calibration_reads_each_seed_at_80_percent_of_the_budget_and_takes_the_median() -> None:
    runs, curves = _reference([0.5, 0.9, 0.7, 0.6, 0.8])
    row = calibration.calibrate(runs, curves).iloc[0]
    assert row["target"] == pytest.approx(0.7) and row["seeds"] == 5 and row["mode"] == "max"
    assert json.loads(row["steps_read"]) == [80] * 5 and (row["iqr_low"], row["iqr_high"]) == (0.6, 0.8)
    # 85% of 100 steps: the last evaluation at or before it is still step 80; 75%: step 70
    assert calibration.calibrate(runs, curves, fraction=0.85).iloc[0]["target"] == pytest.approx(0.7)
    assert calibration.calibrate(runs, curves, fraction=0.75).iloc[0]["target"] == pytest.approx(70 / 200)


def test_calibration_refuses_a_reference_with_a_run_not_ok() -> None:
    runs, curves = _reference([0.5, 0.9, 0.7], ["ok", "diverged", "ok"])
    with pytest.raises(ValueError, match="1 of the reference's runs are not ok"):
        calibration.calibrate(runs, curves)


def test_the_report_says_whether_each_optimizer_reaches_the_target() -> None:
    rows = []
    for name, finals in (("steady", [0.93, 0.94, 0.95, 0.94, 0.93, 0.95]), ("near", [0.87, 0.9, 0.89, 0.86, 0.9, 0.88])):
        for seed, v in enumerate(finals):
            rows.append({"problem": "p", "optimizer": name, "seed": seed, "status": "ok", "run_id": f"{name}{seed}",
                         "steps_to_target": 10.0, "grad_evals_to_target": 10.0, "converged": True,
                         "wall_seconds": 1.0, "test_accuracy": v, "final_val_accuracy": v,
                         "target_metric": "accuracy", "target_mode": "max", "target_threshold": 0.88,
                         "metric_modes": json.dumps({"accuracy": "max"})})
    tbl = report.table(pd.DataFrame(rows), baseline="steady").set_index("optimizer")
    assert bool(tbl.loc["steady", "reaches"]) is True and tbl.loc["steady", "reaches_p"] < 0.001
    assert bool(tbl.loc["near", "reaches"]) is False and tbl.loc["near", "reaches_p"] > 0.1
    text = report_markdown.table(report.results_section(tbl.reset_index(), baseline="steady"))
    assert "| 6/6; reaches (p " in next(ln for ln in text.splitlines() if ln.startswith("| p | steady |"))
    assert "| 6/6; not shown to reach (p " in next(ln for ln in text.splitlines() if ln.startswith("| p | near |"))
