"""A run's resolved configuration: one frozen ``RunSpec``, built once at the boundary.

The CLI, a suite file and the Python API (``raybench.Run("quadratic", "adam", ...)``) build a
spec with ``RunSpec.build``: the problem and optimizer are looked up, the problem options are
checked, the hyperparameters are resolved (defaults filled in, coerced, validated) and the
``run_id`` is computed, once. Everything below (the runner, Ray workers, ``Run``, multi-init
trials, learning-rate search) takes the spec as given and never resolves it again. A changed
spec is a new spec: ``spec.with_(hparams=...)`` builds it anew, so its ``run_id`` follows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from raybench import optimizers, problems
from raybench.errors import UsageError


def run_id(problem: str, optimizer: str, hparams: dict[str, Any], seed: int, steps: int | None,
           options: dict[str, Any] | None = None, *, optimizer_path: str | None = None,
           problem_path: str | None = None, budget_factor: float = 1.0) -> str:
    """A stable id for one run configuration (what ``--resume`` matches on).

    ``hparams`` are the resolved ones (defaults filled in); ``steps=None`` means the
    problem's default budget, so an id never needs the problem instantiated.

    Every resolved hyperparameter (the schedule's included) and the import paths of user
    entries enter the hash (two classes given the same name are different runs).
    """
    fields = {"p": problem, "o": optimizer, "h": jsonable(hparams), "s": int(seed),
              "n": None if steps is None else int(steps), "x": jsonable(options or {}),
              "op": optimizer_path, "pp": problem_path}
    if budget_factor != 1.0:  # absent at 1, so the ids of every run made before the factor stay
        fields["f"] = float(budget_factor)
    key = json.dumps(fields, sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def positive_int(name: str, value: Any) -> int | None:
    """``None`` or a positive integer; else ``UsageError`` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_budget_factor(value: Any) -> float:
    """A budget factor: a finite number > 0 (``UsageError`` naming it otherwise)."""
    import math

    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"bad budget factor {value!r}; accepted: a number > 0, e.g. 1.5 (AlgoPerf's self-tuning budget)")
    return float(value)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run, resolved: plain data that travels to a Ray worker. Build it with ``build``."""

    problem: str
    optimizer: str
    seed: int
    hparams: dict[str, Any]
    """Resolved hyperparameters: the optimizer's defaults with the given ones coerced over them."""
    options: dict[str, Any]
    """Problem options as given (checked), with data choices resolved by ``prepare_data``."""
    steps: int | None
    """The budget in optimizer steps; ``None``: the problem's default."""
    eval_every: int | None
    patience: int | None
    hparam_source: str
    """How the hyperparameters were chosen: "default", "config" or "tuned" (recorded)."""
    run_id: str
    optimizer_path: str | None = None
    """``MODULE:CLASS`` of an optimizer the user named by import path (``raybench.registry``):
    a Ray worker registers it from there before the run (``register_entries``). ``None`` for
    registry entries."""
    problem_path: str | None = None
    """Likewise for a problem named by import path."""
    budget_factor: float = 1.0
    """The run's budget is this many times ``steps`` (or the problem's default budget), rounded:
    AlgoPerf's self-tuning ruleset gives an untuned submission a larger budget
    (``raybench run --tuning defaults --budget-factor 1.5``)."""

    @classmethod
    def build(cls, problem: str, optimizer: str, seed: int, *, hparams: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None, steps: int | None = None,
              eval_every: int | None = None, patience: int | None = None,
              hparam_source: str = "default", budget_factor: float = 1.0) -> RunSpec:
        """Look up, check and resolve everything once; raises the one-line user errors."""
        options = dict(options or {})
        prob = problems.get(problem)  # a name, or an import path registered here
        prob.check_options(options)
        opt = optimizers.get(optimizer)
        problem, optimizer = prob.name, opt.name
        resolved = optimizers.resolve_hparams(optimizer, hparams)
        steps = positive_int("steps", steps)
        seed = int(seed)
        budget_factor = check_budget_factor(budget_factor)
        # Only what the user named by import path travels as a path: registry and entry-point
        # entries are known to every worker by name.
        optimizer_path = opt.path if opt.origin == "import path" else None
        problem_path = prob.path if prob.origin == "import path" else None
        return cls(problem=problem, optimizer=optimizer, seed=seed, hparams=resolved, options=options,
                   steps=steps, eval_every=positive_int("eval_every", eval_every),
                   patience=positive_int("patience", patience), hparam_source=hparam_source,
                   run_id=run_id(problem, optimizer, resolved, seed, steps, options,
                                 optimizer_path=optimizer_path, problem_path=problem_path,
                                 budget_factor=budget_factor),
                   optimizer_path=optimizer_path, problem_path=problem_path, budget_factor=budget_factor)

    def register_entries(self) -> None:
        """Make this spec's problem and optimizer known in this process (a Ray worker): its
        import paths registered, or installed packages' entry points loaded, as the driver did."""
        problems.get(f"{self.problem}={self.problem_path}" if self.problem_path else self.problem)
        optimizers.get(f"{self.optimizer}={self.optimizer_path}" if self.optimizer_path else self.optimizer)

    def budget_steps(self, default: int | None) -> int | None:
        """The run's budget: ``steps`` (else ``default``, the problem's) times ``budget_factor``,
        rounded, at least 1; ``None`` where neither is known."""
        base = self.steps if self.steps is not None else default
        return None if base is None else max(1, round(self.budget_factor * base))

    def with_(self, **changes: Any) -> RunSpec:
        """A new spec with ``changes`` (e.g. ``hparams``, ``options``, ``seed``), built anew."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("run_id", "optimizer_path", "problem_path")}
        fields.update(changes)
        return RunSpec.build(fields.pop("problem"), fields.pop("optimizer"), fields.pop("seed"), **fields)

    def as_config(self) -> dict[str, Any]:
        """Plain-dict form (for Tune's ``param_space``); ``from_config`` reads it back as given."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RunSpec:
        """The spec ``as_config`` wrote, taken as given (it was resolved when built)."""
        return cls(**config)
