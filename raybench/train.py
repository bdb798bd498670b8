"""The one training loop: a ``Run`` advanced in chunks.

A ``Run`` is (problem, optimizer, hyperparameters, seed, budget). It trains in plain PyTorch,
no Ray inside, and can be advanced by n steps, evaluated, saved (``state_dict``) and
restored. The runner advances it to the end in one go; multi-init advances it rung by rung;
benchmarks time it against a bare loop.

Every optimizer is stepped through a closure (``opt.step(closure)``): first-order optimizers
call it once, L-BFGS several times, and every call counts as one gradient evaluation. A
learning-rate schedule other than ``constant`` (``raybench.schedules``) spans the run's budget,
is stepped once after every optimizer step and is saved in ``state_dict``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import torch

from raybench import identity, optimizers, problems, registry, schedules, schema
from raybench.provenance import provenance
from raybench.spec import RunSpec, jsonable


class Run:
    """One training run of a ``RunSpec``: problem, optimizer, resolved hyperparameters, seed.

    ``Run(spec)`` takes a spec as given (the runner, multi-init). ``Run(problem, optimizer,
    hparams, seed, steps=..., options=..., eval_every=..., patience=...)`` is the Python API's
    boundary: it builds the spec (``RunSpec.build``) first.

    Args:
        spec: a ``RunSpec``, or a problem registry name (then the other arguments build one).
        device: torch device for parameters and data.
    """

    def __init__(self, spec: RunSpec | str, optimizer: str | None = None,
                 hparams: dict[str, Any] | None = None, seed: int = 0, *, steps: int | None = None,
                 options: dict[str, Any] | None = None, eval_every: int | None = None,
                 patience: int | None = None, device: str = "cpu") -> None:
        if not isinstance(spec, RunSpec):
            if optimizer is None:
                raise TypeError("Run(problem, optimizer, ...) needs an optimizer name")
            spec = RunSpec.build(spec, optimizer, seed, hparams=hparams, options=options, steps=steps,
                                 eval_every=eval_every, patience=patience)
        spec.register_entries()  # a worker registers the user's import-path entries as the driver did
        self.spec = spec
        self.problem = spec.problem
        self.optimizer_name = spec.optimizer
        self.seed = spec.seed
        self.options = dict(spec.options)
        self.hparams = dict(spec.hparams)
        self.run_id = spec.run_id
        self.modes = dict(problems.get(spec.problem).metrics)
        self.instance = problems.get(spec.problem).instance(self.seed, **self.options).to(device)
        budget = self.instance.budget
        self.steps = int(spec.budget_steps(budget.steps))
        self.eval_every = int(spec.eval_every or budget.eval_every)
        self.patience = spec.patience
        self.device = str(device)
        # Parameter roles (declared by the model, else the shape rule) decide weight decay by role,
        # what Muon takes, and whether the optimizer applies to this model at all.
        params = self.instance.parameters()
        self.param_roles = optimizers.roles.of(self.instance.model, params)
        self.optimizer = optimizers.build(spec.optimizer, params, self.hparams, param_roles=self.param_roles)
        _switch_mode(self.optimizer, "train")  # schedule-free optimizers step only in train mode
        # The learning-rate schedule spans the run's budget; None for the constant default.
        self.scheduler = schedules.build(self.optimizer, self.hparams, self.steps)
        self.started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

        self.step = 0
        self.grad_evals = 0
        self.wall_seconds = 0.0
        self.status = "ok"
        self.error: str | None = None
        reason = optimizers.not_applicable(spec.optimizer, self.param_roles, self.hparams)
        if reason is not None:  # the run ends here, untrained, and says why
            self.status = "not_applicable"
            self.error = f"{spec.optimizer} is not applicable to problem {spec.problem}: {reason}"
        self.stopped_early = False
        self.last_metrics: dict[str, float] = {}
        self.best_metrics: dict[str, float] = {}
        self.to_target: dict[str, float] = {}
        self._train_loss_sum = 0.0
        self._train_loss_n = 0
        self._last_train_loss = math.nan
        self._evals_since_best = 0

    # -- training ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.step >= self.steps or self.status != "ok" or self.stopped_early

    def _count_eval(self) -> None:
        self.grad_evals += 1

    def advance(self, n_steps: int | None = None) -> list[dict[str, Any]]:
        """Train up to ``n_steps`` more steps (default: to the end); returns the new curve rows.

        Evaluates at step 0, every ``eval_every`` steps and at the last step. A non-finite
        training loss marks the run ``diverged`` and stops it.
        """
        rows: list[dict[str, Any]] = []
        if self.step == 0 and not self.last_metrics and self.status == "ok":
            rows.append(self._evaluate_row())
        end = self.steps if n_steps is None else min(self.steps, self.step + int(n_steps))
        inst, opt = self.instance, self.optimizer
        inst.train_mode(True)
        t0 = time.perf_counter()
        try:
            while self.step < end and not self.done:
                closure = inst.closure(inst.batch(self.step), self._count_eval)
                loss = opt.step(closure)
                if self.scheduler is not None:
                    self.scheduler.step()
                self.step += 1
                value = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
                self._last_train_loss = value
                if not math.isfinite(value):
                    self.status = "diverged"
                    self.error = f"non-finite training loss {value} at step {self.step}"
                    break
                self._train_loss_sum += value
                self._train_loss_n += 1
                if self.step % self.eval_every == 0 or self.step == self.steps:
                    self.wall_seconds += time.perf_counter() - t0
                    rows.append(self._evaluate_row())
                    t0 = time.perf_counter()
                    inst.train_mode(True)
        finally:
            self.wall_seconds += time.perf_counter() - t0
        if self.status == "diverged":
            rows.append(self._evaluate_row())
        return rows

    def fail(self, exc: BaseException) -> None:
        """Record that the run raised ``exc`` (the runner calls this; the suite goes on)."""
        self.status = "failed"
        self.error = f"{type(exc).__name__}: {exc}"[:2000]

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, split: str = "val") -> dict[str, float]:
        """The instance's metrics on ``split``; every one must be declared by the problem.

        An optimizer with ``train()`` / ``eval()`` (schedule-free) is switched to ``eval()`` for
        the evaluation, so the metrics are those of the parameters it means to be evaluated
        (schedule-free: the averaged iterate), and back to ``train()`` after it.
        """
        self.instance.train_mode(False)
        with _optimizer_eval_mode(self.optimizer), torch.no_grad():
            metrics = {k: float(v) for k, v in self.instance.evaluate(split).items()}
        undeclared = sorted(set(metrics) - set(self.modes))
        if undeclared:
            raise problems.ProblemError(
                f"problem {self.problem!r} reports metric {undeclared[0]!r} that its registry entry "
                f"does not declare; declared: {', '.join(self.modes)}")
        return metrics

    def _evaluate_row(self) -> dict[str, Any]:
        metrics = self.evaluate("val")
        if self.status == "diverged" or not math.isfinite(metrics.get("loss", 0.0)):
            metrics = {k: (v if math.isfinite(v) else math.nan) for k, v in metrics.items()}
        self.last_metrics = metrics
        train_loss = (self._train_loss_sum / self._train_loss_n) if self._train_loss_n else math.nan
        if self.step == 0:
            train_loss = float(metrics.get("loss", math.nan)) if self.instance.budget.batch_size is None else math.nan
        self._train_loss_sum, self._train_loss_n = 0.0, 0
        improved = metrics.get("loss", math.inf) < self.best_metrics.get("loss", math.inf)
        for k, v in metrics.items():
            if not math.isfinite(v):
                continue
            best = self.best_metrics.get(k)
            if best is None or problems.better(self.modes[k], v, best):
                self.best_metrics[k] = v
        if not self.to_target and self.instance.target.reached(metrics):
            self.to_target = {"steps": self.step, "grad_evals": self.grad_evals,
                              "seconds": self.wall_seconds}
        if self.patience is not None and self.step > 0:
            self._evals_since_best = 0 if improved else self._evals_since_best + 1
            if self._evals_since_best >= self.patience:
                self.stopped_early = True
        row: dict[str, Any] = {
            "run_id": self.run_id, "step": self.step, "grad_evals": self.grad_evals,
            "wall_seconds": self.wall_seconds, "train_loss": train_loss,
        }
        row.update(_metric_columns("val", metrics))
        return row

    # -- checkpointing -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": copy.deepcopy(self.instance.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": None if self.scheduler is None else copy.deepcopy(self.scheduler.state_dict()),
            "counters": {
                "step": self.step, "grad_evals": self.grad_evals, "wall_seconds": self.wall_seconds,
                "status": self.status, "error": self.error, "stopped_early": self.stopped_early,
                "last_metrics": dict(self.last_metrics), "best_metrics": dict(self.best_metrics),
                "to_target": dict(self.to_target), "evals_since_best": self._evals_since_best,
                "train_loss_sum": self._train_loss_sum, "train_loss_n": self._train_loss_n,
                "started_at": self.started_at,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.instance.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        # Checkpoints from before schedules have no "scheduler" (they were all constant).
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        c = state["counters"]
        self.step, self.grad_evals, self.wall_seconds = c["step"], c["grad_evals"], c["wall_seconds"]
        self.status, self.error, self.stopped_early = c["status"], c["error"], c["stopped_early"]
        self.last_metrics, self.best_metrics = dict(c["last_metrics"]), dict(c["best_metrics"])
        self.to_target, self._evals_since_best = dict(c["to_target"]), c["evals_since_best"]
        self._train_loss_sum, self._train_loss_n = c["train_loss_sum"], c["train_loss_n"]
        self.started_at = c["started_at"]

    # -- results -------------------------------------------------------------------------
    def summary(self, *, test: bool = True) -> dict[str, Any]:
        """The run's row of the ``runs`` table (columns: ``raybench.schema.RUNS``)."""
        inst = self.instance
        row: dict[str, Any] = {
            **spec_columns(self.spec), "dataset": inst.dataset,
            "budget_steps": self.steps, "batch_size": inst.budget.batch_size,
            "param_roles": self.param_roles.source,
            "status": self.status, "error": self.error, "stopped_early": self.stopped_early,
            "steps": self.step, "grad_evals": self.grad_evals, "wall_seconds": self.wall_seconds,
            "final_train_loss": self._last_train_loss,
            "metric_modes": json.dumps(self.modes),
            "target_metric": inst.target.metric, "target_mode": inst.target.mode,
            "target_threshold": inst.target.threshold,
            "f_star": inst.f_star,
            "converged": bool(self.to_target),
            # A run that was not applicable measured nothing: no time to target (NaN), not "never" (inf).
            **{f"{cost}_to_target": float(self.to_target.get(cost, math.nan if self.status == "not_applicable"
                                                             else math.inf))
               for cost in ("steps", "grad_evals", "seconds")},
            "started_at": self.started_at,
        }
        row.update(_metric_columns("final_val", self.last_metrics))
        row.update(_metric_columns("best_val", self.best_metrics))
        test_metrics: dict[str, float] = {}
        if test and self.status == "ok":
            test_metrics = self.evaluate("test")
        row.update(_metric_columns("test", test_metrics))
        row.update(provenance(self.device))
        return row


