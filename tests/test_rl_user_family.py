"""``raybench rl train`` on a problem family of the user's: named by import path, shipped with
``--py-modules``, as ``raybench run --problems MODULE:ATTR`` takes one.

The family lives only in a test's temporary folder. Training runs in process on the session Ray
(``tests.conftest.cli``) with 0 env runners, so the env is built in the driver; how the module
reaches Ray's workers is checked on what the command hands ``init_ray`` (the session Ray is up
already, so that call joins it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from raybench.learned.policy import load_policy
from tests.conftest import cli, ok
from tests.test_tuning_cli import _spy_ray, user_modules, write_module  # noqa: F401 (a fixture)

FAMILY_MODULE = '''
from raybench.problems import Problem
from raybench.problems.quadratic import QuadraticInstance


def _make(seed, **options):
    return QuadraticInstance(seed, dim=3, eig_min=1.0, eig_max=2.0, steps=8, target_gap=1e-3)


def make_family():
    return Problem(name="user_quad_family", description="a 3-d quadratic family of the user's", family=True,
                   metrics={"suboptimality": "min", "loss": "min"}, make=_make)


def make_problem():
    return Problem(name="user_quad_single", description="a 3-d quadratic, not a family",
                   metrics={"suboptimality": "min", "loss": "min"}, make=_make)
'''
"""A family (and a problem that is not one) of the user's."""

TINY = ["--num-problems", "4", "--episode-steps", "8", "--env-runners", "0", "--envs-per-runner", "1",
        "--train-batch", "32", "--minibatch", "16", "--epochs", "1", "--hidden", "8", "--history", "4",
        "--checkpoint-every", "1", "--quiet"]
"""The smallest budget that still trains: 32 env steps (4 episodes) per PPO iteration."""


@pytest.fixture
def family_module(tmp_path: Path, user_modules) -> Path:  # noqa: F811 (the fixture, imported)
    """``user_rl_family.py`` in a temporary folder, forgotten by this process afterwards."""
    name = "user_rl_family"
    sys.modules.pop(name, None)
    yield write_module(tmp_path / "mods", name, FAMILY_MODULE)
    sys.modules.pop(name, None)


@pytest.mark.ray
def test_a_family_by_import_path_trains_and_resumes(family_module: Path, tmp_path: Path, ray_session,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import raybench.ray_utils

    joined: list[dict] = []
    real = raybench.ray_utils.init_ray
    monkeypatch.setattr(raybench.ray_utils, "init_ray", lambda *a, **k: (joined.append(k), real(*a, **k))[1])
    family, out = "user_rl_family:make_family", tmp_path / "policy"
    ok(cli("rl", "train", "--family", family, "--py-modules", str(family_module), *TINY, "--iterations", "2",
           "--out", str(out)))
    assert [k.get("py_modules") for k in joined] == [[str(family_module)]], "shipped to the env runners"
    assert (out / "policy.safetensors").exists() and (out / "policy.json").exists()
    assert list(pd.read_parquet(out / "rl_curves").sort_values("iteration")["env_steps"]) == [32, 64]
    # The family as given (what --resume and another process resolve again), not the entry's name.
    settings = json.loads((out / "rl_train.json").read_text())
    assert settings["family"] == family and settings["py_modules"] == [str(family_module)]
    assert load_policy(out / "policy.safetensors").metadata["training"]["family"] == family

    # --resume alone: the module is shipped again from the settings.
    joined.clear()
    ok(cli("rl", "train", "--out", str(out), "--resume", "--iterations", "3", "--quiet"))
    assert [k.get("py_modules") for k in joined] == [[str(family_module)]]
    assert list(pd.read_parquet(out / "rl_curves").sort_values("iteration")["iteration"]) == [1, 2, 3]


@pytest.mark.parametrize("family, extra, says", [
    ("user_rl_family:make_problem", [],
     "unknown family 'user_rl_family:make_problem': problem 'user_quad_single', but not a family"),
    ("no_such_rl_module:make_family", [],
     "problem 'no_such_rl_module:make_family': module 'no_such_rl_module' does not import"),
    ("user_rl_family:make_family", ["--batch-problems", "2"],
     "family 'user_rl_family:make_family' has no batched form"),
    ("quadratic,user_rl_family:make_family", [], "family 'user_rl_family:make_family' has no batched form"),
])
def test_what_is_not_a_trainable_family_is_one_line_exit_2_before_ray(
        family: str, extra: list[str], says: str, family_module: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    started = _spy_ray(monkeypatch)
    out = tmp_path / "policy"
    proc = cli("rl", "train", "--family", family, "--py-modules", str(family_module), *extra, "--out", str(out))
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and says in err[0], err
    assert not started and not out.exists()
