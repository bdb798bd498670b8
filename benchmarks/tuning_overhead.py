"""The external-tuning protocol's bookkeeping against the same work run as a plain suite.

    python benchmarks/tuning_overhead.py [--reps 3] [--problem mlp] [--optimizer adam]

``external``: ``raybench run --tuning external --studies 3 --trials 5`` on one problem and one
optimizer with 6 evaluation seeds: 3 x 5 trials x 2 tuning seeds = 30 trial runs, then 6
evaluation runs, 36 runs in all. ``plain``: ``raybench run`` of the same problem and optimizer
at its defaults with 36 seeds, the same number of runs of the same budget, one fan-out. The
difference is what the protocol adds: planning the trials, a second results folder, scoring the
studies, and the barrier between the trials and the evaluation runs. (The trials' hyperparameters
differ from the defaults, so their step times can differ a little; the per-run training seconds
of both are printed to show it.)

Both are timed end to end as executables (Ray start-up included), alternating, ``--reps`` times
each; prints every repetition and the ratio of the medians. Run it on a quiet machine from a
clean checkout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def _timed(args: list[str], out: str) -> tuple[float, float]:
    """Wall seconds of one command, and the summed training seconds of its runs."""
    from raybench import results

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "raybench.cli", *args, "--out", out, "--no-progress"], check=True,
                   capture_output=True)
    wall = time.perf_counter() - t0
    train = float(results.read_table(out, "runs")["wall_seconds"].sum())
    trials = results.read_table(f"{out}/trials", "runs")
    if not trials.empty:
        train += float(trials["wall_seconds"].sum())
    return wall, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--problem", default="mlp")
    p.add_argument("--optimizer", default="adam")
    a = p.parse_args()
    base = ["run", "--problems", a.problem, "--optimizers", a.optimizer]
    commands = {
        "external": [*base, "--seeds", "6", "--tuning", "external", "--studies", "3", "--trials", "5"],
        "plain": [*base, "--seeds", "36"],
    }
    walls: dict[str, list[float]] = {k: [] for k in commands}
    for rep in range(a.reps):
        for name, args in commands.items():
            with tempfile.TemporaryDirectory() as tmp:
                wall, train = _timed(args, f"{tmp}/r")
            walls[name].append(wall)
            print(f"rep {rep} {name}: {wall:.1f} s wall, {train:.1f} s of training in its 36 runs", flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    print("median wall: " + ", ".join(f"{k} {v:.1f} s" for k, v in med.items())
          + f"; external / plain = {med['external'] / med['plain']:.3f}")


if __name__ == "__main__":
    main()
