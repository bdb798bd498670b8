"""Muon for the hidden matrices, AdamW for the rest: one ``torch.optim.Optimizer`` over a whole model.

``torch.optim.Muon`` orthogonalises the momentum of a 2-D parameter (Newton-Schulz iteration)
and refuses every other shape, so a model also needs an optimizer for its biases, norm scales
and scalars. The Muon recipe (Keller Jordan; Liu et al., "Muon is scalable for LLM training")
gives Muon the hidden layers' matrices only, and the embeddings, the output head, norms and
biases to AdamW. ``MuonAdamW`` splits the parameters so and presents the two as one optimizer:

- **by role** where a param group says its parameters' ``role`` (``raybench.optimizers.roles``;
  ``raybench.optimizers.build`` makes one group per role when the model declares them): Muon
  gets the ``hidden`` matrices, AdamW everything else;
- **by shape** where a group says no role: ``ndim == 2`` to Muon, everything else to AdamW. A
  shape cannot tell an embedding or the head from a hidden layer's weight, so there every
  matrix goes to Muon (a run records which rule it had: the ``param_roles`` column);
- ``step(closure)`` evaluates the closure once, then steps both;
- ``param_groups`` are the two optimizers' own group dicts (the same objects), so a learning-rate
  scheduler that scales ``lr`` in them scales Muon's and AdamW's learning rates alike;
- ``state`` reads both optimizers' state; ``state_dict()`` is ``{"muon": ..., "adamw": ...}``
  (each part present when it holds parameters) and ``load_state_dict`` restores both.

Hyperparameters carry Muon's names (``lr``, ``momentum``, ...) and ``adamw_<name>`` for AdamW's;
a param group may override either kind (``{"params": ..., "lr": 0.02, "adamw_lr": 3e-4}``).
**AdamW's learning rate is tied to Muon's**: ``adamw_lr = lr * adamw_lr_ratio`` (group by
group), so a learning-rate search over ``lr`` moves both, unless ``adamw_lr`` is given. The
ratio's default, 1, keeps the defaults where they were (both 1e-3, torch's) and is Moonshot's
recipe (Liu et al.) of one learning rate for both parts, with ``adjust_lr_fn="match_rms_adamw"``
scaling Muon's update to AdamW's RMS. Keller Jordan's modded-nanogpt sets the AdamW groups'
rates one by one (head, embeddings, scalars), which one ratio cannot express: set ``adamw_lr``
or the ratio (or param groups) for that.

**Convolution kernels (``ndim == 4``) go to AdamW**, even with role ``hidden``. Keller Jordan's
Muon orthogonalises a kernel as its ``(out_channels, -1)`` reshape; torch's Muon cannot: it
checks ``ndim == 2`` on the parameter itself and updates it in place, and a reshaped view is not
a leaf tensor an optimizer can hold, so that would mean a copy of the kernel and its gradient at
every step. So a CNN whose only matrix is its head has nothing for Muon (``not_applicable``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch

from raybench.optimizers import roles

_ADAMW = "adamw_"
_RATIO = "adamw_lr_ratio"


class _JointState(Mapping):
    """Read-only view of the parts' ``state``: parameter -> its state in whichever part holds it."""

    def __init__(self, owner: MuonAdamW) -> None:
        self._owner = owner

    def _maps(self) -> list[Mapping]:
        return [opt.state for opt in self._owner.parts().values()]

    def __getitem__(self, param: torch.Tensor) -> Any:
        for state in self._maps():
            if param in state:
                return state[param]
        raise KeyError(param)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return itertools.chain.from_iterable(self._maps())

    def __len__(self) -> int:
        return sum(len(state) for state in self._maps())


