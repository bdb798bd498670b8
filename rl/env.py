"""Optimisation as a sequential decision problem: a ``gymnasium.Env`` over a problem family.

Each episode draws one instance of a problem family (a problem with ``family=True``, named as
any problem is: a registry name, ``MODULE:ATTR`` or an installed package's entry point;
``family_problem``) from a seeded pool and lets the agent optimise it for ``episode_steps`` steps. The env takes one ``config`` dict (Ray's convention)::

    OptimizationEnv({"family": "quadratic", "dim": 10, "history": 25, "episode_steps": 40,
                     "update_scale": 0.1, "pool": "train", "num_problems": 90,
                     "inputs": ["objective", "gradient", "momentum"]})

Observation: ``raybench.learned.features`` (``FEATURES``), an ``(H + 3, 1 + n)`` matrix in
``[-1, 1]``: the last ``history`` steps of [change in objective, gradient] (each column
divided by its largest magnitude in the window; rows before the first step are zeros), then
three rows of each coordinate's gradient moving averages divided by its RMS. Input groups
not in ``inputs`` are zeros.

Action: one number per parameter; the parameters move by ``update_scale * clip(action,
-10, 10)``.

The env records and observes with ``raybench.learned.step.observe`` and moves the parameters
with ``raybench.learned.step.apply_update``, the two halves of the step
``AutonomousOptimizer`` takes, so a trained policy sees at test time what it saw in training.

Reward: ``r_t = clip(log(gap_t + eps) - log(gap_{t+1} + eps), -5, 5)`` where
``gap = f - f_lower`` (``f_lower`` is the instance's ``f_star`` when known, else 0, a lower
bound of every loss in the families) and ``eps = 1e-6 * gap_0``. Why this form: it is
unchanged when an instance's objective is multiplied by any constant, so instances of
different scale weigh the same; an episode's return telescopes to ``log(gap_0 / gap_T)``,
the orders of magnitude of suboptimality removed; halving the gap is worth the same early
and late, which is what "final objective" comparisons reward. The clip and ``eps`` keep
single steps (a divergence, an exact hit) from dominating PPO's value targets. A
non-finite objective ends the episode (``terminated``) with reward -5.

Pools: the training pool is instance seeds ``TRAIN_SEED_BASE + i`` (``i < num_problems``),
the held-out pool is seeds ``i`` (``i < num_heldout``), i.e. the ordinary seeds that
``raybench run`` benchmarks on. They are disjoint by construction (see ``pool_seeds``).
Everything is determined by ``reset(seed=...)``: which instance is drawn and its start.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from raybench import problems
from raybench.learned.features import GROUPS, Layout, empty_history, parse_inputs
from raybench.learned.policy import ACTION_CLIP, DEFAULT_HISTORY
from raybench.learned.step import apply_update, observe

TRAIN_SEED_BASE = 1_000_000
"""Training instance seeds start here; held-out (evaluation) seeds are 0, 1, 2, ..."""
MAX_POOL = TRAIN_SEED_BASE
REWARD_CLIP = 5.0
GAP_EPS = 1e-6

DEFAULT_CONFIG: dict[str, Any] = {
    "family": "quadratic",
    "dim": None,          # the problem's default
    "options": {},        # further problem options, e.g. {"batch_size": None}
    "history": DEFAULT_HISTORY,
    "episode_steps": 40,
    "update_scale": 0.1,
    "pool": "train",      # "train" or "heldout"
    "num_problems": 90,   # size of the training pool
    "num_heldout": 100,   # size of the held-out pool
    "inputs": GROUPS,     # input groups the policy observes (raybench.learned.features)
}


def pool_seeds(pool: str, size: int) -> list[int]:
    """Instance seeds of the ``"train"`` or ``"heldout"`` pool: the one place pools are defined."""
    if pool not in ("train", "heldout"):
        raise ValueError(f"unknown pool {pool!r}; accepted: train, heldout")
    if isinstance(size, bool) or int(size) != size or not 1 <= int(size) <= MAX_POOL:
        raise ValueError(f"bad pool size {size!r}; accepted: an integer in [1, {MAX_POOL}]")
    base = TRAIN_SEED_BASE if pool == "train" else 0
    return [base + i for i in range(int(size))]


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults merged with ``config``, checked; raises ``ValueError`` naming the bad key."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown env config key {unknown[0]!r}; accepted: {', '.join(DEFAULT_CONFIG)}")
    cfg = {**DEFAULT_CONFIG, **config}
    family_problem(cfg["family"])
    for key in ("history", "episode_steps"):
        if int(cfg[key]) != cfg[key] or int(cfg[key]) < 1:
            raise ValueError(f"bad {key} {cfg[key]!r}; accepted: a positive integer")
        cfg[key] = int(cfg[key])
    if not (math.isfinite(float(cfg["update_scale"])) and float(cfg["update_scale"]) > 0):
        raise ValueError(f"bad update_scale {cfg['update_scale']!r}; accepted: a number > 0")
    cfg["update_scale"] = float(cfg["update_scale"])
    try:
        cfg["inputs"] = parse_inputs(cfg["inputs"])
    except ValueError as exc:
        raise ValueError(f"bad inputs {cfg['inputs']!r}: {exc}") from None
    pool_seeds("train", cfg["num_problems"])
    pool_seeds("heldout", cfg["num_heldout"])
    pool_seeds(cfg["pool"], 1)
    return cfg


def family_problem(family: str) -> problems.Problem:
    """The problem family ``family`` names, looked up as every problem is (``problems.get``: a
    registry name, ``MODULE:ATTR``, ``NAME=MODULE:ATTR`` or an installed package's entry point) and
    checked to be a family (``family=True``); ``ValueError`` in one line naming what is accepted.

    Env runners (Ray actors) build their envs from the env config, so they call this with the
    family as the user gave it: an import path is loaded there too, its module shipped to them
    by ``--py-modules`` (Ray's ``runtime_env``).
    """
    accepted = f"{', '.join(problems.families())}, or MODULE:ATTR of a Problem with family=True"
    if not isinstance(family, str):
        raise ValueError(f"unknown family {family!r}; accepted: {accepted}")
    try:
        problem = problems.get(family)
    except problems.ProblemError:
        if ":" in family:
            raise  # the registry's own line: what did not import or load, and what is accepted
        raise ValueError(f"unknown family {family!r}; accepted: {accepted}") from None
    if not problem.family:
        which = "a problem" if problem.name == family else f"problem {problem.name!r}"
        raise ValueError(f"unknown family {family!r}: {which}, but not a family (its seeds do not draw new "
                         f"instances); accepted: {accepted}")
    return problem


def gap(f: float | torch.Tensor, f_lower: float | torch.Tensor) -> torch.Tensor:
    """``max(f - f_lower, 0)`` in float64, elementwise: the suboptimality the reward measures."""
    f = torch.as_tensor(f, dtype=torch.float64)
    return (f - torch.as_tensor(f_lower, dtype=torch.float64)).clamp(min=0.0)


def reward_eps(gap_0: torch.Tensor) -> torch.Tensor:
    """``eps = GAP_EPS * gap_0`` (at least ``GAP_EPS * 1e-12``): the reward's floor under the gap."""
    return GAP_EPS * gap_0.clamp(min=1e-12)


def step_reward(gap_before: torch.Tensor, gap_after: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``clip(log(gap_before + eps) - log(gap_after + eps), -5, 5)``, elementwise (the module docstring).

    The one home of the reward: ``OptimizationEnv`` takes it for one instance,
    ``rl.batched_env.BatchedOptimizationEnv`` for many at once. Non-finite gaps give NaN;
    the envs end the episode on those with ``-REWARD_CLIP`` instead.
    """
    return (torch.log(gap_before + eps) - torch.log(gap_after + eps)).clamp(-REWARD_CLIP, REWARD_CLIP)


def problem_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The problem options an env config implies (``dim`` only when set)."""
    options = dict(cfg.get("options") or {})
    if cfg.get("dim") is not None:
        options["dim"] = int(cfg["dim"])
    return options


class OptimizationEnv(gym.Env):
    """Optimise one instance of a problem family per episode; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = resolve_config(dict(config or {}))
        self.family = family_problem(self.config["family"])
        self.options = problem_options(self.config)
        size = self.config["num_problems"] if self.config["pool"] == "train" else self.config["num_heldout"]
        self.seeds = pool_seeds(self.config["pool"], size)
        self._cache: dict[int, tuple[Any, list[torch.Tensor]]] = {}
        probe, _ = self._instance(self.seeds[0])
        self.n_params = sum(p.numel() for p in probe.parameters())
        self.history = self.config["history"]
        self.layout = Layout(self.history, self.config["inputs"])
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (self.layout.rows, 1 + self.n_params), np.float32)
        self.action_space = gym.spaces.Box(-ACTION_CLIP, ACTION_CLIP, (self.n_params,), np.float32)
        self._inst: Any = None

    def _instance(self, seed: int) -> tuple[Any, list[torch.Tensor]]:
        # Instances are cached with their initial parameters: building one (data, QR) costs
        # more than an episode of a 10-dimensional problem.
        if seed not in self._cache:
            inst = self.family.instance(seed, **self.options)
            self._cache[seed] = (inst, [p.detach().clone() for p in inst.parameters()])
        return self._cache[seed]

    # -- objective and gradient at the current point ---------------------------------------
    def _evaluate(self) -> tuple[float, torch.Tensor]:
        inst = self._inst
        loss = inst.closure(inst.batch(self._t))()
        grads = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self._params]
        return float(loss.detach()), torch.cat(grads).detach().float()

    def _observe(self, f: float, g: torch.Tensor) -> np.ndarray:
        """Record the current point and return what the policy sees of the history."""
        self._hist, obs = observe(self._hist, self._count, f, g, self.layout)
        self._count += 1
        self._obs = obs.numpy()
        return self._obs

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw an instance from the pool (or ``options={"instance_seed": s}``) and restart it."""
        super().reset(seed=seed)
        options = options or {}
        if "instance_seed" in options:
            instance_seed = int(options["instance_seed"])
        else:
            instance_seed = self.seeds[int(self.np_random.integers(len(self.seeds)))]
        self._inst, init = self._instance(instance_seed)
        self._inst.train_mode(True)
        self._params = self._inst.parameters()
        if sum(p.numel() for p in self._params) != self.n_params:
            raise ValueError(f"instance {instance_seed} has a different parameter count than the pool's")
        with torch.no_grad():
            for p, p0 in zip(self._params, init):
                p.copy_(p0)
        self._instance_seed = instance_seed
        self._f_lower = float(self._inst.f_star) if self._inst.f_star is not None else 0.0
        self._t = 0
        self._count = 0
        self._hist = empty_history(self.layout, self.n_params)
        f, g = self._evaluate()
        obs = self._observe(f, g)
        self._f = f
        self._eps = reward_eps(gap(f, self._f_lower))
        return obs, self._info()

    def _info(self) -> dict[str, Any]:
        return {"instance_seed": self._instance_seed, "objective": self._f, "step": self._t}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._inst is None:
            raise RuntimeError("call reset() before step()")
        apply_update(self._params, torch.as_tensor(np.asarray(action, dtype=np.float32)),
                     self.config["update_scale"])
        self._t += 1
        f_prev = self._f
        f, g = self._evaluate()
        truncated = self._t >= self.config["episode_steps"]
        if not (math.isfinite(f) and bool(torch.isfinite(g).all())):
            # The episode ends here; the last finite observation stands.
            self._f = f
            return self._obs, -REWARD_CLIP, True, False, self._info()
        reward = float(step_reward(gap(f_prev, self._f_lower), gap(f, self._f_lower), self._eps))
        self._f = f
        return self._observe(f, g), reward, False, truncated, self._info()
