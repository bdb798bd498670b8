"""Parameter roles: what each parameter of a model is, for optimizers and weight decay that
treat parameters differently (Muon takes hidden matrices only; norms, biases and embeddings
get no weight decay).

The vocabulary (``ROLES``):

- ``embedding``: a lookup table indexed by token or position (an ``nn.Embedding``'s weight);
- ``head``: the output layer's weight (the last ``Linear`` of a classifier, a language model's
  output projection, the weight vector of a linear model);
- ``hidden``: a hidden layer's weight, a matrix or a convolution kernel. The first layer's
  weight of a network on raw, continuous inputs (an MLP's first ``Linear``, a CNN's first
  convolution) is ``hidden``: it is no lookup table, and Muon's practitioners (Keller Jordan:
  "all 2-D hidden weights except the embedding and the head") give it to Muon;
- ``norm``: a normalisation layer's scale and shift (LayerNorm, BatchNorm);
- ``bias``: an additive bias of a linear or convolution layer;
- ``other``: anything else: a scalar gain, the variable vector of a closed-form objective
  (quadratic, Rosenbrock).

**How a model declares them.** A method ``parameter_roles() -> dict[str, str]`` on the model
(``Instance.model``), mapping every trainable parameter's name in ``named_parameters()`` to its
role, as plain strings. On the model rather than the problem: the model owns the parameter
names, a user's model carries its roles wherever it is used, and ``problems/`` stays free of
optimizer imports (it states facts about its parameters; this module reads them).

**When a model declares none**, roles are inferred by the shape rule: ``ndim >= 2`` is
``hidden``, everything else ``other``. That is what raybench did before roles (every matrix to
Muon, every parameter decayed), and a run says which it had (``ParamRoles.source``, the
``param_roles`` column of the runs table: ``declared`` or ``shape rule``).

**What roles decide.** ``NO_DECAY`` roles get weight decay 0 (``param_groups``); Muon gets the
hidden matrices (``ParamRoles.muon_params``); an optimizer that is itself only on some
parameters says when a model has none of them (``needs_hidden_matrix``, ``needs_matrix``):
the run is then ``not_applicable``, not AdamW in disguise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

ROLES = ("embedding", "head", "hidden", "norm", "bias", "other")
"""Every role a parameter can have."""

NO_DECAY = frozenset({"embedding", "norm", "bias"})
"""Roles that get no weight decay (the recipe of the field: decay the weight matrices only)."""

DECLARED, SHAPE_RULE = "declared", "shape rule"
"""Where a model's roles came from (``ParamRoles.source``, recorded as ``param_roles``)."""


class RolesError(ValueError):
    """A model's declared roles are wrong (unknown role, a parameter left out or unknown)."""


def shape_role(param: torch.Tensor) -> str:
    """The shape rule: a matrix or kernel (``ndim >= 2``) is ``hidden``, anything else ``other``."""
    return "hidden" if param.ndim >= 2 else "other"


class ParamRoles:
    """A model's trainable parameters with their names and roles, and where the roles came from.

    Args:
        named: ``(name, parameter, role)`` in the model's parameter order.
        source: ``DECLARED`` or ``SHAPE_RULE``.
    """

    def __init__(self, named: Iterable[tuple[str, torch.Tensor, str]], source: str) -> None:
        self.named = list(named)
        self.source = source
        self._role = {id(p): role for _, p, role in self.named}

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for _, p, _ in self.named]

    def role(self, param: torch.Tensor) -> str:
        return self._role[id(param)]

    def by_role(self) -> dict[str, list[torch.Tensor]]:
        """Parameters grouped by role, roles in order of first appearance."""
        out: dict[str, list[torch.Tensor]] = {}
        for _, p, role in self.named:
            out.setdefault(role, []).append(p)
        return out

    def names(self, role: str) -> list[str]:
        return [name for name, _, r in self.named if r == role]

    def decayed(self) -> list[torch.Tensor]:
        return [p for _, p, role in self.named if role not in NO_DECAY]

    def no_decay(self) -> list[torch.Tensor]:
        return [p for _, p, role in self.named if role in NO_DECAY]

    def muon_params(self) -> list[torch.Tensor]:
        """What Muon takes: the hidden matrices (``torch.optim.Muon`` takes 2-D parameters only,
        so a hidden convolution kernel stays with AdamW; ``raybench.optimizers.muon``)."""
        return [p for _, p, role in self.named if is_muon(role, p)]


