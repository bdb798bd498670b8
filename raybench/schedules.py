"""Learning-rate schedules: hyperparameters that every optimizer takes, driven by the run.

    raybench run --problems mlp --optimizers adam \\
        --hparam adam.schedule=warmup_cosine --hparam adam.warmup=0.05 --out results/

A schedule multiplies the optimizer's learning rate (``lr`` in its param groups) by a factor
of the step ``t = 0, 1, ..., T-1``, where ``T`` is the run's budget in steps (so the same
schedule stretches over a 100-step and a 10,000-step run alike):

- ``constant`` (the default): factor 1. No scheduler is built at all, so a run trains exactly
  as it did before schedules existed.
- ``warmup_cosine``: linear warm-up over the first ``W = round(warmup * T)`` steps, factor
  ``(t + 1) / W``, then cosine decay to zero at ``T``: ``0.5 * (1 + cos(pi * (t - W) / (T - W)))``.
  AlgoPerf's baseline schedule.
- ``step``: the same optional linear warm-up, then the factor is multiplied by
  ``decay_factor`` at each of the ``milestones`` (fractions of ``T``; the decay takes effect from
  step ``round(milestone * T)`` on).

The schedule's hyperparameters live here, as data (``DEFAULTS``), and are merged into every
optimizer's hyperparameters by ``raybench.optimizers.resolve_hparams``: they are checked like
any other, recorded as ``hp_schedule``, ``hp_warmup``, ... columns, and stripped before the
optimizer's factory is called. A hyperparameter that the chosen schedule does not use must stay
at its default, so that no column claims a setting that had no effect.

This module is a leaf (torch only): its errors are ``ValueError`` one-liners, which
``resolve_hparams`` raises as ``OptimizerError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("constant", "warmup_cosine", "step")
"""Accepted values of the ``schedule`` hyperparameter."""

DEFAULTS: dict[str, Any] = {
    "schedule": "constant",
    "warmup": 0.0,
    "decay_factor": 0.1,
    "milestones": (0.5, 0.75),
}
"""The schedule hyperparameters and their defaults. ``warmup`` and ``milestones`` are fractions
of the run's budget; ``decay_factor`` multiplies the learning rate at each milestone."""

USED_BY: dict[str, tuple[str, ...]] = {
    "warmup": ("warmup_cosine", "step"),
    "decay_factor": ("step",),
    "milestones": ("step",),
}
"""Which schedules read each hyperparameter (``schedule`` itself is read by all)."""


