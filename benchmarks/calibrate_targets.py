"""Calibrate the targets of the new workloads (``raybench.calibration``).

    python benchmarks/calibrate_targets.py OUT [--problems P,Q] [--optimizer adamw] [--seeds 5] [--fraction 0.8]

Runs ``raybench run --problems P,Q --optimizers adamw --tune-lr --seeds 5 --out OUT`` (the
reference tuned by the learning-rate search, at each workload's own budget and default options;
``--resume`` when OUT exists; default problems ``PROBLEMS``), then reads each seed's validation value of the workload's target metric at the last
evaluation at or before 80% of the budget; the calibrated target is their median
(``calibration.calibrate``). Writes ``OUT/calibration.csv`` and prints one line per workload with
the command and the commit, for BENCHMARKS.md. The thresholds the problems declare are then set
from it (by hand, citing the line), not by this script.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

PROBLEMS = "mnist1d_mlp,mnist1d_cnn,fashion_mlp,char_gpt"
"""The new workloads at their CPU sizes (fashion_cnn, a long CPU run, is left to a larger machine)."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--problems", default=PROBLEMS)
    p.add_argument("--optimizer", default="adamw")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--fraction", type=float, default=0.8)
    a = p.parse_args()
    cmd = ["run", "--problems", a.problems, "--optimizers", a.optimizer, "--tune-lr", "--seeds", str(a.seeds),
           "--out", str(a.out), "--no-progress", *(["--resume"] if a.out.exists() else [])]
    subprocess.run([sys.executable, "-m", "raybench.cli", *cmd], check=True)

    from raybench import calibration, results

    runs, curves = results.read(str(a.out))
    table = calibration.calibrate(runs[runs["optimizer"] == a.optimizer], curves, fraction=a.fraction)
    table.to_csv(a.out / "calibration.csv", index=False)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# raybench {' '.join(cmd[:-1] if cmd[-1] == '--resume' else cmd)}  (commit {commit})")
    for r in table.itertuples(index=False):
        word = "<=" if r.mode == "min" else ">="
        print(f"{r.problem}: target val {r.metric} {word} {r.target:.4g} (median over {r.seeds} seeds of tuned "
              f"{r.optimizer} at {r.fraction:g} x {r.budget_steps} steps; IQR {r.iqr_low:.4g}..{r.iqr_high:.4g})")


if __name__ == "__main__":
    main()
