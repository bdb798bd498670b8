"""The Problem contract: what every benchmark problem gives the training loop.

A problem is pure PyTorch plus data. It knows nothing of Ray, optimizers or the CLI.

``Problem.instance(seed, **options)`` is fully determined by ``seed``: the initial
parameters, the data, the order of the batches and (for problem families such as
``quadratic``) which random instance is drawn. So the same seed gives every optimizer the
same start and the same batches, and comparisons are paired by seed.

Batches are a pure function of ``(seed, step)`` (``Instance.batch(step)``), never an
iterator with hidden position: a run can be checkpointed and restored at any step and
still see exactly the batches it would have seen.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from raybench import registry
from raybench.registry import Option

Batch = Any  # whatever ``Instance.loss`` accepts; ``None`` for deterministic full-batch problems


class ProblemError(ValueError):
    """A user-facing problem error (unknown name, bad option, missing data)."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """A problem's default training budget."""

    steps: int
    """Optimizer steps in one run."""
    batch_size: int | None
    """Examples per step; ``None`` means the full (deterministic) objective."""
    eval_every: int
    """Steps between evaluations (curve points)."""


MODES = ("min", "max")
"""A metric's direction: "min" (lower is better) or "max" (higher is better)."""


def better(mode: str, a: float, b: float) -> bool:
    """True when ``a`` is strictly better than ``b`` under ``mode`` (NaN is never better)."""
    return a < b if mode == "min" else a > b


@dataclasses.dataclass(frozen=True)
class Target:
    """What "converged" means for time-to-target: ``metric`` on validation reaches ``threshold``.

    ``mode`` is not given by the instance: ``Problem.instance`` fills it in from the problem's
    declared ``metrics``, the one home of every metric's direction.
    """

    metric: str
    threshold: float
    mode: str | None = None  # "min": metric <= threshold; "max": metric >= threshold

    def reached(self, metrics: dict[str, float]) -> bool:
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return False
        return value <= self.threshold if self.mode == "min" else value >= self.threshold


def generator(seed: int, *salt: int) -> torch.Generator:
    """The one seeding helper: a CPU generator for ``seed`` and a salt (purpose) tuple."""
    g = torch.Generator()
    # Mix the salt in so that e.g. data and initial weights of one seed are independent.
    mixed = int(seed)
    for s in salt:
        mixed = (mixed * 1_000_003 + int(s)) % (2**63 - 1)
    g.manual_seed(mixed)
    return g


_NORMS = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.RMSNorm, torch.nn.BatchNorm1d, torch.nn.BatchNorm2d,
          torch.nn.BatchNorm3d)


def layer_roles(model: torch.nn.Module, head: str) -> dict[str, str]:
    """The roles of a network of standard layers, by layer: an ``Embedding``'s weight is
    ``embedding``, a normalisation layer's scale and shift ``norm``, any other layer's ``bias``
    ``bias``, the weight of the output layer (the submodule named ``head``) ``head``, and every
    other weight ``hidden``: the first layer's too, which on raw continuous inputs is a hidden
    layer's weight, not a lookup table (Muon's practitioners give it to Muon)."""
    if head not in dict(model.named_modules()):
        raise ValueError(f"{type(model).__name__} has no submodule {head!r} to be its head")
    roles: dict[str, str] = {}
    for prefix, module in model.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(module, torch.nn.Embedding):
                roles[full] = "embedding"
            elif isinstance(module, _NORMS):
                roles[full] = "norm"
            elif name == "bias":
                roles[full] = "bias"
            else:
                roles[full] = "head" if prefix == head else "hidden"
    return roles


BYTES_PER_TRAINED_PARAMETER = 16
"""What one float32 parameter costs a run in the memory estimates (``Problem.memory``): the
weight, its gradient and Adam's two moments, 4 bytes each (SGD needs less, none of the usual
optimizers much more)."""


def network_bytes(model: Callable[[], torch.nn.Module], example: tuple[int, ...], *, batch: int,
                  eval_batch: int) -> float:
    """A memory estimate of training the network ``model()`` makes on inputs of shape ``example``
    (one example): its parameters x ``BYTES_PER_TRAINED_PARAMETER``, plus the larger of the
    activations a training minibatch of ``batch`` keeps for the backward pass (every leaf
    module's float32 output) and an evaluation chunk of ``eval_batch`` (no gradient: at most two
    outputs of the largest layer at once). The network is built and run on the meta device:
    shapes only, nothing allocated."""
    sizes: list[int] = []
    with torch.device("meta"):
        net = model()
        hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
                 for m in net.modules() if not list(m.children())]
        try:
            net(torch.empty((1, *example)))
        finally:
            for h in hooks:
                h.remove()
    n_params = sum(p.numel() for p in net.parameters())
    activations = max(batch * sum(sizes), eval_batch * 2 * max(sizes, default=0))
    return BYTES_PER_TRAINED_PARAMETER * n_params + 4.0 * activations