def spec_columns(spec: RunSpec) -> dict[str, Any]:
    """The columns of a run row that say what ran (shared by every row builder)."""
    opt_path = optimizers.get(spec.optimizer).path if spec.optimizer in optimizers.REGISTRY else spec.optimizer_path
    row = {"run_id": spec.run_id, "problem": spec.problem, "optimizer": spec.optimizer, "seed": spec.seed,
           "optimizer_path": opt_path, "optimizer_version": registry.path_version(opt_path),
           "problem_path": spec.problem_path,
           "hparams": json.dumps(jsonable(spec.hparams), sort_keys=True),
           "options": json.dumps(jsonable(spec.options), sort_keys=True),
           "hparam_source": spec.hparam_source, **identity.of_spec(spec).columns()}
    row.update({f"hp_{key}": value for key, value in spec.hparams.items()})
    return row


def failed_row(spec: RunSpec, error: str | None, *, budget_steps: int | None = None,
               device: str = "cpu") -> dict[str, Any]:
    """The run row of a run that failed before a ``Run`` existed (e.g. building it raised);
    every other column is null in the schema."""
    return {**spec_columns(spec), "status": "failed", "error": error,
            "budget_steps": budget_steps if budget_steps is not None else spec.budget_steps(None),
            "steps": 0, "grad_evals": 0, "converged": False, "steps_to_target": math.inf,
            "grad_evals_to_target": math.inf, "seconds_to_target": math.inf, **provenance(device)}


def _switch_mode(optimizer: torch.optim.Optimizer, mode: str) -> bool:
    """Call ``optimizer.train()`` or ``.eval()`` where it has both (duck typing, as schedulefree's
    optimizers do); returns whether it has them. Other optimizers are left alone."""
    if not (callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))):
        return False
    getattr(optimizer, mode)()
    return True


@contextlib.contextmanager
def _optimizer_eval_mode(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """The optimizer in eval mode inside the block, back in train mode after it (even on error)."""
    if not _switch_mode(optimizer, "eval"):
        yield
        return
    try:
        yield
    finally:
        _switch_mode(optimizer, "train")


def _metric_columns(prefix: str, metrics: dict[str, float]) -> dict[str, Any]:
    cols: dict[str, Any] = {f"{prefix}_{k}": float(metrics.get(k, math.nan)) for k in schema.METRIC_COLUMNS}
    extra = {k: v for k, v in metrics.items() if k not in schema.METRIC_COLUMNS}
    cols[f"{prefix}_extra"] = json.dumps(extra, sort_keys=True) if extra else None
    return cols
