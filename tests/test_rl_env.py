"""The RL environment: gymnasium's checker, bounds, clipping, determinism, pools, reward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from raybench import problems
from raybench.learned.features import MOMENTUM_BETAS, Layout, empty_history, observation, record
from raybench.rl.env import TRAIN_SEED_BASE, OptimizationEnv, pool_seeds, resolve_config


@pytest.mark.parametrize("family", problems.families())
def test_env_passes_gymnasium_checker(family: str) -> None:
    env = OptimizationEnv({"family": family, "num_problems": 3})
    check_env(env, skip_render_check=True)
    n = sum(p.numel() for p in problems.get(family).instance(TRAIN_SEED_BASE).parameters())
    assert env.observation_space.shape == (25 + len(MOMENTUM_BETAS), 1 + n)
    assert env.action_space.shape == (n,)


def _rollout(env: OptimizationEnv, seed: int, actions: list[np.ndarray]) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, info["instance_seed"])]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, r, info["instance_seed"]))
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("family", problems.families())
def test_observations_stay_in_bounds_and_start_with_zero_rows(family: str) -> None:
    env = OptimizationEnv({"family": family, "num_problems": 5, "update_scale": 1.0})
    obs, _ = env.reset(seed=1)
    # Only the current point is known: every older window row is zero, the newest gradient is +-1,
    # and every momentum is the gradient itself over its own RMS: tanh(+-1).
    window, momentum = obs[:25], obs[25:]
    assert np.all(window[:-1] == 0)
    nonzero = window[-1, 1:] != 0
    assert nonzero.any() and np.all(np.abs(window[-1, 1:][nonzero]) == 1.0)
    np.testing.assert_allclose(momentum[:, 1:], np.tanh(np.broadcast_to(window[-1, 1:], momentum[:, 1:].shape)),
                               rtol=1e-6)
    assert np.all(momentum[:, 0] == 0), "the objective column has no momentum rows"
    rng = np.random.default_rng(0)
    for _ in range(40):
        obs, r, term, trunc, _ = env.step(rng.uniform(-10, 10, env.action_space.shape).astype(np.float32))
        assert obs.dtype == np.float32 and obs.min() >= -1.0 and obs.max() <= 1.0
        assert math.isfinite(r) and -5.0 <= r <= 5.0
        if term or trunc:
            break
    assert trunc, "episode ends after episode_steps (40)"


def test_actions_are_clipped_to_plus_minus_ten() -> None:
    env = OptimizationEnv({"family": "quadratic"})
    env.reset(seed=0, options={"instance_seed": 7})
    x0 = env._params[0].detach().clone()
    env.step(np.full(env.action_space.shape, 1e6, np.float32))
    moved = env._params[0].detach() - x0
    torch.testing.assert_close(moved, torch.full_like(x0, 10.0 * 0.1))


def test_deterministic_per_seed() -> None:
    rng = np.random.default_rng(3)
    actions = [rng.normal(size=10).astype(np.float32) for _ in range(10)]
    a = _rollout(OptimizationEnv({"family": "quadratic"}), 42, actions)
    b = _rollout(OptimizationEnv({"family": "quadratic"}), 42, actions)
    assert [x[2] for x in a] == [x[2] for x in b]
    for (oa, ra, _), (ob, rb, _) in zip(a, b):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb
    seeds = {OptimizationEnv({"family": "quadratic"}).reset(seed=s)[1]["instance_seed"] for s in range(20)}
    assert len(seeds) > 1, "different reset seeds draw different instances"


def test_pools_are_disjoint_and_env_draws_only_from_its_pool() -> None:
    train, held = set(pool_seeds("train", 90)), set(pool_seeds("heldout", 1000))
    assert len(train) == 90 and not train & held
    env = OptimizationEnv({"family": "quadratic", "num_problems": 4})
    drawn = {env.reset(seed=s)[1]["instance_seed"] for s in range(30)}
    assert drawn <= set(pool_seeds("train", 4))
    env = OptimizationEnv({"family": "quadratic", "pool": "heldout", "num_heldout": 4})
    assert {env.reset(seed=s)[1]["instance_seed"] for s in range(30)} <= {0, 1, 2, 3}


def test_return_is_log_reduction_of_the_gap() -> None:
    """Rewards telescope to log(gap_0 / gap_T) (no clipping hit on a gentle descent)."""
    env = OptimizationEnv({"family": "quadratic", "update_scale": 0.01})
    obs, info = env.reset(seed=0, options={"instance_seed": 5})
    inst = env._inst
    gap0 = inst.evaluate()["suboptimality"]
    total = 0.0
    for _ in range(10):
        obs, r, *_ = env.step(-obs[env.history - 1, 1:])  # a normalised gradient step
        total += r
    gap = inst.evaluate()["suboptimality"]
    eps = 1e-6 * gap0
    assert total > 0
    assert total == pytest.approx(math.log((gap0 + eps) / (gap + eps)), rel=1e-3)


def test_observation_is_scale_free() -> None:
    """(tests/test_learned_features.py holds every group to this, bit for bit.)"""
    layout = Layout(4)
    a, b = empty_history(layout, 6), empty_history(layout, 6)
    for f in (5.0, 4.0, 3.5, 3.4):
        g = torch.randn(6)
        a, b = record(a, f, g), record(b, f * 1000, g * 1000)
    torch.testing.assert_close(observation(a, 4, layout), observation(b, 4, layout))


def test_inputs_select_the_groups_the_env_observes() -> None:
    """An env without the momentum group observes zeros in its rows, and the objective only in column 0."""
    full = OptimizationEnv({"family": "quadratic"})
    ablated = OptimizationEnv({"family": "quadratic", "inputs": "gradient,objective"})
    assert ablated.config["inputs"] == ("objective", "gradient")
    assert ablated.observation_space.shape == full.observation_space.shape == (28, 11)
    a, _ = full.reset(seed=0, options={"instance_seed": 3})
    b, _ = ablated.reset(seed=0, options={"instance_seed": 3})
    for _ in range(3):
        np.testing.assert_array_equal(a[:25], b[:25])
        assert np.all(b[25:] == 0) and np.abs(a[25:, 1:]).min() > 0
        action = -a[24, 1:]
        a, *_ = full.step(action)
        b, *_ = ablated.step(action)
    env = OptimizationEnv({"family": "quadratic", "inputs": ["objective"]})
    env.reset(seed=0, options={"instance_seed": 3})
    only_objective, *_ = env.step(np.ones(10, np.float32))  # a change in objective to see
    assert np.all(only_objective[:, 1:] == 0) and np.abs(only_objective[:, 0]).max() == 1.0


@pytest.mark.parametrize("bad, word", [({"family": "mnist_cnn"}, "family"), ({"history": 0}, "history"),
                                       ({"update_scale": -1}, "update_scale"), ({"num_problems": 0}, "pool size"),
                                       ({"inputs": "objective,speed"}, "inputs 'objective,speed': unknown input "
                                                                       "group 'speed'"),
                                       ({"inputs": []}, "no input group"), ({"colour": 1}, "colour")])
def test_bad_config_names_the_key(bad: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        resolve_config(bad)
