"""The batched RL environment: B instances in one env step follow the iterates, objectives,
gradients and rewards of B separate ``OptimizationEnv``s; spaces, reset, termination; the
RLlib module on batched observations; one real ``rl train --batch-problems`` iteration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from raybench.learned.features import FEATURES, GROUPS, Layout, empty_history, observation, record
from raybench.learned.policy import load_policy
from raybench.optimizers.autonomous import AutonomousOptimizer
from raybench.rl.batched_env import BATCHED, BatchedOptimizationEnv, resolve_batched_config
from raybench.rl.env import REWARD_CLIP, OptimizationEnv
from tests.conftest import cli, ok


def _flat_params(env: OptimizationEnv) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in env._params])


@pytest.mark.parametrize("family", list(BATCHED))
def test_batch_follows_separate_envs_under_the_same_actions(family: str) -> None:
    """Actions depend on the observations (a normalised gradient step plus noise), so wrong
    objectives or gradients in the batch would move its iterates away from the separate envs'."""
    config = {"family": family, "num_problems": 5, "episode_steps": 12, "update_scale": 0.05}
    batched = BatchedOptimizationEnv({**config, "batch_problems": 3})
    obs, info = batched.reset(seed=11)
    seeds = info["instance_seeds"]
    assert len(set(seeds)) == 3
    singles = [OptimizationEnv(config) for _ in seeds]
    single_obs = [env.reset(options={"instance_seed": s})[0] for env, s in zip(singles, seeds)]
    n = batched.n_params
    rng = np.random.default_rng(0)
    for _ in range(12):
        np.testing.assert_allclose(obs, np.stack(single_obs), atol=1e-4)
        for b, env in enumerate(singles):
            torch.testing.assert_close(batched.parameters[b], _flat_params(env), rtol=1e-5, atol=1e-5)
            assert info["objectives"][b] == pytest.approx(env._f, rel=1e-5, abs=1e-6)
            torch.testing.assert_close(batched._hist.g[b, -1], env._hist.g[-1], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(batched._hist.m[b], env._hist.m, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(batched._hist.v[b], env._hist.v, rtol=1e-4, atol=1e-8)
        action = (-obs[:, batched.history - 1, 1:] + 0.3 * rng.standard_normal((3, n))).astype(np.float32)
        obs, reward, terminated, truncated, info = batched.step(action.reshape(-1))
        steps = [env.step(action[b]) for b, env in enumerate(singles)]
        single_obs = [s[0] for s in steps]
        assert reward == pytest.approx(np.mean([s[1] for s in steps]), abs=1e-4)
        assert (terminated, truncated) == (steps[0][2], steps[0][3])
    assert truncated and not terminated, "the episode ends after episode_steps"


@pytest.mark.parametrize("family", list(BATCHED))
def test_batched_env_passes_gymnasium_checker(family: str) -> None:
    env = BatchedOptimizationEnv({"family": family, "num_problems": 4, "batch_problems": 2})
    check_env(env, skip_render_check=True)
    n = env.n_params
    assert env.observation_space.shape == (2, 28, 1 + n) and env.action_space.shape == (2 * n,)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(rng.uniform(-10, 10, env.action_space.shape).astype(np.float32))


def test_reset_draws_distinct_instances_from_the_pool_deterministically() -> None:
    env = BatchedOptimizationEnv({"family": "quadratic", "num_problems": 6, "batch_problems": 6})
    first = env.reset(seed=3)[1]["instance_seeds"]
    assert sorted(first) == list(range(1_000_000, 1_000_006)), "a batch as large as the pool is the pool"
    env = BatchedOptimizationEnv({"family": "quadratic", "num_problems": 8, "batch_problems": 3})
    a, b = env.reset(seed=5), BatchedOptimizationEnv(env.config).reset(seed=5)
    assert a[1]["instance_seeds"] == b[1]["instance_seeds"]
    np.testing.assert_array_equal(a[0], b[0])
    drawn = {s for k in range(20) for s in env.reset(seed=k)[1]["instance_seeds"]}
    assert len(drawn) > 3 and drawn <= set(range(1_000_000, 1_000_008))
    heldout = BatchedOptimizationEnv({"family": "quadratic", "pool": "heldout", "num_heldout": 4, "batch_problems": 2})
    assert set(heldout.reset(seed=0)[1]["instance_seeds"]) <= {0, 1, 2, 3}
    assert env.reset(options={"instance_seeds": [7, 8, 9]})[1]["instance_seeds"] == [7, 8, 9]
    with pytest.raises(ValueError, match="instance_seeds has 2"):
        env.reset(options={"instance_seeds": [7, 8]})
    with pytest.raises(RuntimeError, match="reset"):
        BatchedOptimizationEnv(env.config).step(np.zeros(env.action_space.shape, np.float32))


def test_a_diverging_instance_ends_the_episode_with_minus_five_for_it() -> None:
    env = BatchedOptimizationEnv({"family": "quadratic", "batch_problems": 2, "num_problems": 4,
                                  "update_scale": 1e30})
    obs, _ = env.reset(seed=0)
    action = np.concatenate([np.zeros(10), np.full(10, 10.0)]).astype(np.float32)  # instance 1 overflows
    after, reward, terminated, truncated, _ = env.step(action)
    # Instance 0 did not move (reward 0); instance 1 went non-finite (-5): the mean is -2.5.
    assert terminated and not truncated and reward == pytest.approx(-REWARD_CLIP / 2)
    np.testing.assert_array_equal(after, obs)  # the last finite observation stands


def test_actions_are_instance_major_and_clipped() -> None:
    env = BatchedOptimizationEnv({"family": "rosenbrock", "batch_problems": 2, "num_problems": 2})
    env.reset(seed=0)
    x0 = env.parameters.clone()
    action = np.zeros(20, np.float32)
    action[3] = 1.0     # instance 0, coordinate 3
    action[10 + 7] = 1e6  # instance 1, coordinate 7: clipped to 10
    env.step(action)
    moved = env.parameters - x0
    expected = torch.zeros(2, 10)
    expected[0, 3], expected[1, 7] = 0.1, 1.0
    torch.testing.assert_close(moved, expected)


@pytest.mark.parametrize("bad, word", [({"batch_problems": 91}, "batch_problems"),
                                       ({"batch_problems": 0}, "batch_problems"),
                                       ({"family": "mnist_cnn"}, "family"), ({"colour": 1}, "colour")])
def test_bad_config_names_the_key(bad: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        resolve_batched_config(bad)


def test_batched_features_are_each_histories_own() -> None:
    """``record`` / ``observation`` on stacked histories give each history's own observation."""
    torch.manual_seed(0)
    layout = Layout(5)
    scale = torch.tensor([1.0, 10.0, 1e-3, 0.0])
    stacked = empty_history(layout, 4, batch=(3,))
    singles = [empty_history(layout, 4) for _ in range(3)]
    steps = 7  # past the window
    for _ in range(steps):
        f_new, g_new = torch.randn(3), torch.randn(3, 4) * scale
        stacked = record(stacked, f_new, g_new)
        singles = [record(h, float(f_new[b]), g_new[b]) for b, h in enumerate(singles)]
    batched = observation(stacked, steps, layout)
    for b, single in enumerate(singles):
        for mine, own in zip(stacked, single):
            torch.testing.assert_close(mine[b], own)
        torch.testing.assert_close(batched[b], observation(single, steps, layout), rtol=0, atol=0)


def test_module_acts_on_each_instance_and_pools_values_over_all_coordinates() -> None:
    from ray.rllib.core.columns import Columns

    from raybench.rl.module import CoordinatewisePolicyModule

    env = BatchedOptimizationEnv({"family": "quadratic", "batch_problems": 3, "num_problems": 3})
    torch.manual_seed(0)
    module = CoordinatewisePolicyModule(observation_space=env.observation_space, action_space=env.action_space,
                                        model_config={})
    obs = torch.rand(4, 3, 28, 11) * 2 - 1
    with torch.no_grad():
        out = module._forward({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        values = module.compute_values({Columns.OBS: obs})
        # The same coordinates as one 30-coordinate problem with each instance's objective column
        # (its 25 window rows beside each coordinate's 28 rows: window and momenta).
        pooled = module.value_head(module.value_embed(
            torch.cat([torch.cat([obs[:, b, :, 1:].transpose(1, 2),
                                  obs[:, b, :25, :1].transpose(1, 2).expand(-1, 10, -1)], -1) for b in range(3)],
                      dim=1)).mean(1)).squeeze(-1)
    assert out.shape == (4, 2 * 30) and values.shape == (4,)
    for b in range(3):
        torch.testing.assert_close(out[:, b * 10:(b + 1) * 10], module.policy.from_observation(obs[:, b]))
    torch.testing.assert_close(out[:, 30:], module.log_std.expand(4, 30))
    torch.testing.assert_close(values, pooled)


@pytest.mark.ray
def test_rl_train_on_the_batched_env_exports_a_policy_the_optimizer_uses(tmp_path: Path, ray_session) -> None:
    """One small PPO iteration through the real ``raybench rl train`` (real Ray, 0 env runners)."""
    out = tmp_path / "policy"
    ok(cli("rl", "train", "--family", "quadratic", "--batch-problems", "8", "--num-problems", "16",
             "--episode-steps", "10", "--env-runners", "0", "--envs-per-runner", "1", "--train-batch", "40",
             "--minibatch", "20", "--epochs", "1", "--timesteps", "320", "--out", str(out), "--quiet"))
    curves = pd.read_parquet(out / "rl_curves")
    assert list(curves["env_steps"]) == [40], "one iteration: 40 env steps = 320 optimizee steps, the budget"
    assert json.loads((out / "rl_train.json").read_text())["batch_problems"] == 8
    loaded = load_policy(out / "policy.safetensors")
    training = loaded.metadata["training"]
    assert loaded.metadata["features"] == FEATURES and loaded.metadata["inputs"] == list(GROUPS)
    assert training["batch_problems"] == 8 and training["env"] == "BatchedOptimizationEnv"
    assert training["env_steps"] == 40 and training["optimizee_steps"] == 320
    model = torch.nn.Linear(3, 1)
    opt = AutonomousOptimizer(model.parameters(), loaded)
    x, y = torch.randn(16, 3), torch.randn(16, 1)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    before = [p.detach().clone() for p in model.parameters()]
    opt.step(closure)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
