"""Ctrl-C during a suite: the finished runs are kept and the runs in flight are left to Ray.

``ray.cancel`` on a run whose result is arriving at that moment aborts Ray's core (Ray 2.60:
"Check failed: ... Tried to complete task that was not pending", the interrupted command exits
1 or -6 instead of 130), and which run is finishing cannot be known from the driver. So the
interrupt path cancels no run: a command stops Ray right after, which ends them. How often the
abort happened before: ``benchmarks/interrupt_abort.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from raybench import results, runner, suites

pytestmark = pytest.mark.ray

RUNS = 4


def test_an_interrupted_suite_keeps_its_finished_runs_and_cancels_no_run_in_flight(
        tmp_path: Path, ray_session, monkeypatch) -> None:
    out = str(tmp_path / "r")
    # One run at a time on the session Ray's 2 CPUs, each some 0.5 s: when the first run is
    # written, the others are still in flight (running or queued), whatever the machine's speed.
    specs = suites.expand({"name": "interrupt", "problems": ["quadratic"], "optimizers": ["adam"]},
                          steps=3000, seeds=RUNS)
    cancelled: list = []
    monkeypatch.setattr(ray_session, "cancel", lambda ref, **kw: cancelled.append(ref))
    in_flight: list[int] = []

    def ctrl_c_once_a_run_is_written(bar: runner._Progress, n_pending: int) -> None:
        if bar.counts.total():  # called after the flush check: that run is on disk
            in_flight.append(n_pending)
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "FLUSH_EVERY_RUNS", 1)
    monkeypatch.setattr(runner._Progress, "refresh", ctrl_c_once_a_run_is_written)
    results.init(out)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run_specs(specs, out, done=set(), resume=False, cpus_per_run=2.0, gpus_per_run=0.0,
                             progress=False, max_retries=0)
        assert in_flight and in_flight[0] > 0
        assert cancelled == [], f"the interrupt cancelled {len(cancelled)} of {in_flight[0]} runs in flight"
        runs = pd.read_parquet(Path(out) / "runs")
        assert 0 < len(runs) == RUNS - in_flight[0] and (runs["status"] == "ok").all()
        assert set(pd.read_parquet(Path(out) / "curves")["run_id"]) == set(runs["run_id"])
    finally:
        # The runs left in flight end on the session Ray (a command would stop Ray): wait for
        # them, so that the next test has its CPUs.
        deadline = time.monotonic() + 60
        while ray_session.available_resources().get("CPU", 0.0) < 2.0 and time.monotonic() < deadline:
            time.sleep(0.1)
