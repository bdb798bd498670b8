"""``reproduce.believability``: the statistics on hand-made data whose answer is known, and one
multi-init folder built from real (tiny) logistic runs, read back the way the claims stage reads
``OUT/multi_init/<problem>/``. The smoke reproduction in ``test_reproduce.py`` runs it end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from raybench import results
from raybench.reproduce import believability as bl


def test_spearman_is_one_for_any_monotone_map_and_matches_scipy_with_ties() -> None:
    x = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    assert bl.spearman(x, [v ** 3 for v in x]) == pytest.approx(1.0)
    assert bl.spearman(x, [-math.exp(v) for v in x]) == pytest.approx(-1.0)
    # hand computed: ranks (1, 2, 3, 4) against (2, 1, 4, 3): d^2 = 4, rho = 1 - 6*4/(4*15) = 0.6
    assert bl.spearman([1, 2, 3, 4], [20, 10, 40, 30]) == pytest.approx(0.6)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 40).astype(float)  # many ties
    assert bl.spearman(a, b) == pytest.approx(sps.spearmanr(a, b).statistic)
    # pairs with a NaN are dropped; constant or too short: NaN
    assert bl.spearman([1, 2, math.nan, 3], [1, 2, 0, 3]) == pytest.approx(1.0)
    assert math.isnan(bl.spearman([1, 1, 1], [1, 2, 3])) and math.isnan(bl.spearman([1, 2], [2, 1]))


def test_paired_bootstrap_on_known_differences() -> None:
    n = 1000
    same = np.arange(n) % 3 == 0
    got = bl.paired_bootstrap(same, same)
    assert (got["edge"], got["ci_low"], got["ci_high"], got["p_ahead"]) == (0.0, 0.0, 0.0, 0.0)
    # a right everywhere, b wrong on 100 examples: edge 0.1, CI about +-1.96 sqrt(0.1 * 0.9 / n)
    a, b = np.ones(n, bool), np.arange(n) >= 100
    got = bl.paired_bootstrap(a, b, resamples=4000)
    half = 1.96 * math.sqrt(0.1 * 0.9 / n)
    assert got["edge"] == pytest.approx(0.1) and got["p_ahead"] == 1.0 and got["n"] == n
    assert got["ci_low"] == pytest.approx(0.1 - half, abs=0.004) and got["ci_high"] == pytest.approx(0.1 + half, abs=0.004)
    # as many examples only a gets right as only b: no edge, ahead in about half the resamples
    a = np.arange(n) < 500
    b = (np.arange(n) >= 40) & (np.arange(n) < 540)
    got = bl.paired_bootstrap(a, b, resamples=4000)
    assert got["edge"] == 0.0 and got["ci_low"] < 0 < got["ci_high"] and 0.4 < got["p_ahead"] < 0.5
    # the count shortcut draws what resampling examples one by one draws
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, (4000, n))
    naive = (a[idx].mean(1) - b[idx].mean(1))
    assert got["ci_low"] == pytest.approx(np.quantile(naive, 0.025), abs=0.004)
    assert got["ci_high"] == pytest.approx(np.quantile(naive, 0.975), abs=0.004)
    with pytest.raises(ValueError, match="equally long"):
        bl.paired_bootstrap(a, b[:10])


def test_binomial_fallback_is_the_unpaired_normal_interval() -> None:
    got = bl.binomial_difference(0.97, 0.96, 500)
    se = math.sqrt((0.97 * 0.03 + 0.96 * 0.04) / 500)
    assert got["edge"] == pytest.approx(0.01)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((0.01 - 1.959964 * se, 0.01 + 1.959964 * se))
    assert got["p_ahead"] == pytest.approx(sps.norm.cdf(0.01 / se))


def test_median_seed_and_rank() -> None:
    values = {0: 0.90, 1: 0.95, 2: 0.92, 3: 0.97}
    assert bl.median_seed(values, "max") == 1 and bl.median_seed(values, "min") == 2  # the better middle one
    # the survivor (avoid) is the median seed only when no other seed has the median's value
    tied = {0: 0.9, 1: 0.95, 2: 0.95, 3: 0.97}
    assert bl.median_seed(tied, "max") == 1 and bl.median_seed(tied, "max", avoid=1) == 2
    assert bl.median_seed(tied, "max", avoid=2) == 1 and bl.median_seed(values, "max", avoid=1) == 1
    assert bl.rank_of(0.96, [0.90, 0.97, 0.96], "max") == 2 and bl.rank_of(0.91, [0.90, 0.97], "min") == 2


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A multi-init folder on ``logistic`` (5 seeds, rungs at steps 4 and 8, survivor to 12) from real
    runs: its accuracy has no per-example predictions through the problem, so the check falls back
    to the binomial approximation."""
    from raybench.train import Run

    out = tmp_path_factory.mktemp("mi") / "logistic"
    runs, curves = [], []
    for seed in range(5):
        run = Run("logistic", "adam", {"lr": 0.05}, seed, steps=12, eval_every=4)
        curves += run.advance()
        runs.append(run.summary())
    results.init(str(out / "single"))
    results.write_runs(str(out / "single"), runs, curves)
    acc = {r["seed"]: r["test_accuracy"] for r in runs}
    val4 = {c["run_id"]: c["val_loss"] for c in curves if c["step"] == 4}
    survivor = max(acc, key=lambda s: (acc[s], -s))
    eliminated = [s for s in acc if s != survivor][:3]
    trials = [dict(r, steps=4, grad_evals=4) if r["seed"] in eliminated else r for r in runs]
    results.init(str(out))
    results.write_runs(str(out), trials, [])
    rid = {r["seed"]: r["run_id"] for r in runs}
    rungs = [{"repeat": 0, "seed": s, "run_id": rid[s], "rung": 0, "step": 4, "metric": "val_loss", "mode": "min",
              "alive": 5, "decision": "eliminated" if s in eliminated else "kept", "problem": "logistic"}
             for s in acc]
    rungs += [{"repeat": 0, "seed": s, "run_id": rid[s], "rung": 1, "step": 8, "metric": "val_loss", "mode": "min",
               "alive": 2, "decision": "survivor" if s == survivor else "eliminated", "problem": "logistic"}
              for s in acc if s not in eliminated]
    import raybench.tuning.experiment  # noqa: F401  (registers rungs)

    results.write(str(out), "rungs", rungs)
    evidence, ranks = bl.measure_folder(str(out))
    return {"out": out, "runs": runs, "acc": acc, "val4": val4, "survivor": survivor,
            "evidence": evidence, "ranks": ranks}


