"""Shared test helpers: the real CLI as a subprocess, and waiting on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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


def wait_for(predicate, timeout: float, proc: subprocess.Popen, what: str, log: Path | None = None):
    """Poll ``predicate`` until truthy (returned), failing if ``proc`` exits first or on timeout.

    ``log``: the file ``proc``'s stderr goes to (else it is a pipe), quoted in the failure."""
    def tail() -> str:
        return log.read_text()[-3000:] if log is not None else proc.communicate()[1][-3000:]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) before {what}: {tail()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {tail() if log is not None else ''}")
