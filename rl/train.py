"""Train the coordinate-wise policy with RLlib PPO over parallel env runners.

    raybench rl train --family quadratic --num-problems 90 --passes 20 --episode-steps 40 \\
        --env-runners 2 --out policy/

The research summary's budget is ``num_problems x passes x episode_steps`` optimizee steps
(90 x 20 x 40 = 72,000); ``--timesteps`` / ``--iterations`` override it. An optimizee step is
one instance's optimizer step: one env step with ``raybench.rl.env`` (the default), ``batch_problems``
with ``--batch-problems B`` (``raybench.rl.batched_env``, ``B`` instances per env step); RLlib, and so
``rl_curves``'s ``env_steps``, count env steps. Results in ``OUT``:

    OUT/rl_train.json                  # the settings (rl.settings; what --resume continues)
    OUT/rl_curves/part-*.parquet       # one row per PPO iteration (the ``rl_curves`` table)
    OUT/checkpoints/...                # RLlib checkpoints (rl.checkpoints)
    OUT/policy.safetensors + .json     # the exported policy (weights only)
    OUT/policy_init.safetensors + .json  # the same network before training (a baseline)

``train`` assumes Ray is up (the command starts or joins it once, ``raybench.ray_utils``)
and leaves it up.

On a cluster: ``--address HOST:PORT`` (or ``auto`` inside ``ray job submit``) joins it; the
driver learns, and each env runner is a Ray actor of one CPU that Ray places on any node with
a free CPU (start the head with ``--num-cpus=0`` to keep them all on the worker nodes). When an
env runner dies (its process killed, its node lost), the iteration goes on with the others,
Ray starts the actor again (at most ``ENV_RUNNER_RESTARTS`` times each) and RLlib brings it
back into service with the current weights at the start of a later iteration; the budget is
met all the same. ``rl_curves`` records ``env_runners_healthy`` and ``env_runner_restarts``,
and the progress line names them when they change.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import pyarrow as pa

from raybench import schema
from raybench.errors import UsageError
from raybench.rl import checkpoints
from raybench.rl.settings import TrainSettings, save_settings, settings_path

CURVES = schema.register(schema.TableSchema("rl_curves", 2, schema.columns(
    ("iteration", pa.int64()), ("env_steps", pa.int64()), ("episodes", pa.int64()),
    ("episode_return_mean", pa.float64()), ("episode_len_mean", pa.float64()),
    ("policy_loss", pa.float64()), ("vf_loss", pa.float64()), ("entropy", pa.float64()),
    ("mean_kl", pa.float64()), ("iteration_seconds", pa.float64()), ("wall_seconds", pa.float64()),
    ("env_steps_per_s", pa.float64()),
    ("env_runners_healthy", pa.int64()), ("env_runner_restarts", pa.int64()),
)))
"""One row per PPO iteration of ``raybench rl train``. Version 2 added ``env_runners_healthy``
and ``env_runner_restarts`` (null in version-1 parts)."""

ENV_RUNNER_RESTARTS = 10
"""Times Ray restarts each env runner at most (RLlib's default, 1,000, would keep an env that
fails on every sample restarting for hours)."""
SAMPLE_TIMEOUT_S = 600.0
"""How long the driver waits for one env runner's ``sample()`` call."""
STALLED_ITERATIONS = 20
"""Consecutive PPO iterations without a sampled env step after which training stops."""


