"""Many problem instances as one environment step: ``BatchedOptimizationEnv``.

``raybench.rl.env.OptimizationEnv`` advances one instance per env step, and its per-step cost (a
closure on tensors of ten numbers, the features, RLlib's bookkeeping) is almost all overhead.
This env holds ``batch_problems`` (``B``) instances of one family as stacked tensors and
advances all of them in one step with batched tensor operations: quadratics as one batched
matmul, the linear models (``logistic``, ``robust_regression``) likewise, Rosenbrock and the
small MLPs through ``torch.func.vmap`` of the problem's own function / model. One gradient
evaluation of the sum of the ``B`` losses gives every instance's gradient (they share no
parameter). The env takes one ``config`` dict, ``raybench.rl.env``'s keys plus ``batch_problems``::

    BatchedOptimizationEnv({"family": "quadratic", "dim": 10, "batch_problems": 32, ...})

The coordinate-wise policy sees the ``B`` instances as one optimisation over all their
``B * d`` coordinates:

* Observation: ``(B, R, 1 + d)``, instance ``b``'s ``OptimizationEnv`` observation in row
  ``b`` (each instance normalised on its own, so every coordinate sees its own instance's
  objective column), recorded with the same ``raybench.learned.step.observe``.
* Action: ``B * d`` numbers, instance-major (``action[b * d + i]`` moves coordinate ``i`` of
  instance ``b``), applied with the same ``raybench.learned.step.apply_update``.
* Reward: the mean over the ``B`` instances of ``raybench.rl.env``'s per-step reward
  (``raybench.rl.env.step_reward``); so an episode's return is the mean over instances of
  ``log(gap_0 / gap_T)``. Why the mean: it keeps the reward's scale (and PPO's value
  targets) independent of ``B``. The price is credit assignment: one advantage is shared by
  all ``B * d`` coordinates of a step, where ``B`` separate envs give each instance its own.
* Termination: a non-finite objective or gradient in any instance ends the episode
  (``terminated``): that instance's reward is -5 (``raybench.rl.env.REWARD_CLIP``), the others' are
  their usual rewards, and the last finite observation stands, as in ``OptimizationEnv``.
  Otherwise the episode is truncated after ``episode_steps`` steps.

So the ``B`` instances follow exactly the iterates ``B`` separate ``OptimizationEnv``s would
follow under the same actions (``tests/test_rl_batched_env.py`` holds them side by side),
and a policy trained here is the same network in the same file format, driving
``AutonomousOptimizer`` unchanged. One env step is ``B`` optimizee steps.

Reset draws ``B`` distinct instances from the pool (``raybench.rl.env.pool_seeds``), so ``B`` is at
most the pool's size; ``reset(options={"instance_seeds": [...]})`` names them instead.
Families: those with an entry in ``BATCHED`` (the project's, by registry name: a family of
the user's, named by import path, trains on ``rl.env`` one instance per step); each entry's loss is held against the
problem's own ``Instance.loss`` by the test above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from raybench.learned.features import Layout, empty_history
from raybench.learned.policy import ACTION_CLIP
from raybench.learned.step import apply_update, observe
from raybench.problems.robust_regression import geman_mcclure
from raybench.problems.rosenbrock import rosenbrock
from raybench.rl.env import (
    DEFAULT_CONFIG,
    REWARD_CLIP,
    family_problem,
    gap,
    pool_seeds,
    problem_options,
    resolve_config,
    reward_eps,
    step_reward,
)

BATCHED_DEFAULT_CONFIG: dict[str, Any] = {**DEFAULT_CONFIG, "batch_problems": 16}

Data = dict[str, torch.Tensor]


@dataclasses.dataclass(frozen=True)
class BatchedFamily:
    """How ``B`` instances of one family are stacked and evaluated together.

    ``data(inst)`` gives an instance's tensors (stacked over the batch by the env);
    ``loss(x, data, rows, model)`` gives the ``(B,)`` training losses at the flat parameters
    ``x`` ``(B, n)`` (ordered as ``Instance.parameters()``), on the training examples
    ``rows`` ``(B, batch)`` of each instance (``None``: full batch); ``model`` is one
    instance's ``torch.nn.Module``, a template for ``torch.func.functional_call``.
    """

    data: Callable[[Any], Data]
    loss: Callable[[torch.Tensor, Data, torch.Tensor | None, torch.nn.Module], torch.Tensor]


def _examples(data: Data, rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The training inputs ``(B, m, k)`` and targets ``(B, m)`` of ``rows`` (all for ``None``)."""
    x, y = data["x"], data["y"]
    if rows is None:
        return x, y
    batch = torch.arange(x.shape[0])[:, None]
    return x[batch, rows], y[batch, rows]


