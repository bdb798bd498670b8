"""What the learned policy sees: named input groups, each unchanged by the scale of the loss and gradients.

The policy observes an ``(R, 1 + n)`` matrix: column 0 is shared by all ``n`` coordinates
(the objective), column ``1 + i`` belongs to coordinate ``i``. Its rows, for ``FEATURES``
(``"window-momentum-v2"``), are the last ``H`` steps (the window, oldest first, the current
point last; rows before the first step are zeros) and then ``K = len(MOMENTUM_BETAS)``
momentum rows, ``R = H + K``. Three input groups fill them:

* ``objective`` (column 0, window rows): ``Δf_k = f_now - f_k``, how much the objective
  changed since window step ``k``, divided by ``max_k |Δf_k|`` (Li & Malik, "Learning to
  Optimize", 2017: the history of objective changes tells whether recent moves helped).
  Column 0's momentum rows are zeros: the objective is one number, not a coordinate's.
* ``gradient`` (columns ``1..n``, window rows): ``g_k[i]`` divided by ``max_k |g_k[i]|``,
  the coordinate's own largest magnitude in the window (Li & Malik's gradient history).
* ``momentum`` (columns ``1..n``, momentum rows): ``tanh(m̂_β[i] / sqrt(v̂[i]))`` for each
  ``β`` in ``MOMENTUM_BETAS`` = (0.5, 0.9, 0.99), where ``m_β`` is an exponential moving
  average of the gradient and ``v`` one of the squared gradient (``SECOND_MOMENT_BETA``
  = 0.999), both bias-corrected as in Adam (``m̂ = m / (1 - β^t)``). Adam's direction at
  three time scales: normalised momenta at several decays are the inputs of the learned
  optimizers that generalise across tasks (Wichrowska et al., "Learned Optimizers that Scale
  and Generalize", 2017; Metz et al., "Tasks, Stability, Architecture, and Compute", 2020,
  and learned_optimization's per-parameter MLP optimizers, whose momentum decays include
  these; VeLO, 2022). ``β = 0.99`` averages about 100 steps, so the policy sees trends older
  than the window without a longer one.

Why these normalisations: every group is unchanged when the objective is multiplied by any
``c > 0`` (and shifted by a constant), and the two per-coordinate groups also when one
coordinate's gradient is multiplied by its own ``s_i > 0`` (a rescaled parameter): each is a
ratio of quantities that scale alike. So a policy trained at one problem's scale meets the
same numbers at another's, and one network drives coordinates whose gradients differ by
orders of magnitude, much as Adam divides by each coordinate's own RMS.
Why ``tanh`` rather than a clip to [-1, 1]: ``|m̂ / sqrt(v̂)|`` is 1 for a steady gradient and
below for a noisy one, but a gradient that just grew far above its long-run RMS drives it up
to about ``(1 - β) / sqrt(1 - 0.999)`` (16 for ``β = 0.5``); ``tanh`` bounds it and keeps the
order, so that sudden growth (the sign of steps too large) stays distinct from a steady
gradient, where a clip would merge the two at 1. Why no Adam ``eps``: an absolute one breaks
the scale invariance (it dominates gradients below it), and one relative to ``sqrt(v̂)``
changes nothing but a constant factor; its one job, a coordinate whose gradient was always
zero (``0 / 0``), is met by defining that feature as 0.
No input depends on the step count or the horizon (the bias correction only undoes the
zero start: a constant gradient gives the same features at every step), so the policy needs
no horizon and drives runs of any length. Every feature lies in ``[-1, 1]``, the bounded
inputs PPO's Gaussian policy trains well on; a column that is all zeros stays zero.

Groups not selected (``Layout.groups``) are zeros in the observation, and the network reads
only the rows of its groups (``Layout.own`` / ``Layout.shared``), so an ablated group is
absent from both. ``FEATURES`` is the one layout: a policy file naming another is refused.

The RL environment and ``AutonomousOptimizer`` both record and observe through this module
(via ``raybench.learned.step``), so what the policy sees in training is what it sees in use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

FEATURES = "window-momentum-v2"
"""Name of the layout above; a policy file records it and loading checks it, so a policy is
never fed features other than those it was trained on."""
FEATURES_V1 = "window-maxabs-v1"
"""The window-only layout of development builds before input groups: never released and no
longer read; named only so that a refusal can say what such a file is."""
GROUPS = ("objective", "gradient", "momentum")
"""Input groups of ``FEATURES``, in layout order; new policies observe all of them by default."""
MOMENTUM_BETAS = (0.5, 0.9, 0.99)
"""Decays of the gradient's moving averages, one momentum row each."""
SECOND_MOMENT_BETA = 0.999
"""Decay of the squared gradient's moving average (Adam's default)."""


