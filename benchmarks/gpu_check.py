"""GPU readiness: fractional-GPU runs and multi-init trials, measured where a GPU is at hand.

One short script for a machine with a GPU (the README's fractional-GPU claims are measured
with it the day one is available):

1. ``raybench run`` of a small MNIST-subset suite with ``--gpus-per-run 0.25`` (four runs share
   a GPU) against ``--gpus-per-run 1`` (one at a time);
2. ``raybench multi-init`` with 16 trials at 1/16 GPU each against one trial per GPU.

For each: wall time, peak GPU memory and mean utilisation (``nvidia-smi``, sampled every
0.5 s). On a machine without a CUDA GPU it says so and exits 0.

How to run:
    .venv/bin/python benchmarks/gpu_check.py [--steps 300] [--seeds 4]

Results to expect: with a GPU, the fractional runs finish sooner than one-at-a-time ones while
utilisation rises; the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class GpuSampler:
    """Peak memory (MiB) and mean utilisation (%) over the run of a command, from nvidia-smi."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True)
            for line in out.stdout.strip().splitlines():
                mem, util = (float(x) for x in line.split(","))
                self.samples.append((mem, util))
            self._stop.wait(0.5)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        peak = max(m for m, _ in self.samples)
        mean_util = sum(u for _, u in self.samples) / len(self.samples)
        return f"peak memory {peak:.0f} MiB, mean utilisation {mean_util:.0f}%"


def timed(label: str, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with GpuSampler() as gpu:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "raybench.cli", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
    print(f"{label:<44} {wall:7.1f} s  {gpu.summary()}  ({status})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available() or shutil.which("nvidia-smi") is None:
        print("gpu_check: no CUDA GPU on this machine (torch.cuda.is_available() is False or "
              "nvidia-smi is missing): nothing to measure")
        return 0
    print(f"gpu_check: {torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} GPU(s)")
    with tempfile.TemporaryDirectory() as tmp:
        suite = ["run", "--problems", "mnist_cnn", "--option", "dataset=mnist_subset", "--optimizers",
                 "adam,sgd", "--seeds", str(args.seeds), "--steps", str(args.steps), "--no-progress"]
        timed("run, --gpus-per-run 0.25", [*suite, "--gpus-per-run", "0.25", "--out", f"{tmp}/frac"])
        timed("run, --gpus-per-run 1", [*suite, "--gpus-per-run", "1", "--out", f"{tmp}/whole"])
        mi = ["multi-init", "--problem", "mnist_cnn", "--option", "dataset=mnist_subset", "--optimizer",
              "adam", "--num-models", "16", "--steps-per-round", "50", "--steps", str(max(args.steps, 200)),
              "--no-progress"]
        timed("multi-init 16 trials, 1/16 GPU each", [*mi, "--gpus-per-trial", "0.0625", "--out", f"{tmp}/mi16"])
        timed("multi-init 16 trials, 1 GPU each", [*mi, "--gpus-per-trial", "1", "--out", f"{tmp}/mi1"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
