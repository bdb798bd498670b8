"""``raybench rl train``'s settings: one dataclass, its checks, and its file in the output folder.

``OUT/rl_train.json`` records the settings of the run in ``OUT``; ``--resume`` continues with
them (``resumed``), and refuses to change those that shape the env or the network.
Defaults that the env or the policy network own are read from them (``raybench.rl.env.DEFAULT_CONFIG``,
``raybench.learned.policy``), not restated here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from raybench.errors import UsageError
from raybench.learned.features import parse_inputs
from raybench.learned.policy import DEFAULT_HIDDEN
from raybench.rl.batched_env import BatchedOptimizationEnv, resolve_batched_config
from raybench.rl.env import DEFAULT_CONFIG, OptimizationEnv, resolve_config
from raybench.rl.mixed_env import MIXED_DEFAULT_CONFIG, MixedFamilyEnv, resolve_mixed_config

SETTINGS_FILE = "rl_train.json"
FIXED_ON_RESUME = ("family", "dim", "history", "hidden", "update_scale", "episode_steps", "num_problems",
                   "batch_problems", "inputs", "ranges")
"""Settings fixed by the first run of an output folder: they shape the env or the network."""


@dataclasses.dataclass
class TrainSettings:
    """``raybench rl train``'s arguments; derived values are properties."""

    family: str = DEFAULT_CONFIG["family"]
    """Problem family the policy trains on (a problem with ``family=True``), kept as given: a registry
    name, ``MODULE:ATTR`` (a module of yours: ``py_modules``) or an installed package's entry point,
    which the env runners resolve again; or several, comma-separated: ``rl.mixed_env``, a family
    and its sizes drawn per episode."""
    out: str = "policy"
    """Output folder (checkpoints, curves, exported policy)."""
    num_problems: int = DEFAULT_CONFIG["num_problems"]
    """Training pool size: instance seeds 1,000,000 + i."""
    passes: int = 20
    """Passes over the training pool (budget = num_problems * passes * episode_steps optimizee steps)."""
    episode_steps: int | None = None
    """Optimizer steps per episode (unset: the env's default, ``rl.env``'s or ``rl.mixed_env``'s)."""
    env_runners: int = 2
    """Parallel RLlib env runners (0: sample in the driver)."""
    envs_per_runner: int = 8
    """Environments each env runner steps as one vector (one policy forward pass for all)."""
    batch_problems: int = 1
    """Problem instances one env step advances together as batched tensor operations
    (``rl.batched_env``; one env step is this many optimizee steps); 1: ``rl.env``, one per step."""
    dim: int | None = DEFAULT_CONFIG["dim"]
    """Problem dimension (problem default when unset)."""
    ranges: dict[str, dict[str, Any]] | None = None
    """Several families only: per family, size options drawn per episode as ``[lo, hi]`` or fixed
    (over ``rl.mixed_env.MIXED_DEFAULT_RANGES``)."""
    history: int = DEFAULT_CONFIG["history"]
    """Steps of [change in objective, gradient] the policy sees."""
    inputs: tuple[str, ...] = DEFAULT_CONFIG["inputs"]
    """Input groups the policy observes (``raybench.learned.features``): objective, gradient, momentum."""
    update_scale: float = DEFAULT_CONFIG["update_scale"]
    """Parameter change per unit of action."""
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    """Hidden layer widths of the coordinate-wise policy."""
    timesteps: int | None = None
    """Optimizee steps to train for, env steps x batch_problems (overrides the passes budget)."""
    iterations: int | None = None
    """Stop after this many PPO iterations at most."""
    train_batch: int = 2000
    """Environment steps per PPO iteration (each holds batch_problems instances)."""
    minibatch: int = 200
    """SGD minibatch size, in environment steps."""
    epochs: int = 10
    """SGD epochs over each train batch."""
    lr: float = 3e-4
    """Adam learning rate of the PPO learner."""
    clip: float = 0.2
    """PPO clip parameter."""
    seed: int = 0
    """Seeds RLlib (sampling, initial weights)."""
    checkpoint_every: int = 5
    """Iterations between checkpoints (and at the end)."""
    py_modules: tuple[str, ...] = ()
    """Your ``.py`` files or package folders (absolute paths) that Ray ships to every env runner, so
    that a family named by import path loads there too (``--py-modules``); ``--resume`` ships them again."""

    def __post_init__(self) -> None:
        if self.episode_steps is None:
            self.episode_steps = (MIXED_DEFAULT_CONFIG if self.mixed else DEFAULT_CONFIG)["episode_steps"]

    @property
    def families(self) -> list[str]:
        """The families of ``family`` (a comma-separated list)."""
        return [f.strip() for f in str(self.family).split(",") if f.strip()]

    @property
    def mixed(self) -> bool:
        """Several families: ``rl.mixed_env.MixedFamilyEnv``."""
        return len(self.families) > 1

    @property
    def budget_timesteps(self) -> int:
        """The training budget in optimizee steps (env steps x batch_problems)."""
        if self.timesteps is not None:
            return int(self.timesteps)
        return int(self.num_problems) * int(self.passes) * int(self.episode_steps)

    @property
    def local_ray_cpus(self) -> int:
        """CPUs an embedded local Ray declares for this training: one per env runner (each asks
        for one) and one for the driver, so that any ``--env-runners`` fits on fewer cores."""
        return max(1, int(self.env_runners)) + 1

    def env_config(self) -> dict[str, Any]:
        """The config of ``env_class()`` (``batch_problems`` only for the batched env)."""
        cfg = {"family": self.family, "dim": self.dim, "history": self.history,
               "episode_steps": self.episode_steps, "update_scale": self.update_scale,
               "pool": "train", "num_problems": self.num_problems, "inputs": list(self.inputs)}
        if self.batch_problems != 1:
            cfg["batch_problems"] = self.batch_problems
        if self.mixed:  # every other key as above: the mixed env passes them to its batched sub-envs
            for key in ("family", "dim"):
                cfg.pop(key)
            cfg.update(families=self.families, ranges=self.ranges or {}, batch_problems=self.batch_problems)
        return cfg

    def env_class(self) -> type:
        """``rl.env.OptimizationEnv`` for one problem per env step, else ``rl.batched_env.BatchedOptimizationEnv``;
        ``rl.mixed_env.MixedFamilyEnv`` for several families."""
        if self.mixed:
            return MixedFamilyEnv
        return OptimizationEnv if self.batch_problems == 1 else BatchedOptimizationEnv

    def check(self) -> None:
        """Raise ``UsageError`` naming the first bad setting."""
        try:
            parse_inputs(self.inputs)
        except ValueError as exc:
            raise UsageError(f"bad --inputs {self.inputs!r}: {exc}") from None
        if isinstance(self.batch_problems, bool) or int(self.batch_problems) != self.batch_problems \
                or self.batch_problems < 1:
            raise UsageError(f"bad --batch-problems {self.batch_problems}; accepted: a positive integer")
        if self.mixed and self.dim is not None:
            raise UsageError(f"--dim applies to one family; with several ({self.family}) use --ranges, "
                             f"e.g. quadratic.dim=5:20")
        if not self.mixed and self.ranges:
            raise UsageError("--ranges applies to several families (--family quadratic,logistic); "
                             "for one use --dim")
        resolve = resolve_mixed_config if self.mixed else \
            resolve_config if self.batch_problems == 1 else resolve_batched_config
        try:
            resolve(self.env_config())
        except ValueError as exc:
            raise UsageError(str(exc).replace("batch_problems", "--batch-problems")) from None
        positive = {"passes": self.passes, "train_batch": self.train_batch, "minibatch": self.minibatch,
                    "epochs": self.epochs, "envs_per_runner": self.envs_per_runner,
                    "checkpoint_every": self.checkpoint_every}
        for name in ("timesteps", "iterations"):
            if getattr(self, name) is not None:
                positive[name] = getattr(self, name)
        for name, value in positive.items():
            if int(value) < 1:
                raise UsageError(f"bad --{name.replace('_', '-')} {value}; accepted: a positive integer")
        if self.env_runners < 0:
            raise UsageError(f"bad --env-runners {self.env_runners}; accepted: 0 or more")
        if self.minibatch > self.train_batch:
            raise UsageError(f"--minibatch {self.minibatch} exceeds --train-batch {self.train_batch}")
        if not (self.lr > 0 and 0 < self.clip < 1):
            raise UsageError(f"bad --lr {self.lr} / --clip {self.clip}; accepted: lr > 0, 0 < clip < 1")