def parse_inputs(inputs: str | Sequence[str]) -> tuple[str, ...]:
    """Input groups from a comma-separated string or a sequence, in ``GROUPS`` order.

    Raises ``ValueError`` naming the bad group and the accepted ones.
    """
    accepted = f"accepted: one or more of {', '.join(GROUPS)}, comma-separated"
    if isinstance(inputs, str):
        names = inputs.split(",")
    elif isinstance(inputs, list | tuple):
        names = [str(g) for g in inputs]
    else:
        raise ValueError(f"bad input groups {inputs!r}; {accepted}")
    names = [g.strip() for g in names if g.strip()]
    for g in names:
        if g not in GROUPS:
            raise ValueError(f"unknown input group {g!r}; {accepted}")
    if not names:
        raise ValueError(f"no input group given; {accepted}")
    return tuple(g for g in GROUPS if g in names)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which rows of the observation a policy's inputs are: the one place that knows the layout."""

    history: int
    """``H``, the window's length in steps."""
    groups: tuple[str, ...] | None = None
    """Input groups observed (``parse_inputs``), the others are zeros; ``None``: all of ``GROUPS``."""

    def __post_init__(self) -> None:
        if isinstance(self.history, bool) or int(self.history) != self.history or int(self.history) < 1:
            raise ValueError(f"Invalid history length: {self.history} (must be an integer >= 1)")
        object.__setattr__(self, "history", int(self.history))
        object.__setattr__(self, "groups", parse_inputs(GROUPS if self.groups is None else self.groups))

    @property
    def features(self) -> str:
        """The layout's name, ``FEATURES`` (what a policy file records)."""
        return FEATURES

    @property
    def betas(self) -> tuple[float, ...]:
        """The momentum decays tracked (and observed): none unless ``momentum`` is a group."""
        return MOMENTUM_BETAS if "momentum" in self.groups else ()

    @property
    def rows(self) -> int:
        """``R``: ``H`` window rows, then one row per momentum decay."""
        return self.history + len(MOMENTUM_BETAS)

    @property
    def own(self) -> slice:
        """The rows of a coordinate's own column that its groups fill (contiguous: window, then momentum)."""
        start = 0 if "gradient" in self.groups else self.history
        return slice(start, self.history + len(self.betas))

    @property
    def shared(self) -> slice:
        """The rows of the objective column that its groups fill."""
        return slice(0, self.history if "objective" in self.groups else 0)

    @property
    def width(self) -> int:
        """Features per coordinate: ``own`` rows, then ``shared`` rows."""
        return len(range(self.rows)[self.own]) + len(range(self.rows)[self.shared])


class History(NamedTuple):
    """What is kept between steps, leading batch dimensions ``...`` allowed.

    ``m`` and ``v`` are ``None`` when the layout observes no momentum.
    """

    f: torch.Tensor
    """``(..., H)``: the objective at each window step, the current one last."""
    g: torch.Tensor
    """``(..., H, n)``: the gradient at those steps."""
    m: torch.Tensor | None
    """``(..., K, n)``: moving averages of the gradient, one per ``MOMENTUM_BETAS``."""
    v: torch.Tensor | None
    """``(..., n)``: moving average of the squared gradient."""