def _train_split(inst: Any) -> Data:
    x, y = inst.data["train"]
    return {"x": x, "y": y}


def _quadratic_loss(x: torch.Tensor, data: Data, rows: Any, model: Any) -> torch.Tensor:
    ax = torch.bmm(data["A"], x.unsqueeze(-1)).squeeze(-1)
    return 0.5 * (x * ax).sum(-1) + (data["b"] * x).sum(-1)


def _logistic_loss(x: torch.Tensor, data: Data, rows: torch.Tensor | None, model: Any) -> torch.Tensor:
    inputs, targets = _examples(data, rows)
    w, b = x[:, :-1], x[:, -1:]
    logits = torch.baddbmm(b.unsqueeze(-1), inputs, w.unsqueeze(-1)).squeeze(-1)
    nll = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)
    return nll + 0.5 * data["l2"] * (x * x).sum(-1)


def _robust_loss(x: torch.Tensor, data: Data, rows: torch.Tensor | None, model: Any) -> torch.Tensor:
    inputs, targets = _examples(data, rows)
    residual = torch.bmm(inputs, x.unsqueeze(-1)).squeeze(-1) - targets
    return geman_mcclure(residual, data["c"].unsqueeze(-1)).mean(-1)


def _rosenbrock_loss(x: torch.Tensor, data: Data, rows: Any, model: Any) -> torch.Tensor:
    return torch.func.vmap(rosenbrock)(x)


def _mlp_loss(x: torch.Tensor, data: Data, rows: torch.Tensor | None, model: torch.nn.Module) -> torch.Tensor:
    inputs, targets = _examples(data, rows)
    params, offset = {}, 0
    for name, p in model.named_parameters():
        params[name] = x[:, offset:offset + p.numel()].reshape(x.shape[0], *p.shape)
        offset += p.numel()
    logits = torch.func.vmap(lambda p, xs: torch.func.functional_call(model, p, (xs,)))(params, inputs)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)


BATCHED: dict[str, BatchedFamily] = {
    "quadratic": BatchedFamily(lambda inst: {"A": inst.A, "b": inst.b}, _quadratic_loss),
    "logistic": BatchedFamily(lambda inst: {**_train_split(inst), "l2": torch.tensor(inst.l2)}, _logistic_loss),
    "robust_regression": BatchedFamily(lambda inst: {**_train_split(inst), "c": torch.tensor(inst.c)},
                                       _robust_loss),
    "rosenbrock": BatchedFamily(lambda inst: {}, _rosenbrock_loss),
    "mlp": BatchedFamily(_train_split, _mlp_loss),
}
"""Families the batched env can stack, by registry name."""


def resolve_batched_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """``rl.env.resolve_config`` plus ``batch_problems``; raises ``ValueError`` naming the bad key."""
    config = dict(config or {})
    batch = config.pop("batch_problems", BATCHED_DEFAULT_CONFIG["batch_problems"])
    cfg = resolve_config(config)
    if family_problem(cfg["family"]).name not in BATCHED:
        raise ValueError(f"family {cfg['family']!r} has no batched form; accepted: {', '.join(BATCHED)}")
    pool = cfg["num_problems"] if cfg["pool"] == "train" else cfg["num_heldout"]
    if isinstance(batch, bool) or int(batch) != batch or not 1 <= int(batch) <= pool:
        raise ValueError(f"bad batch_problems {batch!r}; accepted: an integer in [1, {pool}] "
                         f"(the {cfg['pool']} pool's size: a batch holds distinct instances)")
    return {**cfg, "batch_problems": int(batch)}