def ppo_config(s: TrainSettings) -> Any:
    """The RLlib ``PPOConfig`` for ``s`` (new API stack, coordinate-wise RLModule)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from raybench.rl.module import CoordinatewisePolicyModule

    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        # The env clips actions itself; RLlib's default squashing into [-1, 1] would make the
        # module's outputs mean something else than the exported policy's.
        .environment(s.env_class(), env_config=s.env_config(), normalize_actions=False, clip_actions=False)
        # A dead env runner's call (killed process, lost node) fails as soon as Ray notices, not
        # after this timeout; it only bounds a runner that hangs. A shorter one (RLlib's 60 s)
        # would drop a slow family's whole sample and queue the next call behind it.
        .env_runners(num_env_runners=s.env_runners, num_envs_per_env_runner=s.envs_per_runner,
                     rollout_fragment_length="auto", num_cpus_per_env_runner=1,
                     sample_timeout_s=SAMPLE_TIMEOUT_S)
        # A lost env runner must not end a long meta-training (spot nodes, OOM kills): the
        # iteration goes on with the other runners, Ray restarts the actor, and RLlib syncs the
        # current weights to it before it samples again. The restarts are bounded so that an
        # env that always fails ends the run (STALLED_ITERATIONS); an env runner whose env
        # raised exits after 5 s (its traceback reaches the log) rather than RLlib's 60 s.
        .fault_tolerance(restart_failed_env_runners=True, max_num_env_runner_restarts=ENV_RUNNER_RESTARTS,
                         delay_between_env_runner_restarts_s=5.0)
        .learners(num_learners=0)
        .training(lr=s.lr, gamma=0.99, lambda_=0.95, clip_param=s.clip, vf_clip_param=10.0,
                  entropy_coeff=0.0, train_batch_size_per_learner=s.train_batch,
                  minibatch_size=s.minibatch, num_epochs=s.epochs)
        .rl_module(rl_module_spec=RLModuleSpec(
            module_class=CoordinatewisePolicyModule,
            model_config={"history": s.history, "hidden": list(s.hidden), "inputs": list(s.inputs)}))
        .debugging(seed=s.seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=50)
    )


def _row(result: dict[str, Any], iteration: int, wall: float, steps_before: int) -> dict[str, Any]:
    """The ``rl_curves`` row of one ``algo.train()`` result."""
    env = result.get("env_runners", {}) or {}
    faults = result.get("fault_tolerance", {}) or {}  # RLlib's EnvRunnerGroup, this process
    learner = (result.get("learners", {}) or {}).get("default_policy", {}) or {}
    steps = int(result.get("num_env_steps_sampled_lifetime", 0) or 0)
    seconds = float(result.get("time_this_iter_s", math.nan))

    def num(d: dict[str, Any], key: str) -> float:
        v = d.get(key)
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    return {
        "iteration": iteration, "env_steps": steps,
        "episodes": int(env.get("num_episodes_lifetime", 0) or 0),
        "episode_return_mean": num(env, "episode_return_mean"),
        "episode_len_mean": num(env, "episode_len_mean"),
        "policy_loss": num(learner, "policy_loss"), "vf_loss": num(learner, "vf_loss"),
        "entropy": num(learner, "entropy"), "mean_kl": num(learner, "mean_kl_loss"),
        "iteration_seconds": seconds, "wall_seconds": wall,
        "env_steps_per_s": (steps - steps_before) / seconds if seconds and seconds > 0 else math.nan,
        "env_runners_healthy": int(faults.get("num_healthy_workers", 0) or 0),
        "env_runner_restarts": int(faults.get("num_remote_worker_restarts", 0) or 0),
    }


def train(s: TrainSettings, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train (or continue) a policy per ``s``; returns a summary with the exported paths.

    Ray must be up (``raybench.ray_utils.init_ray``); it is left running.
    """
    from raybench import results
    from raybench.ray_utils import require_ray

    s.check()
    require_ray()
    os.makedirs(s.out, exist_ok=True)
    found = checkpoints.latest(s.out) if resume else None
    if not resume and (checkpoints.latest(s.out) or os.path.isfile(settings_path(s.out))):
        raise UsageError(f"{s.out} already holds a training run; pass --resume to continue it "
                         f"or choose another --out")
    save_settings(s)
    results.init(s.out, kind="rl_train")
    done_iterations: set[int] = set()
    if resume:
        curves = results.read_table(s.out, CURVES.name)
        if "iteration" in curves:
            done_iterations = {int(i) for i in curves["iteration"]}

    import torch

    # The driver samples (0 env runners) and learns on tiny tensors: torch's default intra-op
    # threads spin against the env runners for the same cores (profiled in BENCHMARKS.md, rl).
    # Ray already gives its remote workers OMP_NUM_THREADS=1.
    torch.set_num_threads(1)

    algo = ppo_config(s).build_algo()
    try:
        iteration, steps = 0, 0
        if found:
            checkpoint, iteration = found
            algo.restore_from_path(checkpoint)
            steps = int(algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0) or 0)
            _say(progress, f"resumed from {checkpoint} (iteration {iteration}, {steps} env steps)")
        else:
            checkpoints.export(algo, s, os.path.join(s.out, "policy_init"), {"iterations": 0, "env_steps": 0})
        budget = s.budget_timesteps
        t0 = time.perf_counter()
        pending: list[dict[str, Any]] = []
        last_return = math.nan
        per_step = s.batch_problems  # optimizee steps per env step
        runners, stalled = (s.env_runners, 0), 0  # (healthy, restarts) as last reported
        while steps * per_step < budget and (s.iterations is None or iteration < s.iterations):
            result = algo.train()
            iteration += 1
            row = _row(result, iteration, time.perf_counter() - t0, steps)
            # With every env runner out of service RLlib's train() returns at once, sampling
            # nothing: without this the loop would spin for ever once none can come back.
            stalled = stalled + 1 if row["env_steps"] == steps and s.env_runners else 0
            if stalled >= STALLED_ITERATIONS:
                raise RuntimeError(
                    f"no env runner sampled in {stalled} PPO iterations ({row['env_runners_healthy']} of "
                    f"{s.env_runners} in service after {row['env_runner_restarts']} restarts): see the env "
                    f"runners' errors above or in the Ray logs; --resume continues from the last checkpoint")
            steps = row["env_steps"]
            last_return = row["episode_return_mean"]
            if iteration not in done_iterations:
                pending.append(row)
            counted = (f"env steps {steps:7d}/{budget}" if per_step == 1 else
                       f"optimizee steps {steps * per_step:8d}/{budget} ({steps} env steps)")
            _say(progress, f"iter {iteration:4d}  {counted}  "
                           f"return {row['episode_return_mean']:8.3f}  "
                           f"{row['env_steps_per_s'] * per_step:7.0f} steps/s  "
                           f"{row['wall_seconds']:6.1f} s" + _runners_note(row, s.env_runners, runners))
            runners = (row["env_runners_healthy"], row["env_runner_restarts"])
            if iteration % s.checkpoint_every == 0:
                # Curves first, then the checkpoint: a crash in between re-runs iterations whose
                # rows exist already, and --resume skips writing those again.
                results.write(s.out, CURVES.name, pending)
                pending = []
                checkpoints.save(algo, s.out, iteration)
        results.write(s.out, CURVES.name, pending)
        if iteration % s.checkpoint_every != 0 or not checkpoints.latest(s.out):
            checkpoints.save(algo, s.out, iteration)
        weights, meta = checkpoints.export(algo, s, os.path.join(s.out, "policy"),
                                           {"iterations": iteration, "env_steps": steps,
                                            "optimizee_steps": steps * per_step,
                                            "final_episode_return_mean": last_return,
                                            "wall_seconds": round(time.perf_counter() - t0, 1)})
        _say(progress, f"exported {weights} (+ {os.path.basename(meta)})")
        return {"iterations": iteration, "env_steps": steps, "policy": weights, "metadata": meta,
                "wall_seconds": time.perf_counter() - t0}
    finally:
        algo.stop()


def _runners_note(row: dict[str, Any], configured: int, before: tuple[int, int]) -> str:
    """``"  env runners 1/2 in service, 0 restarts"`` when either number changed, else ``""``."""
    now = (row["env_runners_healthy"], row["env_runner_restarts"])
    if not configured or now == before:
        return ""
    return f"  env runners {now[0]}/{configured} in service, {now[1]} restarts"


def _say(enabled: bool, line: str) -> None:
    if enabled:
        print(line, file=sys.stderr, flush=True)
