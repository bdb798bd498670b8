"""Multi-init's convergence speed is charged every trial's compute (``reproduce.measure``): the
steps of the trials it eliminated plus the survivor's steps to target, against the same seeds
each trained alone. Checked on a hand-made multi-init folder whose right answer is known."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from raybench import results
from raybench.reproduce import measure
from raybench.reproduce.plan import MULTI_INIT_METHOD, SINGLE
from raybench.tuning.experiment import RUNGS
from raybench.tuning.spec import MultiInitSpec


def _run(run_id: str, seed: int, steps: int, steps_to_target: float, status: str = "ok") -> dict:
    return {"run_id": run_id, "problem": "mnist_cnn", "optimizer": "adam", "seed": seed, "status": status,
            "steps": steps, "budget_steps": 100, "steps_to_target": steps_to_target, "test_accuracy": 0.9,
            "target_metric": "accuracy", "dataset": "mnist_subset"}


def _curve(run_id: str, every: int, last: int) -> list[dict]:
    return [{"run_id": run_id, "step": s, "val_loss": 1.0} for s in range(0, last + 1, every)]


def test_the_survivor_is_charged_the_eliminated_trials_steps(tmp_path: Path) -> None:
    spec = MultiInitSpec(problem="mnist_cnn", optimizer="adam", num_models=4, steps_per_round=10, steps=100)
    out = tmp_path / "multi_init" / "mnist_cnn"
    results.init(str(out))
    seeds = spec.seeds(0)
    # Four trials: eliminated after 10, 10 and 20 steps; the survivor meets the target at step 40
    # (evaluations every 10: it was not met at 30).
    trials = [_run("t0", seeds[0], 10, math.inf), _run("t1", seeds[1], 10, math.inf),
              _run("t2", seeds[2], 20, math.inf), _run("t3", seeds[3], 100, 40.0)]
    curves = [c for t in trials for c in _curve(t["run_id"], 10, t["steps"])]
    results.write_runs(str(out), trials, curves)
    rungs = [{"repeat": 0, "seed": t["seed"], "run_id": t["run_id"], "rung": 0, "step": 10,
              "decision": "survivor" if t["run_id"] == "t3" else "eliminated"} for t in trials]
    results.write(str(out), RUNGS.name, rungs)
    # The same seeds alone: targets met at 50, 50, 60 and never.
    alone = [_run(f"s{i}", seed, 100, stt) for i, (seed, stt) in enumerate(zip(seeds, [50.0, 50.0, 60.0, math.inf],
                                                                                  strict=True))]
    results.init(str(out / SINGLE))
    results.write_runs(str(out / SINGLE), alone, [c for t in alone for c in _curve(t["run_id"], 10, 100)])

    rows = measure.multi_init_rows(spec, str(out), pd.DataFrame(alone), 1)
    speed = next(r for r in rows if r["column"] == "convergence_speed")
    assert speed["method"] == MULTI_INIT_METHOD
    assert speed["value"] == 10 + 10 + 20 + 40 and speed["value_low"] == 10 + 10 + 20 + 30
    assert speed["adam"] == 55.0  # median of 50, 50, 60 and never (inf)
    accuracy = next(r for r in rows if r["column"] == "mnist_cnn")
    assert accuracy["value"] == 90.0  # an accuracy is the survivor's own: no compute in it
