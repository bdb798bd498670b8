"""One multi-init experiment as data (``MultiInitSpec``) and the checks that resolve it.

``check_arguments`` answers a bad number before torch or Ray load; ``prepare`` checks the
names, options, metric and budget against the registries and fills in the derived defaults.
The metric's direction is never configured: it is the problem's declared one
(``raybench.problems.Problem.metrics``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from raybench.errors import UsageError
from raybench.tuning.rungs import rung_sizes

NUM_MODELS = 16
"""Seed trials started: the research summary's 16 (``--num-models``)."""
REDUCE_FACTOR = 0.5
"""Fraction r of the judged trials kept at each rung: the summary's 0.5 (``--reduce-factor``)."""


@dataclasses.dataclass(frozen=True)
class MultiInitSpec:
    """One multi-init experiment: what to train, how many seeds, how to eliminate."""

    problem: str
    """A problem registry name, or (before ``prepare``) any spelling ``problems.get`` takes."""
    optimizer: str
    """An optimizer registry name, or (before ``prepare``) any spelling ``optimizers.get`` takes."""
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Overrides of the optimizer's default hyperparameters."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Problem options, e.g. ``{"dataset": "mnist_subset"}``."""
    num_models: int = NUM_MODELS
    """Seed trials started."""
    reduce_factor: float = REDUCE_FACTOR
    """Fraction r of the judged trials that continue at each rung."""
    steps_per_round: int = 100
    """Steps K every live trial trains between two rungs."""
    steps: int | None = None
    """Full budget E of the survivor (default: the problem's)."""
    seed_offset: int = 0
    """First seed; repeat b uses seeds ``seed_offset + b*num_models ...`` (disjoint blocks)."""
    metric: str = "loss"
    """Validation metric trials are ranked on: one the problem declares."""
    eval_every: int | None = None
    """Steps between curve points; must divide ``steps_per_round`` (default: derived)."""
    problem_path: str | None = None
    """``MODULE:ATTR`` of a problem the user named by import path (set by ``prepare``): every
    trial registers it from there (``names``), as ``RunSpec.problem_path``; ``None`` otherwise."""
    optimizer_path: str | None = None
    """Likewise for an optimizer named by import path."""

    def names(self) -> tuple[str, str]:
        """The problem and optimizer as a trial (another process) resolves them: ``NAME=MODULE:ATTR``
        for those named by import path (registered there on first use), else the registry names."""
        return (f"{self.problem}={self.problem_path}" if self.problem_path else self.problem,
                f"{self.optimizer}={self.optimizer_path}" if self.optimizer_path else self.optimizer)

    @property
    def mode(self) -> str:
        """``"min"`` or ``"max"``: the direction the problem declares for ``metric``."""
        from raybench import problems

        return problems.get(self.problem).direction(self.metric)

    @property
    def metric_key(self) -> str:
        return f"val_{self.metric}"

    def seeds(self, repeat: int = 0) -> list[int]:
        start = self.seed_offset + repeat * self.num_models
        return list(range(start, start + self.num_models))

    @property
    def rounds(self) -> int:
        """Rungs judged before one trial is left."""
        return len(rung_sizes(self.num_models, self.reduce_factor)) - 1


def check_arguments(num_models: int, reduce_factor: float, steps_per_round: int) -> None:
    """The checks that need no problem: raise ``UsageError`` naming what is accepted."""
    if isinstance(num_models, bool) or int(num_models) != num_models or num_models < 1:
        raise UsageError(f"bad --num-models {num_models}: accepted: an integer >= 1")
    if not 0.0 < reduce_factor < 1.0:
        raise UsageError(f"bad --reduce-factor {reduce_factor}: accepted: a fraction in (0, 1), e.g. 0.5")
    if isinstance(steps_per_round, bool) or int(steps_per_round) != steps_per_round or steps_per_round < 1:
        raise UsageError(f"bad --steps-per-round {steps_per_round}: accepted: an integer >= 1")


def prepare(spec: MultiInitSpec) -> MultiInitSpec:
    """Validate ``spec`` (names, options, metric, budget) and fill in the derived defaults.

    Builds one problem instance here, in the driver, so that every user error (unknown
    problem or optimizer, bad option or metric, missing data) is a one-line message before
    any trial starts.
    """
    from raybench import optimizers, problems

    check_arguments(spec.num_models, spec.reduce_factor, spec.steps_per_round)
    prob = problems.get(spec.problem)  # a name or an import path, registered here on first use
    opt = optimizers.get(spec.optimizer)
    try:
        prob.direction(spec.metric)
    except problems.ProblemError as exc:
        raise UsageError(f"bad --metric: {exc}") from None
    hparams = optimizers.resolve_hparams(opt.name, spec.hparams)
    # Checks the options (the problem's message names what it accepts), fetches or checks the
    # data once and resolves choices such as dataset="auto".
    options = prob.prepare(**spec.options)
    instance = prob.instance(spec.seed_offset, **options)
    steps = int(spec.steps if spec.steps is not None else instance.budget.steps)
    K = int(spec.steps_per_round)
    needed = spec.rounds * K
    if steps < needed:
        raise UsageError(
            f"--steps {steps} is too small: {spec.num_models} models at --reduce-factor "
            f"{spec.reduce_factor} need {spec.rounds} rounds of --steps-per-round {K}, "
            f"so --steps must be >= {needed}")
    if spec.eval_every is None:
        default = max(1, int(instance.budget.eval_every))
        # The largest divisor of K not above the problem's own interval: every rung is an
        # evaluation point, and curves stay about as dense as the problem asks.
        eval_every = max(d for d in range(1, K + 1) if K % d == 0 and d <= default)
    else:
        eval_every = int(spec.eval_every)
        if eval_every < 1 or K % eval_every:
            raise UsageError(f"bad --eval-every {spec.eval_every}: accepted: a divisor of "
                             f"--steps-per-round {K}")
    # Only what the user named by import path travels as a path (as in ``RunSpec.build``).
    return dataclasses.replace(
        spec, problem=prob.name, optimizer=opt.name, hparams=hparams, options=options, steps=steps,
        eval_every=eval_every, problem_path=prob.path if prob.origin == "import path" else None,
        optimizer_path=opt.path if opt.origin == "import path" else None)
