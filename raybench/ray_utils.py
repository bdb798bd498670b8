"""The one place raybench starts or joins Ray.

A bare ``ray.init()`` joins whatever cluster this machine last recorded (a dead one too, and
then fails or hangs), so raybench starts its embedded Ray explicitly as a new local instance
(``address="local"``) bound to 127.0.0.1, dashboard off; only an explicit ``--address``
joins an existing cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def init_ray(address: str | None = None, *, num_cpus: int | None = None, num_gpus: int | None = None,
             quiet: bool = True, py_modules: list[str] | None = None, **kwargs: Any) -> Any:
    """Start an embedded local Ray (``address=None``) or join the cluster at ``address``.

    ``py_modules``: local ``.py`` files or package folders Ray ships to every worker (its
    ``runtime_env``), for code that lives only on this machine. Reuses an already-initialised
    Ray in this process. Returns ray's context.
    """
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    # Workers must import raybench/problems/tuning/rl from wherever the driver does.
    path = os.pathsep.join(p for p in (_src_root(), os.environ.get("PYTHONPATH")) if p)
    runtime_env = kwargs.pop("runtime_env", None)
    if py_modules:
        runtime_env = {**(runtime_env or {}), "py_modules": list(py_modules)}
    common = dict(ignore_reinit_error=True, log_to_driver=not quiet,
                  logging_level="ERROR" if quiet else "INFO", **kwargs)
    if address:
        check_address(address)
        runtime_env = {"env_vars": {"PYTHONPATH": path}, **(runtime_env or {})}
        try:
            return ray.init(address=address, runtime_env=runtime_env, **common)
        except ConnectionError as exc:  # after Ray's own 20 s of retries
            from raybench.errors import UsageError

            if "InvalidAuthToken" in str(exc.__cause__):
                raise UsageError(_token_refused(address)) from None
            raise UsageError(f"could not join the Ray cluster at --address {address}: {exc}") from None
    # The embedded Ray's workers are this process's grandchildren and inherit its environment,
    # so the path goes there rather than into a runtime_env: Ray prestarts one worker per CPU
    # with no runtime_env, and a job with one could not use them (it would start new workers,
    # about a second each, at its first task).
    os.environ["PYTHONPATH"] = path
    common["runtime_env"] = runtime_env
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


def start_ray(address: str | None, prepare: Callable[[], T], *, warm_cpus: float | None = None,
              warm_at_most: Callable[[T], int] | None = None, **init_kwargs: Any) -> T:
    """Start or join Ray (``init_ray``) while ``prepare()`` runs, and return what it returns.

    A command's own start (importing torch, building and checking its specs, preparing data)
    and Ray's (a GCS, a raylet and worker processes) take a few seconds each and use
    different processes, so they overlap: ``prepare`` runs in a helper thread while this,
    the main thread, starts Ray. (Ray must be started from the main thread: it ties its
    processes' lives to the thread that started them.) ``warm_cpus``: on the embedded Ray,
    once ``prepare`` succeeded, warm one worker per ``warm_cpus`` CPUs (``warm_workers``) in
    the background (not on the error path: a refused command leaves no task behind);
    ``warm_at_most(prepared)``: how many workers the prepared work can use at most (a suite
    of one run warms one worker, not one per CPU).

    When ``prepare`` raises (a user error in the suite), a Ray this call started is shut down
    again (one that was up already, e.g. a notebook's or a test session's, is left as it was)
    and the error re-raised, so every check still comes before any run; when only Ray's start
    fails, its error is raised once ``prepare`` has finished.
    """
    from concurrent.futures import ThreadPoolExecutor

    import ray

    was_up = ray.is_initialized()
    with ThreadPoolExecutor(1, thread_name_prefix="raybench-prepare") as pool:
        future = pool.submit(prepare)
        try:
            init_ray(address, **init_kwargs)
        except BaseException:
            future.result()  # its error first (the user's input): else Ray's
            raise
        try:
            prepared = future.result()
        except BaseException:
            if not was_up:
                stop_ray()
            raise
    if warm_cpus and address is None:
        warm_workers(warm_cpus, at_most=None if warm_at_most is None else warm_at_most(prepared))
    return prepared


def warm_workers(cpus_per_task: float, *, at_most: int | None = None) -> None:
    """Have each worker that tasks of ``cpus_per_task`` CPUs will use import torch and the
    training code now, in the background, instead of at its first run: one task per slot (at
    most ``at_most``, and 64), not waited for (the runs queue behind them and reuse the same
    worker processes)."""
    import atexit

    import ray

    slots = int(ray.cluster_resources().get("CPU", 0.0) // cpus_per_task)
    n = min(slots, 64, slots if at_most is None else at_most)
    warm = ray.remote(_warm).options(num_cpus=cpus_per_task, max_retries=0)
    if n and not _warming:
        atexit.register(_settle_warming)  # after Ray's own exit hook, so it runs before it
    _warming.extend(warm.remote() for _ in range(n))


_warming: list[Any] = []
"""The warm-up tasks in flight (``warm_workers``)."""


def _settle_warming() -> None:
    """At exit, before Ray shuts down: cancel warm-up tasks still running (a command that had
    nothing to run ends before they do) and collect their outcome, so that Ray does not report
    the workers it kills on the way out as "died unexpectedly"."""
    import ray

    if not _warming or not ray.is_initialized():
        return
    _, running = ray.wait(_warming, num_returns=len(_warming), timeout=0)
    for ref in running:
        ray.cancel(ref, force=True)
    for ref in _warming:
        try:
            ray.get(ref, timeout=5)
        except Exception:  # noqa: BLE001, S110 - cancelled or killed on the way out: expected
            pass
    _warming.clear()


def _warm() -> None:
    """Import what every run imports (torch, the training loop, the problems) and build one
    optimizer (torch imports ``torch._dynamo``, about a second, at the first one)."""
    import torch

    import raybench.train  # noqa: F401
    from raybench import problems  # noqa: F401 - imported for its cost, now

    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def stop_ray() -> None:
    """Shut down this process's Ray now, as a command's last step, rather than in Ray's exit
    hook: that one first sleeps 0.5 s so that worker logs streamed to the driver can print.

    On the embedded Ray the autoscaler monitor is killed first: Ray stops the GCS before it,
    and its SIGTERM handler then tries to report to the stopped GCS until Ray kills it a second
    later. The monitor of a fixed-size local node has nothing to save. Connected to a cluster
    (``--address``) this only disconnects, as ``ray.shutdown`` does."""
    import sys

    if "ray" not in sys.modules:
        return
    import ray

    if not ray.is_initialized():
        return
    _settle_warming()
    _kill_local_monitor()
    ray.shutdown()


def _kill_local_monitor() -> None:
    import contextlib

    # Ray's internals: should they move, nothing is lost (Ray's own shutdown stops the monitor).
    with contextlib.suppress(Exception):
        from ray._private import ray_constants
        from ray._private import worker as ray_worker

        node = ray_worker._global_node
        if node is None or not node.is_head():
            return
        for info in node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []):
            info.process.kill()
            info.process.wait(timeout=5)


PROBE_TIMEOUT_S = 5.0
"""How long a cluster address may take to accept a connection before it counts as absent."""


def check_address(address: str) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) with nothing listening is a one-line
    ``UsageError`` within seconds: ``ray.init`` itself waits for minutes there, printing only
    its own log lines. ``auto`` is left to Ray (it reads the address this machine recorded)."""
    import socket

    from raybench.errors import UsageError

    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address == "auto" or not sep:
        return
    if not port.isdigit() or not host:
        raise UsageError(f"bad --address {address!r}; accepted: HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise UsageError(f"no Ray cluster answers at --address {address} ({reason}); start one "
                         "(ray start --head, ray up cluster.yaml) or leave out --address for an "
                         "embedded local Ray") from None
    if not address.startswith("ray://") and _token_refused_by(target):
        raise UsageError(_token_refused(address))


TOKEN_PROBE_TIMEOUT_S = 3.0
"""How long the token check may wait for a cluster's GCS (an answering one takes milliseconds)."""


def _token_refused_by(gcs_address: str) -> bool:
    """Does the GCS at ``gcs_address`` refuse this process for want of an authentication token?

    Ray 2.60 starts clusters with token authentication on, and a driver joining an explicit
    address sends its token only with ``RAY_AUTH_MODE=token``; without it ``ray.init`` retries for
    20 s, logging a warning a second, before a bare ``ConnectionError``. One connection of Ray's
    own GCS client answers in milliseconds. It runs in a daemon thread: a port that is no GCS keeps
    it waiting, and then ``ray.init`` (whose error ``init_ray`` also reports in one line) decides.
    Ray's client is internal API, so anything unexpected from it means "no answer"."""
    import contextlib
    import threading

    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:
        return False
    refused = threading.Event()

    def probe() -> None:
        with contextlib.suppress(Exception):  # any other answer is ray.init's to report
            try:
                GcsClient(address=gcs_address, cluster_id=None)
            except AuthenticationError:
                refused.set()

    threading.Thread(target=probe, name="raybench-token-probe", daemon=True).start()
    return refused.wait(TOKEN_PROBE_TIMEOUT_S)


def _token_refused(address: str) -> str:
    sent = "a token that is not the cluster's" if os.environ.get("RAY_AUTH_MODE") == "token" else "no token"
    return (f"the Ray cluster at --address {address} uses token authentication and this command sent "
            f"{sent}; accepted: RAY_AUTH_MODE=token with the cluster's token in RAY_AUTH_TOKEN, "
            "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token (where `ray start` on that machine wrote it)")


def ensure_resources(*, cpus: float, gpus: float, embedded: bool, pending_timeout: float,
                     what: str = "run", memory: tuple[str, float] | None = None) -> None:
    """``check_resources``, and on a cluster that cannot meet the request yet, wait up to
    ``pending_timeout`` seconds for its autoscaler before the same one-line ``UsageError``.

    ``memory``: the largest memory one ``what`` asks Ray for, as (what needs it, bytes)
    (``raybench.runner.largest_memory_request``); checked likewise against the nodes' ``memory``
    resource (what Ray lets tasks use: less than a node's physical memory, as it keeps part for
    its object store), since a task asking for more than any node has would wait forever."""
    import time

    from raybench.errors import UsageError

    if not check_resources(cpus=cpus, gpus=gpus, embedded=embedded, what=what):
        deadline = time.monotonic() + pending_timeout
        while not _fits(cpus, gpus):
            if time.monotonic() >= deadline:
                raise UsageError(f"no node with {cpus:g} CPUs and {gpus:g} GPUs for a {what} appeared within "
                                 f"--pending-timeout {pending_timeout:g} s; accepted: a request the cluster can meet")
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
    if memory is None or _largest_memory() >= memory[1]:
        return
    needs, asked = memory
    line = (f"{needs}; the largest node of this Ray cluster lets tasks use {_largest_memory() / 2**30:.1f} GiB "
            f"of memory")
    if embedded:
        raise UsageError(f"{line}: choose smaller options, or a cluster with larger nodes (--address)")
    import sys

    print(f"raybench: warning: {line}; waiting for the autoscaler to add a larger node", file=sys.stderr)
    deadline = time.monotonic() + pending_timeout
    while _largest_memory() < asked:
        if time.monotonic() >= deadline:
            raise UsageError(f"{line}, and no larger node appeared within --pending-timeout "
                             f"{pending_timeout:g} s: choose smaller options")
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))


