"""The one training loop: a ``Run`` advanced in chunks.

A ``Run`` is (problem, optimizer, hyperparameters, seed, budget). It trains in plain PyTorch,
no Ray inside, and can be advanced by n steps, evaluated, saved (``state_dict``) and
restored. The runner advances it to the end in one go; multi-init advances it rung by rung;
benchmarks time it against a bare loop.

Every optimizer is stepped through a closure (``opt.step(closure)``): first-order optimizers
call it once, L-BFGS several times, and every call counts as one gradient evaluation.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import math
import time
from typing import Any

import torch

import problems
from raybench import optimizers
from raybench.provenance import provenance

CANONICAL_METRICS = ("loss", "accuracy", "suboptimality", "param_error")
"""Metrics with their own columns; any other metric a problem reports goes to ``extra_metrics``."""


def run_id(problem: str, optimizer: str, hparams: dict[str, Any], seed: int, steps: int | None,
           options: dict[str, Any] | None = None) -> str:
    """A stable id for one run configuration (what ``--resume`` matches on).

    ``hparams`` are the resolved ones (defaults filled in); ``steps=None`` means the
    problem's default budget, so an id never needs the problem instantiated.
    """
    key = json.dumps(
        {"p": problem, "o": optimizer, "h": _jsonable(hparams), "s": int(seed),
         "n": None if steps is None else int(steps),
         "x": _jsonable(options or {})},
        sort_keys=True,
    )
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


class Run:
    """One training run of ``optimizer`` on ``problem`` from ``seed``.

    Args:
        problem: a problem registry name.
        optimizer: an optimizer registry name.
        hparams: overrides of the optimizer's default hyperparameters.
        seed: fixes the instance, initial parameters and batches.
        steps: the budget in optimizer steps (default: the problem's).
        options: problem options (e.g. ``{"dim": 100}``).
        eval_every: steps between evaluations (default: the problem's).
        patience: stop early after this many evaluations without a better validation loss.
        device: torch device for parameters and data.
    """

    def __init__(self, problem: str, optimizer: str, hparams: dict[str, Any] | None = None,
                 seed: int = 0, *, steps: int | None = None, options: dict[str, Any] | None = None,
                 eval_every: int | None = None, patience: int | None = None,
                 device: str = "cpu") -> None:
        self.problem = problem
        self.optimizer_name = optimizer
        self.seed = int(seed)
        self.options = dict(options or {})
        self.hparams = optimizers.resolve_hparams(optimizer, hparams)
        self.instance = problems.get(problem).instance(self.seed, **self.options).to(device)
        budget = self.instance.budget
        self.steps = int(steps if steps is not None else budget.steps)
        self.eval_every = int(eval_every or budget.eval_every)
        self.patience = patience
        self.device = str(device)
        self.optimizer = optimizers.make(optimizer, self.instance.parameters(), **self.hparams)
        self.run_id = run_id(problem, optimizer, self.hparams, self.seed, steps, self.options)
        self.started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

        self.step = 0
        self.grad_evals = 0
        self.wall_seconds = 0.0
        self.status = "ok"
        self.error: str | None = None
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
        self.instance.train_mode(False)
        with torch.no_grad():
            return {k: float(v) for k, v in self.instance.evaluate(split).items()}

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
            maximise = k == "accuracy"
            best = self.best_metrics.get(k)
            if best is None or (v > best if maximise else v < best):
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
        c = state["counters"]
        self.step, self.grad_evals, self.wall_seconds = c["step"], c["grad_evals"], c["wall_seconds"]
        self.status, self.error, self.stopped_early = c["status"], c["error"], c["stopped_early"]
        self.last_metrics, self.best_metrics = dict(c["last_metrics"]), dict(c["best_metrics"])
        self.to_target, self._evals_since_best = dict(c["to_target"]), c["evals_since_best"]
        self._train_loss_sum, self._train_loss_n = c["train_loss_sum"], c["train_loss_n"]
        self.started_at = c["started_at"]

    # -- results -------------------------------------------------------------------------
    def summary(self, *, test: bool = True) -> dict[str, Any]:
        """The run's row of the results (see ``raybench.results.RUN_COLUMNS``)."""
        inst = self.instance
        row: dict[str, Any] = {
            "run_id": self.run_id, "problem": self.problem, "dataset": inst.dataset,
            "optimizer": self.optimizer_name, "seed": self.seed,
            "hparams": json.dumps(_jsonable(self.hparams), sort_keys=True),
            "options": json.dumps(_jsonable(self.options), sort_keys=True),
            "budget_steps": self.steps, "batch_size": inst.budget.batch_size,
            "status": self.status, "error": self.error, "stopped_early": self.stopped_early,
            "steps": self.step, "grad_evals": self.grad_evals, "wall_seconds": self.wall_seconds,
            "final_train_loss": self._last_train_loss,
            "target_metric": inst.target.metric, "target_threshold": inst.target.threshold,
            "f_star": inst.f_star,
            "converged": bool(self.to_target),
            "steps_to_target": float(self.to_target.get("steps", math.inf)),
            "grad_evals_to_target": float(self.to_target.get("grad_evals", math.inf)),
            "seconds_to_target": float(self.to_target.get("seconds", math.inf)),
            "started_at": self.started_at,
        }
        for key, value in self.hparams.items():
            row[f"hp_{key}"] = value
        row.update(_metric_columns("final_val", self.last_metrics))
        row.update(_metric_columns("best_val", self.best_metrics))
        test_metrics: dict[str, float] = {}
        if test and self.status == "ok":
            test_metrics = self.evaluate("test")
        row.update(_metric_columns("test", test_metrics))
        row.update(provenance(self.device))
        return row


def _metric_columns(prefix: str, metrics: dict[str, float]) -> dict[str, Any]:
    cols: dict[str, Any] = {f"{prefix}_{k}": float(metrics.get(k, math.nan)) for k in CANONICAL_METRICS}
    extra = {k: v for k, v in metrics.items() if k not in CANONICAL_METRICS}
    cols[f"{prefix}_extra"] = json.dumps(extra, sort_keys=True) if extra else None
    return cols