def empty_history(layout: Layout, n: int, *, batch: tuple[int, ...] = (), dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> History:
    """The history before the first step: zeros, ``batch`` histories of ``n`` coordinates at once."""
    zeros = lambda *shape: torch.zeros(*batch, *shape, dtype=dtype, device=device)  # noqa: E731
    k = len(layout.betas)
    return History(zeros(layout.history), zeros(layout.history, n),
                   zeros(k, n) if k else None, zeros(n) if k else None)


def record(history: History, f: float | torch.Tensor, g: torch.Tensor) -> History:
    """The history moved one step on: the window's oldest row dropped, ``(f, g)`` appended, the averages updated.

    Leading batch dimensions are allowed (``f`` ``(...)``, ``g`` ``(..., n)``): the batched RL
    environment records many problem instances at once. Returns new tensors rather than
    writing in place: an optimizer ``state_dict`` loaded into another optimizer shares these
    tensors with its source, and must not change when the source steps.
    """
    f_hist, g_hist, m, v = history
    f_new = torch.as_tensor(f).detach().to(dtype=f_hist.dtype, device=f_hist.device).reshape(*f_hist.shape[:-1], 1)
    g = g.detach().to(dtype=g_hist.dtype, device=g_hist.device).reshape(*g_hist.shape[:-2], 1, g_hist.shape[-1])
    f_hist, g_hist = torch.cat([f_hist[..., 1:], f_new], dim=-1), torch.cat([g_hist[..., 1:, :], g], dim=-2)
    if m is not None and v is not None:
        betas = torch.tensor(MOMENTUM_BETAS, dtype=m.dtype, device=m.device).unsqueeze(-1)
        m = betas * m + (1 - betas) * g
        v = SECOND_MOMENT_BETA * v + (1 - SECOND_MOMENT_BETA) * (g * g).squeeze(-2)
    return History(f_hist, g_hist, m, v)


def _maxabs_normalise(x: torch.Tensor, dim: int) -> torch.Tensor:
    scale = x.abs().amax(dim=dim, keepdim=True)
    # An all-zero column stays zero instead of becoming 0/0.
    return torch.where(scale > 0, x / torch.where(scale > 0, scale, torch.ones_like(scale)), torch.zeros_like(x))


def _window(f_hist: torch.Tensor, g_hist: torch.Tensor, count: int) -> torch.Tensor:
    """The ``(..., H, 1 + n)`` window rows, objective and gradient."""
    history = f_hist.shape[-1]
    valid = torch.arange(history, device=f_hist.device) >= history - min(int(count), history)
    f_now = f_hist[..., -1:]
    df = torch.where(valid, f_now - f_hist, torch.zeros_like(f_hist))
    g = torch.where(valid[:, None], g_hist, torch.zeros_like(g_hist))
    return torch.cat([_maxabs_normalise(df, -1).unsqueeze(-1).to(g.dtype), _maxabs_normalise(g, -2)], dim=-1)


def _momentum(m: torch.Tensor, v: torch.Tensor, count: int) -> torch.Tensor:
    """``(..., K, n)``: ``tanh(m̂ / sqrt(v̂))``, 0 where the gradient was always 0."""
    t = max(int(count), 1)
    # m̂ / sqrt(v̂) = m / sqrt(v) * sqrt(1 - β2^t) / (1 - β^t): one factor per row.
    factor = [math.sqrt(1 - SECOND_MOMENT_BETA ** t) / (1 - b ** t) for b in MOMENTUM_BETAS]
    factor_t = torch.tensor(factor, dtype=m.dtype, device=m.device).unsqueeze(-1)
    rms = v.sqrt().unsqueeze(-2)
    ratio = m / torch.where(rms > 0, rms, torch.ones_like(rms)) * factor_t
    return torch.where(rms > 0, torch.tanh(ratio), torch.zeros_like(ratio))


def observation(history: History, count: int, layout: Layout) -> torch.Tensor:
    """The normalised ``(..., R, 1 + n)`` float32 observation of a history (see the module docstring).

    Args:
        history: the recorded history (``record``), leading batch dimensions allowed: each
            history is normalised on its own.
        count: how many steps have been recorded; only the last ``min(count, H)`` window rows count.
        layout: the policy's layout: its feature name and groups.
    """
    window = _window(history.f, history.g, count)
    df, g = window[..., :1], window[..., 1:]
    if "objective" not in layout.groups:
        df = torch.zeros_like(df)
    if "gradient" not in layout.groups:
        g = torch.zeros_like(g)
    if layout.betas:
        if history.m is None or history.v is None:
            raise ValueError("the history has no moving averages to observe: make it with "
                             "empty_history(layout, n) for a layout with momentum")
        momentum = _momentum(history.m, history.v, count).to(window.dtype)
    else:
        momentum = g.new_zeros(*g.shape[:-2], len(MOMENTUM_BETAS), g.shape[-1])
    obs = torch.cat([torch.cat([df, g], dim=-1),
                     torch.cat([torch.zeros_like(momentum[..., :1]), momentum], dim=-1)], dim=-2)
    # Only non-finite input can leave [-1, 1] (inf / inf); the clamp states the bound.
    return torch.nan_to_num(obs, nan=0.0, posinf=1.0, neginf=-1.0).clamp_(-1.0, 1.0).float()


def columns(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., R, 1 + n)`` observations -> the objective column ``(..., R)`` and the coordinates'
    columns as rows ``(..., n, R)``."""
    return obs[..., :, 0], obs[..., :, 1:].transpose(-1, -2)


def coordinate_features(obs: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``(..., R, 1 + n)`` observations -> ``(..., n, layout.width)`` per-coordinate features.

    Coordinate ``i`` sees the rows of its own column that its groups fill, then those of the
    shared objective column: the objective tells it whether recent moves helped, its
    gradient and momenta where to go next.
    """
    f, g = columns(obs)
    f = f[..., layout.shared]
    return torch.cat([g[..., layout.own], f.unsqueeze(-2).expand(*g.shape[:-1], f.shape[-1])], dim=-1)
