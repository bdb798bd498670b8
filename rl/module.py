"""The RLlib side of the coordinate-wise policy: a ``TorchRLModule`` with ``ValueFunctionAPI``.

The module holds ``raybench.learned.policy.CoordinatewisePolicy`` as ``self.policy``
(so exporting a policy is just ``self.policy.state_dict()``), one learned log standard
deviation shared by every coordinate, and a value head. For the ``Box`` action space PPO
reads a diagonal Gaussian from ``Columns.ACTION_DIST_INPUTS``: the ``n`` means, then the
``n`` log standard deviations.

The value head is coordinate-wise too: a per-coordinate embedding of the same features,
averaged over coordinates, then a small MLP to one number, so it has the same few
parameters whatever the problem's dimension.

Observations are ``(R, 1 + n)`` (``raybench.rl.env.OptimizationEnv``: one problem) or
``(P, R, 1 + d)`` (``raybench.rl.batched_env.BatchedOptimizationEnv``: ``P`` problems of ``d``
parameters each, actions ``P * d``, problem-major). Each problem's coordinates see their own
objective column; the means are flattened problem-major and the value head averages over all
``P * d`` coordinates, so the batched problems are one optimisation over all their coordinates.

``model_config`` keys: ``history`` (25), ``hidden`` ([32, 32]), ``inputs`` (the input groups,
all of ``raybench.learned.features.GROUPS``: the env's ``inputs``, so that the first layers
read the rows the env fills), ``value_hidden`` (32), ``init_log_std`` (log 0.5). ``R`` is
``raybench.learned.features.Layout(history, inputs).rows``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from raybench.learned.features import GROUPS, coordinate_features
from raybench.learned.policy import DEFAULT_HIDDEN, DEFAULT_HISTORY, CoordinatewisePolicy

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "history": DEFAULT_HISTORY,
    "hidden": list(DEFAULT_HIDDEN),
    "inputs": list(GROUPS),
    "value_hidden": 32,
    "init_log_std": math.log(0.5),
}


class CoordinatewisePolicyModule(TorchRLModule, ValueFunctionAPI):
    """PPO's module: ``CoordinatewisePolicy`` means, a shared log std, a pooled value head."""

    def setup(self) -> None:
        cfg = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        self.policy = CoordinatewisePolicy(int(cfg["history"]), cfg["hidden"], inputs=cfg["inputs"])
        self.layout = self.policy.layout
        if self.observation_space.shape[-2] != self.layout.rows:
            raise ValueError(f"observation rows {self.observation_space.shape[-2]} != the model's {self.layout.rows} "
                             f"(history {self.layout.history}, {self.layout.features})")
        self.log_std = nn.Parameter(torch.full((1,), float(cfg["init_log_std"])))
        width = int(cfg["value_hidden"])
        self.value_embed = nn.Sequential(nn.Linear(self.layout.width, width), nn.Tanh())
        self.value_head = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    @staticmethod
    def _problems(obs: torch.Tensor) -> torch.Tensor:
        """``(N, R, 1 + n)`` or ``(N, P, R, 1 + d)`` observations -> ``(N, P, R, 1 + d)``."""
        return obs.reshape(obs.shape[0], -1, *obs.shape[-2:])

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = self._problems(batch[Columns.OBS])
        mean = self.policy.from_observation(obs).flatten(1)  # (N, P * d)
        log_std = self.log_std.expand_as(mean)
        return {Columns.ACTION_DIST_INPUTS: torch.cat([mean, log_std], dim=-1)}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        feats = coordinate_features(self._problems(batch[Columns.OBS]), self.layout)  # (N, P, d, width)
        embedded = self.value_embed(feats)
        pooled = embedded.reshape(embedded.shape[0], -1, embedded.shape[-1]).mean(dim=1)  # (N, width)
        return self.value_head(pooled).squeeze(-1)
