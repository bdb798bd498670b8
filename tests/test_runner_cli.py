"""End to end through the real CLI (subprocesses, real embedded Ray): run, read back, report, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from raybench import results
from raybench.cli import main
from tests.conftest import ROOT, cli, cli_env, raybench

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ray_starts(monkeypatch: pytest.MonkeyPatch) -> list:
    """The ``start_ray`` calls of a test's in-process commands (the real function, counted): a
    check must start no Ray (one the session started for other tests may be up)."""
    from raybench import ray_utils

    started: list = []
    real = ray_utils.start_ray

    def spy(*args, **kwargs):
        started.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ray_utils, "start_ray", spy)
    return started


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suite") / "results"
    proc = raybench("run", "--problems", "quadratic,logistic", "--optimizers", "adam,sgd,lbfgs",
                    "--seeds", "2", "--steps", "60", "--hparam", "sgd.lr=0.02", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "12 runs in" in proc.stderr
    return out


@pytest.mark.ray
@pytest.mark.slow
def test_run_writes_parquet_readable_by_pandas(small_suite: Path) -> None:
    runs = pd.read_parquet(small_suite / "runs")
    curves = pd.read_parquet(small_suite / "curves")
    assert len(runs) == 12 and runs["run_id"].is_unique
    assert set(runs["optimizer"]) == {"adam", "sgd", "lbfgs"}
    assert set(runs["problem"]) == {"quadratic", "logistic"}
    assert (runs["status"] == "ok").all(), runs[["optimizer", "error"]]
    for col in ("seed", "hp_lr", "final_val_loss", "test_loss", "steps_to_target", "grad_evals",
                "wall_seconds", "torch_version", "ray_version", "device", "host", "node_id", "started_at"):
        assert col in runs, col
    assert (runs.loc[runs.optimizer == "sgd", "hp_lr"] == 0.02).all()
    assert (runs.loc[runs.optimizer == "adam", "hp_lr"] == 1e-3).all()
    # L-BFGS calls its closure several times a step: gradient evaluations are counted.
    lb = runs[runs.optimizer == "lbfgs"]
    assert (lb["grad_evals"] > lb["steps"]).all()
    first = runs[runs.optimizer == "adam"]
    assert (first["grad_evals"] == first["steps"]).all() and (first["steps"] == 60).all()
    # One curve per run, starting at step 0 and ending at the budget.
    assert set(curves["run_id"]) == set(runs["run_id"])
    ends = curves.groupby("run_id")["step"].agg(["min", "max"])
    assert (ends["min"] == 0).all() and (ends["max"] == 60).all()
    meta = json.loads((small_suite / "raybench.json").read_text())
    assert meta["schema_version"] == results.SCHEMA_VERSION


@pytest.mark.ray
@pytest.mark.slow
def test_paired_seeds_start_identically(small_suite: Path) -> None:
    runs, curves = results.read(str(small_suite))
    start = curves[curves.step == 0].merge(runs[["run_id", "problem", "optimizer", "seed"]], on="run_id")
    for (_problem, _seed), group in start.groupby(["problem", "seed"]):
        assert group["optimizer"].nunique() == 3
        assert group["val_loss"].nunique() == 1, group[["optimizer", "val_loss"]]
    # ... and different seeds differ.
    q = start[(start.problem == "quadratic") & (start.optimizer == "adam")]
    assert q["val_loss"].nunique() == 2


@pytest.mark.ray
@pytest.mark.slow
def test_report_prints_table_and_writes_plots(small_suite: Path) -> None:
    proc = cli("report", str(small_suite))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| problem | optimizer |" in proc.stdout
    assert "speed vs adam" in proc.stdout
    md = (small_suite / "report.md").read_text()
    assert "adam paired diff" in md
    assert md.count("| quadratic |") == 3 and md.count("| logistic |") == 3
    csv = pd.read_csv(small_suite / "report.csv")
    assert len(csv) == 6
    adam = csv[(csv.optimizer == "adam")]
    # Adam against itself, where it reached the target, is exactly 1x.
    assert ((adam["speed_vs_adam"] == 1.0) | adam["speed_vs_adam"].isna()).all()
    for name in ("curves_quadratic.png", "curves_logistic.png", "performance_profile.png"):
        data = (small_suite / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000, name


@pytest.mark.ray
@pytest.mark.slow
def test_rerun_without_resume_is_refused_and_resume_adds_only_missing(small_suite: Path, tmp_path: Path,
                                                                     ray_session) -> None:
    proc = cli("run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "1",
               "--steps", "60", "--out", str(small_suite))
    assert proc.returncode == 2 and "--resume" in proc.stderr
    # Resume with one more seed: only the new seed's runs are done.
    proc = cli("run", "--problems", "quadratic,logistic", "--optimizers", "adam,sgd,lbfgs",
               "--seeds", "3", "--steps", "60", "--hparam", "sgd.lr=0.02", "--out", str(small_suite),
               "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resume: 12 of 18 runs already" in proc.stderr
    runs = pd.read_parquet(small_suite / "runs")
    assert len(runs) == 18 and runs["run_id"].is_unique
    curves = pd.read_parquet(small_suite / "curves")
    assert (curves.groupby("run_id")["step"].apply(lambda s: s.is_unique)).all()


@pytest.mark.ray
@pytest.mark.slow
def test_diverged_and_failed_runs_are_recorded_and_the_suite_goes_on(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "r"
    suite = tmp_path / "suite.yaml"
    # SGD with an absurd learning rate on Rosenbrock diverges; logistic regression with a batch
    # larger than its training set passes the up-front option checks (an integer >= 1) but
    # raises when its instance is built (in the worker), so it fails.
    suite.write_text("""
