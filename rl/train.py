"""Train the coordinate-wise policy with RLlib PPO over parallel env runners; export it.

    raybench rl train --family quadratic --num-problems 90 --passes 20 --episode-steps 40 \\
        --env-runners 2 --out policy/

The research summary's budget is ``num_problems x passes x episode_steps`` environment steps
(90 x 20 x 40 = 72,000); ``--timesteps`` / ``--iterations`` override it. Results in ``OUT``:

    OUT/rl_train.json                  # the settings (what --resume continues)
    OUT/rl_curves/part-*.parquet       # one row per PPO iteration (raybench.results table)
    OUT/checkpoints/iter_NNNNNN/       # RLlib checkpoints (pickles: for --resume only)
    OUT/checkpoints/latest.json        # which checkpoint is the last complete one
    OUT/policy.safetensors + .json     # the exported policy (weights only)
    OUT/policy_init.safetensors + .json  # the same network before training (a baseline)

Ray is started only through ``raybench.ray_utils.init_ray``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from typing import Any

from raybench.errors import UsageError

CURVES_TABLE = "rl_curves"
SETTINGS_FILE = "rl_train.json"


@dataclasses.dataclass
class TrainSettings:
    """``raybench rl train``'s arguments; derived values are properties."""

    family: str = "quadratic"
    """Problem family the policy trains on (quadratic, logistic, robust_regression, mlp)."""
    out: str = "policy"
    """Output folder (checkpoints, curves, exported policy)."""
    num_problems: int = 90
    """Training pool size: instance seeds 1,000,000 + i."""
    passes: int = 20
    """Passes over the training pool (budget = num_problems * passes * episode_steps)."""
    episode_steps: int = 40
    """Optimizer steps per episode."""
    env_runners: int = 2
    """Parallel RLlib env runners (0: sample in the driver)."""
    envs_per_runner: int = 8
    """Environments each env runner steps as one vector (one policy forward pass for all)."""
    dim: int | None = None
    """Problem dimension (problem default when unset)."""
    history: int = 25
    """Steps of [change in objective, gradient] the policy sees."""
    update_scale: float = 0.1
    """Parameter change per unit of action."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden layer widths of the coordinate-wise policy."""
    timesteps: int | None = None
    """Environment steps to train for (overrides the passes budget)."""
    iterations: int | None = None
    """Stop after this many PPO iterations at most."""
    train_batch: int = 2000
    """Environment steps per PPO iteration."""
    minibatch: int = 200
    """SGD minibatch size."""
    epochs: int = 10
    """SGD epochs over each train batch."""
    lr: float = 3e-4
    """Adam learning rate of the PPO learner."""
    clip: float = 0.2
    """PPO clip parameter."""
    seed: int = 0
    """Seeds RLlib (sampling, initial weights)."""
    checkpoint_every: int = 5
    """Iterations between checkpoints (and at the end)."""
    address: str | None = None
    """Ray cluster to join; embedded local Ray when unset."""

    @property
    def budget_timesteps(self) -> int:
        if self.timesteps is not None:
            return int(self.timesteps)
        return int(self.num_problems) * int(self.passes) * int(self.episode_steps)

    def env_config(self) -> dict[str, Any]:
        return {"family": self.family, "dim": self.dim, "history": self.history,
                "episode_steps": self.episode_steps, "update_scale": self.update_scale,
                "pool": "train", "num_problems": self.num_problems}

    def check(self) -> None:
        from rl.env import resolve_config

        try:
            resolve_config(self.env_config())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        positive = {"passes": self.passes, "train_batch": self.train_batch, "minibatch": self.minibatch,
                    "epochs": self.epochs, "envs_per_runner": self.envs_per_runner,
                    "checkpoint_every": self.checkpoint_every}
        for name in ("timesteps", "iterations"):
            if getattr(self, name) is not None:
                positive[name] = getattr(self, name)
        for name, value in positive.items():
            if int(value) < 1:
                raise UsageError(f"bad --{name.replace('_', '-')} {value}; accepted: a positive integer")
        if self.env_runners < 0:
            raise UsageError(f"bad --env-runners {self.env_runners}; accepted: 0 or more")
        if self.minibatch > self.train_batch:
            raise UsageError(f"--minibatch {self.minibatch} exceeds --train-batch {self.train_batch}")
        if not (self.lr > 0 and 0 < self.clip < 1):
            raise UsageError(f"bad --lr {self.lr} / --clip {self.clip}; accepted: lr > 0, 0 < clip < 1")


