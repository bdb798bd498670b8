"""The optimizer registry: name -> factory, default hyperparameters, learning-rate search space.

    >>> from raybench import optimizers
    >>> opt = optimizers.make("modified_adam", model.parameters(), lr=3e-4)

Every entry's hyperparameters become columns of the results (``hp_<name>``). Search spaces
are plain data in AlgoPerf's shape: ``{"lr": {"min": 1e-4, "max": 1e-1, "scaling": "log"}}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import torch

from raybench import schedules
from raybench.optimizers.modified_adam import ModifiedAdam


class OptimizerError(ValueError):
    """A user-facing optimizer error (unknown name or bad hyperparameter)."""


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    name: str
    description: str
    factory: Callable[..., torch.optim.Optimizer]
    defaults: dict[str, Any]
    search_space: dict[str, dict[str, Any]]
    baseline: bool = False
    """True for the hand-designed optimizers a suite compares by default (``baselines()``)."""
    origin: str = "raybench"
    """Where the entry comes from: "raybench" (this registry), "entry point" (an installed
    package's ``raybench.optimizers`` entry point) or "import path" (named by the user)."""
    path: str | None = None
    """``MODULE:CLASS`` of the class the entry builds (recorded with its distribution's version)."""


REGISTRY: dict[str, OptimizerSpec] = {}


def register(spec: OptimizerSpec) -> OptimizerSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"optimizer {spec.name!r} registered twice")
    clash = sorted(set(spec.defaults) & set(schedules.DEFAULTS))
    if clash:
        # Every optimizer also takes the schedule's hyperparameters (raybench.schedules).
        raise ValueError(f"optimizer {spec.name!r}: hyperparameter {clash[0]!r} is a schedule "
                         f"hyperparameter; reserved: {', '.join(schedules.DEFAULTS)}")
    REGISTRY[spec.name] = spec
    return spec


def names() -> list[str]:
    return list(REGISTRY)


def baselines() -> list[str]:
    """The optimizers flagged ``baseline`` (a suite's default), in registration order."""
    return [name for name, spec in REGISTRY.items() if spec.baseline]


def get(name: str) -> OptimizerSpec:
    if name not in REGISTRY:  # an installed package's entry point, loaded on first need
        from raybench import entries

        entries.load_entry_points()
    try:
        return REGISTRY[name]
    except KeyError:
        raise OptimizerError(f"unknown optimizer {name!r}; accepted: {', '.join(REGISTRY)}") from None


def _coerce(name: str, key: str, value: Any, default: Any) -> Any:
    """Turn a CLI/YAML value into the default's type (``"0.9,0.99"`` -> tuple, ``"true"`` -> bool)."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError
            return bool(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            out = tuple(type(d)(v) for d, v in zip(default, items, strict=True))
            return out
        if isinstance(default, int) and not isinstance(value, bool):
            f = float(value)
            if f != int(f):
                raise ValueError
            return int(f)
        if isinstance(default, float):
            return float(value)
        if default is None or isinstance(default, str):
            return value
    except (TypeError, ValueError):
        pass
    raise OptimizerError(
        f"bad value {value!r} for {name}.{key}: expected {type(default).__name__} like {default!r}"
    )


def resolve_hparams(name: str, hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults merged with ``hparams``, coerced and validated; raises ``OptimizerError``.

    The result holds the optimizer's own hyperparameters and the learning-rate schedule's
    (``raybench.schedules.DEFAULTS``), which every optimizer takes.
    """
    spec = get(name)
    hparams = dict(hparams or {})
    unknown = sorted(set(hparams) - set(spec.defaults) - set(schedules.DEFAULTS))
    if unknown:
        raise OptimizerError(
            f"unknown hyperparameter {name}.{unknown[0]}; accepted: {', '.join(sorted(spec.defaults))} "
            f"(and the learning-rate schedule's: {', '.join(schedules.DEFAULTS)})"
        )
    merged = dict(spec.defaults)
    for key, value in hparams.items():
        if key in spec.defaults:
            merged[key] = _coerce(name, key, value, spec.defaults[key])
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
          resolved: dict[str, Any]) -> torch.optim.Optimizer:
    """Build optimizer ``name`` from hyperparameters already resolved (``resolve_hparams``), as
    a ``RunSpec`` holds them: no second round of coercion and checks. The schedule's
    hyperparameters are left out (the factory never sees them)."""
    return get(name).factory(params, **schedules.strip(resolved))


