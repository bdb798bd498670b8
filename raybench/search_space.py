"""Search spaces as data: the hyperparameters that matter for an optimizer, each with a range and a scale.

A space is AlgoPerf's plain data, one entry per hyperparameter::

    {"lr":           {"min": 1e-4, "max": 1e-1, "scaling": "log"},
     "weight_decay": {"min": 0.0,  "max": 0.2,  "scaling": "linear"},
     "beta2":        {"values": [0.95, 0.99, 0.999], "scaling": "choice"}}

Registry entries declare theirs (``OptimizerSpec.search_space``); a suite file may override any
entry's (``search_space:`` per optimizer). ``SearchSpace.parse`` checks one (empty or inverted
range, a log scale reaching 0, a bad scale name, unknown keys) and ``check_names`` its names
against what the optimizer takes; each fault is one ``UsageError`` line.

Names are the optimizer's own hyperparameters, the schedule's ``warmup`` (a fraction of the
budget; a point that sets it on a ``constant`` schedule runs ``warmup_cosine``, AlgoPerf's
baseline schedule, so that it has an effect), and for an optimizer with ``betas`` its pieces
``beta1``, ``beta2``, ``beta3`` or AlgoPerf's ``one_minus_beta1`` / ``one_minus_beta2`` (a log
scale on ``1 - beta``). ``hparams`` turns a point into the hyperparameters a run takes.

``sobol(space, study, n)``: the first ``n`` points of a scrambled Sobol sequence seeded by the
study's index (``scipy.stats.qmc.Sobol``), so study ``s``'s first ``K`` points are the same
whatever ``n >= K`` is; ``SearchSpace.point`` maps a unit-cube point into the space.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from raybench.errors import UsageError

SCALES = ("log", "linear", "choice")
"""Accepted values of ``scaling``."""
SCHEDULE_NAMES = ("warmup",)
"""Schedule hyperparameters a space may name (``raybench.schedules``)."""
BETA_NAMES = {"beta1": (0, False), "beta2": (1, False), "beta3": (2, False),
              "one_minus_beta1": (0, True), "one_minus_beta2": (1, True)}
"""Names of pieces of ``betas``: (index, stated as ``1 - beta``)."""
WARMUP_SCHEDULE = "warmup_cosine"
"""The schedule a point that sets ``warmup`` runs when the run's own is ``constant``."""
_KEYS = {"min", "max", "scaling", "values"}


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One hyperparameter's range: ``[min, max]`` on a ``log`` or ``linear`` scale, or ``values`` (``choice``)."""

    name: str
    scaling: str
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] = ()

    def at(self, u: float) -> Any:
        """The value at ``u`` in ``[0, 1)`` of the unit interval mapped onto this range."""
        u = min(max(float(u), 0.0), 1.0)
        if self.scaling == "choice":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.scaling == "log":
            value = math.exp(math.log(self.min) + u * (math.log(self.max) - math.log(self.min)))
        else:
            value = self.min + u * (self.max - self.min)
        return float(f"{value:.12g}")

    def contains(self, value: Any) -> bool:
        if self.scaling == "choice":
            return value in self.values
        return self.min * (1 - 1e-9) <= value <= self.max * (1 + 1e-9)

    def text(self) -> str:
        if self.scaling == "choice":
            return f"{self.name} {{{','.join(f'{v:g}' if isinstance(v, float) else str(v) for v in self.values)}}}"
        return f"{self.name} {self.min:g}..{self.max:g} {self.scaling}"

    def as_data(self) -> dict[str, Any]:
        if self.scaling == "choice":
            return {"values": list(self.values), "scaling": "choice"}
        return {"min": self.min, "max": self.max, "scaling": self.scaling}


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The dimensions of one optimizer's space, in the order declared (Sobol's coordinates)."""

    dims: tuple[Dimension, ...]

    @classmethod
    def parse(cls, data: Any, owner: str) -> SearchSpace:
        """Check plain data (a mapping name -> ``{min, max, scaling}`` or ``{values, scaling:
        choice}``); ``owner`` names where it comes from in the messages."""
        if data is None:
            return cls(())
        if not isinstance(data, Mapping):
            raise UsageError(f"search space of {owner} must map hyperparameter -> {{min, max, scaling}}, got {data!r}")
        return cls(tuple(_dimension(str(name), dim, owner) for name, dim in data.items()))

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    def __bool__(self) -> bool:
        return bool(self.dims)

    def __getitem__(self, name: str) -> Dimension:
        return next(d for d in self.dims if d.name == name)

    def point(self, u: Sequence[float]) -> dict[str, Any]:
        """The point at ``u`` (one coordinate in ``[0, 1)`` per dimension)."""
        return {d.name: d.at(x) for d, x in zip(self.dims, u, strict=True)}

    def contains(self, point: Mapping[str, Any]) -> bool:
        return set(point) == set(self.names) and all(d.contains(point[d.name]) for d in self.dims)

    def text(self) -> str:
        """One compact line: ``lr 0.0001..0.1 log; weight_decay 0..0.2 linear``."""
        return "; ".join(d.text() for d in self.dims) or "none"

    def as_data(self) -> dict[str, dict[str, Any]]:
        return {d.name: d.as_data() for d in self.dims}

    def check_names(self, defaults: Mapping[str, Any], owner: str) -> None:
        """``UsageError`` for a name the optimizer (whose hyperparameters' defaults are
        ``defaults``) does not take."""
        ok = accepted(defaults)
        for d in self.dims:
            if d.name not in ok:
                raise UsageError(f"search space of {owner}: unknown hyperparameter {d.name!r}; "
                                 f"accepted: {', '.join(sorted(ok))}")


def _dimension(name: str, dim: Any, owner: str) -> Dimension:
    where = f"search space of {owner}.{name}"
    if not isinstance(dim, Mapping):
        raise UsageError(f"{where}: expected {{min, max, scaling}} or {{values, scaling: choice}}, got {dim!r}")
    bad = sorted(set(dim) - _KEYS)
    if bad:
        raise UsageError(f"{where}: unknown key {bad[0]!r}; accepted: {', '.join(sorted(_KEYS))}")
    scaling = dim.get("scaling", "choice" if "values" in dim else "log")
    if scaling not in SCALES:
        raise UsageError(f"{where}: bad scaling {scaling!r}; accepted: {', '.join(SCALES)}")
    if scaling == "choice":
        values = dim.get("values")
        if not isinstance(values, list | tuple) or not values or "min" in dim or "max" in dim:
            raise UsageError(f"{where}: a choice needs a non-empty list 'values' (and no min/max), got {dim!r}")
        return Dimension(name, scaling, values=tuple(values))
    low, high = dim.get("min"), dim.get("max")
    if "values" in dim:
        raise UsageError(f"{where}: 'values' goes with scaling: choice; a {scaling} range takes min and max")
    for key, v in (("min", low), ("max", high)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise UsageError(f"{where}: {key} must be a finite number, got {v!r}")
    if low == high:
        raise UsageError(f"{where}: empty range [{low}, {high}]; accepted: min < max")
    if low > high:
        raise UsageError(f"{where}: inverted range [{low}, {high}]; accepted: min < max")
    if scaling == "log" and low <= 0:
        raise UsageError(f"{where}: a log scale cannot reach {low} (min <= 0); accepted: 0 < min < max, "
                         "or scaling: linear")
    return Dimension(name, scaling, float(low), float(high))


def accepted(defaults: Mapping[str, Any]) -> set[str]:
    """The names a space may take for an optimizer with hyperparameter ``defaults``."""
    names = set(defaults) | set(SCHEDULE_NAMES)
    betas = defaults.get("betas")
    if isinstance(betas, tuple | list):
        names |= {n for n, (i, _) in BETA_NAMES.items() if i < len(betas)}
    return names


def hparams(point: Mapping[str, Any], resolved: Mapping[str, Any]) -> dict[str, Any]:
    """``resolved`` (a run's hyperparameters, schedule included) with ``point`` applied: pieces of
    ``betas`` set in the tuple, integers rounded where the default is one, and a ``constant``
    schedule turned into ``warmup_cosine`` when the point sets ``warmup``."""
    out = dict(resolved)
    for name, value in point.items():
        if name in BETA_NAMES:
            index, complement = BETA_NAMES[name]
            betas = list(out["betas"])
            betas[index] = float(f"{1.0 - value:.12g}") if complement else value
            out["betas"] = tuple(betas)
        elif isinstance(resolved.get(name), int) and not isinstance(resolved.get(name), bool):
            out[name] = int(round(value))
        else:
            out[name] = value
    if "warmup" in point and out.get("schedule", "constant") == "constant":
        out["schedule"] = WARMUP_SCHEDULE
    return out


def sobol(space: SearchSpace, study: int, n: int) -> list[list[float]]:
    """The first ``n`` points (unit cube, one coordinate per dimension) of study ``study``'s
    scrambled Sobol sequence, seeded by ``study``."""
    from scipy.stats import qmc

    if n < 1 or not space:
        return []
    m = max(0, math.ceil(math.log2(n)))
    draws = qmc.Sobol(d=len(space.dims), scramble=True, seed=study).random_base2(m)
    return [list(map(float, row)) for row in draws[:n]]


def points(space: SearchSpace, study: int, n: int) -> list[dict[str, Any]]:
    """Study ``study``'s first ``n`` points, mapped into ``space``."""
    return [space.point(u) for u in sobol(space, study, n)]


def to_json(point: Mapping[str, Any]) -> str:
    return json.dumps(dict(point), sort_keys=True)


def declared(entry: Any) -> SearchSpace:
    """An optimizer registry entry's own space, checked (its names against its hyperparameters)."""
    space = SearchSpace.parse(entry.search_space, entry.name)
    space.check_names(entry.defaults, entry.name)
    return space


def log(low: float, high: float) -> dict[str, Any]:
    """A log-scaled range, as data (for registry declarations)."""
    return {"min": low, "max": high, "scaling": "log"}


def linear(low: float, high: float) -> dict[str, Any]:
    """A linear range, as data."""
    return {"min": low, "max": high, "scaling": "linear"}


WARMUP = {"warmup": linear(0.0, 0.1)}
"""The schedule's warm-up fraction: AlgoPerf's baselines warm up over about 5% of the budget."""
