"""The RL environment: gymnasium's checker, bounds, clipping, determinism, pools, reward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import problems
from raybench.learned.features import observation
from rl.env import TRAIN_SEED_BASE, OptimizationEnv, pool_seeds, resolve_config


@pytest.mark.parametrize("family", problems.families())
def test_env_passes_gymnasium_checker(family: str) -> None:
    env = OptimizationEnv({"family": family, "num_problems": 3})
    check_env(env, skip_render_check=True)
    n = sum(p.numel() for p in problems.get(family).instance(TRAIN_SEED_BASE).parameters())
    assert env.observation_space.shape == (25, 1 + n)
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
    # Only the current point is known: every older row is zero, the newest gradient is +-1.
    assert np.all(obs[:-1] == 0)
    assert np.all(np.abs(obs[-1, 1:][obs[-1, 1:] != 0]) == 1.0)
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
        obs, r, *_ = env.step(-obs[-1, 1:])  # a normalised gradient step
        total += r
    gap = inst.evaluate()["suboptimality"]
    eps = 1e-6 * gap0
    assert total > 0
    assert total == pytest.approx(math.log((gap0 + eps) / (gap + eps)), rel=1e-3)


def test_observation_is_scale_free() -> None:
    f = torch.tensor([5.0, 4.0, 3.5, 3.4])
    g = torch.randn(4, 6)
    a = observation(f, g, 4)
    b = observation(f * 1000, g * 1000, 4)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bad, word", [({"family": "mnist_cnn"}, "family"), ({"history": 0}, "history"),
                                       ({"update_scale": -1}, "update_scale"), ({"num_problems": 0}, "pool size"),
                                       ({"colour": 1}, "colour")])
def test_bad_config_names_the_key(bad: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        resolve_config(bad)
