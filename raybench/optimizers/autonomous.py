"""The autonomous (learned) optimizer: a loaded coordinate-wise policy driving any torch model.

The policy, its features and its file live in ``raybench.learned``; this module only applies
a loaded policy as a ``torch.optim.Optimizer``, through the same step the RL environment
trains it with (``raybench.learned.step``). The registry entry ``autonomous`` builds it from
``policy=<file>`` (see ``raybench.optimizers``).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import torch

from raybench.learned import step as learned
from raybench.learned.features import History, empty_history
from raybench.learned.policy import CoordinatewisePolicy, LoadedPolicy, load_policy

_STATE_KEYS = ("f_hist", "g_hist", "m", "v")
"""Per-parameter state names of ``History``'s fields (flat tensors: what ``state_dict`` round-trips)."""


class AutonomousOptimizer(torch.optim.Optimizer):
    """Parameter updates chosen by a learned coordinate-wise policy.

    Each step calls ``closure`` once for the loss and gradients, records them in every
    parameter's history (the last ``H`` values and, for a policy that observes momentum, the
    gradient's moving averages: ``raybench.learned.features``, as in training), and moves
    each coordinate by ``lr_scale * update_scale * clip(policy(features), -10, 10)``.
    Per-parameter state: ``step``, ``f_hist``, ``g_hist`` and (momentum) ``m``, ``v``.

    Args:
        params: parameters or parameter groups.
        policy: a policy file (``str`` or ``os.PathLike``: the ``.safetensors`` weights or their
            ``.json``, read through ``raybench.learned.policy.load_policy``'s cache), or a policy
            already loaded with ``load_policy(FILE)``.
        lr_scale: multiplies the policy's own update scale (1.0: as trained).

    Example:
        >>> opt = AutonomousOptimizer(model.parameters(), policy="policy/policy.safetensors")
        >>> opt.step(closure)  # closure: zero grads, loss, backward, return loss
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
                 policy: LoadedPolicy | str | os.PathLike[str], lr_scale: float = 1.0) -> None:
        if isinstance(policy, str | os.PathLike):
            policy = load_policy(policy)  # PolicyError, one line, for a file that cannot be used
        if not isinstance(policy, LoadedPolicy):
            raise TypeError(f"Invalid policy: {type(policy).__name__}; expected a policy file (str or "
                            f"os.PathLike) or a LoadedPolicy (raybench.learned.policy.load_policy(FILE))")
        if not (isinstance(lr_scale, int | float) and math.isfinite(lr_scale) and lr_scale > 0):
            raise ValueError(f"Invalid lr_scale: {lr_scale} (must be a finite number > 0)")
        self.policy = policy
        # The loaded network is shared with every other user of the same file: a parameter on
        # another device gets this optimizer's own copy rather than moving the shared one.
        self._networks: dict[torch.device, CoordinatewisePolicy] = {}
        super().__init__(params, {"lr_scale": float(lr_scale)})

    def _network(self, device: torch.device) -> CoordinatewisePolicy:
        if device not in self._networks:
            net = self.policy.network
            on = next(net.parameters()).device
            self._networks[device] = net if on == device else copy.deepcopy(net).to(device)
        return self._networks[device]

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise RuntimeError("AutonomousOptimizer needs the loss value: call step(closure) with a closure "
                               "that zeroes the gradients, computes the loss, calls backward() and returns it")
        with torch.enable_grad():
            loss = closure()
        f = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        for group in self.param_groups:
            scale = group["lr_scale"] * self.policy.update_scale
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    # Histories in the parameter's dtype: load_state_dict casts floating state to it
                    # anyway, and the RL environment records float32 histories of float32 parameters.
                    empty = empty_history(self.policy.layout, p.numel(), dtype=p.dtype, device=p.device)
                    state.update((k, t) for k, t in zip(_STATE_KEYS, empty) if t is not None)
                history = History(*(state.get(k) for k in _STATE_KEYS))
                history = learned.step(self._network(p.device), [p], history, state["step"], f,
                                       p.grad.reshape(-1), scale)
                state.update((k, t) for k, t in zip(_STATE_KEYS, history) if t is not None)
                state["step"] += 1
        return loss