class Instance(abc.ABC):
    """One concrete optimisation problem drawn from a seed.

    Subclasses set ``model`` (a ``torch.nn.Module`` holding every trainable parameter),
    ``budget``, ``target``, ``f_star`` (or ``None``) and ``dataset`` (a name recorded in
    the results), and implement ``batch``, ``loss`` and ``evaluate``.

    The model may declare its parameters' roles, ``parameter_roles() -> {name: role}`` (embedding,
    head, hidden, norm, bias, other; ``layer_roles`` derives them for standard layers), which
    optimizers and weight decay that treat parameters differently read
    (``raybench.optimizers.roles``); without it they fall back to a rule by shape.
    """

    model: torch.nn.Module
    budget: Budget
    target: Target
    f_star: float | None = None
    dataset: str = "synthetic"
    seed: int = 0

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def to(self, device: str | torch.device) -> Instance:
        """Move parameters and data to ``device``; returns ``self``."""
        self.model.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @abc.abstractmethod
    def batch(self, step: int) -> Batch:
        """The training batch for optimizer step ``step`` (0-based); pure in (seed, step)."""

    @abc.abstractmethod
    def loss(self, batch: Batch) -> torch.Tensor:
        """Scalar training loss on ``batch``; differentiable w.r.t. ``parameters()``."""

    def closure(self, batch: Batch, on_eval: Callable[[], None] | None = None) -> Callable[[], torch.Tensor]:
        """An L-BFGS-style closure: zero grads, compute loss, backward, return loss."""
        params = self.parameters()

        def _closure() -> torch.Tensor:
            for p in params:
                p.grad = None
            value = self.loss(batch)
            value.backward()
            if on_eval is not None:
                on_eval()
            return value

        return _closure

    @abc.abstractmethod
    def evaluate(self, split: str = "val") -> dict[str, float]:
        """Named metrics on ``split`` ("val" or "test"); always includes ``loss``.

        Includes ``suboptimality`` (f - f*) where ``f_star`` is known and ``accuracy``
        for classifiers.
        """

    def train_mode(self, training: bool) -> None:
        self.model.train(training)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A registry entry: a named factory of seeded instances."""

    name: str
    description: str
    make: Callable[..., Instance]
    metrics: dict[str, str] = dataclasses.field(default_factory=lambda: {"loss": "min"})
    """Every metric ``evaluate`` reports, with its direction ("min" or "max"), headline first:
    the one place that says which way is better (best-so-far, learning-rate choice, multi-init
    elimination, report columns and plots all read it)."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Accepted options: name -> default, or an ``Option`` (default, type, range, choices);
    documented in the README, checked and coerced by ``check_options`` before any run."""
    family: bool = False
    """True when each seed draws a different random instance (usable by the RL env)."""
    needs_data: bool = False
    prepare_data: Callable[..., dict[str, Any]] | None = None
    """For data problems: ``prepare_data(**merged_options)`` fetches (or checks) the data once
    and returns the options to record, with any choice it made resolved (``dataset="auto"``
    becomes the data set actually found). Raises ``ProblemError`` naming the folder and file
    when the data are missing and cannot be downloaded."""
    origin: str = "raybench"
    """Where the entry comes from: "raybench", "entry point" or "import path" (``raybench.registry``)."""
    path: str | None = None
    """``MODULE:ATTR`` of a problem registered from an import path or entry point."""
    memory: Callable[..., float] | None = None
    """The bytes one run of an instance needs, ``memory(**merged_options)``: a simple, documented
    estimate (within a small factor, not exact) of the peak of what the instance allocates (its
    data and any matrices it builds), its parameters with their gradients and an optimizer's
    state (parameters x 4: weights, gradients and Adam's two moments) and, where they dominate,
    the activations one minibatch keeps for the backward pass; not the worker process's own
    footprint (Python, torch). ``raybench run`` refuses, before any run, options whose
    estimate exceeds this machine's (or the largest cluster node's) memory, and asks Ray for
    it per run. ``None`` (a user's problem that declares none): not checked, nothing asked."""

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.metrics.items() if v not in MODES}
        if bad or not self.metrics:
            raise ValueError(f"problem {self.name!r}: metrics must map name -> 'min' or 'max', got {self.metrics!r}")

    @property
    def headline(self) -> str:
        """The metric reports lead with (the first declared)."""
        return next(iter(self.metrics))

    def direction(self, metric: str) -> str:
        """``"min"`` or ``"max"`` for a declared metric; ``ProblemError`` naming the declared ones."""
        try:
            return self.metrics[metric]
        except KeyError:
            raise ProblemError(f"problem {self.name!r} does not report {metric!r}; accepted: "
                               f"{', '.join(self.metrics)}") from None

    @property
    def option_specs(self) -> dict[str, Option]:
        return {k: v if isinstance(v, Option) else Option(v) for k, v in self.options.items()}

    @property
    def defaults(self) -> dict[str, Any]:
        """Every option's default."""
        return {k: spec.default for k, spec in self.option_specs.items()}

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` (only those given) coerced to their declared types; ``ProblemError``
        naming an unknown option, or a bad value and what the option accepts."""
        specs = self.option_specs
        unknown = sorted(set(options) - set(specs))
        if unknown:
            accepted = ", ".join(sorted(specs)) or "none"
            raise ProblemError(
                f"unknown option {unknown[0]!r} for problem {self.name!r}; accepted: {accepted}"
            )
        out = {}
        for key, value in options.items():
            try:
                out[key] = specs[key].coerce(value)
            except (TypeError, ValueError):
                raise ProblemError(f"bad {key} {value!r} for problem {self.name!r}; accepted: "
                                   f"{specs[key].accepted()}") from None
        return out

    def _merged(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **self.check_options(options)}

    def prepare(self, **options: Any) -> dict[str, Any]:
        """Make the data these options need present once, before any run; returns ``options``
        with choices resolved (unchanged for problems without data)."""
        merged = self._merged(options)
        if self.prepare_data is None:
            return dict(options)
        resolved = self.prepare_data(**merged)
        return {**options, **resolved}

    def memory_bytes(self, **options: Any) -> float | None:
        """The declared estimate (``memory``) at ``options`` merged over the defaults, as
        ``instance`` merges them; ``None`` when the problem declares none."""
        if self.memory is None:
            return None
        return float(self.memory(**self._merged(options)))

    def instance(self, seed: int, **options: Any) -> Instance:
        merged = self._merged(options)
        inst = self.make(int(seed), **merged)
        inst.seed = int(seed)
        inst.target = dataclasses.replace(inst.target, mode=self.direction(inst.target.metric))
        return inst


ENTRY_POINT_GROUP = "raybench.problems"
"""Installed packages add problems here: an entry point naming a ``Problem`` or a callable
returning one (registered under the entry point's name)."""


def _adopt(obj: Any, *, name: str | None, path: str, origin: str, source: str) -> Problem:
    """The ``Problem`` that ``obj`` (a ``Problem``, or a callable returning one) stands for."""
    made = obj
    if not isinstance(obj, Problem) and callable(obj):
        try:
            made = obj()
        except Exception as exc:  # noqa: BLE001 - the user's factory, reported in one line
            raise ProblemError(f"problem {path!r}: calling it raised {type(exc).__name__}: "
                               f"{registry.first_line(exc)}") from None
    if not isinstance(made, Problem):
        kind = f"the class {made.__name__}" if isinstance(made, type) else f"a {type(made).__name__}"
        raise ProblemError(f"problem {path!r} gave {kind}, not a problems.Problem; accepted: "
                           "MODULE:ATTR of a Problem or of a callable returning one")
    return dataclasses.replace(made, name=name or made.name, origin=origin, path=path)


REGISTRY: registry.Registry[Problem] = registry.Registry("problem", group=ENTRY_POINT_GROUP, adopt=_adopt,
                                                         error=ProblemError)


def register(problem: Problem) -> Problem:
    return REGISTRY.register(problem)


def names() -> list[str]:
    return REGISTRY.names()


def families() -> list[str]:
    """Problems whose seeds draw random instances (``family=True``), in registration order."""
    return [name for name, prob in REGISTRY.items() if prob.family]


def load_entry_points() -> None:
    """Register the ``raybench.problems`` entry points of installed packages (once per process;
    ``get`` calls it on a miss). One that fails to load is a warning naming it."""
    REGISTRY.load_entry_points()


def get(name: str) -> Problem:
    """The problem ``name`` names: a registry name, ``MODULE:ATTR`` or ``NAME=MODULE:ATTR`` of a
    ``Problem`` (or of a callable returning one), or an installed package's entry point."""
    return REGISTRY.get(name)
