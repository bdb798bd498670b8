"""Meta-training over several problem families at once: ``MixedFamilyEnv``.

A policy trained on one family and one size learns that family's habits; the autonomous
optimizer is meant to drive any torch model. This env draws, at every reset, a family
(uniformly, or by ``weights``) and that family's size options from ranges (quadratic /
logistic / robust_regression / rosenbrock ``dim``, mlp ``hidden``), with minibatch noise
where the family has data (``batch_size`` 32), and runs one episode of a
``raybench.rl.batched_env.BatchedOptimizationEnv`` for that (family, sizes). The env takes one
``config`` dict (Ray's convention), ``raybench.rl.batched_env``'s keys with ``families``, ``weights``
and ``ranges`` in place of ``family``, ``dim`` and ``options``::

    MixedFamilyEnv({"families": ["quadratic", "logistic", "mlp"], "batch_problems": 8,
                    "ranges": {"quadratic": {"dim": [5, 20]}}})

``ranges`` overrides ``MIXED_DEFAULT_RANGES`` option by option: ``[lo, hi]`` (integers,
both ends included) is drawn uniformly per episode, any other value is fixed (e.g.
``"batch_size": None`` for full batches). Episodes are ``MIXED_EPISODE_STEPS`` (100) steps
unless ``episode_steps`` says otherwise: long enough for minibatch noise and the slower
families (rosenbrock, mlp) to matter, unlike the summary's 40-step quadratic protocol.

Reward, termination and instance pools are the batched env's own (each sub-env draws
its ``B`` instances from ``raybench.rl.env.pool_seeds``, so held-out seeds stay disjoint).
Everything is determined by ``reset(seed=...)``: the family, the sizes, the instances and
their starts; ``reset(options={"family": ..., "options": {...}, "instance_seeds": [...]})``
names any of them instead.

Padding. RLlib needs fixed spaces, so every observation is padded on the coordinate axis to
``(B, R, 1 + D)``, ``D`` the largest parameter count any drawn size gives, with zero
columns, and actions are ``B * D`` numbers (instance-major) of which the padded ones are
ignored. ``R`` (observation rows) is the sub-env's, whatever rows it observes. A padded
coordinate looks to the policy exactly like a real parameter the objective does not depend
on (zero gradient beside the shared objective column), and since the policy is
coordinate-wise its actions on real coordinates are unchanged by padding. What padding
costs: (1) compute: the policy and value head run on ``B * D`` coordinates where the drawn
problem has ``B * n`` (at most ``D / n`` times the work; with the default ranges ``D`` =
129, the largest MLP); (2) PPO's log-probability sums over padded coordinates too: their
sampled actions have no effect on the return, so they add zero-mean noise to the policy
gradient (and to the shared log standard deviation's), and they count towards the
clipping ratio; (3) the value head averages its per-coordinate embedding over padded
coordinates too, so its pooled input mixes real coordinates with "no gradient" ones in a
proportion that depends on the drawn size. These are acceptable at these sizes: the
noise shrinks as real coordinates dominate, the value head sees the proportion through
the pooled embedding itself, and the exported policy, which never sees padding, is the
same coordinate-wise network. Keeping ``D`` modest (the default ranges top out at 129)
bounds all three.

Sub-envs are built lazily and the last ``SUB_ENV_CACHE`` are kept (building one costs a
few milliseconds; keeping them all would hold every size's data sets).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np

from raybench import problems
from raybench.learned.policy import ACTION_CLIP
from raybench.problems.base import ProblemError
from raybench.rl.batched_env import (
    BATCHED,
    BATCHED_DEFAULT_CONFIG,
    BatchedOptimizationEnv,
    resolve_batched_config,
)
from raybench.rl.env import family_problem

MIXED_EPISODE_STEPS = 100
"""Default horizon of mixed-family episodes (the single-family env's is ``rl.env``'s 40)."""

MIXED_DEFAULT_RANGES: dict[str, dict[str, Any]] = {
    "quadratic": {"dim": [2, 50]},
    "logistic": {"dim": [2, 50], "batch_size": 32},
    "robust_regression": {"dim": [2, 50], "batch_size": 32},
    "rosenbrock": {"dim": [2, 50]},
    "mlp": {"hidden": [4, 32], "batch_size": 32},  # 4 * hidden + 1 parameters: 17 to 129
}
"""Per family, the problem options each episode draws: ``[lo, hi]`` (uniform integers, both
ends included) or a fixed value. A batched family without an entry runs at its defaults."""

SUB_ENV_CACHE = 8
"""Sub-envs (one per drawn family and sizes) kept between resets."""

_REPLACED = ("family", "dim", "options")
MIXED_DEFAULT_CONFIG: dict[str, Any] = {
    **{k: v for k, v in BATCHED_DEFAULT_CONFIG.items() if k not in _REPLACED},
    "families": list(MIXED_DEFAULT_RANGES),
    "weights": None,      # None: uniform over families; else one non-negative weight per family
    "ranges": {},         # overrides of MIXED_DEFAULT_RANGES, option by option
    "episode_steps": MIXED_EPISODE_STEPS,
}


def _is_range(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _check_ranges(family: str, ranges: Any) -> dict[str, Any]:
    """One family's option table, defaults merged under ``ranges``; ``ValueError`` naming the bad entry."""
    if not isinstance(ranges, dict):
        raise ValueError(f"bad ranges for {family!r}: {ranges!r}; accepted: a mapping option -> [lo, hi] or value")
    problem = problems.get(family)
    out: dict[str, Any] = {}
    for option, value in {**MIXED_DEFAULT_RANGES.get(family, {}), **ranges}.items():
        if option not in problem.option_specs:
            raise ValueError(f"unknown option {option!r} in ranges for {family!r}; accepted: "
                             f"{', '.join(problem.option_specs)}")
        if _is_range(value):
            ok = len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            if not ok or value[0] > value[1]:
                raise ValueError(f"bad range {family}.{option} {list(value)!r}; accepted: [lo, hi], "
                                 f"integers with lo <= hi")
            ends = list(value)
        else:
            ends = [value]
        for end in ends:
            try:
                problem.check_options({option: end})
            except ProblemError as exc:
                raise ValueError(f"ranges for {family!r}: {exc}") from None
        out[option] = [int(value[0]), int(value[1])] if _is_range(value) else problem.check_options({option: value})[option]
    return out


