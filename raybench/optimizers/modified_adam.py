"""Modified Adam: Adam whose second-moment update scales the squared gradient.

    v_t = beta2 * v_{t-1} + (1 - beta2) * s * g_t^2      (Adam: s = 1)

with ``s`` = ``variance_scale`` (1.1 by default, the research summary's choice). Everything
else is ``torch.optim.Adam`` (bias correction, L2 weight decay, ``amsgrad`` off): with
``variance_scale=1`` the two agree step for step.

Note what the scale does: after bias correction v_hat ~= s * E[g^2], so the step is about
lr / sqrt(s) times Adam's, i.e. s = 1.1 behaves like Adam with lr / 1.049 (plus the changed
relative weight of eps). raybench measures whether that matters; it does not assume it.

Example:
    >>> opt = ModifiedAdam(model.parameters(), lr=1e-3, variance_scale=1.1)

References:
    Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2014.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer


class ModifiedAdam(Optimizer):
    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        variance_scale: float = 1.1,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not variance_scale > 0.0:
            raise ValueError(f"Invalid variance_scale value: {variance_scale}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, variance_scale=variance_scale)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("ModifiedAdam does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                _modified_adam_update(
                    p, p.grad, state, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], variance_scale=group["variance_scale"],
                )
        return loss


def _modified_adam_update(
    param: torch.Tensor, grad: torch.Tensor, state: dict, *, lr: float, beta1: float, beta2: float,
    eps: float, weight_decay: float, variance_scale: float,
) -> None:
    """The functional core: one Modified Adam update of ``param`` in place."""
    state["step"] += 1
    step = float(state["step"])
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    # The modification: the squared gradient enters the EMA scaled by variance_scale.
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad.conj(), value=(1 - beta2) * variance_scale)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    denom = (exp_avg_sq.sqrt() / math.sqrt(bias_correction2)).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)