def strip(hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` without the schedule's: what an optimizer's factory takes."""
    return {k: v for k, v in hparams.items() if k not in DEFAULTS}


def at_default(key: str, value: Any) -> bool:
    """Whether ``value`` is ``key``'s default (tuples and lists alike, as JSON gives them back)."""
    default = DEFAULTS[key]
    if isinstance(default, tuple):
        return isinstance(value, tuple | list) and tuple(value) == default
    return value == default


def _bad(optimizer: str, key: str, value: Any, accepted: str) -> ValueError:
    return ValueError(f"bad value {value!r} for {optimizer}.{key}: accepted: {accepted}")


def _fraction_list(optimizer: str, value: Any) -> tuple[float, ...]:
    """``"0.5,0.75"``, ``[0.5, 0.75]`` or ``0.5`` -> a tuple of floats."""
    try:
        if isinstance(value, str):
            items = [v for v in value.split(",") if v.strip()]
        elif isinstance(value, tuple | list):
            items = list(value)
        else:
            items = [value]
        if any(isinstance(v, bool) for v in items):
            raise ValueError
        return tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise _bad(optimizer, "milestones", value, _MILESTONES) from None


_MILESTONES = "increasing fractions of the budget, each in (0, 1), e.g. 0.5,0.75"


def resolve(optimizer: str, given: dict[str, Any]) -> dict[str, Any]:
    """The schedule hyperparameters: ``DEFAULTS`` with ``given`` coerced over them and checked.

    ``optimizer`` names the optimizer in messages (``adam.warmup``). Raises ``ValueError``.
    """
    out = dict(DEFAULTS)
    for key, value in given.items():
        if key == "schedule":
            if value not in SCHEDULES:
                raise _bad(optimizer, key, value, ", ".join(SCHEDULES))
            out[key] = value
        elif key in ("warmup", "decay_factor"):
            try:
                if isinstance(value, bool):
                    raise ValueError
                out[key] = float(value)
            except (TypeError, ValueError):
                raise _bad(optimizer, key, value, "a number") from None
        elif key == "milestones":
            out[key] = _fraction_list(optimizer, value)
        else:
            raise ValueError(f"unknown schedule hyperparameter {optimizer}.{key}; accepted: "
                             f"{', '.join(DEFAULTS)}")
    # `not (a <= x < b)` is also true for NaN.
    if not 0.0 <= out["warmup"] < 1.0:
        raise _bad(optimizer, "warmup", out["warmup"], "a fraction of the budget, 0 <= warmup < 1")
    if not 0.0 < out["decay_factor"] <= 1.0:
        raise _bad(optimizer, "decay_factor", out["decay_factor"], "a factor with 0 < decay_factor <= 1")
    ms = out["milestones"]
    if not ms or not all(0.0 < m < 1.0 for m in ms) or any(b <= a for a, b in zip(ms, ms[1:])):
        raise _bad(optimizer, "milestones", ",".join(str(m) for m in ms) or given.get("milestones"), _MILESTONES)
    for key, schedules in USED_BY.items():
        if out["schedule"] not in schedules and not at_default(key, out[key]):
            raise ValueError(
                f"{optimizer}.{key} applies only to schedule={' or '.join(schedules)}, but "
                f"{optimizer}.schedule is {out['schedule']!r}; set {optimizer}.schedule or drop {optimizer}.{key}")
    return out


def check_optimizer(optimizer: str, hparams: dict[str, Any], opt: torch.optim.Optimizer) -> None:
    """A schedule other than ``constant`` needs a learning rate (``lr``) in every param group."""
    schedule = hparams.get("schedule", "constant")
    if schedule != "constant" and any("lr" not in group for group in opt.param_groups):
        raise ValueError(f"{optimizer}.schedule={schedule} needs an optimizer with a learning rate "
                         f"('lr'), and {optimizer} has none; accepted: {optimizer}.schedule=constant")


def factor(hparams: dict[str, Any], total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor of step ``t`` (0-based) for a run of ``total_steps`` steps."""
    schedule = hparams.get("schedule", "constant")
    T = max(1, int(total_steps))
    W = _step_at(hparams.get("warmup", DEFAULTS["warmup"]), T)

    def warm(t: int) -> float:
        return (t + 1) / W if t < W else 1.0

    if schedule == "constant":
        return lambda t: 1.0
    if schedule == "warmup_cosine":
        def warmup_cosine(t: int) -> float:
            if t < W:
                return warm(t)
            return 0.5 * (1.0 + math.cos(math.pi * min(t - W, T - W) / max(1, T - W)))
        return warmup_cosine
    if schedule == "step":
        decay = float(hparams.get("decay_factor", DEFAULTS["decay_factor"]))
        boundaries = [_step_at(m, T) for m in hparams.get("milestones", DEFAULTS["milestones"])]

        def step(t: int) -> float:
            return warm(t) * decay ** sum(t >= b for b in boundaries)
        return step
    raise ValueError(f"unknown schedule {schedule!r}; accepted: {', '.join(SCHEDULES)}")


def _step_at(fraction: float, total_steps: int) -> int:
    """The step a fraction of the budget falls on, rounded half up (0.05 * 1000 -> 50, not 50.00...1)."""
    return int(float(fraction) * total_steps + 0.5)


def build(opt: torch.optim.Optimizer, hparams: dict[str, Any], total_steps: int) -> LambdaLR | None:
    """The scheduler of a run of ``total_steps`` steps over ``opt``; ``None`` for ``constant``.

    Step it once after every ``opt.step()``: step ``t`` then trains at ``lr * factor(t)``. Its
    ``state_dict`` holds only plain numbers (the factor is a function of the hyperparameters,
    rebuilt here), so it belongs in the run's checkpoint.
    """
    if hparams.get("schedule", "constant") == "constant":
        return None
    return LambdaLR(opt, factor(hparams, total_steps))