def largest(ranges: dict[str, Any]) -> dict[str, Any]:
    """The options at the top of every range (the largest parameter count, for these families)."""
    return {k: (v[1] if _is_range(v) else v) for k, v in ranges.items()}


def sub_config(cfg: dict[str, Any], family: str, options: dict[str, Any]) -> dict[str, Any]:
    """The ``BatchedOptimizationEnv`` config of one (family, options) of a resolved mixed config."""
    shared = {k: v for k, v in cfg.items() if k in BATCHED_DEFAULT_CONFIG and k not in _REPLACED}
    return {**shared, "family": family, "dim": None, "options": dict(options)}


def resolve_mixed_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults merged with ``config``, checked without building any instance.

    ``families`` becomes a list, ``weights`` the draw probabilities, ``ranges`` every drawn
    family's full option table (``MIXED_DEFAULT_RANGES`` under the overrides): what a policy's
    metadata records. Raises ``ValueError`` naming the bad key or value.
    """
    config = dict(config or {})
    unknown = sorted(set(config) - set(MIXED_DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown mixed env config key {unknown[0]!r}; accepted: {', '.join(MIXED_DEFAULT_CONFIG)}")
    cfg = {**MIXED_DEFAULT_CONFIG, **config}
    families = cfg["families"]
    if isinstance(families, str):
        families = [f.strip() for f in families.split(",") if f.strip()]
    families = list(families)
    if not families:
        raise ValueError("no families; accepted: one or more of " + ", ".join(problems.families()))
    for family in families:
        if family_problem(family).name not in BATCHED:
            raise ValueError(f"family {family!r} has no batched form; accepted: {', '.join(BATCHED)}")
    if len(set(families)) != len(families):
        raise ValueError(f"families {','.join(families)} name a family twice")
    weights = cfg["weights"]
    if weights is None:
        weights = [1.0] * len(families)
    ok = _is_range(weights) and len(weights) == len(families) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in weights)
    if not ok or sum(weights) <= 0:
        raise ValueError(f"bad weights {cfg['weights']!r}; accepted: {len(families)} non-negative numbers "
                         f"(one per family) with a positive sum")
    overrides = cfg["ranges"] or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"bad ranges {overrides!r}; accepted: a mapping family -> {{option: [lo, hi] or value}}")
    stray = sorted(set(overrides) - set(families))
    if stray:
        raise ValueError(f"ranges name family {stray[0]!r}, which is not drawn; families: {', '.join(families)}")
    ranges = {family: _check_ranges(family, overrides.get(family, {})) for family in families}
    total = float(sum(weights))
    cfg = {**cfg, "families": families, "weights": [float(w) / total for w in weights], "ranges": ranges}
    for family in families:  # history, episode_steps, pools, batch_problems: the batched env's checks
        resolve_batched_config(sub_config(cfg, family, largest(ranges[family])))
    return cfg


class MixedFamilyEnv(gym.Env):
    """One (family, sizes) drawn per episode, padded to fixed spaces; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = resolve_mixed_config(config)
        self.families: list[str] = self.config["families"]
        self.batch_problems = int(self.config["batch_problems"])
        self._subs: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], BatchedOptimizationEnv] = OrderedDict()
        probes = [self._sub_env(f, largest(self.config["ranges"][f])) for f in self.families]
        self.padded_params = max(sub.n_params for sub in probes)
        """``D``: the coordinate axis of every observation and of the actions per instance."""
        first = probes[0].observation_space
        self.rows = int(first.shape[-2])
        """``R``: the sub-envs' observation rows (their own, whatever they observe)."""
        for sub in probes:
            if sub.observation_space.shape[:-1] != (self.batch_problems, self.rows):
                raise ValueError(f"sub-env observation {sub.observation_space.shape} does not stack with "
                                 f"{first.shape}")
        low, high = float(np.min(first.low)), float(np.max(first.high))
        self.observation_space = gym.spaces.Box(
            min(low, 0.0), max(high, 0.0), (self.batch_problems, self.rows, 1 + self.padded_params), np.float32)
        self.action_space = gym.spaces.Box(-ACTION_CLIP, ACTION_CLIP, (self.batch_problems * self.padded_params,),
                                           np.float32)
        self._sub: BatchedOptimizationEnv | None = None

    def _sub_env(self, family: str, options: dict[str, Any]) -> BatchedOptimizationEnv:
        """The batched env of (family, options), built lazily; the last ``SUB_ENV_CACHE`` are kept."""
        key = (family, tuple(sorted(options.items())))
        if key not in self._subs:
            self._subs[key] = BatchedOptimizationEnv(sub_config(self.config, family, options))
            while len(self._subs) > SUB_ENV_CACHE:
                self._subs.popitem(last=False)
        self._subs.move_to_end(key)
        return self._subs[key]

    def _draw(self, family: str | None) -> tuple[str, dict[str, Any]]:
        """A family (``family`` when given) and its sizes, from the env's random stream."""
        drawn = self.families[int(self.np_random.choice(len(self.families), p=self.config["weights"]))]
        family = drawn if family is None else family
        options = {k: (int(self.np_random.integers(v[0], v[1] + 1)) if _is_range(v) else v)
                   for k, v in self.config["ranges"][family].items()}
        return family, options

    def _pad(self, obs: np.ndarray) -> np.ndarray:
        out = np.zeros(self.observation_space.shape, np.float32)
        out[..., :obs.shape[-1]] = obs
        return out

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        return {**info, "family": self._family, "options": dict(self._options), "n_params": self._sub.n_params}

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a family, its sizes and ``B`` instances (``options`` may name any of them)."""
        super().reset(seed=seed)
        options = dict(options or {})
        if options.get("family", self.families[0]) not in self.families:
            raise ValueError(f"family {options['family']!r} is not drawn here; families: {', '.join(self.families)}")
        family, sizes = self._draw(options.get("family"))
        sizes = {**sizes, **options.get("options", {})}
        sub_seed = int(self.np_random.integers(2**31))
        sub = self._sub_env(family, sizes)
        if sub.n_params > self.padded_params:
            raise ValueError(f"{family} with {sizes} has {sub.n_params} parameters, more than the "
                             f"{self.padded_params} the tops of the ranges give")
        self._sub, self._family, self._options = sub, family, sizes
        sub_options = {"instance_seeds": options["instance_seeds"]} if "instance_seeds" in options else None
        obs, info = self._sub.reset(seed=sub_seed, options=sub_options)
        return self._pad(obs), self._info(info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._sub is None:
            raise RuntimeError("call reset() before step()")
        n = self._sub.n_params
        real = np.asarray(action, dtype=np.float32).reshape(self.batch_problems, self.padded_params)[:, :n]
        obs, reward, terminated, truncated, info = self._sub.step(real.reshape(-1))
        return self._pad(obs), reward, terminated, truncated, self._info(info)

    @property
    def sub_env(self) -> BatchedOptimizationEnv:
        """The batched env of the current episode."""
        if self._sub is None:
            raise RuntimeError("call reset() first")
        return self._sub
