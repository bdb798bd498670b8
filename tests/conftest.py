"""Shared test helpers: the real CLI as a subprocess, and one embedded Ray per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# In-process training shares 2 cores with Ray workers and CLI subprocesses: one torch thread
# each avoids oversubscription (measured ~5x slower MLP runs with 2 threads under load).
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("RAY_DEDUP_LOGS", "0")
    env.update(extra)
    return env


def raybench(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
             check: bool = False) -> subprocess.CompletedProcess:
    """Run ``raybench ARGS`` (the installed console entry point's module) and capture output."""
    proc = subprocess.run([sys.executable, "-m", "raybench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or cli_env(), cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"raybench {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray for every in-process test that needs it (started for real, 2 CPUs)."""
    import ray

    from raybench.ray_utils import init_ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()