def _lbfgs(params: Iterable[torch.Tensor] | Iterable[dict], *, line_search_fn: str | None = "strong_wolfe",
           history_size: int = 10, max_iter: int = 1, max_eval: int = 25, **kwargs: Any) -> torch.optim.LBFGS:
    """``torch.optim.LBFGS`` with the arguments it only checks at its first step checked up front."""
    # torch accepts these at construction and fails (or silently misbehaves) at the first step,
    # which would turn a typo into a "failed" run instead of a one-line error.
    if line_search_fn not in (None, "strong_wolfe"):
        raise ValueError(f"Invalid line_search_fn: {line_search_fn!r}; accepted: 'strong_wolfe' or None")
    for key, value in (("history_size", history_size), ("max_iter", max_iter), ("max_eval", max_eval)):
        if value < 1:
            raise ValueError(f"Invalid {key} value: {value}; accepted: an integer >= 1")
    return torch.optim.LBFGS(params, line_search_fn=line_search_fn, history_size=history_size,
                             max_iter=max_iter, max_eval=max_eval, **kwargs)


def _lr_space(lo: float, hi: float) -> dict[str, dict[str, Any]]:
    return {"lr": {"min": lo, "max": hi, "scaling": "log"}}


register(OptimizerSpec(
    "adam", "Adam (Kingma & Ba), the baseline", torch.optim.Adam,
    {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}, _lr_space(1e-4, 1e-1), baseline=True, path="torch.optim:Adam"))
register(OptimizerSpec(
    "sgd", "plain stochastic gradient descent", torch.optim.SGD,
    {"lr": 1e-2, "weight_decay": 0.0}, _lr_space(1e-4, 1.0), baseline=True, path="torch.optim:SGD"))
register(OptimizerSpec(
    "momentum", "SGD with Nesterov momentum 0.9",
    torch.optim.SGD,
    {"lr": 1e-2, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}, _lr_space(1e-4, 1.0), baseline=True,
    path="torch.optim:SGD"))
register(OptimizerSpec(
    "adagrad", "AdaGrad (Duchi et al.)", torch.optim.Adagrad,
    {"lr": 1e-2, "eps": 1e-10, "weight_decay": 0.0}, _lr_space(1e-3, 1.0), baseline=True,
    path="torch.optim:Adagrad"))
register(OptimizerSpec(
    "rmsprop", "RMSprop (Tieleman & Hinton), alpha 0.99", torch.optim.RMSprop,
    {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0}, _lr_space(1e-5, 1e-1), baseline=True,
    path="torch.optim:RMSprop"))
register(OptimizerSpec(
    "adamw", "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter)", torch.optim.AdamW,
    {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}, _lr_space(1e-4, 1e-1), baseline=True,
    path="torch.optim:AdamW"))
register(OptimizerSpec(
    "lbfgs", "L-BFGS with strong-Wolfe line search, one iteration per step (counts every closure call)",
    _lbfgs,
    # max_eval must be given: torch's default (max_iter * 5 // 4 = 1 at max_iter=1) leaves the
    # strong-Wolfe search no evaluation to spend, and L-BFGS then stalls (quadratic: stuck at
    # suboptimality 0.16 from step 10 on). 25 is torch's own ratio at its default max_iter=20.
    {"lr": 1.0, "max_iter": 1, "max_eval": 25, "history_size": 10, "line_search_fn": "strong_wolfe"},
    _lr_space(1e-2, 1.0), baseline=True, path="torch.optim:LBFGS"))
register(OptimizerSpec(
    "modified_adam", "Adam with the second-moment update scaled by variance_scale (default 1.1)",
    ModifiedAdam,
    {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "variance_scale": 1.1},
    _lr_space(1e-4, 1e-1), baseline=True, path="raybench.optimizers.modified_adam:ModifiedAdam"))

__all__ = ["ModifiedAdam", "OptimizerError", "OptimizerSpec", "REGISTRY", "baselines", "build", "get", "make", "names",
           "register", "resolve_hparams"]


def _autonomous(params: Iterable[torch.Tensor] | Iterable[dict], *, policy: str,
                lr_scale: float) -> torch.optim.Optimizer:
    """``AutonomousOptimizer`` over the policy file ``policy``, loaded through the policy cache.

    The cache matters: ``resolve_hparams`` builds a probe optimizer and ``make`` builds the real
    one, so a run would otherwise read and hash the same file several times.
    """
    # Imported here so the registry does not load the policy machinery until it is used.
    from raybench.learned.policy import load_policy
    from raybench.optimizers.autonomous import AutonomousOptimizer

    if not policy:
        raise ValueError("autonomous needs policy=<file>: a policy exported by `raybench rl train` "
                         "(e.g. --hparam autonomous.policy=policy/policy.safetensors)")
    return AutonomousOptimizer(params, load_policy(policy), lr_scale=lr_scale)


register(OptimizerSpec(
    "autonomous", "learned coordinate-wise policy (raybench rl train); needs policy=<file>", _autonomous,
    {"policy": "", "lr_scale": 1.0}, {"lr_scale": {"min": 0.1, "max": 10.0, "scaling": "log"}},
    path="raybench.optimizers.autonomous:AutonomousOptimizer"))

from raybench.optimizers import zoo  # noqa: E402,F401  (registers the modern zoo: torch.optim, schedulefree, pytorch_optimizer)
