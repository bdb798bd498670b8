"""Meta-train learned optimizers on mixed families and judge them on the held-out protocol.

    .venv/bin/python benchmarks/learned_optimizer.py --out lo/ --timesteps 1000000
    .venv/bin/python benchmarks/learned_optimizer.py --out lo/ --variants all,no_momentum --seeds 10

For each variant (the full input set and one ablation per input group, ``VARIANTS``) it runs,
as a user would, ``raybench rl train --family FAMILIES --batch-problems B --inputs ...
--timesteps T`` into ``OUT/train/<variant>`` (the same budget and seed for every variant),
then ``raybench rl eval --policy ... --heldout`` into the one folder ``OUT/heldout``, so every
variant meets the same tuned baselines on the same seeds (the README's held-out protocol).
It prints, per variant, the training wall time and the protocol's IQM over tasks of the
speed-up and the final-loss ratio against tuned Adam and tuned Nesterov momentum, with 95%
CIs and the diverged-run count, and writes the same table to ``OUT/learned_optimizer.md``.

What to expect on a 2-core CPU: a training's wall time is about T / (optimizee steps per
second, printed by ``rl train``); the held-out evaluation of the first variant takes several
minutes (tuning and baseline runs included), each further variant a few.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAMILIES = "quadratic,logistic,robust_regression,rosenbrock,mlp"
GROUPS = ("objective", "gradient", "momentum")
VARIANTS = {"all": GROUPS, **{f"no_{g}": tuple(x for x in GROUPS if x != g) for g in GROUPS}}
"""Input groups per variant: everything, then each group left out once (the ablation)."""


def _raybench(*args: str) -> float:
    """Run ``raybench ARGS`` (its output passes through); returns its wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "raybench.cli", *args], check=True)
    return time.perf_counter() - t0


def _row(summary: pd.DataFrame, sha: str, baseline: str) -> pd.Series:
    rows = summary[(summary["policy_sha256"] == sha) & (summary["baseline"] == baseline)
                   & (summary["task"] == "IQM")]
    return rows.iloc[-1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated of {', '.join(VARIANTS)}")
    p.add_argument("--families", default=FAMILIES)
    p.add_argument("--timesteps", type=int, default=1_000_000, help="optimizee steps per training")
    p.add_argument("--batch-problems", type=int, default=8)
    p.add_argument("--env-runners", type=int, default=2)
    # Smaller PPO iterations than rl train's defaults (2,000 env steps, 10 epochs): a mixed-family
    # env step holds B x 129 padded coordinates, and the learner's epochs dominated an iteration.
    p.add_argument("--train-batch", type=int, default=1000, help="env steps per PPO iteration")
    p.add_argument("--minibatch", type=int, default=250)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--tune-samples", type=int, default=6)
    args = p.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r}; accepted: {', '.join(VARIANTS)}")

    from raybench import results
    from raybench.learned.policy import load_policy

    heldout = os.path.join(args.out, "heldout")
    trained: dict[str, tuple[str, float]] = {}
    for variant in variants:
        folder = os.path.join(args.out, "train", variant)
        policy = os.path.join(folder, "policy.safetensors")
        if not os.path.isfile(policy):
            _raybench("rl", "train", "--family", args.families, "--batch-problems", str(args.batch_problems),
                      "--env-runners", str(args.env_runners), "--inputs", ",".join(VARIANTS[variant]),
                      "--timesteps", str(args.timesteps), "--train-batch", str(args.train_batch),
                      "--minibatch", str(args.minibatch), "--epochs", str(args.epochs), "--out", folder, "--quiet")
        # The training loop's wall time, as the policy records it (Ray's start not included).
        wall = float(load_policy(policy).metadata.get("training", {}).get("wall_seconds", float("nan")))
        trained[variant] = (policy, wall)
        _raybench("rl", "eval", "--policy", policy, "--heldout", "--seeds", str(args.seeds),
                  "--tune-samples", str(args.tune_samples), "--out", heldout, "--resume", "--no-progress")

    summary = results.read_table(heldout, "heldout")
    lines = ["| variant | inputs | training loop wall (s) | speed-up IQM vs Adam [95% CI] | vs momentum | "
             "loss ratio IQM vs Adam [95% CI] | learned diverged |", "|---|---|---|---|---|---|---|"]
    for variant, (policy, wall) in trained.items():
        sha = load_policy(policy).metadata["sha256"]
        adam, mom = _row(summary, sha, "adam"), _row(summary, sha, "momentum")
        lines.append(f"| {variant} | {','.join(VARIANTS[variant])} | {wall:.0f} | "
                     f"{adam['speedup']:.2f} [{adam['speedup_lo']:.2f}, {adam['speedup_hi']:.2f}] | "
                     f"{mom['speedup']:.2f} [{mom['speedup_lo']:.2f}, {mom['speedup_hi']:.2f}] | "
                     f"{adam['loss_ratio']:.3g} [{adam['loss_ratio_lo']:.3g}, {adam['loss_ratio_hi']:.3g}] | "
                     f"{int(adam['learned_diverged'])} |")
    table = "\n".join(lines)
    with open(os.path.join(args.out, "learned_optimizer.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