def test_a_folder_gives_the_survivor_against_its_seeds_alone_and_the_compute(folder: dict) -> None:
    [row] = folder["evidence"]
    acc, survivor = folder["acc"], folder["survivor"]
    assert row["metric"] == "test_accuracy" and row["mode"] == "max" and row["singles"] == 5
    assert (row["first_seed"], row["last_seed"], row["survivor_seed"]) == (0, 4, survivor)
    assert row["survivor"] == acc[survivor] and row["single_best"] == max(acc.values())
    assert row["single_median"] == pytest.approx(float(np.median(list(acc.values()))))
    assert row["survivor_rank"] == 1 and row["median_seed_value"] == pytest.approx(row["single_median"])
    # compute: 3 trials eliminated after 4 steps, 2 trained to 12; one single run 12; all five 60
    assert (row["steps_multi_init"], row["steps_single"], row["steps_all_singles"]) == (3 * 4 + 2 * 12, 12, 60)
    # logistic gives no per-example predictions: the labelled binomial approximation on its test split
    assert row["split_check"] == bl.BINOMIAL and row["reproduced"] is None and row["test_examples"] > 0
    expected = bl.binomial_difference(acc[survivor], row["median_seed_value"], row["test_examples"])
    assert row["edge"] == pytest.approx(expected["edge"]) and row["p_ahead"] == pytest.approx(expected["p_ahead"])


def test_rank_correlation_per_rung_is_oriented_to_the_final_test_order(folder: dict) -> None:
    ranks = folder["ranks"]
    assert [(r["rung"], r["step"], r["alive"]) for r in ranks] == [(0, 4, 5), (1, 8, 2), (None, 12, None)]
    runs = folder["runs"]
    # validation loss (lower better) against test accuracy (higher better): +1 = same order
    expected = -sps.spearmanr([folder["val4"][r["run_id"]] for r in runs],
                              [r["test_accuracy"] for r in runs]).statistic
    if math.isnan(expected):
        assert math.isnan(ranks[0]["spearman"])
    else:
        assert ranks[0]["spearman"] == pytest.approx(expected)
    assert ranks[0]["n"] == 5 and ranks[0]["val_metric"] == "val_loss"


def test_tables_replace_their_earlier_parts_and_the_section_reads_them(folder: dict, tmp_path) -> None:
    out = str(tmp_path)
    results.init(out)
    for _ in range(2):
        bl.write(out, folder["evidence"], folder["ranks"])
    evidence = results.read_table(out, bl.EVIDENCE.name)
    ranks = results.read_table(out, bl.RANK_CORRELATION.name)
    assert len(evidence) == 1 and len(ranks) == 3 and list(evidence.columns) == bl.EVIDENCE.columns
    md = bl.markdown(folder["evidence"], folder["ranks"])
    assert md.startswith("## Multi-init: what makes it believable") and "### logistic" in md
    assert "| 0 | 0..4 |" in md and bl.BINOMIAL in md and "Reading: " in md and "| end | 12 |" in md
    assert bl.markdown([], []) == ""
