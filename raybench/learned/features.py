"""What the learned policy sees: a window of recent steps, normalised, and its per-coordinate features.

Li & Malik's "Learning to Optimize" as the research summary states it: the policy observes
the last ``H`` steps of [change in objective, gradient]. The history is two tensors, oldest
row first and the newest (the current point) last; rows before the first step are zeros:

* ``f_hist``, ``(H,)``: the objective at each step;
* ``g_hist``, ``(H, n)``: the gradient of the ``n`` coordinates at each step.

The observation (``observation``) is an ``(H, 1 + n)`` matrix:

* column 0, ``Δf_k = f_now - f_k``: how much the objective changed since history step ``k``,
  divided by ``max_k |Δf_k|`` over the window;
* column ``1 + i``, ``g_k[i]``: coordinate ``i``'s gradient at step ``k``, divided by
  ``max_k |g_k[i]|``, its own largest magnitude in the window.

Why this normalisation: both columns are scale-free (multiplying the objective by any
``c > 0`` leaves them unchanged), so a policy trained on one problem's scale transfers to
another's; and both lie in ``[-1, 1]`` by construction, the bounded inputs PPO's Gaussian
policy trains well on. Dividing each coordinate by its *own* magnitude is what lets one
network drive coordinates whose gradients differ by orders of magnitude, much as Adam
divides by each coordinate's own RMS. A column that is all zeros stays zero.

The RL environment and ``AutonomousOptimizer`` both record and observe through this module
(via ``raybench.learned.step``), so what the policy sees in training is what it sees in use.
"""

from __future__ import annotations

import torch

FEATURES = "window-maxabs-v1"
"""Name of the normalisation above; a policy file records it and loading checks it, so a
policy is never fed features other than those it was trained on."""


def empty_history(history: int, n: int, *, dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f_hist, g_hist)`` before the first step: ``(H,)`` and ``(H, n)`` zeros."""
    return (torch.zeros(history, dtype=dtype, device=device),
            torch.zeros(history, n, dtype=dtype, device=device))


def record(f_hist: torch.Tensor, g_hist: torch.Tensor, f: float | torch.Tensor, g: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The window moved one step on: the oldest row dropped, ``(f, g)`` appended as the newest.

    Leading batch dimensions are allowed (``f_hist`` ``(..., H)``, ``g_hist`` ``(..., H, n)``,
    ``f`` ``(...)``, ``g`` ``(..., n)``): the batched RL environment records many problem
    instances at once. Returns new tensors rather than writing in place: an optimizer
    ``state_dict`` loaded into another optimizer shares these tensors with its source, and
    must not change when the source steps.
    """
    f_new = torch.as_tensor(f).detach().to(dtype=f_hist.dtype, device=f_hist.device).reshape(*f_hist.shape[:-1], 1)
    g_new = g.detach().to(dtype=g_hist.dtype, device=g_hist.device).reshape(*g_hist.shape[:-2], 1, g_hist.shape[-1])
    return torch.cat([f_hist[..., 1:], f_new], dim=-1), torch.cat([g_hist[..., 1:, :], g_new], dim=-2)


def _maxabs_normalise(x: torch.Tensor, dim: int) -> torch.Tensor:
    scale = x.abs().amax(dim=dim, keepdim=True)
    # An all-zero column stays zero instead of becoming 0/0.
    return torch.where(scale > 0, x / torch.where(scale > 0, scale, torch.ones_like(scale)), torch.zeros_like(x))


def observation(f_hist: torch.Tensor, g_hist: torch.Tensor, count: int) -> torch.Tensor:
    """The normalised ``(H, 1 + n)`` float32 observation of a history (see the module docstring).

    Args:
        f_hist: ``(H,)`` objective values, oldest first, the current one last.
        g_hist: ``(H, n)`` gradients at those points.
        count: how many steps have been recorded; only the last ``min(count, H)`` rows count.

    Leading batch dimensions (``(..., H)`` and ``(..., H, n)`` -> ``(..., H, 1 + n)``) observe
    many histories of the same ``count`` at once, each normalised on its own.
    """
    history = f_hist.shape[-1]
    valid = torch.arange(history, device=f_hist.device) >= history - min(int(count), history)
    f_now = f_hist[..., -1:]
    df = torch.where(valid, f_now - f_hist, torch.zeros_like(f_hist))
    g = torch.where(valid[:, None], g_hist, torch.zeros_like(g_hist))
    obs = torch.cat([_maxabs_normalise(df, -1).unsqueeze(-1).to(g.dtype), _maxabs_normalise(g, -2)], dim=-1)
    # Only non-finite input can leave [-1, 1] (inf / inf); the clamp states the bound.
    return torch.nan_to_num(obs, nan=0.0, posinf=1.0, neginf=-1.0).clamp_(-1.0, 1.0).float()


def columns(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., H, 1 + n)`` observations -> the objective column ``(..., H)`` and the gradient
    columns as rows ``(..., n, H)``: the one place that knows the observation's layout."""
    return obs[..., :, 0], obs[..., :, 1:].transpose(-1, -2)


def coordinate_features(obs: torch.Tensor) -> torch.Tensor:
    """``(..., H, 1 + n)`` observations -> ``(..., n, 2H)`` per-coordinate features.

    Coordinate ``i`` sees its own gradient column and the shared objective column: the
    objective tells it whether recent moves helped, its gradient where to go next.
    """
    f, g = columns(obs)
    return torch.cat([g, f.unsqueeze(-2).expand(*g.shape[:-1], f.shape[-1])], dim=-1)
