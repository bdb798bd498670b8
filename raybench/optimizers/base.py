"""What an optimizer registry entry is, and how a name and hyperparameters become an optimizer.

An entry (``OptimizerSpec``) is a factory with the library's defaults read from a signature
(``raybench.registry.signature_options``) and only what the entry changes stated
(``changes``). Names, import paths and installed packages' entry points are resolved by the
one ``raybench.registry.Registry``; hyperparameters are coerced by its one ``Option.coerce``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from typing import Any

import torch

from raybench import registry, schedules
from raybench.optimizers import roles
from raybench.registry import Option


class OptimizerError(ValueError):
    """A user-facing optimizer error (unknown name or bad hyperparameter)."""


GROUP = "raybench.optimizers"
"""Entry-point group of installed packages' optimizers (a class, or an ``OptimizerSpec``)."""


def lr_space(lo: float, hi: float) -> dict[str, dict[str, Any]]:
    """A log-scaled learning-rate search space ``[lo, hi]`` (AlgoPerf's shape, plain data)."""
    return {"lr": {"min": lo, "max": hi, "scaling": "log"}}


DEFAULT_LR_SPACE = lr_space(1e-5, 1.0)
"""The learning-rate search space of an import-path optimizer whose suite entry gives none."""


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """A registry entry: ``factory(params, **hparams)`` and its hyperparameters as data.

    Its hyperparameters (``options``, with their ``defaults``) are the keyword arguments of the
    class at ``path`` and of ``factory`` that a command line can set, read from their
    signatures when first needed, with ``changes`` over them. Arguments named like a schedule
    hyperparameter (``warmup``, ...) stay at the library's default: on the command line that
    name means the run's learning-rate schedule.
    """

    name: str
    description: str
    factory: Callable[..., torch.optim.Optimizer]
    changes: dict[str, Any]
    """What this entry changes from (or adds to) the signatures' defaults: a value, or an
    ``Option`` where it also says what the value accepts."""
    search_space: dict[str, dict[str, Any]]
    baseline: bool = False
    """True for the hand-designed optimizers a suite compares by default (``baselines()``)."""
    origin: str = "raybench"
    """Where the entry comes from: "raybench" (this registry), "entry point" (an installed
    package's ``raybench.optimizers`` entry point) or "import path" (named by the user)."""
    path: str | None = None
    """``MODULE:CLASS`` of the class the entry builds (recorded with its distribution's version);
    its signature holds the library's defaults, read when first needed (so that the
    third-party libraries load only then)."""
    applies: Callable[[roles.ParamRoles, dict[str, Any]], str | None] | None = None
    """For an optimizer that is itself only on some parameters (Muon: hidden matrices):
    ``applies(roles, hparams)`` is None when it applies to a model with these parameter roles,
    else why not (the run is then ``not_applicable``; ``raybench.optimizers.roles``)."""

    def __post_init__(self) -> None:
        clash = sorted(set(self.changes) & set(schedules.DEFAULTS))
        if clash:
            # Every optimizer also takes the schedule's hyperparameters (raybench.schedules).
            raise ValueError(f"optimizer {self.name!r}: hyperparameter {clash[0]!r} is a schedule "
                             f"hyperparameter; reserved: {', '.join(schedules.DEFAULTS)}")

    @functools.cached_property
    def options(self) -> dict[str, Option]:
        """Every hyperparameter as an ``Option`` (default, type, what it accepts)."""
        found: dict[str, Option] = {}
        cls = None
        if self.path:
            try:
                cls = registry.load(self.path, "optimizer")
            except registry.RegistryError:
                cls = None  # a library missing here: building the entry says so in one line
        for source in (cls, self.factory):
            if source is not None:
                found.update(registry.signature_options(source))
        found = {k: v for k, v in found.items() if k not in schedules.DEFAULTS}
        for key, value in self.changes.items():
            found[key] = value if isinstance(value, Option) else _changed(found.get(key), value)
        return found

    @property
    def defaults(self) -> dict[str, Any]:
        """Every hyperparameter's default."""
        return {key: option.default for key, option in self.options.items()}


def _changed(signature: Option | None, value: Any) -> Option:
    """An ``Option`` of ``value``, keeping what the signature said it accepts (e.g. null)."""
    if signature is None:
        return Option(value)
    if signature.kind is float and type(value) is int:
        value = float(value)
    return dataclasses.replace(signature, default=value, kind=None if value is None else type(value))