def ppo_config(s: TrainSettings) -> Any:
    """The RLlib ``PPOConfig`` for ``s`` (new API stack, coordinate-wise RLModule)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from rl.env import OptimizationEnv
    from rl.module import CoordinatewisePolicyModule

    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        # The env clips actions itself; RLlib's default squashing into [-1, 1] would make the
        # module's outputs mean something else than the exported policy's.
        .environment(OptimizationEnv, env_config=s.env_config(), normalize_actions=False, clip_actions=False)
        .env_runners(num_env_runners=s.env_runners, num_envs_per_env_runner=s.envs_per_runner,
                     rollout_fragment_length="auto", num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .training(lr=s.lr, gamma=0.99, lambda_=0.95, clip_param=s.clip, vf_clip_param=10.0,
                  entropy_coeff=0.0, train_batch_size_per_learner=s.train_batch,
                  minibatch_size=s.minibatch, num_epochs=s.epochs)
        .rl_module(rl_module_spec=RLModuleSpec(
            module_class=CoordinatewisePolicyModule,
            model_config={"history": s.history, "hidden": list(s.hidden)}))
        .debugging(seed=s.seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=50)
    )


# -- checkpoints -----------------------------------------------------------------------------
def _latest_checkpoint(out: str) -> str | None:
    pointer = os.path.join(out, "checkpoints", "latest.json")
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as f:
        path = os.path.join(out, "checkpoints", json.load(f)["checkpoint"])
    return path if os.path.isdir(path) else None


def _save_checkpoint(algo: Any, out: str, iteration: int) -> str:
    """Save to a new folder, then repoint ``latest.json``, then drop older checkpoints."""
    root = os.path.join(out, "checkpoints")
    name = f"iter_{iteration:06d}"
    path = os.path.join(root, name)
    if os.path.isdir(path):
        shutil.rmtree(path)
    algo.save_to_path(path)
    tmp = os.path.join(root, ".latest.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"checkpoint": name, "iteration": iteration}, f)
    os.replace(tmp, os.path.join(root, "latest.json"))
    for other in os.listdir(root):
        if other.startswith("iter_") and other != name:
            shutil.rmtree(os.path.join(root, other), ignore_errors=True)
    return path


# -- export ----------------------------------------------------------------------------------
def policy_of(algo: Any) -> Any:
    """A ``CoordinatewisePolicy`` holding the learner's current policy weights."""
    import torch

    from raybench.optimizers.autonomous import CoordinatewisePolicy

    weights = algo.learner_group.get_weights()["default_policy"]
    cfg = algo.config.rl_module_spec.model_config
    policy = CoordinatewisePolicy(cfg["history"], cfg["hidden"])
    state = {k[len("policy."):]: torch.as_tensor(v) for k, v in weights.items() if k.startswith("policy.")}
    policy.load_state_dict(state)
    return policy


def _info(s: TrainSettings, extra: dict[str, Any]) -> dict[str, Any]:
    """Training facts recorded in the policy's metadata."""
    info = {"family": s.family, "dim": s.dim, "num_problems": s.num_problems, "passes": s.passes,
            "episode_steps": s.episode_steps, "env_runners": s.env_runners, "seed": s.seed,
            "train_batch": s.train_batch, "lr": s.lr, "clip": s.clip, **extra}
    info.update(_versions())
    return info


def export(algo: Any, s: TrainSettings, path: str, extra: dict[str, Any] | None = None) -> tuple[str, str]:
    """Write the learner's policy as ``path`` (.safetensors + .json)."""
    from raybench.optimizers.autonomous import save_policy

    return save_policy(policy_of(algo), path, update_scale=s.update_scale, info=_info(s, extra or {}))


def _versions() -> dict[str, Any]:
    import ray
    import torch

    from raybench.provenance import provenance

    prov = provenance("cpu")
    return {"torch_version": torch.__version__, "ray_version": ray.__version__,
            "git_commit": prov.get("git_commit"), "raybench_version": prov.get("raybench_version")}


# -- training --------------------------------------------------------------------------------
def _settings_path(out: str) -> str:
    return os.path.join(out, SETTINGS_FILE)


def load_settings(out: str) -> TrainSettings:
    path = _settings_path(out)
    if not os.path.isfile(path):
        raise UsageError(f"--resume: {path} not found; nothing to resume in {out}")
    with open(path) as f:
        data = json.load(f)
    data["hidden"] = tuple(data.get("hidden", (32, 32)))
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in data.items() if k in known})


def _row(result: dict[str, Any], iteration: int, wall: float, steps_before: int) -> dict[str, Any]:
    env = result.get("env_runners", {}) or {}
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
    }


