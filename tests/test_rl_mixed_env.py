"""The mixed-family env: draws across families and sizes, padding that changes nothing, fixed
spaces, config errors, the settings that select it, and one real ``rl train --family a,b,c``
whose policy ``raybench run`` then uses on another family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from raybench.errors import UsageError
from raybench.learned.policy import CoordinatewisePolicy, load_policy
from raybench.rl.batched_env import BatchedOptimizationEnv
from raybench.rl.env import DEFAULT_CONFIG, pool_seeds
from raybench.rl.mixed_env import (
    MIXED_DEFAULT_RANGES,
    MIXED_EPISODE_STEPS,
    MixedFamilyEnv,
    resolve_mixed_config,
    sub_config,
)
from raybench.rl.settings import TrainSettings
from tests.conftest import cli, ok

SMALL = {"quadratic": {"dim": [3, 6]}, "logistic": {"dim": [5, 8]}, "mlp": {"hidden": [2, 5]}}
"""Small ranges: the largest parameter count is the mlp's 4 * 5 + 1 = 21."""


def _env(**config: object) -> MixedFamilyEnv:
    return MixedFamilyEnv({"families": list(SMALL), "ranges": SMALL, "batch_problems": 2, "num_problems": 4,
                           **config})


def test_resets_draw_families_and_sizes_deterministically_per_seed() -> None:
    env = MixedFamilyEnv({"batch_problems": 2, "num_problems": 4})
    drawn = [env.reset(seed=s)[1] for s in range(24)]
    assert {d["family"] for d in drawn} == set(MIXED_DEFAULT_RANGES), "every default family is drawn"
    for d in drawn:
        ranges = MIXED_DEFAULT_RANGES[d["family"]]
        for option, value in d["options"].items():
            assert (ranges[option][0] <= value <= ranges[option][1]) if isinstance(ranges[option], list) \
                else value == ranges[option]
        assert set(d["instance_seeds"]) <= set(pool_seeds("train", 4))
    assert len({d["options"].get("dim") for d in drawn if d["family"] != "mlp"}) > 3, "sizes vary"
    # The same seed gives the same family, sizes, instances and observation, in this env after
    # other episodes or in a fresh one.
    again = MixedFamilyEnv(env.config)
    for s in (3, 7):
        a, b = env.reset(seed=s), again.reset(seed=s)
        assert (a[1]["family"], a[1]["options"], a[1]["instance_seeds"]) == \
            (drawn[s]["family"], drawn[s]["options"], drawn[s]["instance_seeds"])
        assert b[1]["options"] == a[1]["options"] and b[1]["instance_seeds"] == a[1]["instance_seeds"]
        np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("family", list(SMALL))
def test_padding_is_zero_and_changes_nothing(family: str) -> None:
    """The padded env follows the bare batched env of the drawn (family, sizes) under the real part
    of the actions, whatever the padded part holds; the policy's actions on real coordinates
    do not depend on the padding."""
    env = _env(episode_steps=6)
    smallest = {option: lo for option, (lo, _) in SMALL[family].items()}
    obs, info = env.reset(seed=1, options={"family": family, "options": smallest})
    n = info["n_params"]
    assert info["family"] == family and info["options"] == {**env.config["ranges"][family], **smallest}
    assert n < env.padded_params == 21
    bare = BatchedOptimizationEnv(sub_config(env.config, family, info["options"]))
    bare_obs, _ = bare.reset(options={"instance_seeds": info["instance_seeds"]})
    policy = CoordinatewisePolicy(env.config["history"], (8,))
    rng = np.random.default_rng(0)
    for _ in range(6):
        np.testing.assert_array_equal(obs[..., :1 + n], bare_obs)
        assert not obs[..., 1 + n:].any(), "padded columns are zero"
        with torch.no_grad():
            torch.testing.assert_close(policy.from_observation(torch.as_tensor(obs))[:, :n],
                                       policy.from_observation(torch.as_tensor(bare_obs)))
        action = rng.uniform(-10, 10, (2, env.padded_params)).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action.reshape(-1))
        bare_obs, bare_reward, *ends, _ = bare.step(action[:, :n].reshape(-1))
        assert reward == bare_reward and [terminated, truncated] == ends
        torch.testing.assert_close(env.sub_env.parameters, bare.parameters, rtol=0, atol=0)
        if terminated:
            break


def test_spaces_are_fixed_and_hold_every_observation() -> None:
    env = _env()
    check_env(env, skip_render_check=True)
    rows = env.sub_env.observation_space.shape[1]  # the sub-env's rows, whatever it observes
    assert env.observation_space.shape == (2, rows, 1 + 21) and env.action_space.shape == (2 * 21,)
    rng = np.random.default_rng(2)
    sizes = set()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        sizes.add((info["family"], info["n_params"]))
        for _ in range(3):
            assert obs.shape == env.observation_space.shape and env.observation_space.contains(obs)
            obs, *_ = env.step(rng.uniform(-10, 10, env.action_space.shape).astype(np.float32))
    assert len(sizes) > 2


def test_weights_choose_the_families_drawn() -> None:
    env = _env(weights=[0, 0, 1])
    assert {env.reset(seed=s)[1]["family"] for s in range(8)} == {"mlp"}


def test_resolved_config_records_the_full_ranges_and_the_longer_horizon() -> None:
    cfg = resolve_mixed_config({"families": "quadratic,logistic", "ranges": {"logistic": {"dim": [4, 9]}}})
    assert cfg["families"] == ["quadratic", "logistic"] and cfg["weights"] == [0.5, 0.5]
    assert cfg["ranges"] == {"quadratic": MIXED_DEFAULT_RANGES["quadratic"], "logistic": {"dim": [4, 9], "batch_size": 32}}
    assert cfg["episode_steps"] == MIXED_EPISODE_STEPS > DEFAULT_CONFIG["episode_steps"]


