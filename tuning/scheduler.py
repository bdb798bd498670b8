"""Synchronous successive halving as a Ray Tune ``TrialScheduler``.

The research summary's multi-initialization method: start N trials, train each for one
interval, judge them all on the same footing, keep the best ``max(1, ceil(n * r))``, repeat
until one is left, and let that one train to the end.

Ray's ASHA cannot do this: it never pauses or promotes, and it judges early trials against
the few results it has seen. Here every rung is a barrier:

* a trial that reaches the rung's milestone (``time_attr >= (rung + 1) * rung_interval``)
  before the others is PAUSED (Tune saves its last reported checkpoint and frees its
  resources), so 16 trials run on 2 slots and nothing is trained twice;
* when every live trial has reported at the milestone, the rung is judged: exactly the best
  ``max(1, min(n - 1, ceil(n * r)))`` continue (paused ones are resumed from their
  checkpoint), the rest are STOPPED. ``n - 1`` guarantees that every rung eliminates at
  least one trial, so the loop ends for any ``r`` in (0, 1);
* a trial that errors (or ends by itself before the milestone, or reports a NaN metric)
  counts as the worst at its rung; it is eliminated and the experiment goes on;
* the last trial left trains on to the end of its own budget (or ``max_t``).

Generic over any trainable that reports ``metric`` and a monotone ``time_attr``.

The judging state is also written, after every change, to ``state_path`` (JSON, written
whole then renamed): Tune does not save a scheduler's state with its experiment, so
``Tuner.restore`` hands back a fresh copy of this object, which reloads the file and picks
up at the same rung. The same file is the rung-by-rung record the caller reports.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers.trial_scheduler import TrialScheduler

from raybench.tuning.rungs import rung_sizes, survivors_at

__all__ = ["SynchronousHalvingScheduler", "rung_sizes", "survivors_at"]


class SynchronousHalvingScheduler(TrialScheduler):
    """Synchronous successive halving: every rung waits for every live trial.

    Args:
        time_attr: a monotone progress key every result carries (e.g. ``"step"``).
        metric: the reported value trials are ranked on.
        mode: ``"min"`` or ``"max"``.
        reduce_factor: the fraction r in (0, 1) of judged trials that continue.
        rung_interval: ``time_attr`` units between rungs; rung j is judged at
            ``(j + 1) * rung_interval``.
        max_t: optional; the survivor is stopped once ``time_attr >= max_t``.
        state_path: optional JSON file holding the judging state (see module docstring).
        progress: print one line per judged rung (which rung, how many alive).
    """

    _supports_buffered_results = False  # a buffered result could skip past a rung barrier

    def __init__(self, *, time_attr: str = "training_iteration", metric: str | None = None,
                 mode: str | None = None, reduce_factor: float = 0.5, rung_interval: float = 1,
                 max_t: float | None = None, state_path: str | None = None,
                 progress: bool = False) -> None:
        if not 0.0 < reduce_factor < 1.0:
            raise ValueError(f"reduce_factor must be in (0, 1), got {reduce_factor}")
        if not rung_interval > 0:
            raise ValueError(f"rung_interval must be > 0, got {rung_interval}")
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        super().__init__()
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self.reduce_factor = float(reduce_factor)
        self.rung_interval = rung_interval
        self.max_t = max_t
        self.state_path = os.path.abspath(state_path) if state_path else None
        self.progress = progress
        self._trials: dict[str, Trial] = {}
        self._loaded = False
        self._reset_state()

    # -- state -----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.rung = 0
        self.order: list[str] = []          # trial ids in the order they were added (tie-break)
        self.live: list[str] = []           # not eliminated
        self.pending: dict[str, dict[str, Any]] = {}  # trial id -> its result at the current rung
        self.to_resume: set[str] = set()    # kept at the last rung, paused, waiting to run
        self.eliminated: dict[str, int] = {}
        self.rows: list[dict[str, Any]] = []  # one per (trial, rung), plus the survivor's end
        self.finished = False

    def state(self) -> dict[str, Any]:
        return {"rung": self.rung, "order": self.order, "live": self.live, "pending": self.pending,
                "to_resume": sorted(self.to_resume), "eliminated": self.eliminated,
                "rows": self.rows, "finished": self.finished, "metric": self._metric,
                "mode": self._mode, "time_attr": self._time_attr,
                "reduce_factor": self.reduce_factor, "rung_interval": self.rung_interval}

    def _save(self) -> None:
        if not self.state_path:
            return
        directory = os.path.dirname(self.state_path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(self.state(), f, indent=1, allow_nan=True)
        os.replace(tmp, self.state_path)

    def _load(self) -> None:
        """Reload the judging state once (after ``Tuner.restore`` unpickled a fresh copy)."""
        if self._loaded:
            return
        self._loaded = True
        if not self.state_path or not os.path.exists(self.state_path):
            return
        with open(self.state_path) as f:
            s = json.load(f)
        self.rung, self.order, self.live = s["rung"], s["order"], s["live"]
        self.pending, self.to_resume = s["pending"], set(s["to_resume"])
        self.eliminated = {k: int(v) for k, v in s["eliminated"].items()}
        self.rows, self.finished = s["rows"], s["finished"]

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    @property
    def milestone(self) -> float:
        return (self.rung + 1) * self.rung_interval

    # -- ranking ---------------------------------------------------------------------------
    def _score(self, tid: str) -> tuple[int, float, int]:
        """Sort key: healthy before failed, better metric first, then the order trials came in."""
        entry = self.pending.get(tid) or {"metric": math.nan, "error": True}
        value = entry["metric"]
        bad = entry.get("error") or value is None or not math.isfinite(float(value))
        sign = 1.0 if self._mode == "min" else -1.0
        return (1 if bad else 0, 0.0 if bad else sign * float(value), self.order.index(tid))

    # -- Tune callbacks --------------------------------------------------------------------
    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if not self._metric or not self._mode:
            raise ValueError(
                "SynchronousHalvingScheduler needs `metric` and `mode` (here or in tune.TuneConfig)")
        self._load()
        tid = trial.trial_id
        self._trials[tid] = trial
        if tid not in self.order:
            self.order.append(tid)
            self.live.append(tid)
            self._save()
            return
        # A trial seen before: we are restoring an experiment.
        if tid in self.eliminated or tid not in self.live:
            if trial.status == Trial.PENDING:
                # Eliminated after Tune last saved its experiment state: do not run it again.
                trial.set_status(Trial.TERMINATED)
            return
        if tid in self.pending and tid not in self.to_resume and trial.status == Trial.PENDING:
            # It already reported at this rung; Tune would start every PENDING trial, which
            # would train it past an unjudged rung. Tune registers the status we leave here.
            trial.set_status(Trial.PAUSED)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        tid = trial.trial_id
        if tid in self.eliminated or tid not in self.live:
            return TrialScheduler.STOP
        self.to_resume.discard(tid)
        t = result.get(self._time_attr)
        if t is None:
            return TrialScheduler.CONTINUE
        if len(self.live) == 1:
            if self.max_t is not None and t >= self.max_t:
                return TrialScheduler.STOP
            return TrialScheduler.CONTINUE
        if t < self.milestone:
            return TrialScheduler.CONTINUE
        self.pending[tid] = self._entry(result)
        decisions = self._judge_ready(tune_controller, current=tid)
        self._save()
        if tid in decisions:
            return decisions[tid]
        return TrialScheduler.PAUSE

    def _entry(self, result: dict, error: bool = False) -> dict[str, Any]:
        value = result.get(self._metric) if result else None
        try:
            value = float(value) if value is not None else math.nan
        except (TypeError, ValueError):
            value = math.nan
        return {"time": result.get(self._time_attr) if result else None, "metric": value,
                "error": error}

    def _drop(self, tune_controller: Any, trial: Trial, error: bool) -> None:
        """A live trial errored or ended on its own before the end: worst at its rung."""
        tid = trial.trial_id
        if tid not in self.live or tid in self.eliminated:
            return
        self.to_resume.discard(tid)
        if len(self.live) == 1:
            # The survivor ended (its own budget, or an error after the last rung).
            self.live.remove(tid)
            self._finish(tid, trial.last_result or {}, error)
            self._save()
            return
        entry = self.pending.get(tid) or self._entry(trial.last_result or {})
        entry["error"] = True
        self.pending[tid] = entry
        self._judge_ready(tune_controller, current=None)
        self._save()

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._drop(tune_controller, trial, error=True)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        tid = trial.trial_id
        if tid in self.live and len(self.live) == 1:
            self.live.remove(tid)
            self._finish(tid, result or trial.last_result or {}, False)
            self._save()
            return
        self._drop(tune_controller, trial, error=False)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        # Called when a PAUSED/PENDING trial is stopped: by us (already eliminated: nothing
        # to do) or from outside (then it leaves like a failed trial).
        self._drop(tune_controller, trial, error=True)

    def _finish(self, tid: str, result: dict, error: bool) -> None:
        entry = self._entry(result, error)
        self.rows.append({"trial_id": tid, "rung": self.rung, "time": entry["time"],
                          "metric": entry["metric"], "alive": 1,
                          "decision": "survivor", "error": bool(error)})
        self.finished = True
        if self.progress:
            print(f"multi-init: survivor {tid} finished at {self._time_attr}={entry['time']} "
                  f"({self._metric}={entry['metric']:.6g})", file=sys.stdout, flush=True)

    # -- judging ---------------------------------------------------------------------------
    def _judge_ready(self, tune_controller: Any, current: str | None) -> dict[str, str]:
        """Judge every rung whose live trials have all reported; returns actions for ``current``."""
        decisions: dict[str, str] = {}
        while len(self.live) > 1 and all(tid in self.pending for tid in self.live):
            participants = list(self.live)
            ranked = sorted(participants, key=self._score)
            healthy = [tid for tid in ranked if not self._score(tid)[0]]
            keep = min(survivors_at(len(participants), self.reduce_factor), len(healthy))
            kept, dropped = ranked[:keep], ranked[keep:]
            for tid in participants:
                entry = self.pending[tid]
                self.rows.append({"trial_id": tid, "rung": self.rung, "time": entry["time"],
                                  "metric": entry["metric"], "alive": len(participants),
                                  "decision": "kept" if tid in kept else "eliminated",
                                  "error": bool(entry.get("error"))})
            if self.progress:
                print(f"multi-init: rung {self.rung} at {self._time_attr}={self.milestone:g}: "
                      f"{len(participants)} alive -> kept {len(kept)}"
                      + (f" ({len(participants) - len(healthy)} failed)" if len(healthy) < len(participants) else ""),
                      file=sys.stdout, flush=True)
            for tid in dropped:
                self.eliminated[tid] = self.rung
                self.live.remove(tid)
                self.to_resume.discard(tid)
                decisions[tid] = TrialScheduler.STOP
                trial = self._trials.get(tid)
                if tid == current or trial is None or self.pending[tid].get("error"):
                    continue  # Tune is already ending it (it errored, or it is reporting now)
                if trial.status in (Trial.PAUSED, Trial.PENDING, Trial.RUNNING) or trial.is_saving:
                    tune_controller.stop_trial(trial)
            self.rung += 1
            previous, self.pending = self.pending, {}
            for tid in kept:
                decisions[tid] = TrialScheduler.CONTINUE
                if tid != current:
                    self.to_resume.add(tid)
                # A result that already lies past the next milestone counts for that rung too.
                entry = previous[tid]
                if len(self.live) > 1 and entry["time"] is not None and entry["time"] >= self.milestone:
                    self.pending[tid] = entry
        return decisions

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        # New trials first (they have the most to do before the rung closes), then the
        # kept trials that wait paused at the last judged rung.
        for tid in self.order:
            trial = self._trials.get(tid)
            if trial is not None and trial.status == Trial.PENDING and tid in self.live \
                    and tid not in self.pending:
                return trial
        for tid in self.order:
            trial = self._trials.get(tid)
            if trial is not None and trial.status == Trial.PAUSED and tid in self.to_resume:
                return trial
        return None

    def debug_string(self) -> str:
        return (f"SynchronousHalving: rung {self.rung} ({self._time_attr} {self.milestone:g}), "
                f"{len(self.live)} alive, {len(self.pending)} reported, "
                f"{len(self.eliminated)} eliminated")

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump(self.state(), f)

    def restore(self, checkpoint_path: str) -> None:
        self.state_path, self._loaded = checkpoint_path, False
        self._load()
