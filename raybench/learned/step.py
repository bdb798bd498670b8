"""One step of the learned optimizer, ``features -> policy -> update``, as functions on tensors.

``AutonomousOptimizer`` calls ``step`` (the three in one go). The RL environment calls the
same two outer halves with the agent in between: ``observe`` when it hands PPO an
observation, ``apply_update`` when PPO hands back an action. So the features a policy is
trained on are the features it is used with, and the update rule is written only here:

    params += scale * clip(action, -ACTION_CLIP, ACTION_CLIP)

where ``scale`` is the policy's update scale (times the optimizer's ``lr_scale``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from raybench.learned.features import observation, record
from raybench.learned.policy import ACTION_CLIP, CoordinatewisePolicy


def observe(f_hist: torch.Tensor, g_hist: torch.Tensor, count: int, f: float, g: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Record the current point ``(f, g)``; returns the new history and the policy's observation.

    ``count`` is the number of points recorded before this one.
    """
    f_hist, g_hist = record(f_hist, g_hist, f, g)
    return f_hist, g_hist, observation(f_hist, g_hist, count + 1)


@torch.no_grad()
def apply_update(params: Sequence[torch.Tensor], action: torch.Tensor, scale: float) -> None:
    """Move ``params`` by ``scale * clip(action)``; ``action`` has one entry per coordinate, in order."""
    action = action.reshape(-1).clamp(-ACTION_CLIP, ACTION_CLIP)
    n = sum(p.numel() for p in params)
    if action.numel() != n:
        raise ValueError(f"action has {action.numel()} entries; the parameters have {n}")
    offset = 0
    for p in params:
        k = p.numel()
        p.add_(action[offset:offset + k].reshape(p.shape).to(device=p.device, dtype=p.dtype), alpha=scale)
        offset += k


@torch.no_grad()
def step(network: CoordinatewisePolicy, params: Sequence[torch.Tensor], f_hist: torch.Tensor,
         g_hist: torch.Tensor, count: int, f: float, g: torch.Tensor, scale: float
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``observe`` the point, let ``network`` act on it (its mean action), ``apply_update``.

    ``g`` is the gradient of ``params`` flattened in order; returns the new history.
    """
    f_hist, g_hist, obs = observe(f_hist, g_hist, count, f, g)
    apply_update(params, network.act(obs), scale)
    return f_hist, g_hist
