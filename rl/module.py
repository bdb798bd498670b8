"""The RLlib side of the coordinate-wise policy: a ``TorchRLModule`` with ``ValueFunctionAPI``.

The module holds ``raybench.learned.policy.CoordinatewisePolicy`` as ``self.policy``
(so exporting a policy is just ``self.policy.state_dict()``), one learned log standard
deviation shared by every coordinate, and a value head. For the ``Box`` action space PPO
reads a diagonal Gaussian from ``Columns.ACTION_DIST_INPUTS``: the ``n`` means, then the
``n`` log standard deviations.

The value head is coordinate-wise too: a per-coordinate embedding of the same features,
averaged over coordinates, then a small MLP to one number, so it has the same few
parameters whatever the problem's dimension.

``model_config`` keys: ``history`` (25), ``hidden`` ([32, 32]), ``value_hidden`` (32),
``init_log_std`` (log 0.5).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from raybench.learned.features import coordinate_features
from raybench.learned.policy import DEFAULT_HIDDEN, DEFAULT_HISTORY, CoordinatewisePolicy

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "history": DEFAULT_HISTORY,
    "hidden": list(DEFAULT_HIDDEN),
    "value_hidden": 32,
    "init_log_std": math.log(0.5),
}


class CoordinatewisePolicyModule(TorchRLModule, ValueFunctionAPI):
    """PPO's module: ``CoordinatewisePolicy`` means, a shared log std, a pooled value head."""

    def setup(self) -> None:
        cfg = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        history = int(cfg["history"])
        if self.observation_space.shape[0] != history:
            raise ValueError(f"observation history {self.observation_space.shape[0]} != model history {history}")
        self.policy = CoordinatewisePolicy(history, cfg["hidden"])
        self.log_std = nn.Parameter(torch.full((1,), float(cfg["init_log_std"])))
        width = int(cfg["value_hidden"])
        self.value_embed = nn.Sequential(nn.Linear(2 * history, width), nn.Tanh())
        self.value_head = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mean = self.policy.from_observation(batch[Columns.OBS])  # (B, n)
        log_std = self.log_std.expand_as(mean)
        return {Columns.ACTION_DIST_INPUTS: torch.cat([mean, log_std], dim=-1)}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        feats = coordinate_features(batch[Columns.OBS])
        pooled = self.value_embed(feats).mean(dim=-2)  # (B, width)
        return self.value_head(pooled).squeeze(-1)