def settings_path(out: str) -> str:
    return os.path.join(out, SETTINGS_FILE)


def save_settings(s: TrainSettings) -> str:
    """Write ``s`` to ``s.out/rl_train.json``, whole then renamed, like every file raybench writes."""
    path = settings_path(s.out)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(s).items()},
                  f, indent=1)
    os.replace(tmp, path)
    return path


def load_settings(out: str) -> TrainSettings:
    """The settings of the run in ``out``; keys of older versions that are no settings now are ignored."""
    path = settings_path(out)
    if not os.path.isfile(path):
        raise UsageError(f"{path} not found: {out} holds no `raybench rl train` run "
                         f"(nothing to resume or export)")
    with open(path) as f:
        data = json.load(f)
    for key in ("hidden", "inputs", "py_modules"):  # tuples, written as JSON lists
        if key in data:
            data[key] = tuple(data[key])
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in data.items() if k in known})


def resumed(out: str, given: dict[str, Any]) -> TrainSettings:
    """The settings of the run in ``out`` with ``given`` over them; ``FIXED_ON_RESUME`` cannot change."""
    s = load_settings(out)
    for key in FIXED_ON_RESUME:
        if key in given and given[key] != getattr(s, key):
            raise UsageError(f"--resume: --{key.replace('_', '-')} {given[key]} differs from the "
                             f"run's {getattr(s, key)}; it cannot change when resuming")
    return dataclasses.replace(s, **given)
