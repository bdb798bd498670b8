"""How fast the autonomous optimizer trains and steps (a benchmark, not a test).

    .venv/bin/python benchmarks/rl_throughput.py                 # everything below
    .venv/bin/python benchmarks/rl_throughput.py --only ppo      # RLlib PPO, 0/1/2 env runners
    .venv/bin/python benchmarks/rl_throughput.py --only sb3      # Stable-Baselines3 PPO, same env/batches
    .venv/bin/python benchmarks/rl_throughput.py --only full     # the research summary's 90 x 20 x 40
    .venv/bin/python benchmarks/rl_throughput.py --only step --policy policy/policy.safetensors

What it measures:

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


def bench_ppo(runners: list[int], iterations: int) -> None:
    import ray
    import torch

    from raybench.ray_utils import init_ray
    from rl.settings import TrainSettings
    from rl.train import ppo_config

    torch.set_num_threads(1)
    for n in runners:
        s = TrainSettings(env_runners=n, dim=10)
        # A fresh Ray per runner count: the declared CPUs depend on it (as `raybench rl train` does).
        init_ray(None, num_cpus=s.local_ray_cpus)
        algo = ppo_config(s).build_algo()
        try:
            algo.train()  # warm-up: actors, first forward passes
            start_steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
            t0 = time.perf_counter()
            for _ in range(iterations):
                result = algo.train()
            wall = time.perf_counter() - t0
            steps = result["num_env_steps_sampled_lifetime"] - start_steps
            print(f"rllib ppo  env_runners={n}: {steps / wall:7.0f} env steps/s "
                  f"({steps} steps in {wall:.1f} s; {_load()})", flush=True)
        finally:
            algo.stop()
            ray.shutdown()


def bench_sb3(timesteps: int) -> None:
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        print("sb3: stable-baselines3 not installed (pip install -e '.[bench]'); skipped")
        return
    import torch

    from rl.env import OptimizationEnv

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

    import problems
    from raybench import optimizers
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
    ap.add_argument("--only", choices=("ppo", "sb3", "full", "step"), help="one measurement only")
    ap.add_argument("--runners", default="0,1,2", help="env runner counts for ppo (default 0,1,2)")
    ap.add_argument("--iterations", type=int, default=3, help="timed PPO iterations (2,000 steps each)")
    ap.add_argument("--policy", help="policy file for the step-time measurement")
    ap.add_argument("--steps", type=int, default=30, help="timed MNIST CNN steps")
    args = ap.parse_args()
    todo = [args.only] if args.only else ["ppo", "sb3", "full", "step"]
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
