"""Suite throughput: ``raybench run`` on the embedded Ray against the same runs one after another.

The suite is 32+ runs of about 2 s each (``mnist_mlp`` on the offline MNIST subset, 4
optimizers x 8 seeds). ``raybench run`` is timed as a whole command (Python and Ray start-up
included) with 2 CPUs; the baseline executes the same ``RunSpec``s one after another in one
bare process through the same ``raybench.runner.execute`` (import time excluded, which
favours the baseline). Both use one torch thread per run.

How to run:
    .venv/bin/python benchmarks/suite_throughput.py [--steps 700] [--seeds 8]

Results measured on 2 cores: 1.42x for 32 runs and 1.49x for 64 (goals 1.6x and 1.8x, not met);
see BENCHMARKS.md section 2 for where the rest of the time goes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = ["adam", "sgd", "momentum", "rmsprop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from raybench import suites
    from raybench.runner import execute

    suite = {"problems": [{"name": "mnist_mlp", "options": {"dataset": "mnist_subset"}}],
             "optimizers": OPTIMIZERS, "seeds": args.seeds, "steps": args.steps}
    specs = suites.expand(suite)
    t0 = time.perf_counter()
    per_run = []
    for spec in specs:
        t = time.perf_counter()
        row, _ = execute(spec)
        assert row["status"] == "ok", row["error"]
        per_run.append(time.perf_counter() - t)
    sequential = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "suite.yaml"
        import yaml

        cfg.write_text(yaml.safe_dump(suite))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "raybench.cli", "run", "--config", str(cfg), "--out",
                        str(Path(tmp) / "out"), "--no-progress"], check=True, env=env, cwd=ROOT)
        on_ray = time.perf_counter() - t0
    n = len(specs)
    print(f"{n} runs, median {sorted(per_run)[n // 2]:.2f} s each (sequential)")
    print(f"sequential, one bare process: {sequential:.1f} s")
    print(f"raybench run, embedded Ray, 2 CPUs (start-up included): {on_ray:.1f} s")
    print(f"speed-up: {sequential / on_ray:.2f}x (target >= 1.6x)")


if __name__ == "__main__":
    main()