class BatchedOptimizationEnv(gym.Env):
    """Optimise ``batch_problems`` instances of a family together; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = resolve_batched_config(config)
        self.family = family_problem(self.config["family"])
        self.batched = BATCHED[self.family.name]
        self.options = problem_options(self.config)
        size = self.config["num_problems"] if self.config["pool"] == "train" else self.config["num_heldout"]
        self.seeds = pool_seeds(self.config["pool"], size)
        self.batch_problems = self.config["batch_problems"]
        self.history = self.config["history"]
        self.layout = Layout(self.history, self.config["inputs"])
        self._cache: dict[int, tuple[Any, torch.Tensor, Data]] = {}
        probe, x0, _ = self._instance(self.seeds[0])
        self.model = probe.model  # a template for functional calls: its own parameters are never used
        self.n_params = x0.numel()
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (self.batch_problems, self.layout.rows, 1 + self.n_params),
                                                np.float32)
        self.action_space = gym.spaces.Box(-ACTION_CLIP, ACTION_CLIP, (self.batch_problems * self.n_params,),
                                           np.float32)
        self._x: torch.Tensor | None = None

    def _instance(self, seed: int) -> tuple[Any, torch.Tensor, Data]:
        """``(instance, flat initial parameters, data)``, cached: building one costs more than a step."""
        if seed not in self._cache:
            inst = self.family.instance(seed, **self.options)
            x0 = torch.cat([p.detach().reshape(-1) for p in inst.parameters()]).float()
            self._cache[seed] = (inst, x0, {k: v.detach() for k, v in self.batched.data(inst).items()})
        return self._cache[seed]

    # -- objectives and gradients of every instance at the current points --------------------
    def _rows(self) -> torch.Tensor | None:
        rows = [inst.batch(self._t) for inst in self._insts]
        return None if rows[0] is None else torch.stack(rows)

    def _evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._x.detach().requires_grad_(True)
        with torch.enable_grad():
            f = self.batched.loss(x, self._data, self._rows(), self.model)
            (g,) = torch.autograd.grad(f.sum(), x)
        return f.detach(), g.detach()

    def _observe(self, f: torch.Tensor, g: torch.Tensor) -> np.ndarray:
        self._hist, obs = observe(self._hist, self._count, f, g, self.layout)
        self._count += 1
        self._obs = obs.numpy()
        return self._obs

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw ``B`` distinct instances from the pool (or ``options={"instance_seeds": [...]}``)."""
        super().reset(seed=seed)
        options = options or {}
        if "instance_seeds" in options:
            instance_seeds = [int(s) for s in options["instance_seeds"]]
            if len(instance_seeds) != self.batch_problems:
                raise ValueError(f"instance_seeds has {len(instance_seeds)} seeds; the env batches "
                                 f"{self.batch_problems}")
        else:
            picks = self.np_random.choice(len(self.seeds), size=self.batch_problems, replace=False)
            instance_seeds = [self.seeds[int(i)] for i in picks]
        entries = [self._instance(s) for s in instance_seeds]
        if any(x0.numel() != self.n_params for _, x0, _ in entries):
            raise ValueError(f"instances {instance_seeds} do not all have {self.n_params} parameters")
        self._insts = [inst for inst, _, _ in entries]
        self._x = torch.stack([x0 for _, x0, _ in entries])
        self._data = {k: torch.stack([data[k] for _, _, data in entries]) for k in entries[0][2]}
        self._instance_seeds = instance_seeds
        self._f_lower = torch.tensor([float(i.f_star) if i.f_star is not None else 0.0 for i in self._insts],
                                     dtype=torch.float64)
        self._t = 0
        self._count = 0
        self._hist = empty_history(self.layout, self.n_params, batch=(self.batch_problems,))
        f, g = self._evaluate()
        obs = self._observe(f, g)
        self._f = f
        self._eps = reward_eps(gap(f, self._f_lower))
        return obs, self._info()

    def _info(self) -> dict[str, Any]:
        return {"instance_seeds": list(self._instance_seeds), "objectives": self._f.double().tolist(),
                "step": self._t}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._x is None:
            raise RuntimeError("call reset() before step()")
        apply_update([self._x], torch.as_tensor(np.asarray(action, dtype=np.float32)), self.config["update_scale"])
        self._t += 1
        f_prev = self._f
        f, g = self._evaluate()
        self._f = f
        truncated = self._t >= self.config["episode_steps"]
        finite = torch.isfinite(f) & torch.isfinite(g).all(dim=-1)
        rewards = step_reward(gap(f_prev, self._f_lower), gap(f, self._f_lower), self._eps)
        if not bool(finite.all()):
            # The episode ends here; the last finite observation stands.
            rewards = torch.where(finite, rewards, torch.full_like(rewards, -REWARD_CLIP))
            return self._obs, float(rewards.mean()), True, False, self._info()
        return self._observe(f, g), float(rewards.mean()), False, truncated, self._info()

    @property
    def parameters(self) -> torch.Tensor:
        """The current flat parameters of the ``B`` instances, ``(B, n)``."""
        if self._x is None:
            raise RuntimeError("call reset() first")
        return self._x
