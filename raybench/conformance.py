"""The conformance check: does an optimizer or a problem honour raybench's contract?

``raybench test`` runs it (a contributor's CI can too) before any long run. Each check is a small
function returning a ``Check`` (its name, whether it passed, why not); ``check_optimizer`` and
``check_problem`` run the battery for one registry entry, in this process, without Ray.

An optimizer is built with its registry defaults (``raybench.optimizers.resolve_hparams``) on a
tiny seeded MLP and a fixed regression batch, then:

- ``step_closure``: ``step(closure)``, as the training loop calls it, returns the closure's loss;
- ``step_no_closure``: ``step()`` after a backward pass, where the optimizer allows it, goes where
  ``step(closure)`` does (one that says it needs a closure, like L-BFGS, passes);
- ``state_dict``: a run saved after a few steps (through ``torch.save``, as a checkpoint is) and
  loaded into a fresh optimizer and model continues exactly as the original does;
- ``determinism``: two builds from the same seed end with identical parameters, whatever state
  torch's global generator is in (raybench seeds problems, never that generator);
- ``train_eval``: ``train()`` / ``eval()`` where the optimizer has both, and a step after ``train()``;
- ``finite``: the real training loop (``raybench.train.Run``) on the ``quadratic`` problem at the
  default hyperparameters neither diverges nor produces a non-finite metric.

A problem: ``metrics`` (each with a direction), ``options`` (each default, and its command-line
spelling, coerces back to itself), ``data`` (present or fetched), ``reproducible`` (two instances
of one seed have the same parameters, batches, loss and metrics), ``closure`` (a finite scalar
loss whose backward pass reaches every parameter), ``evaluate`` (each split, finite, declared
metrics only) and ``target_budget``.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch

from raybench import optimizers, problems, registry
from raybench.errors import UsageError
from raybench.optimizers import OptimizerSpec
from raybench.problems import Problem

SEED = 0
"""The seed every check builds its models, batches and instances from."""
STEPS = 4
"""Steps before a checkpoint, and again after it (``state_dict``); twice that (``determinism``)."""
FINITE_STEPS = 50
"""Steps of the real training loop on the quadratic (``finite``)."""
SPLITS = ("val", "test")
"""The splits ``Instance.evaluate`` answers for (``problems.base``)."""


class Check(NamedTuple):
    """One check's outcome: ``ok`` or not, and ``why`` (a failure's reason, or a passing note)."""

    name: str
    ok: bool
    why: str = ""

    def line(self) -> str:
        """``ok   NAME`` (with a note in brackets) or ``FAIL NAME: WHY``."""
        if self.ok:
            return f"ok   {self.name}" + (f" ({self.why})" if self.why else "")
        return f"FAIL {self.name}: {self.why}"


# -- what was named ----------------------------------------------------------------------------
def resolve(text: str) -> tuple[str, Any]:
    """``("optimizer", OptimizerSpec)`` or ``("problem", Problem)`` for a registry name,
    ``MODULE:ATTR`` or ``NAME=MODULE:ATTR``, telling the kind from what the text names (both
    registries resolve it; an import path is registered on first use). ``UsageError``, one line,
    when neither registry accepts it."""
    _, path = registry.split(text, error=UsageError)
    if path is None:
        in_optimizers, in_problems = text in optimizers.REGISTRY, text in problems.REGISTRY
        if in_optimizers and in_problems:
            raise UsageError(f"{text!r} names both an optimizer and a problem; name one by import path")
        if in_problems:
            return "problem", problems.get(text)
    errors = []
    for kind, get in (("optimizer", optimizers.get), ("problem", problems.get)):
        try:
            return kind, get(text)
        except (optimizers.OptimizerError, problems.ProblemError) as exc:
            errors.append(str(exc))
    if path is None:
        raise UsageError(f"unknown name {text!r}; accepted: an optimizer ({', '.join(optimizers.names())}), "
                         f"a problem ({', '.join(problems.names())}), or MODULE:ATTR")
    # The same import failure reads the same from both registries: say it once.
    if "does not import" in errors[0] or "has no attribute" in errors[0]:
        raise UsageError(errors[0].removeprefix("optimizer "))
    raise UsageError(f"{path!r} is neither an optimizer nor a problem: {errors[0]}; {errors[1]}")


def run_checks(checks: list[Callable[[], Check]]) -> Iterator[Check]:
    """Each check's outcome, in order; one that raises fails with the exception's first line."""
    for check in checks:
        name = check.__name__.removeprefix("_").removeprefix("check_")
        try:
            yield check()
        except Exception as exc:  # noqa: BLE001 - the code under test may raise anything
            yield Check(name, False, f"raised {type(exc).__name__}: {registry.first_line(exc)}")


# -- optimizers --------------------------------------------------------------------------------
def _tiny_model(seed: int) -> torch.nn.Module:
    """A 2-layer MLP (matrices and biases) with weights from ``seed``, never torch's global generator."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    g = problems.generator(seed, 1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return model


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed regression batch: 16 inputs and a smooth target of them."""
    g = problems.generator(seed, 2)
    x = torch.randn(16, 4, generator=g)
    return x, torch.sin(x.sum(dim=1, keepdim=True))


class _Setup:
    """A model, its optimizer (the entry's defaults plus ``hparams``) and the closure the training
    loop would pass: what every optimizer check starts from."""

    def __init__(self, spec: OptimizerSpec, hparams: dict[str, Any], init_seed: int = SEED) -> None:
        from raybench.train import _switch_mode

        self.model = _tiny_model(init_seed)
        self.x, self.y = _batch(SEED)
        resolved = optimizers.resolve_hparams(spec.name, hparams)
        self.optimizer = optimizers.build(spec.name, self.model.parameters(), resolved)
        self.switch_mode = _switch_mode
        _switch_mode(self.optimizer, "train")  # as Run does: schedule-free optimizers step in train mode

    def loss(self) -> torch.Tensor:
        return torch.nn.functional.mse_loss(self.model(self.x), self.y)

    def closure(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        value = self.loss()
        value.backward()
        return value

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.optimizer.step(self.closure)

    def parameters(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    """Bit for bit the same tensors (NaN where the other has NaN counts as the same)."""
    return len(a) == len(b) and all(
        x.shape == y.shape and torch.allclose(x, y, rtol=0, atol=0, equal_nan=True) for x, y in zip(a, b, strict=True))


def _state(optimizer: torch.optim.Optimizer) -> list[Any]:
    """The optimizer's per-parameter state, in the order of its parameters."""
    return [optimizer.state.get(p, {}) for group in optimizer.param_groups for p in group["params"]]


def _finite(tensors: list[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


@contextlib.contextmanager
def _global_rng(seed: int) -> Iterator[None]:
    """torch's global generator at ``seed`` inside the block, as it was after it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_optimizer(spec: OptimizerSpec, hparams: dict[str, Any] | None = None) -> list[Check]:
    """Every optimizer check on ``spec`` at its defaults (``hparams`` over them); a failure to
    build at all is the one failure (``build``), since no other check can run."""
    hparams = dict(hparams or {})
    try:
        _Setup(spec, hparams)
    except Exception as exc:  # noqa: BLE001
        return [Check("build", False, f"{type(exc).__name__}: {registry.first_line(exc)}")]

    def step_closure() -> Check:
        setup = _Setup(spec, hparams)
        before = float(setup.loss().detach())
        loss = setup.optimizer.step(setup.closure)
        if loss is None:
            return Check("step_closure", False, "step(closure) returned None; the training loop records the "
                         "loss it returns (return closure()'s value, as torch.optim does)")
        value = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        if not math.isclose(value, before, rel_tol=1e-5, abs_tol=1e-7):
            return Check("step_closure", False, f"step(closure) returned {value:g}, not the closure's loss "
                         f"at the parameters it started from ({before:g})")
        return Check("step_closure", True)

    def step_no_closure() -> Check:
        with_closure, without = _Setup(spec, hparams), _Setup(spec, hparams)
        with _global_rng(SEED):
            with_closure.step(STEPS)
        with _global_rng(SEED):
            for _ in range(STEPS):
                without.closure()
                try:
                    without.optimizer.step()
                except Exception as exc:  # noqa: BLE001
                    if "closure" in str(exc).lower():
                        return Check("step_no_closure", True, "not supported: step needs a closure")
                    raise
        if not _same(with_closure.parameters(), without.parameters()):
            return Check("step_no_closure", False, f"{STEPS} steps of step() after backward() end elsewhere "
                         "than step(closure) does")
        return Check("step_no_closure", True)

    def state_dict() -> Check:
        original = _Setup(spec, hparams)
        with _global_rng(SEED):
            original.step(STEPS)
        buffer = io.BytesIO()
        torch.save({"model": original.model.state_dict(), "optimizer": original.optimizer.state_dict()}, buffer)
        buffer.seek(0)
        saved = torch.load(buffer, weights_only=False)  # as a checkpoint is read back (tuning)
        restored = _Setup(spec, hparams, init_seed=SEED + 1)  # other weights: loading must set them all
        restored.model.load_state_dict(saved["model"])
        restored.optimizer.load_state_dict(saved["optimizer"])
        for setup in (original, restored):  # the same random numbers for both: this checks state only
            with _global_rng(SEED + 1):
                setup.step(STEPS)
        for what, same in (("parameters", _same(original.parameters(), restored.parameters())),
                           ("per-parameter state", _same_batch(_state(original.optimizer), _state(restored.optimizer)))):
            if not same:
                return Check("state_dict", False, f"saved after {STEPS} steps and loaded into a fresh optimizer, it "
                             f"ended {STEPS} steps later with other {what} than the original (is some state "
                             "missing from state_dict, or ignored by load_state_dict?)")
        return Check("state_dict", True)

    def determinism() -> Check:
        ends = []
        for global_seed in (12345, 54321):  # two histories of torch's global generator
            with _global_rng(global_seed):
                setup = _Setup(spec, hparams)
                setup.step(2 * STEPS)
                ends.append(setup.parameters())
        if not _same(*ends):
            return Check("determinism", False, f"two builds from seed {SEED} differ after {2 * STEPS} steps when "
                         "torch's global generator differs: the optimizer draws random numbers without a seeded "
                         "generator (e.g. torch.rand without generator=); raybench seeds problems, not torch")
        return Check("determinism", True)

    def train_eval() -> Check:
        setup = _Setup(spec, hparams)
        if not setup.switch_mode(setup.optimizer, "eval"):
            return Check("train_eval", True, "no train()/eval()")
        setup.switch_mode(setup.optimizer, "train")
        setup.step(2)
        setup.switch_mode(setup.optimizer, "eval")
        setup.switch_mode(setup.optimizer, "train")
        before = setup.parameters()
        setup.step()
        after = setup.parameters()
        if not _finite(after) or _same(before, after):
            return Check("train_eval", False, "after eval() and train() a step "
                         + ("left every parameter unchanged" if _finite(after) else "made a parameter non-finite"))
        return Check("train_eval", True)

    def finite() -> Check:
        from raybench.train import Run

        # The mlp where the optimizer is not applicable to the quadratic's vector (Muon, SOAP).
        for problem in ("quadratic", "mlp"):
            run = Run(problem, spec.name, hparams, seed=SEED, steps=FINITE_STEPS, eval_every=FINITE_STEPS)
            if run.status != "not_applicable":
                break
        rows = run.advance()
        if run.status != "ok":
            return Check("finite", False, f"the training loop on {problem}, seed {SEED}, at the default "
                         f"hyperparameters: {run.status}: {run.error}")
        first, last = rows[0]["val_loss"], rows[-1]["val_loss"]
        if not (math.isfinite(first) and math.isfinite(last)):
            return Check("finite", False, f"non-finite validation loss on {problem}: {first} -> {last}")
        return Check("finite", True, f"{problem} loss {first:.4g} -> {last:.4g} in {FINITE_STEPS} steps")

    return list(run_checks([step_closure, step_no_closure, state_dict, determinism, train_eval, finite]))


# -- problems ----------------------------------------------------------------------------------
def _spelling(value: Any) -> str:
    """How a command line spells ``value`` (``--option NAME=VALUE``)."""
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _instance_facts(inst: problems.Instance) -> tuple[list[torch.Tensor], Any, float, dict[str, float]]:
    """What two instances of one seed must share: parameters, a batch, its loss and the metrics."""
    params = [p.detach().clone() for p in inst.parameters()]
    with torch.no_grad():
        batch = inst.batch(1)
        loss = float(inst.loss(inst.batch(0)))
        metrics = inst.evaluate("val")
    return params, batch, loss, metrics


def _same_batch(a: Any, b: Any) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and _same([a], [b])
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_batch(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_batch(a[k], b[k]) for k in a)
    return a == b


def check_problem(problem: Problem, given: dict[str, Any] | None = None) -> list[Check]:
    """Every problem check on ``problem`` with the options ``given`` (else its defaults). Checks
    that need an instance fail once, as ``instance``, when none can be built."""
    given = dict(given or {})

    def metrics() -> Check:
        bad = {k: v for k, v in problem.metrics.items() if v not in problems.MODES}
        if not problem.metrics or bad:
            return Check("metrics", False, f"each metric needs a direction in {problems.MODES}: {problem.metrics!r}")
        return Check("metrics", True, ", ".join(f"{k} {v}" for k, v in problem.metrics.items()))

    def options() -> Check:
        for key, option in problem.option_specs.items():
            for value in (option.default, _spelling(option.default)):
                try:
                    coerced = option.coerce(value)
                except (TypeError, ValueError) as exc:
                    return Check("options", False, f"option {key}: its default {option.default!r} given as "
                                 f"{value!r} is refused ({exc}); accepted: {option.accepted()}")
                if coerced != option.default:
                    return Check("options", False, f"option {key}: its default {option.default!r} given as "
                                 f"{value!r} becomes {coerced!r}")
        untyped = [k for k, o in problem.option_specs.items() if o.kind is None]
        if untyped:
            return Check("options", False, f"option {untyped[0]} has no type (its default is None): give an "
                         "Option with kind=")
        return Check("options", True, f"{len(problem.option_specs)} options")

    results = list(run_checks([metrics, options]))
    try:
        merged = problem.prepare(**given)
    except Exception as exc:  # noqa: BLE001
        return [*results, Check("data", False, f"{type(exc).__name__}: {registry.first_line(exc)}")]
    if problem.needs_data:
        results.append(Check("data", True))
    try:
        started = time.perf_counter()
        first = problem.instance(SEED, **merged)
        built_s = time.perf_counter() - started
    except Exception as exc:  # noqa: BLE001
        return [*results, Check("instance", False, f"instance(seed={SEED}) raised {type(exc).__name__}: "
                                f"{registry.first_line(exc)}")]

    def reproducible() -> Check:
        a, b = _instance_facts(first), _instance_facts(problem.instance(SEED, **merged))
        for what, same in (("initial parameters", _same(a[0], b[0])), ("batch(1)", _same_batch(a[1], b[1])),
                           ("loss on batch(0)", a[2] == b[2] or (math.isnan(a[2]) and math.isnan(b[2]))),
                           ("validation metrics", a[3] == b[3])):
            if not same:
                return Check("reproducible", False, f"two instances of seed {SEED} differ in their {what}: draw "
                             "from problems.generator(seed, ...), never torch's global generator")
        return Check("reproducible", True, f"instance built in {built_s:.2f} s")

    def closure() -> Check:
        params = first.parameters()
        if not params:
            return Check("closure", False, "the instance has no trainable parameters")
        value = first.closure(first.batch(0))()
        if not torch.is_tensor(value) or value.numel() != 1 or not bool(torch.isfinite(value).all()):
            return Check("closure", False, f"the loss on batch(0) is not a finite scalar tensor: {value!r}")
        missing = sum(p.grad is None for p in params)
        if missing:
            return Check("closure", False, f"{missing} of {len(params)} parameters got no gradient from the loss")
        return Check("closure", True)

    def evaluate() -> Check:
        notes = []
        for split in SPLITS:
            with torch.no_grad():
                found = first.evaluate(split)
            undeclared = sorted(set(found) - set(problem.metrics))
            if undeclared:
                return Check("evaluate", False, f"evaluate({split!r}) reports {undeclared[0]!r}, which the problem "
                             f"does not declare; declared: {', '.join(problem.metrics)}")
            if "loss" not in found:
                return Check("evaluate", False, f"evaluate({split!r}) reports no 'loss'")
            bad = {k: v for k, v in found.items() if not math.isfinite(float(v))}
            if bad:
                return Check("evaluate", False, f"evaluate({split!r}) at the initial parameters is not finite: {bad}")
            notes.append(f"{split}: {', '.join(sorted(found))}")
        return Check("evaluate", True, "; ".join(notes))

    def target_budget() -> Check:
        target, budget = getattr(first, "target", None), getattr(first, "budget", None)
        if not isinstance(target, problems.Target) or target.metric not in problem.metrics:
            return Check("target_budget", False, f"target {target!r}: needs a problems.Target on a declared "
                         f"metric ({', '.join(problem.metrics)})")
        if not isinstance(target.threshold, int | float) or not math.isfinite(target.threshold):
            return Check("target_budget", False, f"target threshold {target.threshold!r} is not a finite number")
        if not isinstance(budget, problems.Budget) or budget.steps < 1 or budget.eval_every < 1 \
                or (budget.batch_size is not None and budget.batch_size < 1):
            return Check("target_budget", False, f"budget {budget!r}: needs a problems.Budget with steps >= 1, "
                         "eval_every >= 1 and batch_size >= 1 or None")
        return Check("target_budget", True, f"{target.metric} {'<=' if target.mode == 'min' else '>='} "
                     f"{target.threshold:g}; {budget.steps} steps, batch {budget.batch_size or 'full'}")

    return [*results, *run_checks([reproducible, closure, evaluate, target_budget])]
