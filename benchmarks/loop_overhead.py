"""Training-loop overhead: raybench's instrumented ``Run`` against a bare PyTorch loop.

Both do the same steps on the same problem instance in one process: same seed, same batches,
same optimizer. The bare loop is ``zero_grad; loss(batch); backward; step``. ``Run`` adds a
closure, gradient-evaluation counting, the non-finite check and per-step bookkeeping; its
evaluations are measured separately (``eval_every`` = the whole budget here, then the
problem's default), since evaluating is work the bare loop does not do.

How to run:
    .venv/bin/python benchmarks/loop_overhead.py [--repeats 5]

Results to expect: a ratio near 1.0 (target <= 1.05x) for the loop alone; see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from raybench import optimizers
from raybench.train import Run

CASES = [
    # (problem, optimizer, options, steps)
    ("mnist_mlp", "adam", {"dataset": "mnist_subset"}, 400),
    ("mlp", "adam", {}, 1000),
    ("logistic", "sgd", {}, 1000),
    ("char_gpt", "adam", {}, 100),  # the CPU size; its instance clips gradients (clip=1.0), as the bare loop does
]


def bare(problem: str, optimizer: str, options: dict, steps: int) -> float:
    run = Run(problem, optimizer, seed=0, steps=steps, options=options)  # same instance, same init
    inst = run.instance
    opt = optimizers.make(optimizer, inst.parameters())
    inst.train_mode(True)
    t0 = time.perf_counter()
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = inst.loss(inst.batch(step))
        loss.backward()
        if getattr(inst, "clip", None):  # the character GPT's recipe: clip by global norm
            torch.nn.utils.clip_grad_norm_(inst.parameters(), inst.clip)
        opt.step()
    return time.perf_counter() - t0


def instrumented(problem: str, optimizer: str, options: dict, steps: int, eval_every: int | None) -> float:
    run = Run(problem, optimizer, seed=0, steps=steps, options=options, eval_every=eval_every)
    run.advance(0)  # the initial evaluation, outside the timed region as for the bare loop
    t0 = time.perf_counter()
    run.advance()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--problems", help="comma-separated: only these cases (default: all)")
    args = parser.parse_args()
    wanted = set(args.problems.split(",")) if args.problems else None
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeats} repeats (interleaved)")
    print("| problem | optimizer | steps | bare s | raybench loop s | ratio | with default evals s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for problem, opt, options, steps in CASES:
        if wanted is not None and problem not in wanted:
            continue
        b, r, e = [], [], []
        bare(problem, opt, options, 20)  # warm caches (data load, allocator)
        for _ in range(args.repeats):
            b.append(bare(problem, opt, options, steps))
            r.append(instrumented(problem, opt, options, steps, eval_every=steps))
            e.append(instrumented(problem, opt, options, steps, eval_every=None))
        mb, mr, me = statistics.median(b), statistics.median(r), statistics.median(e)
        print(f"| {problem} | {opt} | {steps} | {mb:.3f} | {mr:.3f} | {mr / mb:.3f}x | {me:.3f} | {me / mb:.3f}x |")


if __name__ == "__main__":
    main()
