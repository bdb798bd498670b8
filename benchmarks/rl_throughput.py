"""How fast the autonomous optimizer trains and steps (a benchmark, not a test).

    .venv/bin/python benchmarks/rl_throughput.py                 # everything below
    .venv/bin/python benchmarks/rl_throughput.py --only batched  # today's env vs batched env vs SB3
    .venv/bin/python benchmarks/rl_throughput.py --only ppo      # RLlib PPO, 0/1/2 env runners
    .venv/bin/python benchmarks/rl_throughput.py --only sb3      # Stable-Baselines3 PPO, same env/batches
    .venv/bin/python benchmarks/rl_throughput.py --only full     # the research summary's 90 x 20 x 40
    .venv/bin/python benchmarks/rl_throughput.py --only step --policy policy/policy.safetensors

What it measures:

* ``batched``: optimizee steps per second (one instance's optimizer step; whole PPO
  iterations, sampling + learning, after one warm-up iteration), side by side in one run:
  RLlib PPO on today's ``OptimizationEnv`` (quadratic, dim 10, 2 env runners x 8 envs, 2,000
  env steps per iteration, minibatch 200, 10 epochs: one env step is one optimizee step);
  RLlib PPO on ``BatchedOptimizationEnv`` (``--batch-problems`` B = 64 quadratics per env
  step, 2 env runners x 1 env, ``--batched-train-batch`` 250 env steps = 16,000 optimizee
  steps per iteration, minibatch 25, 10 epochs: one env step is B optimizee steps); and
  Stable-Baselines3 PPO on the same batched env with the same network (the coordinate-wise
  policy, log std and value head of ``rl.module``, wrapped as an SB3 policy), the same
  batch settings, 1 process. Prints each rate and its ratio to today's env; the goal is >= 10x.
* ``ppo``: RLlib PPO environment steps per second (sampling + learning, whole iterations
  after one warm-up iteration) on ``OptimizationEnv(quadratic, dim 10)`` with 0, 1 and 2 env
  runners, 8 envs per runner, 2,000 steps per iteration, minibatch 200, 10 epochs.
* ``sb3``: Stable-Baselines3 PPO (optional ``bench`` extra) on the same env with the same
  batch settings (8 envs x 250 steps = 2,000 per update, minibatch 200, 10 epochs, clip 0.2),
  its default ``MlpPolicy`` over the flattened observation (SB3 has no coordinate-wise policy).
* ``full``: wall time of ``raybench rl train`` at the research summary's budget (90 problems x
  20 passes x 40 steps = 72,000 env steps) with 2 env runners, start-up included.
* ``step``: seconds per training step (closure + optimizer step) of the MNIST CNN
  (``mnist_subset``, batch 64) with Adam and with the autonomous optimizer, and the optimizer
  step alone (target: autonomous <= 5x Adam). Without ``--policy`` it uses a freshly
  initialised policy of the default size (same cost as a trained one).

Figures depend on what else loads the CPUs; the script prints the load average with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ENV_CONFIG = {"family": "quadratic", "dim": 10}


def _load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _rllib_rate(s, iterations: int) -> tuple[float, int, float, float]:
    """RLlib PPO per settings ``s`` on a fresh embedded Ray: (env steps/s, env steps, seconds)
    over ``iterations`` whole iterations after a warm-up one, then the env steps/s of the env
    runners' sampling alone (PPO's own sampling call, as many times, no learning)."""
    import ray
    import torch
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    from raybench.ray_utils import init_ray
    from raybench.rl.train import ppo_config

    torch.set_num_threads(1)
    # A fresh Ray per measurement: the declared CPUs depend on the runners (as `raybench rl train` does).
    init_ray(None, num_cpus=s.local_ray_cpus)
    algo = ppo_config(s).build_algo()
    try:
        algo.train()  # warm-up: actors, first forward passes
        start_steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
        t0 = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        wall = time.perf_counter() - t0
        steps = int(result["num_env_steps_sampled_lifetime"] - start_steps)
        sampled, t0 = 0, time.perf_counter()
        for _ in range(iterations):
            episodes = synchronous_parallel_sample(worker_set=algo.env_runner_group,
                                                   max_agent_steps=algo.config.total_train_batch_size,
                                                   _uses_new_env_runners=True)
            sampled += sum(e.env_steps() for e in episodes)
        return steps / wall, steps, wall, sampled / (time.perf_counter() - t0)
    finally:
        algo.stop()
        ray.shutdown()


def bench_ppo(runners: list[int], iterations: int) -> None:
    from raybench.rl.settings import TrainSettings

    for n in runners:
        rate, steps, wall, _ = _rllib_rate(TrainSettings(env_runners=n, dim=10), iterations)
        print(f"rllib ppo  env_runners={n}: {rate:7.0f} env steps/s "
              f"({steps} steps in {wall:.1f} s; {_load()})", flush=True)


def _sb3_coordinatewise_policy() -> type:
    """``rl.module``'s coordinate-wise network as an SB3 ``ActorCriticPolicy``: the same
    policy means, shared log std and pooled value head, so SB3 and RLlib train one network."""
    from ray.rllib.core.columns import Columns
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    from raybench.rl.module import CoordinatewisePolicyModule

    class Observation(BaseFeaturesExtractor):
        """The observation as it is: the module reads its (P, H, 1 + d) layout itself."""

        def __init__(self, observation_space) -> None:
            super().__init__(observation_space, features_dim=1)

        def forward(self, obs):
            return obs

    class Heads(nn.Module):
        """SB3's ``mlp_extractor``: latent_pi = the Gaussian means, latent_vf = the value."""

        def __init__(self, module: CoordinatewisePolicyModule, n_actions: int) -> None:
            super().__init__()
            self.module, self.latent_dim_pi, self.latent_dim_vf = module, n_actions, 1

        def forward_actor(self, obs):
            return self.module._forward({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS][:, :self.latent_dim_pi]

        def forward_critic(self, obs):
            return self.module.compute_values({Columns.OBS: obs}).unsqueeze(-1)

        def forward(self, obs):
            return self.forward_actor(obs), self.forward_critic(obs)

    class CoordinatewiseSB3Policy(ActorCriticPolicy):
        def __init__(self, *args, **kwargs) -> None:
            kwargs.update(features_extractor_class=Observation, ortho_init=False)
            super().__init__(*args, **kwargs)

        def _build(self, lr_schedule) -> None:
            module = CoordinatewisePolicyModule(observation_space=self.observation_space,
                                                action_space=self.action_space, model_config={})
            self.mlp_extractor = Heads(module, int(self.action_space.shape[0]))
            self.action_net, self.value_net = nn.Identity(), nn.Identity()
            self.log_std = module.log_std  # one log std, broadcast over every coordinate
            self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    return CoordinatewiseSB3Policy


def _sb3_batched_rate(config: dict, train_batch: int, minibatch: int, iterations: int) -> tuple[float, int, float]:
    """SB3 PPO on one ``BatchedOptimizationEnv``: (env steps/s, env steps, seconds)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from raybench.rl.batched_env import BatchedOptimizationEnv

    venv = make_vec_env(BatchedOptimizationEnv, n_envs=1, seed=0, env_kwargs={"config": config})
    model = PPO(_sb3_coordinatewise_policy(), venv, n_steps=train_batch, batch_size=minibatch, n_epochs=10,
                learning_rate=3e-4, clip_range=0.2, gamma=0.99, gae_lambda=0.95, device="cpu", seed=0, verbose=0)
    model.learn(train_batch)  # warm-up, as for RLlib
    steps = train_batch * iterations
    t0 = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    wall = time.perf_counter() - t0
    return steps / wall, steps, wall


def bench_batched(batch: int, train_batch: int, minibatch: int, iterations: int) -> None:
    """Today's env, the batched env (RLlib) and the batched env (SB3), in optimizee steps/s."""
    import torch

    from raybench.rl.settings import TrainSettings

    torch.set_num_threads(1)
    rate, steps, wall, sampling = _rllib_rate(TrainSettings(env_runners=2, dim=10), iterations)
    print(f"today's env, rllib ppo, 2 env runners x 8 envs: {rate:8.0f} optimizee steps/s "
          f"({steps} env steps in {wall:.1f} s); sampling alone {sampling:8.0f}/s ({_load()})", flush=True)
    s = TrainSettings(env_runners=2, dim=10, batch_problems=batch, envs_per_runner=1, train_batch=train_batch,
                      minibatch=minibatch)
    s.check()
    b_rate, b_steps, b_wall, b_sampling = _rllib_rate(s, iterations)
    print(f"batched env (B={batch}), rllib ppo, 2 env runners x 1 env: {b_rate * batch:8.0f} optimizee steps/s = "
          f"{b_rate * batch / rate:.1f}x today's ({b_steps} env steps = {b_steps * batch} optimizee steps in "
          f"{b_wall:.1f} s); sampling alone {b_sampling * batch:8.0f}/s = {b_sampling * batch / sampling:.1f}x "
          f"({_load()})", flush=True)
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        print("sb3: stable-baselines3 not installed (pip install -e '.[bench]'); skipped")
        return
    sb_rate, sb_steps, sb_wall = _sb3_batched_rate(s.env_config(), train_batch, minibatch, iterations)
    print(f"batched env (B={batch}), sb3 ppo, same network, 1 process: {sb_rate * batch:8.0f} optimizee steps/s = "
          f"{sb_rate * batch / rate:.1f}x today's ({sb_steps} env steps in {sb_wall:.1f} s; {_load()})", flush=True)


def bench_sb3(timesteps: int) -> None:
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        print("sb3: stable-baselines3 not installed (pip install -e '.[bench]'); skipped")
        return
    import torch

    from raybench.rl.env import OptimizationEnv

    torch.set_num_threads(1)
    venv = make_vec_env(OptimizationEnv, n_envs=8, seed=0, env_kwargs={"config": ENV_CONFIG})
    model = PPO("MlpPolicy", venv, n_steps=250, batch_size=200, n_epochs=10, learning_rate=3e-4,
                clip_range=0.2, gamma=0.99, gae_lambda=0.95, device="cpu", seed=0, verbose=0)
    model.learn(2000)  # warm-up, as for RLlib
    t0 = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    wall = time.perf_counter() - t0
    print(f"sb3 ppo    1 process, 8 envs: {timesteps / wall:7.0f} env steps/s "
          f"({timesteps} steps in {wall:.1f} s; {_load()})", flush=True)


def bench_full(runners: int) -> None:
    out = tempfile.mkdtemp(prefix="rl_full_")
    cmd = [sys.executable, "-m", "raybench.cli", "rl", "train", "--family", "quadratic", "--num-problems", "90",
           "--passes", "20", "--episode-steps", "40", "--env-runners", str(runners), "--out", out, "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(proc.returncode)
    print(f"full research-summary training (90 x 20 x 40 = 72,000 env steps, {runners} env runners): "
          f"{wall:.0f} s wall, start-up included ({_load()})")
    print(proc.stdout.strip().splitlines()[0])
    shutil.rmtree(out, ignore_errors=True)


def bench_step(policy: str | None, steps: int) -> None:
    import torch

    from raybench import optimizers, problems
    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    torch.set_num_threads(1)
    tmp = None
    if policy is None:
        tmp = tempfile.mkdtemp(prefix="rl_policy_")
        policy, _ = save_policy(CoordinatewisePolicy(), os.path.join(tmp, "p"), update_scale=0.01)
    for name, hp in (("adam", {}), ("autonomous", {"policy": policy, "lr_scale": 0.01})):
        inst = problems.get("mnist_cnn").instance(0, dataset="mnist_subset")
        opt = optimizers.make(name, inst.parameters(), **hp)
        n_params = sum(p.numel() for p in inst.parameters())
        for step in range(3):  # warm-up
            opt.step(inst.closure(inst.batch(step)))
        total = closure_only = 0.0
        for step in range(3, 3 + steps):
            closure = inst.closure(inst.batch(step))
            t0 = time.perf_counter()
            closure()
            t1 = time.perf_counter()
            opt.step(closure)  # closure + update
            t2 = time.perf_counter()
            closure_only += t1 - t0
            total += t2 - t1
        per_step, update = total / steps, (total - closure_only) / steps
        print(f"mnist_cnn ({n_params} params) {name:10s}: {per_step * 1e3:7.1f} ms/step "
              f"(closure + step), optimizer update ~{max(update, 0) * 1e3:6.2f} ms ({_load()})", flush=True)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("batched", "ppo", "sb3", "full", "step"), help="one measurement only")
    ap.add_argument("--batch-problems", type=int, default=64, help="instances per batched env step (default 64)")
    ap.add_argument("--batched-train-batch", type=int, default=250,
                    help="batched env: env steps per PPO iteration (default 250)")
    ap.add_argument("--batched-minibatch", type=int, default=25, help="batched env: SGD minibatch in env steps (25)")
    ap.add_argument("--runners", default="0,1,2", help="env runner counts for ppo (default 0,1,2)")
    ap.add_argument("--iterations", type=int, default=3, help="timed PPO iterations (after one warm-up)")
    ap.add_argument("--policy", help="policy file for the step-time measurement")
    ap.add_argument("--steps", type=int, default=30, help="timed MNIST CNN steps")
    args = ap.parse_args()
    todo = [args.only] if args.only else ["batched", "ppo", "sb3", "full", "step"]
    if "batched" in todo:
        bench_batched(args.batch_problems, args.batched_train_batch, args.batched_minibatch, args.iterations)
    if "ppo" in todo:
        bench_ppo([int(r) for r in args.runners.split(",")], args.iterations)
    if "sb3" in todo:
        bench_sb3(2000 * args.iterations)
    if "full" in todo:
        bench_full(2)
    if "step" in todo:
        bench_step(args.policy, args.steps)


if __name__ == "__main__":
    main()
