"""Evaluate a trained policy on the held-out pool against the standard optimizers.

    raybench rl eval --policy policy/policy.safetensors --family quadratic --seeds 20 --out eval/

Each (optimizer, held-out seed) is one ordinary raybench run: ``autonomous`` with
``policy=FILE`` beside Adam, SGD, momentum and L-BFGS at their registry defaults, all through
``raybench.runner.run_suite`` (Ray tasks, Parquet out, ``--resume``), then the standard
``raybench report`` table: final metric mean +- std, paired speed and paired difference
from Adam with 95% bootstrap CIs over seeds. Held-out seeds are ``raybench.rl.env.pool_seeds("heldout",
N)``, disjoint from every training pool.

``eval_specs`` checks everything without Ray (``family`` and ``baselines`` are registry names:
the command resolves import paths first); ``evaluate`` is the Python API, which assumes Ray is up
and checks and reads the folder itself (``run_suite``); the command does that once itself and
calls the runner's stages. The held-out protocol (fixed MNIST tasks, tuned
baselines, speed-up and loss ratio: ``raybench rl eval --heldout``) is ``raybench.rl.heldout``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from raybench.defaults import REFERENCE_OPTIMIZER
from raybench.errors import UsageError

DEFAULT_BASELINES = (REFERENCE_OPTIMIZER, "sgd", "momentum", "lbfgs")
"""What the policy is compared with when ``rl eval --optimizers`` is not given."""
DEFAULT_SEEDS = 10
"""Held-out instances evaluated when ``rl eval --seeds`` is not given."""


def eval_specs(policy: str, family: str, seeds: int, *, baselines: Sequence[str] = DEFAULT_BASELINES,
               steps: int | None = None, dim: int | None = None, lr_scale: float = 1.0) -> list[Any]:
    """The runner specs of an evaluation: (autonomous + baselines) x held-out seeds."""
    from raybench import problems
    from raybench.learned.policy import PolicyError, load_policy
    from raybench.rl.env import pool_seeds
    from raybench.spec import RunSpec

    if family not in problems.families():
        raise UsageError(f"unknown family {family!r}; accepted: {', '.join(problems.families())}")
    try:
        trained = load_policy(policy).metadata.get("training", {})
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    try:
        seed_list = pool_seeds("heldout", seeds)
    except ValueError as exc:
        raise UsageError(f"--seeds: {exc}") from None
    if steps is not None and steps < 1:
        raise UsageError(f"bad --steps {steps}; accepted: a positive integer")
    options: dict[str, Any] = {}
    if dim is None and trained.get("family") == family and trained.get("dim") is not None:
        dim = int(trained["dim"])
    if dim is not None:
        if "dim" not in problems.get(family).options:
            raise UsageError(f"--dim does not apply to family {family!r} (it has no 'dim' option)")
        options["dim"] = int(dim)
    policy_path = os.path.abspath(policy)
    runs = [("autonomous", {"policy": policy_path, "lr_scale": lr_scale})]
    runs += [(name, {}) for name in baselines]
    return [RunSpec.build(family, name, seed, hparams=hp, steps=steps, options=options)
            for seed in seed_list for name, hp in runs]


def evaluate(specs: Sequence[Any], out: str, *, resume: bool = False, progress: bool = True,
             report: bool = True) -> dict[str, Any]:
    """Run ``specs`` (``eval_specs``) into ``out`` on the running Ray; ``{"runs", "curves", "report"}``."""
    from raybench.report import make_report
    from raybench.runner import run_suite

    runs, curves = run_suite(specs, out, resume=resume, progress=progress)
    rep = make_report(out, plots=True) if report else None
    return {"runs": runs, "curves": curves, "report": rep}
