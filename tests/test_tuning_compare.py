"""The multi-init vs single-init comparison on a hand-made results folder (no Ray needed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raybench import results
from raybench.tuning.compare import compare, comparison_text
from raybench.tuning.spec import MultiInitSpec


def _block(out, repeat, seeds, survivor, survivor_stt, steps):
    runs, rungs = [], []
    for s in seeds:
        rid = f"r{s}"
        runs.append({"run_id": rid, "seed": s, "steps": steps[s], "grad_evals": 2 * steps[s],
                     "steps_to_target": survivor_stt if s == survivor else math.inf})
        rungs.append({"repeat": repeat, "seed": s, "run_id": rid, "rung": 0,
                      "decision": "survivor" if s == survivor else "eliminated"})
    results.write(out, "runs", runs)
    results.write(out, "rungs", rungs)


def test_compare_reports_speed_and_compute_together(tmp_path):
    out = str(tmp_path)
    results.init(out)
    spec = MultiInitSpec("quadratic", "adam", num_models=4, reduce_factor=0.5, steps_per_round=10,
                         steps=40)
    # Block 0: survivor seed 1 meets the target at step 20; block 1: survivor never does.
    _block(out, 0, [0, 1, 2, 3], 1, 20.0, {0: 10, 1: 40, 2: 10, 3: 20})
    _block(out, 1, [4, 5, 6, 7], 6, math.inf, {4: 20, 5: 10, 6: 40, 7: 10})
    single = pd.DataFrame({"seed": range(8), "grad_evals": [80] * 8,
                           "steps_to_target": [30, 20, 40, math.inf, 30, 30, 30, math.inf]})
    c = compare(spec, out, single, repeats=2, n_boot=200)
    b0, b1 = c["blocks"]
    assert b0["single_median_steps_to_target"] == 35 and b0["speedup"] == pytest.approx(35 / 20)
    assert b1["speedup"] == 0.0                       # the survivor never converged
    assert b0["total_steps"] == 80 and b0["compute_ratio_steps"] == 2.0
    assert b0["compute_ratio_grad_evals"] == 2.0      # 160 gradient evaluations / 80
    # Steps until the survivor met the target: 40 by the eliminated trials + 20, against 35.
    assert b0["compute_to_target_ratio"] == pytest.approx(60 / 35)
    assert c["speedup"][0] == pytest.approx((35 / 20 + 0.0) / 2)
    assert c["speedup"][1:] == (-math.inf, math.inf)  # no 95% interval for a median of 2 blocks
    text = comparison_text(c)
    assert "compute spent" in text and "no 95% interval from 2 blocks" in text and "use --repeats 6" in text
    # The charged ratio leads; the survivor's own speed is named as not counting the trials.
    assert text.index("until the survivor met the target") < text.index("its trials' compute not counted")
