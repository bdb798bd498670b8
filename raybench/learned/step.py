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

from raybench.learned.features import History, Layout, observation, record
from raybench.learned.policy import ACTION_CLIP, CoordinatewisePolicy


def observe(history: History, count: int, f: float | torch.Tensor, g: torch.Tensor, layout: Layout
            ) -> tuple[History, torch.Tensor]:
    """Record the current point ``(f, g)``; returns the new history and the policy's observation.

    ``count`` is the number of points recorded before this one; ``layout`` is the policy's
    (``raybench.learned.features.Layout``). Leading batch dimensions are allowed.
    """
    history = record(history, f, g)
    return history, observation(history, count + 1, layout)


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
def step(network: CoordinatewisePolicy, params: Sequence[torch.Tensor], history: History, count: int,
         f: float, g: torch.Tensor, scale: float) -> History:
    """``observe`` the point in ``network``'s layout, let it act (its mean action), ``apply_update``.

    ``g`` is the gradient of ``params`` flattened in order; returns the new history.
    """
    history, obs = observe(history, count, f, g, network.layout)
    apply_update(params, network.act(obs), scale)
    return history
