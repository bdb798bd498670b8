"""Wall time of a small ``raybench run --tune-lr`` (4 trials, 2 runs), the executable end to end.

    python benchmarks/lr_search_overhead.py [--reps 3]

Run it from a clean checkout of each commit to compare (its own venv), on a quiet machine;
prints each repetition's seconds and the median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

ARGS = ["run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--seeds", "1", "--steps", "20",
        "--tune-lr", "--tune-samples", "2", "--no-progress"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    reps = p.parse_args().reps
    times = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "raybench.cli", *ARGS, "--out", f"{tmp}/r"], check=True,
                           capture_output=True)
            times.append(time.perf_counter() - t0)
    print("seconds:", " ".join(f"{t:.1f}" for t in times), f"median {statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