def _largest_memory() -> float:
    """The largest ``memory`` resource (bytes) of the cluster's live nodes."""
    import ray

    return max((n.get("Resources", {}).get("memory", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)


def _fits(cpus: float, gpus: float) -> bool:
    import ray

    return any(n.get("Resources", {}).get("CPU", 0.0) >= cpus and n.get("Resources", {}).get("GPU", 0.0) >= gpus
               for n in ray.nodes() if n.get("Alive"))


def check_resources(*, cpus: float, gpus: float, embedded: bool, what: str = "run") -> bool:
    """Can the cluster Ray is connected to ever give one ``what`` ``cpus`` CPUs and ``gpus`` GPUs?

    On the embedded Ray (fixed resources) a request it can never meet is a ``UsageError``; on a
    cluster, whose autoscaler may still add nodes, it is a warning and ``False`` is returned (the
    caller then applies its pending timeout). ``True`` when the request fits a node now."""
    import ray

    from raybench.errors import UsageError

    if _fits(cpus, gpus):
        return True
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    largest = max(nodes, key=lambda r: (r.get("GPU", 0.0), r.get("CPU", 0.0)), default={})
    have = f"{largest.get('CPU', 0.0):g} CPUs and {largest.get('GPU', 0.0):g} GPUs"
    line = (f"a {what} asks for {cpus:g} CPUs and {gpus:g} GPUs, but the largest node of this "
            f"Ray cluster has {have}")
    if embedded:
        raise UsageError(f"{line}; accepted here: --gpus-per-{what} 0 and --cpus-per-{what} <= "
                         f"{largest.get('CPU', 0.0):g}, or a cluster that has them (--address)")
    import sys

    print(f"raybench: warning: {line}; waiting for the autoscaler to add such a node", file=sys.stderr)
    return False


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
