"""Where and with what a run was computed: package versions, git commit, device, host, node."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from pathlib import Path
from typing import Any


@functools.cache
def _static() -> dict[str, Any]:
    import torch

    from raybench import __version__

    try:
        import ray

        ray_version = ray.__version__
    except ImportError:  # pragma: no cover - ray is a dependency, but the core loop runs without it
        ray_version = None
    return {
        "raybench_version": __version__,
        "torch_version": torch.__version__,
        "ray_version": ray_version,
        "git_commit": git_commit(),
        "host": socket.gethostname(),
    }


@functools.cache
def git_commit() -> str | None:
    """The source tree's commit (``RAYBENCH_GIT_COMMIT`` wins, for installed copies on clusters)."""
    if os.environ.get("RAYBENCH_GIT_COMMIT"):
        return os.environ["RAYBENCH_GIT_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def node_id() -> str | None:
    """The Ray node this process runs on, when inside Ray."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - provenance must never fail a run
        return None
    return None


def provenance(device: str) -> dict[str, Any]:
    return {**_static(), "device": device, "node_id": node_id()}