def is_muon(role: str, param: torch.Tensor) -> bool:
    """True for a parameter Muon takes: a hidden matrix."""
    return role == "hidden" and param.ndim == 2


def of(model: torch.nn.Module, params: Iterable[torch.Tensor] | None = None) -> ParamRoles:
    """The roles of ``model``'s trainable parameters (``params``, when given, are the ones an
    optimizer will hold, e.g. ``Instance.parameters()``): declared by ``model.parameter_roles()``,
    else the shape rule. ``RolesError`` names a declaration that is wrong."""
    wanted = None if params is None else {id(p) for p in params}
    named = [(n, p) for n, p in model.named_parameters()
             if (p.requires_grad if wanted is None else id(p) in wanted)]
    if wanted is not None and len(named) != len(wanted):
        raise RolesError(f"model {type(model).__name__}: {len(wanted) - len(named)} of the optimizer's "
                         "parameters are not the model's (named_parameters())")
    declare = getattr(model, "parameter_roles", None)
    if not callable(declare):
        return ParamRoles(((n, p, shape_role(p)) for n, p in named), SHAPE_RULE)
    declared = declare()
    if not isinstance(declared, Mapping):
        raise RolesError(f"model {type(model).__name__}: parameter_roles() gave a {type(declared).__name__}; "
                         "accepted: a dict of parameter name -> role")
    model_name = type(model).__name__
    names = [n for n, _ in model.named_parameters()]
    unknown = sorted(set(declared) - set(names))
    if unknown:
        raise RolesError(f"model {model_name} declares a role for {unknown[0]!r}, which is not one of its "
                         f"parameters; its parameters: {', '.join(names)}")
    for name, role in declared.items():
        if role not in ROLES:
            raise RolesError(f"model {model_name} declares role {role!r} for {name!r}; accepted: {', '.join(ROLES)}")
    missing = [n for n, _ in named if n not in declared]
    if missing:
        raise RolesError(f"model {model_name} declares no role for {missing[0]!r}: parameter_roles() must "
                         "name every trainable parameter")
    return ParamRoles(((n, p, declared[n]) for n, p in named), DECLARED)


def param_groups(roles: ParamRoles, hparams: Mapping[str, Any], *, by_role: bool = False
                 ) -> list[dict[str, Any]] | list[torch.Tensor]:
    """What to give an optimizer with ``hparams`` instead of a plain parameter list.

    Every hyperparameter named ``weight_decay`` or ``*_weight_decay`` is 0 in the group of the
    ``NO_DECAY`` roles. ``by_role``: one group per role, with its ``role`` (for an optimizer
    that reads it, ``MuonAdamW``); otherwise at most two groups (decayed, not decayed), and the
    plain list where that changes nothing (no weight decay, or nothing to exempt), so that an
    optimizer without weight decay (or without param groups: L-BFGS) is built as before.
    """
    decay_keys = [k for k, v in hparams.items()
                  if (k == "weight_decay" or k.endswith("_weight_decay"))
                  and isinstance(v, int | float) and not isinstance(v, bool) and v != 0]
    off = dict.fromkeys(decay_keys, 0.0)
    if by_role:
        return [{"params": ps, "role": role, **(off if role in NO_DECAY else {})}
                for role, ps in roles.by_role().items()]
    no_decay = roles.no_decay()
    if not off or not no_decay:
        return roles.params
    groups: list[dict[str, Any]] = []
    if roles.decayed():
        groups.append({"params": roles.decayed()})
    groups.append({"params": no_decay, **off})
    return groups


# -- which optimizers apply to a model: None when it applies, else why not ------------------------
def needs_hidden_matrix(roles: ParamRoles, hparams: Mapping[str, Any]) -> str | None:
    """Muon's rule: it applies to a model with at least one hidden matrix."""
    if roles.muon_params():
        return None
    how = "by its declared roles" if roles.source == DECLARED else "by the shape rule: it declares no roles"
    return (f"the model has no hidden matrix ({how}), so Muon would update no parameter "
            "and the run would be AdamW under Muon's name")


def needs_matrix(roles: ParamRoles, hparams: Mapping[str, Any]) -> str | None:
    """SOAP's rule: it preconditions parameters of ``ndim >= 2`` (and vectors only with
    ``precondition_1d``); on a model of vectors it is Adam."""
    if hparams.get("precondition_1d") or any(p.ndim >= 2 for p in roles.params):
        return None
    return ("the model has no parameter of 2 or more dimensions and precondition_1d is off, so SOAP "
            "would precondition nothing and the run would be Adam under SOAP's name")
