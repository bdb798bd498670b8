"""AlgoPerf's external tuning (``raybench run --tuning external``; ``raybench.external_tuning``).

The Ray tests tune SGD's learning rate on the quadratic with eigenvalues in [1, 3] for 30 steps,
where only a band converges: below about 0.14 it is too slow to reach the target (f - f* 1e-3)
in 30 steps, above about 0.62 it never settles (it diverges past 2/3). The space, log
[0.03, 3], and 3 studies x 2 trials put points on both sides of the band and in it: study 0 tries
1.5 and 0.0375 (neither reaches the target), study 1 tries 0.0615 and 0.53, study 2 0.245 and
0.304. Through the real command on the session's embedded Ray, in process.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raybench import external_tuning, results
from raybench.lr_search import TUNING_SEEDS
from tests.conftest import cli, ok

BAND = (0.14, 0.62)
"""The learning rates at which SGD reaches the target within the budget (measured: 0.15 .. 0.6 do, 0.1 and 0.65 do not)."""


def _suite(tmp_path: Path, space: dict | None = None, **extra) -> str:
    path = tmp_path / "suite.yaml"
    optimizer = {"name": "sgd", "search_space": space if space is not None else
                 {"lr": {"min": 0.03, "max": 3.0, "scaling": "log"}}}
    path.write_text(yaml.safe_dump({"problems": [{"name": "quadratic", "options": {"eig_max": 3.0}}], "seeds": 1,
                                    "steps": 30, "eval_every": 2, "optimizers": [optimizer], **extra}))
    return str(path)


def _run(config: str, out: Path, *args: str):
    return ok(cli("run", "--config", config, "--out", str(out), "--no-progress", "--tuning", "external", *args))


def _trial_parts(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "trials" / "runs").glob("*.parquet"))


# -- on Ray -------------------------------------------------------------------------------------
@pytest.mark.ray
def test_the_protocol_finds_the_band_and_scores_by_the_median_of_each_studys_fastest(ray_session, tmp_path) -> None:
    out = tmp_path / "r"
    proc = _run(_suite(tmp_path), out, "--studies", "3", "--trials", "2", "--tuning-budgets", "1,2")
    table = results.read_table(str(out), "tuning")
    summary = results.read_table(str(out), "tuning_summary").set_index("tuning_budget")
    assert len(table) == 3 * 2 and sorted(zip(table["study"], table["trial"])) == [(s, k) for s in range(3) for k in range(2)]
    lrs = {(s, k): json.loads(p)["lr"] for s, k, p in zip(table["study"], table["trial"], table["point"], strict=True)}
    assert lrs[(0, 0)] == pytest.approx(1.5, rel=0.05) and lrs[(2, 1)] == pytest.approx(0.304, rel=0.05)
    # by hand from the table: per budget K, the median over studies of each study's fastest of its first K
    for budget in (1, 2):
        seen = table[table["trial"] < budget]
        fastest = [seen.loc[seen["study"] == s, "steps_to_target"].min() for s in range(3)]
        assert summary.loc[budget, "score"] == statistics.median(fastest)
        assert json.loads(summary.loc[budget, "study_fastest"]) == pytest.approx(fastest)
        assert summary.loc[budget, "cost_trials"] == 3 * budget
        assert summary.loc[budget, "cost_runs"] == 3 * budget * len(TUNING_SEEDS)
        assert summary.loc[budget, "cost_steps"] == seen["steps"].sum() == 30 * len(seen) * len(TUNING_SEEDS)
    assert math.isinf(summary.loc[1, "score"])  # one trial per study: only study 2's first is in the band
    assert math.isfinite(summary.loc[2, "score"])
    # the choice: lowest mean validation loss over all studies, inside the band
    chosen = table[table["chosen"]]
    assert len(chosen) == 1 and chosen["val_score"].iloc[0] == table["val_score"].min()
    lr = json.loads(chosen["point"].iloc[0])["lr"]
    assert BAND[0] < lr < BAND[1] and chosen["hp_lr"].iloc[0] == pytest.approx(lr)
    assert json.loads(summary.loc[2, "chosen_point"]) == {"lr": lr}
    # the trials are runs of their own folder; the results folder holds the evaluation runs only
    trials = results.read_table(str(out / "trials"), "runs")
    assert len(trials) == 3 * 2 * len(TUNING_SEEDS) and set(trials["hparam_source"]) == {"trial"}
    assert set(trials["seed"]) == set(TUNING_SEEDS)
    runs = results.read_table(str(out), "runs")
    assert set(runs["hparam_source"]) == {"tuned"} and set(runs["seed"]) == {0}
    assert list(runs["run_id"]) == json.loads(summary.loc[2, "eval_run_ids"])  # the largest budget's choice only
    assert json.loads(summary.loc[1, "eval_run_ids"]) == []
    final = runs.set_index("run_id").loc[json.loads(summary.loc[2, "eval_run_ids"])[0]]
    assert final["hparams"] and json.loads(final["hparams"])["lr"] == pytest.approx(lr)
    assert bool(final["converged"]) and pd.notna(final["test_loss"])  # tested on the test split like any run
    assert "quadratic/sgd budget 2 of 2 trials x 3 studies: time to target" in proc.stdout


@pytest.mark.ray
def test_resume_reruns_no_finished_trial_and_budgets_add_no_run(ray_session, tmp_path) -> None:
    out = tmp_path / "r"
    config = _suite(tmp_path)
    # "Interrupted" after each study's first trial: a study's first K points do not depend on
    # how many follow, so --trials 2 finds those trials done and runs only the second ones.
    _run(config, out, "--studies", "2", "--trials", "1")
    first = set(results.read_table(str(out / "trials"), "runs")["run_id"])
    parts = _trial_parts(out)
    assert len(first) == 2 * len(TUNING_SEEDS)
    _run(config, out, "--studies", "2", "--trials", "2", "--tuning-budgets", "2", "--resume")
    second = results.read_table(str(out / "trials"), "runs")
    assert len(second) == len(set(second["run_id"])) == 2 * 2 * len(TUNING_SEEDS) and first < set(second["run_id"])
    assert set(parts) < set(_trial_parts(out))
    # Budgets 1 and 2 from the same trials: no run added, and again with --resume no trial rerun.
    parts = _trial_parts(out)
    proc = _run(config, out, "--studies", "2", "--trials", "2", "--tuning-budgets", "1,2", "--resume")
    assert _trial_parts(out) == parts and "8 already there" in proc.stderr
    summary = results.read_table(str(out), "tuning_summary")
    assert sorted(summary["tuning_budget"]) == [1, 2] and len(results.read_table(str(out), "tuning")) == 4


# -- bad input: one line, exit 2, before any run (no Ray: --check) ------------------------------
@pytest.mark.parametrize(("args", "words"), [
    (["--tuning-budgets", "0"], "tuning budget 0 is outside 1..5"),
    (["--tuning-budgets", "1,6"], "tuning budget 6 is outside 1..5"),
    (["--trials", "2", "--tuning-budgets", "3"], "tuning budget 3 is outside 1..2"),
    (["--tuning-budgets", "one"], "bad tuning budget 'one'"),
    (["--studies", "0"], "--studies must be an integer >= 1, got 0"),
    (["--trials", "0"], "--trials must be an integer >= 1, got 0"),
    (["--tune-lr"], "--tune-lr is --tuning lr; it cannot go with --tuning external"),
])
def test_bad_tuning_input_is_one_line_and_exit_2(args: list[str], words: str, tmp_path: Path) -> None:
    proc = cli("run", "--config", _suite(tmp_path), "--out", str(tmp_path / "r"), "--tuning", "external", *args,
               "--check")
    assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "r").exists()


def test_external_tuning_without_a_declared_space_is_exit_2(tmp_path: Path) -> None:
    proc = cli("run", "--config", _suite(tmp_path, space={}), "--out", str(tmp_path / "r"), "--tuning", "external",
               "--check")
    assert proc.returncode == 2 and "optimizer 'sgd' declares no search space" in proc.stderr, proc.stderr
    proc = cli("run", "--problems", "quadratic", "--optimizers", "sgd", "--out", str(tmp_path / "r"),
               "--studies", "2", "--check")
    assert proc.returncode == 2 and "--studies applies to --tuning external, not defaults" in proc.stderr


def test_the_suite_files_tuning_key_and_check_list_the_trials(tmp_path: Path) -> None:
    config = _suite(tmp_path, tuning={"protocol": "external", "studies": 2, "trials": 3, "budgets": [1, 3]})
    proc = ok(cli("run", "--config", config, "--out", str(tmp_path / "r"), "--check"))
    assert "--tuning external would run 12 of 12 trial runs (1 pairs x 2 studies x 3 trials x 2 tuning seeds)" in proc.stderr
    assert "scored at tuning budgets 1, 3" in proc.stderr and "search space: lr 0.03..3 log" in proc.stderr
    # the command line beats the file
    proc = ok(cli("run", "--config", config, "--out", str(tmp_path / "r"), "--trials", "1", "--tuning-budgets", "1",
                  "--check"))
    assert "would run 4 of 4 trial runs" in proc.stderr
    bad = _suite(tmp_path, tuning={"protocol": "bayes"})
    proc = cli("run", "--config", bad, "--out", str(tmp_path / "r"), "--check")
    assert proc.returncode == 2 and "unknown tuning protocol 'bayes'" in proc.stderr


def test_trials_folder_is_inside_the_results_folder() -> None:
    assert external_tuning.trials_folder("s3://bucket/r/") == "s3://bucket/r/trials"