def _adopt(obj: Any, *, name: str | None, path: str, origin: str, source: str,
           search_space: dict[str, Any] | None = None) -> OptimizerSpec:
    """The entry that ``obj`` (an optimizer class, or an entry point's ``OptimizerSpec``) stands for."""
    if isinstance(obj, OptimizerSpec):
        return dataclasses.replace(obj, name=name or obj.name, origin=origin, path=obj.path or path)
    if not (isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer)):
        kind = f"the class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise OptimizerError(f"optimizer {path!r} is {kind}, not a torch.optim.Optimizer subclass; "
                             "accepted: MODULE:CLASS of an optimizer class")
    name = name or obj.__name__.lower()
    spec = OptimizerSpec(name, f"{obj.__name__} from {source}", obj, {}, {}, origin=origin, path=path)
    defaults = spec.defaults
    space = dict(search_space) if search_space is not None else (dict(DEFAULT_LR_SPACE) if "lr" in defaults else {})
    for key, dim in space.items():
        if not isinstance(dim, dict) or not {"min", "max"} <= set(dim) or not 0 < dim["min"] < dim["max"]:
            raise OptimizerError(f"bad search space for {name}.{key}: {dim!r}; accepted: "
                                 "{min: LOW, max: HIGH, scaling: log|linear} with 0 < LOW < HIGH")
        if key not in defaults:
            raise OptimizerError(f"search space for {name}.{key}, which {path} does not take; "
                                 f"accepted: {', '.join(sorted(defaults))}")
    return dataclasses.replace(spec, search_space=space)


REGISTRY: registry.Registry[OptimizerSpec] = registry.Registry("optimizer", group=GROUP, adopt=_adopt, error=OptimizerError)


def register(spec: OptimizerSpec) -> OptimizerSpec:
    return REGISTRY.register(spec)


def get(name: str, **extra: Any) -> OptimizerSpec:
    """The entry ``name`` names: a registry name, ``MODULE:CLASS`` or ``NAME=MODULE:CLASS``
    (``extra``: its ``search_space``), or an installed package's entry point."""
    return REGISTRY.get(name, **extra)


def names() -> list[str]:
    return REGISTRY.names()


def baselines() -> list[str]:
    """The optimizers flagged ``baseline`` (a suite's default), in registration order."""
    return [name for name, spec in REGISTRY.items() if spec.baseline]


def load_entry_points() -> None:
    """Register every installed package's ``raybench.optimizers`` entry (once per process)."""
    REGISTRY.load_entry_points()


def resolve_hparams(name: str, hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults merged with ``hparams``, coerced and validated; raises ``OptimizerError``.

    The result holds the optimizer's own hyperparameters and the learning-rate schedule's
    (``raybench.schedules.DEFAULTS``), which every optimizer takes.
    """
    spec = get(name)
    options = spec.options
    hparams = dict(hparams or {})
    unknown = sorted(set(hparams) - set(options) - set(schedules.DEFAULTS))
    if unknown:
        raise OptimizerError(
            f"unknown hyperparameter {name}.{unknown[0]}; accepted: {', '.join(sorted(options))} "
            f"(and the learning-rate schedule's: {', '.join(schedules.DEFAULTS)})"
        )
    merged = dict(spec.defaults)
    for key, value in hparams.items():
        if key in options:
            try:
                merged[key] = options[key].coerce(value)
            except (TypeError, ValueError):
                raise OptimizerError(f"bad value {value!r} for {name}.{key}; accepted: "
                                     f"{options[key].accepted()}") from None
    try:
        schedule = schedules.resolve(name, {k: v for k, v in hparams.items() if k in schedules.DEFAULTS})
    except ValueError as exc:
        raise OptimizerError(str(exc)) from None
    probe = torch.nn.Parameter(torch.zeros(1))
    try:
        probe_opt = spec.factory([probe], **merged)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise OptimizerError(f"invalid hyperparameters for {name}: {exc}") from None
    try:
        schedules.check_optimizer(name, schedule, probe_opt)
    except ValueError as exc:
        raise OptimizerError(str(exc)) from None
    return {**merged, **schedule}


def make(name: str, params: Iterable[torch.Tensor] | Iterable[dict], **hparams: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` with defaults overridden by ``hparams``.

    The schedule's hyperparameters are checked but not applied here: a schedule needs the
    run's budget, and ``raybench.train.Run`` drives it (``raybench.schedules.build``).
    """
    return build(name, params, resolve_hparams(name, hparams))


def build(name: str, params: Iterable[torch.Tensor] | Iterable[dict],
          resolved: dict[str, Any], *, param_roles: roles.ParamRoles | None = None) -> torch.optim.Optimizer:
    """Build optimizer ``name`` from hyperparameters already resolved (``resolve_hparams``), as
    a ``RunSpec`` holds them: no second round of coercion and checks. The schedule's
    hyperparameters are left out (the factory never sees them).

    ``param_roles`` (of the parameters ``params``; ``roles.of``): the optimizer gets param
    groups instead (``roles.param_groups``): no weight decay on norms, biases and embeddings,
    and one group per role, with its role, for a class that reads it (``takes_param_roles``:
    ``MuonAdamW``). Check ``not_applicable`` first."""
    hparams = schedules.strip(resolved)
    factory = get(name).factory
    if param_roles is not None:
        params = roles.param_groups(param_roles, hparams, by_role=getattr(factory, "takes_param_roles", False))
    return factory(params, **hparams)


def not_applicable(name: str, param_roles: roles.ParamRoles, resolved: dict[str, Any]) -> str | None:
    """Why optimizer ``name`` does not apply to a model with ``param_roles`` (None: it applies)."""
    applies = get(name).applies
    return None if applies is None else applies(param_roles, schedules.strip(resolved))