class MuonAdamW(torch.optim.Optimizer):
    """``torch.optim.Muon`` on the hidden matrices (or every 2-D parameter, without roles),
    ``torch.optim.AdamW`` on all others.

    Args:
        params: tensors, named tensors or param groups (group keys as the arguments below, and
            ``role``: one of ``raybench.optimizers.roles.ROLES`` for all the group's parameters).
        lr, weight_decay, momentum, nesterov, ns_steps, adjust_lr_fn: ``torch.optim.Muon``'s
            (its defaults; ``adjust_lr_fn="original"`` is what its ``None`` means).
        adamw_lr: ``torch.optim.AdamW``'s ``lr``; ``None`` (the default) ties it to Muon's:
            ``lr * adamw_lr_ratio``.
        adamw_lr_ratio: AdamW's learning rate over Muon's when ``adamw_lr`` is not given (> 0).
        adamw_betas, adamw_eps, adamw_weight_decay: ``torch.optim.AdamW``'s ``betas``, ``eps``,
            ``weight_decay`` (its defaults) for the parameters Muon does not take.

    Both parts check their arguments at construction, with torch's messages, even when the model
    gives one of them no parameter (a vector problem has no matrix).
    """

    takes_param_roles = True
    """``raybench.optimizers.build`` gives it one param group per role (``roles.param_groups``)."""

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float = 1e-3,
                 weight_decay: float = 0.1, momentum: float = 0.95, nesterov: bool = True,
                 ns_steps: int = 5, adjust_lr_fn: str = "original", *, adamw_lr: float | None = None,
                 adamw_lr_ratio: float = 1.0, adamw_betas: tuple[float, float] = (0.9, 0.999),
                 adamw_eps: float = 1e-8, adamw_weight_decay: float = 1e-2) -> None:
        if not hasattr(torch.optim, "Muon"):
            raise ValueError(f"muon needs torch.optim.Muon (torch >= 2.9); this torch is {torch.__version__}")
        if not 1 <= ns_steps < 100:  # torch's Muon checks this only at its first step
            raise ValueError(f"Invalid ns_steps value: {ns_steps}; accepted: 1 <= ns_steps < 100")
        if not (math.isfinite(adamw_lr_ratio) and adamw_lr_ratio > 0):
            raise ValueError(f"Invalid adamw_lr_ratio value: {adamw_lr_ratio}; accepted: a number > 0")
        self._muon_defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                               "nesterov": nesterov, "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
        self._adamw_lr = adamw_lr  # None: tied to each group's Muon lr by the ratio
        self._ratio = adamw_lr_ratio
        self._adamw_defaults = {"lr": lr * adamw_lr_ratio if adamw_lr is None else adamw_lr,
                                "betas": adamw_betas, "eps": adamw_eps, "weight_decay": adamw_weight_decay}
        # Checked on placeholders now: a part is built only when a parameter arrives for it.
        torch.optim.Muon([torch.zeros(1, 1)], **self._muon_defaults)
        torch.optim.AdamW([torch.zeros(1)], **self._adamw_defaults)
        self.muon: torch.optim.Optimizer | None = None
        self.adamw: torch.optim.Optimizer | None = None
        self._layout: list[tuple[str, int]] = []  # (part, index in its param_groups) per group
        super().__init__(params, {**self._muon_defaults, _ADAMW + "lr": adamw_lr, _RATIO: adamw_lr_ratio,
                                  **{_ADAMW + k: v for k, v in self._adamw_defaults.items() if k != "lr"}})
        self.state = _JointState(self)  # type: ignore[assignment]

    def parts(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers that hold parameters, by name (``"muon"``, ``"adamw"``)."""
        return {name: opt for name, opt in (("muon", self.muon), ("adamw", self.adamw)) if opt is not None}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        options = {k: v for k, v in param_group.items() if k != "params"}
        role = options.pop("role", None)
        accepted = [*self._muon_defaults, *(_ADAMW + k for k in self._adamw_defaults), _RATIO, "role"]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"unknown param group option {unknown[0]!r}; accepted: {', '.join(accepted)}")
        if role is not None and role not in roles.ROLES:
            raise ValueError(f"unknown parameter role {role!r}; accepted: {', '.join(roles.ROLES)}")

        def tensor(p: Any) -> torch.Tensor:
            return p[1] if isinstance(p, tuple) else p  # (name, tensor) pairs, as torch accepts

        def to_muon(p: torch.Tensor) -> bool:
            return p.ndim == 2 if role is None else roles.is_muon(role, p)

        tagged = {} if role is None else {"role": role}
        matrices = [p for p in params if to_muon(tensor(p))]
        others = [p for p in params if not to_muon(tensor(p))]
        if matrices:
            self._add("muon", torch.optim.Muon, self._muon_defaults,
                      {"params": matrices, **tagged,
                       **{k: v for k, v in options.items() if not k.startswith(_ADAMW)}})
        if others:
            adamw = {k[len(_ADAMW):]: v for k, v in options.items() if k.startswith(_ADAMW) and k != _RATIO}
            if "lr" not in adamw:
                adamw["lr"] = self._adamw_lr if self._adamw_lr is not None else \
                    options.get("lr", self._muon_defaults["lr"]) * options.get(_RATIO, self._ratio)
            self._add("adamw", torch.optim.AdamW, self._adamw_defaults, {"params": others, **tagged, **adamw})

    def _add(self, name: str, cls: type[torch.optim.Optimizer], defaults: dict[str, Any],
             group: dict[str, Any]) -> None:
        part = getattr(self, name)
        if part is None:
            part = cls([group], **defaults)
            setattr(self, name, part)
        else:
            part.add_param_group(group)
        self._layout.append((name, len(part.param_groups) - 1))
        self.param_groups.append(part.param_groups[-1])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts().values():
            part.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {name: part.state_dict() for name, part in self.parts().items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        parts = self.parts()
        if set(state_dict) != set(parts):
            raise ValueError(f"loaded state dict has parts {sorted(state_dict)}; this optimizer has {sorted(parts)}")
        for name, part in parts.items():
            part.load_state_dict(state_dict[name])
        # torch's load_state_dict replaces a part's group dicts: point ours at the new ones.
        self.param_groups[:] = [getattr(self, name).param_groups[i] for name, i in self._layout]

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # torch keeps only defaults, state and groups: the parts too