def train(s: TrainSettings, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train (or continue) a policy per ``s``; returns a summary with the exported paths."""
    from raybench import results
    from raybench.ray_utils import init_ray

    s.check()
    os.makedirs(s.out, exist_ok=True)
    checkpoint = _latest_checkpoint(s.out) if resume else None
    if not resume and (_latest_checkpoint(s.out) or os.path.isfile(_settings_path(s.out))):
        raise UsageError(f"{s.out} already holds a training run; pass --resume to continue it "
                         f"or choose another --out")
    # Written whole then renamed, like every other file raybench writes.
    tmp = _settings_path(s.out) + ".tmp"
    with open(tmp, "w") as f:
        json.dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(s).items()},
                  f, indent=1)
    os.replace(tmp, _settings_path(s.out))
    results.init(s.out, kind="rl_train")
    done_iterations: set[int] = set()
    if resume:
        curves = results.read_table(s.out, CURVES_TABLE)
        if "iteration" in curves:
            done_iterations = {int(i) for i in curves["iteration"]}

    init_ray(s.address, num_cpus=None if s.address else max(1, s.env_runners) + 1)
    import ray
    import torch

    # The driver samples (0 env runners) and learns on tiny tensors: torch's default intra-op
    # threads spin against the env runners for the same cores and made it ~15x slower here.
    # Ray already gives its remote workers OMP_NUM_THREADS=1.
    torch.set_num_threads(1)

    algo = ppo_config(s).build_algo()
    try:
        iteration, steps = 0, 0
        if checkpoint:
            algo.restore_from_path(checkpoint)
            with open(os.path.join(s.out, "checkpoints", "latest.json")) as f:
                iteration = int(json.load(f)["iteration"])
            steps = int(algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0) or 0)
            _say(progress, f"resumed from {checkpoint} (iteration {iteration}, {steps} env steps)")
        else:
            export(algo, s, os.path.join(s.out, "policy_init"), {"iterations": 0, "env_steps": 0})
        budget = s.budget_timesteps
        t0 = time.perf_counter()
        pending: list[dict[str, Any]] = []
        last_return = math.nan
        while steps < budget and (s.iterations is None or iteration < s.iterations):
            result = algo.train()
            iteration += 1
            row = _row(result, iteration, time.perf_counter() - t0, steps)
            steps = row["env_steps"]
            last_return = row["episode_return_mean"]
            if iteration not in done_iterations:
                pending.append(row)
            _say(progress, f"iter {iteration:4d}  env steps {steps:7d}/{budget}  "
                           f"return {row['episode_return_mean']:8.3f}  {row['env_steps_per_s']:7.0f} steps/s  "
                           f"{row['wall_seconds']:6.1f} s")
            if iteration % s.checkpoint_every == 0:
                # Curves first, then the checkpoint: a crash in between re-runs iterations whose
                # rows exist already, and --resume skips writing those again.
                results.write(s.out, CURVES_TABLE, pending)
                pending = []
                _save_checkpoint(algo, s.out, iteration)
        results.write(s.out, CURVES_TABLE, pending)
        if iteration % s.checkpoint_every != 0 or not _latest_checkpoint(s.out):
            _save_checkpoint(algo, s.out, iteration)
        weights, meta = export(algo, s, os.path.join(s.out, "policy"),
                               {"iterations": iteration, "env_steps": steps,
                                "final_episode_return_mean": last_return})
        _say(progress, f"exported {weights} (+ {os.path.basename(meta)})")
        return {"iterations": iteration, "env_steps": steps, "policy": weights, "metadata": meta,
                "wall_seconds": time.perf_counter() - t0}
    finally:
        algo.stop()
        ray.shutdown()


def export_checkpoint(out: str, path: str) -> tuple[str, str]:
    """Export the policy of ``out``'s last checkpoint to ``path`` (``raybench rl export``).

    Reads only the learner's module from the checkpoint (RLlib's own format: a pickle this
    tool wrote itself), so it needs neither Ray nor the environment.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    from raybench.optimizers.autonomous import save_policy

    s = load_settings(out)
    checkpoint = _latest_checkpoint(out)
    if checkpoint is None:
        raise UsageError(f"no checkpoint in {out}/checkpoints; train first (raybench rl train)")
    with open(os.path.join(out, "checkpoints", "latest.json")) as f:
        iteration = int(json.load(f)["iteration"])
    module = RLModule.from_checkpoint(
        os.path.join(checkpoint, "learner_group", "learner", "rl_module", "default_policy"))
    info = _info(s, {"iterations": iteration, "checkpoint": os.path.abspath(checkpoint)})
    return save_policy(module.policy, path, update_scale=s.update_scale, info=info)


def _say(enabled: bool, line: str) -> None:
    if enabled:
        print(line, file=sys.stderr, flush=True)