name: faults
seeds: 1
steps: 30
problems:
  - rosenbrock
  - {name: logistic, options: {batch_size: 5000}}
optimizers: [adam, sgd]
hparams:
  sgd: {lr: 1.0e+6}
""")
    proc = cli("run", "--config", str(suite), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = pd.read_parquet(out / "runs").set_index(["problem", "optimizer"])
    assert runs.loc[("rosenbrock", "sgd"), "status"] == "diverged"
    assert "non-finite" in runs.loc[("rosenbrock", "sgd"), "error"]
    assert runs.loc[("rosenbrock", "adam"), "status"] == "ok"
    for opt in ("adam", "sgd"):
        assert runs.loc[("logistic", opt), "status"] == "failed"
        assert "bad batch_size 5000" in runs.loc[("logistic", opt), "error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--problems", "nope"], "unknown problem 'nope'; accepted: quadratic"),
        (["--problems", "quadratic", "--optimizers", "adam,nadamw"], "unknown optimizer 'nadamw'; accepted: adam"),
        (["--problems", "quadratic", "--optimizers", "adam,adam"], "optimizer 'adam' is given twice"),
        (["--problems", "quadratic", "--optimizers", "nosuchmodule:Opt"], "module 'nosuchmodule' does not import"),
        (["--problems", "quadratic", "--optimizers", "torch.optim:Nope"], "module 'torch.optim' has no attribute 'Nope'"),
        (["--problems", "quadratic", "--optimizers", "torch.nn:Linear"], "not a torch.optim.Optimizer subclass"),
        (["--problems", "quadratic", "--optimizers", "adam=torch.optim:SGD"], "optimizer name 'adam' is used twice"),
        (["--suite", "huge"], "unknown suite 'huge'; accepted: quick, standard, standard_gpu, seed"),
        (["--problems", "quadratic", "--hparam", "adam.lr=-1"], "Invalid learning rate: -1"),
        (["--problems", "quadratic", "--hparam", "adam.momentum=0.9"], "unknown hyperparameter adam.momentum"),
        (["--problems", "quadratic", "--hparam", "adam.lr=fast"], "bad value 'fast' for adam.lr"),
        (["--problems", "quadratic", "--hparam", "lr=0.1"], "expected OPTIMIZER.NAME=VALUE"),
        (["--problems", "logistic", "--option", "l2=-1.0"], "bad l2 -1.0 for problem 'logistic'; accepted: a number > 0"),
        (["--problems", "quadratic", "--option", "colour=red"], "option 'colour' is accepted by none"),
        (["--problems", "quadratic", "--seeds", "0"], "seeds must be >= 1"),
        (["--problems", "quadratic", "--suite", "quick"], "exactly one of"),
        (["--problems", "quadratic", "--max-retries", "-1"], "bad --max-retries -1; accepted: an integer >= 0"),
        # Missing data that cannot be downloaded: one line naming the folder and the files,
        # before any run starts (the embedded Ray's workers share this machine's data folder).
        (["--problems", "mnist_mlp", "--option", "dataset=mnist", "--option", "download=false",
          "--option", "data_dir=/nonexistent/raybench-data"],
         "mnist_mlp: MNIST not found in /nonexistent/raybench-data/MNIST/raw (files missing and "
         "download=False); put train-images-idx3-ubyte"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, tmp_path: Path, capsys,
                                        ray_starts: list) -> None:
    # Every check a run makes before Ray starts, through --check (in process, no Ray): the
    # command itself makes the same ones, as the subprocess cases below show for each kind.
    out = tmp_path / "never"
    assert main(["run", *args, "--out", str(out), "--check"]) == 2
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("raybench: error:"), lines
    assert message in lines[0]
    assert not (out / "runs").exists() and not ray_starts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--problems", "quadratic", "--hparam", "adam.lr=-1"], "Invalid learning rate: -1"),
        (["--problems", "quadratic", "--option", "colour=red"], "option 'colour' is accepted by none"),
        (["--problems", "quadratic", "--max-retries", "-1"], "bad --max-retries -1; accepted: an integer >= 0"),
        (["--problems", "mnist_mlp", "--option", "dataset=mnist", "--option", "download=false",
          "--option", "data_dir=/nonexistent/raybench-data"], "mnist_mlp: MNIST not found in /nonexistent"),
    ],
)
@pytest.mark.ray
def test_the_command_refuses_bad_input_with_one_line_and_exit_2(args: list[str], message: str,
                                                                tmp_path: Path, ray_session) -> None:
    # The command itself, not --check, with Ray up while it checks: still one line and 2 (the
    # real executable, which starts its own Ray meanwhile, is the last test of this file).
    out = tmp_path / "never"
    proc = cli("run", *args, "--out", str(out))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("raybench: error:"), proc.stderr
    assert message in lines[0]
    assert not (out / "runs").exists()


def test_check_lists_the_runs_and_runs_nothing(tmp_path: Path, capsys, ray_starts: list) -> None:
    out = tmp_path / "r"
    assert main(["run", "--problems", "quadratic,logistic", "--optimizers", "adam,sgd", "--seeds", "3",
                 "--steps", "7", "--out", str(out), "--check"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{p}  {o}  3 runs  steps 7" for p in ("quadratic", "logistic")
                                         for o in ("adam", "sgd")]
    assert "check: 12 runs to write to" in captured.err
    assert not (out / "runs").exists() and not ray_starts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("problems: [quadratic\n", "is not valid YAML"),
        ("- just a list\n", "must be a mapping"),
        ("problems: [quadratic]\noptimizers: [adam]\nseed: 3\n", "unknown suite key 'seed'"),
        ("problems: [quadratic]\n", "non-empty list 'optimizers'"),
        ("problems: [{name: quadratic, opts: {}}]\noptimizers: [adam]\n", "unknown problem key 'opts'"),
        ("problems: [quadratic]\noptimizers: [adam]\nhparams: {sgd: {lr: 0.1}}\n", "not in this suite's optimizers"),
        ("problems: [!!python/object/apply:os.system [echo hacked]]\noptimizers: [adam]\n", "is not valid YAML"),
    ],
)
def test_bad_suite_files_exit_2(text: str, message: str, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "suite.yaml"
    cfg.write_text(text)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o"), "--check"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1, captured.err
    assert "hacked" not in captured.out


@pytest.mark.ray
def test_the_command_refuses_a_bad_suite_file_with_one_line(tmp_path: Path, ray_session) -> None:
    # The command itself, not --check, with Ray up (the executable: the missing-data test below).
    cfg = tmp_path / "suite.yaml"
    cfg.write_text("problems: [!!python/object/apply:os.system [echo hacked]]\noptimizers: [adam]\n")
    proc = cli("run", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "is not valid YAML" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "hacked" not in proc.stdout


@pytest.mark.ray
@pytest.mark.slow
def test_interrupt_keeps_finished_runs_and_resume_completes_exactly_once(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "r"
    args = ["run", "--problems", "logistic,mlp", "--optimizers", "adam,sgd,rmsprop,adagrad",
            "--seeds", "4", "--steps", "400", "--out", str(out), "--no-progress"]
    env = cli_env(RAYBENCH_FLUSH_EVERY_RUNS="2")
    proc = subprocess.Popen([sys.executable, "-m", "raybench.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list((out / "runs").glob("part-*.parquet")):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "--resume" in err
    before = pd.read_parquet(out / "runs")
    assert 0 < len(before) < 32
    done = cli(*args, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 32 and runs["run_id"].is_unique
    assert set(before["run_id"]) <= set(runs["run_id"])
    curves = pd.read_parquet(out / "curves")
    per_run = curves.groupby("run_id")["step"]
    assert (per_run.apply(lambda s: s.is_unique)).all()
    assert set(curves["run_id"]) == set(runs["run_id"])
    assert not list(out.rglob(".tmp-*"))


@pytest.mark.ray
@pytest.mark.slow
def test_tune_lr_chooses_on_validation_and_records_every_trial(tmp_path: Path, ray_session) -> None:
    from raybench.lr_search import TUNING_SEEDS, grid

    out = tmp_path / "r"
    proc = cli("run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--seeds", "2",
               "--steps", "40", "--tune-lr", "--tune-samples", "3", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    search = results.read_table(str(out), "lr_search")
    grid_rows = search[~search["extension"]]
    assert len(grid_rows) == 2 * 3 * len(TUNING_SEEDS) and set(search["tuning_seed"]) == set(TUNING_SEEDS)
    assert (search["metric"] == "loss").all()  # chosen on validation loss
    runs = pd.read_parquet(out / "runs")
    assert not set(TUNING_SEEDS) & set(runs["seed"]) and len(runs) == 4
    for opt, group in search.groupby("optimizer"):
        assert sorted(set(group.loc[~group["extension"], "lr"])) == pytest.approx(grid(opt, 3))
        assert (group.groupby("lr")["tuning_seed"].nunique() == len(TUNING_SEEDS)).all()
        assert group["chosen"].sum() == len(TUNING_SEEDS)  # the winning value's row on each seed
        best = group.loc[group["mean_score"].idxmin(), "lr"]
        assert set(group.loc[group["chosen"], "lr"]) == {best}
        assert (runs.loc[runs.optimizer == opt, "hp_lr"] == best).all()
    assert (runs["hparam_source"] == "tuned").all()


@pytest.mark.ray
def test_the_executable_refuses_missing_data_with_one_line_while_ray_starts(tmp_path: Path) -> None:
    # The real executable starts its own Ray while the data are checked: one line (none of
    # Ray's) and exit 2.
    out = tmp_path / "never"
    proc = raybench("run", "--problems", "mnist_mlp", "--option", "dataset=mnist", "--option", "download=false",
                    "--option", "data_dir=/nonexistent/raybench-data", "--out", str(out), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "mnist_mlp: MNIST not found in /nonexistent" in lines[0], proc.stderr
    assert not (out / "runs").exists()
