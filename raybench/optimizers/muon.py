"""Muon for the matrices, AdamW for the rest: one ``torch.optim.Optimizer`` over a whole model.

``torch.optim.Muon`` orthogonalises the momentum of a 2-D parameter (Newton-Schulz iteration)
and refuses every other shape, so a model also needs an optimizer for its biases, norm scales
and scalars. ``MuonAdamW`` splits the parameters by shape, ``ndim == 2`` to ``torch.optim.Muon``
and everything else to ``torch.optim.AdamW``, and presents the two as one optimizer:

- ``step(closure)`` evaluates the closure once, then steps both;
- ``param_groups`` are the two optimizers' own group dicts (the same objects), so a learning-rate
  scheduler that scales ``lr`` in them scales Muon's and AdamW's learning rates alike;
- ``state`` reads both optimizers' state; ``state_dict()`` is ``{"muon": ..., "adamw": ...}``
  (each part present when it holds parameters) and ``load_state_dict`` restores both.

Hyperparameters carry Muon's names (``lr``, ``momentum``, ...) and ``adamw_<name>`` for AdamW's;
a param group may override either kind (``{"params": ..., "lr": 0.02, "adamw_lr": 3e-4}``).

**Convolution kernels (``ndim == 4``) go to AdamW**, and so does every parameter that is not a
matrix. Keller Jordan's Muon orthogonalises a kernel as its ``(out_channels, -1)`` reshape;
torch's Muon cannot: it checks ``ndim == 2`` on the parameter itself and updates it in place,
and a reshaped view is not a leaf tensor an optimizer can hold, so that would mean a copy of the
kernel and its gradient at every step. Likewise a shape rule cannot tell an embedding or the
classifier head (matrices the Muon recipe leaves to AdamW) from a hidden layer's weight: every
2-D parameter goes to Muon.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch

_ADAMW = "adamw_"


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
    """``torch.optim.Muon`` on the 2-D parameters, ``torch.optim.AdamW`` on all others.

    Args:
        params: tensors, named tensors or param groups (group keys as the arguments below).
        lr, weight_decay, momentum, nesterov, ns_steps, adjust_lr_fn: ``torch.optim.Muon``'s
            (its defaults; ``adjust_lr_fn="original"`` is what its ``None`` means).
        adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay: ``torch.optim.AdamW``'s ``lr``,
            ``betas``, ``eps``, ``weight_decay`` (its defaults) for the non-matrix parameters.

    Both parts check their arguments at construction, with torch's messages, even when the model
    gives one of them no parameter (a vector problem has no matrix).
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float = 1e-3,
                 weight_decay: float = 0.1, momentum: float = 0.95, nesterov: bool = True,
                 ns_steps: int = 5, adjust_lr_fn: str = "original", *, adamw_lr: float = 1e-3,
                 adamw_betas: tuple[float, float] = (0.9, 0.999), adamw_eps: float = 1e-8,
                 adamw_weight_decay: float = 1e-2) -> None:
        if not hasattr(torch.optim, "Muon"):
            raise ValueError(f"muon needs torch.optim.Muon (torch >= 2.9); this torch is {torch.__version__}")
        if not 1 <= ns_steps < 100:  # torch's Muon checks this only at its first step
            raise ValueError(f"Invalid ns_steps value: {ns_steps}; accepted: 1 <= ns_steps < 100")
        self._muon_defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                               "nesterov": nesterov, "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
        self._adamw_defaults = {"lr": adamw_lr, "betas": adamw_betas, "eps": adamw_eps,
                                "weight_decay": adamw_weight_decay}
        # Checked on placeholders now: a part is built only when a parameter arrives for it.
        torch.optim.Muon([torch.zeros(1, 1)], **self._muon_defaults)
        torch.optim.AdamW([torch.zeros(1)], **self._adamw_defaults)
        self.muon: torch.optim.Optimizer | None = None
        self.adamw: torch.optim.Optimizer | None = None
        self._layout: list[tuple[str, int]] = []  # (part, index in its param_groups) per group
        super().__init__(params, {**self._muon_defaults,
                                  **{_ADAMW + k: v for k, v in self._adamw_defaults.items()}})
        self.state = _JointState(self)  # type: ignore[assignment]

    def parts(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers that hold parameters, by name (``"muon"``, ``"adamw"``)."""
        return {name: opt for name, opt in (("muon", self.muon), ("adamw", self.adamw)) if opt is not None}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        options = {k: v for k, v in param_group.items() if k != "params"}
        accepted = [*self._muon_defaults, *(_ADAMW + k for k in self._adamw_defaults)]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"unknown param group option {unknown[0]!r}; accepted: {', '.join(accepted)}")

        def tensor(p: Any) -> torch.Tensor:
            return p[1] if isinstance(p, tuple) else p  # (name, tensor) pairs, as torch accepts

        matrices = [p for p in params if tensor(p).ndim == 2]
        others = [p for p in params if tensor(p).ndim != 2]
        if matrices:
            self._add("muon", torch.optim.Muon, self._muon_defaults,
                      {"params": matrices, **{k: v for k, v in options.items() if not k.startswith(_ADAMW)}})
        if others:
            self._add("adamw", torch.optim.AdamW, self._adamw_defaults,
                      {"params": others, **{k[len(_ADAMW):]: v for k, v in options.items() if k.startswith(_ADAMW)}})

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
