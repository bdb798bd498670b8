"""What the report says about who made its runs and what never trained: runs of one name made
by different code are never mixed (the older code's are named NAME@CODE), the raybench versions
are listed, and an optimizer that is not applicable to a problem reads "n/a", not a speed."""

from __future__ import annotations

import pandas as pd

from raybench import report, runner
from raybench.spec import RunSpec


def _runs(*pairs: tuple[str, str], seeds: int = 2) -> list[dict]:
    return [runner.execute(RunSpec.build(problem, optimizer, seed, steps=10))[0]
            for problem, optimizer in pairs for seed in range(seeds)]


def test_not_applicable_runs_read_n_a_and_pair_with_nothing() -> None:
    runs = pd.DataFrame(_runs(("quadratic", "adam"), ("quadratic", "muon")))
    assert set(runs.loc[runs["optimizer"] == "muon", "status"]) == {"not_applicable"}
    rep = report.build(runs, n_boot=50)
    row = next(r for r in rep.results.rows if r[1] == "muon")
    assert row[4] == "n/a: not applicable" and row[5] == "-" and row[-1] == "2 not applicable"
    assert "inf" not in " ".join(row)  # before: "inf: adam missed (2)", a speed it never had
    assert "Not applicable (never trained" in rep.summary and "muon on quadratic" in rep.summary


def test_runs_of_one_name_made_by_different_code_are_reported_apart() -> None:
    rows = _runs(("quadratic", "adam"), ("quadratic", "sgd"))
    for row in rows[2:]:  # sgd's runs: an older raybench made them, a day earlier
        row.update(source_hash="0123456789abcdef", started_at="2000-01-01T00:00:00+00:00")
    newer = _runs(("quadratic", "sgd"))
    for row in newer:
        row["run_id"] += "-new"
    rep = report.build(pd.DataFrame(rows + newer), n_boot=50)
    names = [r[1] for r in rep.results.rows]
    assert names.count("sgd") == 1 and "sgd@0123456" in names
    assert "reported as sgd@0123456" in rep.summary
    assert "Made by: raybench" in rep.summary and "source 0123456789abcdef): 2 runs" in rep.summary


def test_the_speed_interval_is_order_statistic_and_absent_below_six_seeds() -> None:
    rows = []
    for seed, (adam, sgd) in enumerate([(100, 50), (100, 50), (100, 40), (100, 60), (100, 50), (100, 25), (90, 45)]):
        for name, steps in (("adam", adam), ("sgd", sgd)):
            rows.append({"problem": "p", "optimizer": name, "seed": seed, "status": "ok", "converged": True,
                         "steps_to_target": float(steps), "grad_evals_to_target": float(steps),
                         "wall_seconds": 1.0, "test_loss": 0.1, "hparam_source": "default",
                         "target_metric": "loss", "metric_modes": '{"loss": "min"}'})
    five = report.table(pd.DataFrame([r for r in rows if r["seed"] < 5]))
    sgd = five[five["optimizer"] == "sgd"].iloc[0]
    assert sgd["speed_vs_adam"] == 2.0 and (sgd["ci_low"], sgd["ci_high"]) == (-float("inf"), float("inf"))
    seven = report.table(pd.DataFrame(rows))
    sgd = seven[seven["optimizer"] == "sgd"].iloc[0]
    assert sgd["ci_low"] <= 2.0 <= sgd["ci_high"] and 1.6 <= sgd["ci_low"] and sgd["ci_high"] <= 4.0