@pytest.mark.parametrize("bad, message", [
    ({"families": ["quadratic", "mnist_cnn"]}, "unknown family 'mnist_cnn'"),
    ({"families": []}, "no families"),
    ({"families": ["quadratic", "quadratic"]}, "twice"),
    ({"ranges": {"quadratic": {"size": [2, 4]}}}, "unknown option 'size'"),
    ({"ranges": {"quadratic": {"dim": [8, 4]}}}, "bad range quadratic.dim"),
    ({"ranges": {"quadratic": {"dim": [2.5, 4]}}}, "bad range quadratic.dim"),
    ({"ranges": {"rosenbrock": {"dim": [1, 4]}}}, "bad dim 1"),
    ({"families": ["quadratic"], "ranges": {"mlp": {"hidden": [2, 4]}}}, "'mlp', which is not drawn"),
    ({"weights": [1, 2]}, "bad weights"),
    ({"families": ["quadratic", "mlp"], "weights": [1, -1]}, "bad weights"),
    ({"family": "quadratic"}, "unknown mixed env config key 'family'"),
    ({"batch_problems": 91}, "batch_problems"),
])
def test_bad_config_is_a_value_error_naming_it(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        resolve_mixed_config(bad)


def test_settings_select_the_mixed_env_only_for_several_families() -> None:
    one = TrainSettings(family="quadratic")
    assert one.env_class().__name__ == "OptimizationEnv" and one.episode_steps == DEFAULT_CONFIG["episode_steps"]
    assert "families" not in one.env_config() and one.env_config()["family"] == "quadratic"
    mixed = TrainSettings(family="quadratic,logistic", batch_problems=4, ranges={"quadratic": {"dim": [2, 4]}})
    mixed.check()
    assert mixed.env_class() is MixedFamilyEnv and mixed.episode_steps == MIXED_EPISODE_STEPS
    assert mixed.env_config()["families"] == ["quadratic", "logistic"]
    assert TrainSettings(family="quadratic,mlp", episode_steps=30).episode_steps == 30
    with pytest.raises(UsageError, match="--dim applies to one family"):
        TrainSettings(family="quadratic,mlp", dim=5).check()
    with pytest.raises(UsageError, match="--ranges applies to several families"):
        TrainSettings(family="quadratic", ranges={"quadratic": {"dim": [2, 4]}}).check()


@pytest.mark.parametrize("args, message", [
    (["--family", "quadratic,mnist_cnn"], "unknown family 'mnist_cnn'"),
    (["--family", "quadratic,mlp", "--ranges", "mlp.hidden=4:x"], "bad --ranges item 'mlp.hidden=4:x'"),
    (["--family", "quadratic,mlp", "--ranges", "mlp.hidden=9:4"], "bad range mlp.hidden"),
])
def test_cli_errors_are_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = cli("rl", "train", *args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists(), "refused before anything was written"


@pytest.mark.ray
def test_mixed_training_exports_a_policy_run_uses_on_another_family(tmp_path: Path, ray_session) -> None:
    """One tiny PPO iteration through the real CLI (real Ray, 0 env runners), then the policy
    drives rosenbrock, a family it never saw, through ``raybench run``."""
    from raybench.rl.evaluate import eval_specs

    out = tmp_path / "policy"
    ok(cli("rl", "train", "--family", "quadratic,logistic,mlp", "--ranges",
             "quadratic.dim=3:8,logistic.dim=5:8,mlp.hidden=4:8",
             "--iterations", "1", "--train-batch", "64", "--minibatch", "32", "--epochs", "1", "--env-runners", "0",
             "--envs-per-runner", "1", "--batch-problems", "2", "--num-problems", "4", "--episode-steps", "16",
             "--quiet", "--out", str(out)))
    curves = pd.read_parquet(out / "rl_curves")
    assert list(curves["env_steps"]) == [64] and curves["episode_return_mean"].notna().all()
    given = {"quadratic": {"dim": [3, 8]}, "logistic": {"dim": [5, 8]}, "mlp": {"hidden": [4, 8]}}
    assert json.loads((out / "rl_train.json").read_text())["ranges"] == given
    training = load_policy(out / "policy.safetensors").metadata["training"]
    assert training["env"] == "MixedFamilyEnv" and training["families"] == ["quadratic", "logistic", "mlp"]
    assert training["ranges"] == {"quadratic": {"dim": [3, 8]}, "logistic": {"dim": [5, 8], "batch_size": 32},
                                  "mlp": {"hidden": [4, 8], "batch_size": 32}}
    assert training["episode_steps"] == 16 and training["batch_problems"] == 2

    runs_out = tmp_path / "runs"
    ok(cli("run", "--problems", "rosenbrock", "--optimizers", "autonomous", "--hparam",
             f"autonomous.policy={out / 'policy.safetensors'}", "--steps", "20", "--seeds", "1",
             "--out", str(runs_out)))
    runs = pd.read_parquet(runs_out / "runs")
    assert list(runs["status"]) == ["ok"] and list(runs["steps"]) == [20]
    assert np.isfinite(runs["final_train_loss"]).all()

    # `rl eval` on one of its families: the problem's own defaults (a mixed policy has no one dim).
    specs = eval_specs(str(out / "policy.safetensors"), "quadratic", 2, baselines=["adam"], steps=5)
    assert len(specs) == 4 and all("dim" not in dict(spec.options) for spec in specs)
