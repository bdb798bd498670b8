"""The one place raybench starts or joins Ray.

A bare ``ray.init()`` joins whatever cluster this machine last recorded (a dead one too, and
then fails or hangs), so raybench starts its embedded Ray explicitly as a new local instance
(``address="local"``) bound to 127.0.0.1, dashboard off; only an explicit ``--address``
joins an existing cluster.
"""

from __future__ import annotations

import os
from typing import Any


def init_ray(address: str | None = None, *, num_cpus: int | None = None, num_gpus: int | None = None,
             quiet: bool = True, **kwargs: Any) -> Any:
    """Start an embedded local Ray (``address=None``) or join the cluster at ``address``.

    Reuses an already-initialised Ray in this process. Returns ray's context.
    """
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    # Workers must import raybench/problems/tuning/rl from wherever the driver does.
    env = {"PYTHONPATH": os.pathsep.join(p for p in (_src_root(), os.environ.get("PYTHONPATH")) if p)}
    runtime_env = kwargs.pop("runtime_env", None) or {"env_vars": env}
    common = dict(ignore_reinit_error=True, log_to_driver=not quiet, runtime_env=runtime_env,
                  logging_level="ERROR" if quiet else "INFO", **kwargs)
    if address:
        return ray.init(address=address, **common)
    from ray._private import ray_constants

    # Ray swaps a loopback node IP for the machine's routable one (so that other nodes could
    # join), and then its GCS, raylet and worker gRPC servers listen on every interface. With
    # its cluster mode off, as on macOS and Windows, the node IP stays 127.0.0.1 and every
    # server binds loopback only. Only for this call: a later --address join is unaffected.
    cluster_mode = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        return ray.init(
            address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
            _node_ip_address="127.0.0.1", **common,
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_mode


def require_ray() -> None:
    """Library code assumes Ray is up (the command starts or joins it once): say so if not.

    A bare ``ray.init()`` here would join whatever cluster the machine last recorded."""
    import ray

    if not ray.is_initialized():
        from raybench.errors import UsageError

        raise UsageError("Ray is not running in this process: start or join it once first with "
                         "raybench.ray_utils.init_ray(address=None | 'HOST:PORT')")


def _src_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
