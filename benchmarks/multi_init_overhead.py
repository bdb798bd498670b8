"""What Ray Tune costs multi-init: the same rung schedule through Tune and in one bare process.

How to run (a few minutes on 2 CPUs)::

    .venv/bin/python benchmarks/multi_init_overhead.py
    .venv/bin/python benchmarks/multi_init_overhead.py --problem quadratic --steps-per-round 50 --steps 400
    .venv/bin/python benchmarks/multi_init_overhead.py --gpu      # on a GPU machine: also 16 x 1/16 GPU

Both sides train the same 16 seeds with the one training loop (``raybench.train.Run``) and
eliminate the same way (``tuning.rungs``): the bare side keeps every run in memory and
advances them one after another; the Tune side is ``tuning.experiment.run_experiment``
(16 trials, paused with a checkpoint at every rung, 1 CPU each so 2 train at once on 2 CPUs).
It prints both wall times, their ratio (Tune's overhead; the target is <= 1.3x on 2 CPUs),
that both picked the same survivor, and the compute ratio (all trials' steps over one run's).

Results to expect: the ratio falls as rounds get longer, because Tune's cost is per trial
start, pause and resume (seconds each on 2 CPUs), not per step. With ``--gpu`` on a GPU
machine it also times 16 trials sharing one GPU at 1/16 each against one trial alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bare(spec, device: str = "cpu") -> tuple[float, int, int]:
    """The rung schedule trial by trial in this process: ``(seconds, survivor seed, steps)``."""
    from raybench.train import Run
    from raybench.tuning.rungs import survivors_at

    t0 = time.perf_counter()
    runs = {s: Run(spec.problem, spec.optimizer, spec.hparams, s, steps=spec.steps,
                   options=spec.options, eval_every=spec.eval_every, device=device)
            for s in spec.seeds(0)}
    live = list(runs)
    total = 0
    sign = -1.0 if spec.mode == "max" else 1.0  # the problem's declared direction of the metric
    while len(live) > 1:
        for s in live:
            runs[s].advance(spec.steps_per_round)
            total += spec.steps_per_round
        keep = survivors_at(len(live), spec.reduce_factor)
        live = sorted(live, key=lambda s: (sign * runs[s].last_metrics.get(spec.metric, float("nan"))
                                           if runs[s].status == "ok" else float("inf"), live.index(s)))[:keep]
    survivor = runs[live[0]]
    total += survivor.steps - survivor.step
    survivor.advance()
    survivor.summary()  # the test evaluation the Tune side also does
    return time.perf_counter() - t0, live[0], total


def through_tune(spec, resources: dict[str, float]) -> tuple[float, int, int]:
    from raybench import results
    from raybench.tuning.experiment import run_experiment

    out = tempfile.mkdtemp(prefix="mi-bench-")
    try:
        results.init(out)
        t0 = time.perf_counter()
        outcome = run_experiment(spec, out, resources=resources, progress=False)
        seconds = time.perf_counter() - t0
        steps = sum(int(r["steps"]) for r in outcome.runs)
        return seconds, outcome.survivor_seed, steps
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problem", default="mnist_cnn")
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--option", action="append", default=None, metavar="NAME=VALUE")
    p.add_argument("--num-models", type=int, default=16)
    p.add_argument("--reduce-factor", type=float, default=0.5)
    p.add_argument("--steps-per-round", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--num-cpus", type=int, default=2)
    p.add_argument("--bare-threads", type=int, default=1,
                   help="torch threads of the bare process (1: like one Tune trial)")
    p.add_argument("--gpu", action="store_true", help="also: 16 trials at 1/16 GPU vs one trial alone")
    args = p.parse_args()

    import torch

    from raybench import suites
    from raybench.ray_utils import init_ray
    from raybench.tuning.spec import MultiInitSpec, prepare

    options = suites.parse_option_flags(args.option if args.option is not None else
                                        (["dataset=mnist_subset"] if args.problem.startswith("mnist") else []))
    spec = prepare(MultiInitSpec(
        args.problem, args.optimizer, options=options, num_models=args.num_models,
        reduce_factor=args.reduce_factor, steps_per_round=args.steps_per_round, steps=args.steps,
        metric="loss"))
    print(f"{spec.problem} / {spec.optimizer} {spec.options}: {spec.num_models} seeds, r={spec.reduce_factor}, "
          f"K={spec.steps_per_round}, E={spec.steps}, eval every {spec.eval_every}; {args.num_cpus} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    torch.set_num_threads(args.bare_threads)
    bare_s, bare_survivor, bare_steps = bare(spec)
    print(f"bare process : {bare_s:7.1f} s  survivor seed {bare_survivor}  {bare_steps} steps")

    t0 = time.perf_counter()
    init_ray(num_cpus=args.num_cpus, num_gpus=1 if args.gpu else None)
    ray_start = time.perf_counter() - t0
    tune_s, tune_survivor, tune_steps = through_tune(spec, {"cpu": 1.0, "gpu": 0.0})
    print(f"through Tune : {tune_s:7.1f} s  survivor seed {tune_survivor}  {tune_steps} steps "
          f"(Ray start {ray_start:.1f} s, not counted)")
    ratio = tune_s / bare_s
    slots = args.num_cpus  # 1 CPU per trial: this many trials train at once
    cpu_ratio = tune_s * slots / (bare_s * args.bare_threads)
    print(f"Tune overhead: {ratio:.2f}x wall time (target <= 1.3x) -- "
          f"{'met' if ratio <= 1.3 else 'NOT met'}; same survivor: {tune_survivor == bare_survivor}")
    print(f"               {cpu_ratio:.2f}x CPU time (Tune's wall x {slots} slots over the bare "
          f"process's wall x {args.bare_threads} thread(s))")
    print(f"compute ratio: {tune_steps / spec.steps:.2f}x the steps of one run to the full budget "
          f"({tune_steps} / {spec.steps})")

    if args.gpu:
        if not torch.cuda.is_available():
            print("--gpu: no CUDA device here; skipped")
            return 0
        one = dataclasses.replace(spec, num_models=1)
        alone_s, _, alone_steps = through_tune(one, {"cpu": 1.0, "gpu": 1.0})
        shared_s, _, shared_steps = through_tune(spec, {"cpu": max(0.1, args.num_cpus / spec.num_models),
                                                        "gpu": 1.0 / spec.num_models})
        print(f"GPU: one trial alone {alone_steps / alone_s:.1f} steps/s; {spec.num_models} trials at "
              f"1/{spec.num_models} GPU each {shared_steps / shared_s:.1f} steps/s in total")
    import ray

    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
