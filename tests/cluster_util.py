"""A real multi-node Ray cluster on 127.0.0.1 for tests and benchmarks/chaos.py.

The head and each worker node are separate ``ray start --block`` processes, each in its own
session (process group), with its own ``--temp-dir`` and its own ports, so that several
clusters (other tests, other users' Ray) can live on one machine. ``ray stop`` is global (it
kills every Ray on the machine), so it is never used: a node is stopped by killing its process
group and then every process whose command line names its temp folder (raylet, GCS, workers
and agents all carry it).

Ray maps a 127.0.0.1 node address to the machine's routable IP for ``ray start`` (a worker node
cannot join otherwise), so these nodes listen beyond loopback; the token below guards them.
Ray 2.60 turns token authentication on for clusters it starts. The cluster gets a fresh token
through ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN``; a driver (``raybench run --address``)
joins with the same two variables in its environment: ``LocalCluster.env()``.

    with LocalCluster(worker_nodes=1) as cluster:
        subprocess.run(["raybench", "run", ..., "--address", cluster.address], env=cluster.env())
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, never the same one twice in this process (the kernel may
    hand a just-closed port out again, and two components of one node must not share one)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free_range(width: int = 40) -> tuple[int, int]:
    """A block of ports nothing listens on now (for the node's worker processes), below the
    kernel's ephemeral range, where every ``free_port`` comes from: the two never overlap
    (a worker range drawn across it once met a port Ray had been given for an agent)."""
    top = max(10000 + width, _ephemeral_low() - width)
    for _ in range(200):
        start = 10000 + secrets.randbelow(top - 10000)
        ok = True
        for port in range(start, start + width):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return start, start + width - 1
    raise RuntimeError("no free block of ports for Ray workers")


def _process_table() -> dict[int, tuple[int, int, bytes]]:
    """pid -> (parent pid, process group, command line) of every live, non-zombie process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue  # a zombie is dead already; its parent reaps it
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue  # exited while we looked
        table[int(entry)] = (int(fields[1]), int(fields[2]), cmd)
    return table


class Node:
    """One ``ray start --block`` process and everything it spawned."""

    def __init__(self, name: str, temp_dir: Path, args: list[str], env: dict[str, str],
                 log: Path) -> None:
        self.name = name
        self.temp_dir = temp_dir
        self.log = log
        temp_dir.mkdir(parents=True, exist_ok=True)
        lo, hi = _free_range()
        cmd = [RAY, "start", "--block", "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}",
               "--disable-usage-stats", f"--node-manager-port={free_port()}",
               f"--object-manager-port={free_port()}", f"--min-worker-port={lo}",
               f"--max-worker-port={hi}", f"--metrics-export-port={free_port()}",
               f"--dashboard-agent-listen-port={free_port()}",
               f"--dashboard-agent-grpc-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}", *args]
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        # Own session: the node's process tree can be signalled as one group.
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def pids(self) -> list[int]:
        """Every live process of this node: those naming its temp folder or in its process
        group, and all their descendants (Ray workers rename themselves ``ray::...``)."""
        marker = str(self.temp_dir).encode()
        table = _process_table()
        roots = {pid for pid, (_, pgid, cmd) in table.items() if marker in cmd or pgid == self.proc.pid}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        found, stack = set(), list(roots)
        while stack:
            pid = stack.pop()
            if pid not in found:
                found.add(pid)
                stack.extend(children.get(pid, []))
        return sorted(found)

    def task_pids(self, task: str) -> list[int]:
        """Worker processes of this node now executing the Ray task named ``task``."""
        table = _process_table()
        return [pid for pid in self.pids()
                if pid in table and table[pid][2].split(b"\0")[0].strip() == f"ray::{task}".encode()]

    def actor_pids(self, class_name: str, *, idle: bool = False) -> list[int]:
        """Worker processes of this node that hold an actor of class ``class_name``: Ray titles
        them ``ray::CLASS.METHOD`` while one runs (``__init__`` too), ``ray::CLASS`` when idle
        (``idle=True``: only those, so constructed)."""
        table = _process_table()
        title = f"ray::{class_name}".encode()
        found = []
        for pid in self.pids():
            name = table[pid][2].split(b"\0")[0].strip() if pid in table else b""
            if name == title or (not idle and name.startswith(title + b".")):
                found.append(pid)
        return found

    def raylet_pid(self) -> int | None:
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip().startswith("raylet"):
                        return pid
            except OSError:
                continue
        return None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill this node at once (as a machine loss would): its whole process tree."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the node, then SIGKILL whatever is left after ``timeout`` seconds."""
        self.kill(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.poll()  # reap our own child, so it does not linger as a zombie
            if not self.pids():
                break
            time.sleep(0.2)
        self.kill(signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log_file.close()


class LocalCluster:
    """A head node plus ``worker_nodes`` worker nodes on 127.0.0.1; a context manager.

    Where a test asserts where Ray places work, the cluster's resources must decide it, not
    timing: with ``head_cpus=0`` the head runs no task or actor that needs a CPU, so all such
    work lands on the worker nodes.
    """

    def __init__(self, worker_nodes: int = 1, *, head_cpus: int = 1, worker_cpus: int = 1,
                 root: str | os.PathLike | None = None, start_timeout: float = 60.0,
                 dashboard: bool = False) -> None:
        # Short paths: Ray puts unix sockets under the temp folder (108-byte limit).
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="rbc-", dir="/tmp"))
        self._own_root = root is None
        self.token = secrets.token_hex(32)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head_cpus = head_cpus
        self.worker_cpus = worker_cpus
        self.n_workers = worker_nodes
        self.start_timeout = start_timeout
        # The dashboard (and its job API), on 127.0.0.1 only, when asked for: ``ray job submit``.
        self.dashboard_port = free_port() if dashboard else None
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}" if dashboard else None
        self.head: Node | None = None
        self.workers: list[Node] = []

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for any process that joins this cluster (nodes and drivers)."""
        env = dict(os.environ if base is None else base)
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS", None)
        return env

    def start(self) -> LocalCluster:
        try:
            self.head = Node("head", self.root / "h", [
                "--head", f"--port={self.port}", f"--num-cpus={self.head_cpus}", "--num-gpus=0",
                *(["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                   f"--dashboard-port={self.dashboard_port}"] if self.dashboard_port
                  else ["--include-dashboard=false"]),
            ], self.env(), self.root / "head.log")
            self._wait_port(self.port, self.head)
            if self.dashboard_port:
                self._wait_port(self.dashboard_port, self.head)
            for _ in range(self.n_workers):
                self.add_worker()
            self.wait_nodes(1 + self.n_workers)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> Node:
        i = len(self.workers)
        node = Node(f"worker{i}", self.root / f"w{i}", [
            f"--address={self.address}", f"--num-cpus={self.worker_cpus}", "--num-gpus=0",
        ], self.env(), self.root / f"worker{i}.log")
        self.workers.append(node)
        return node

    def _wait_port(self, port: int, node: Node) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RuntimeError(f"ray {node.name} exited: {node.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"ray {node.name} did not listen on {port}: {node.log.read_text()[-2000:]}")

    def alive_nodes(self) -> list[str]:
        """Node ids of the alive nodes, asked from the cluster by a separate driver process."""
        code = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', "
                "log_to_driver=False); print(' '.join(n['NodeID'] for n in ray.nodes() if n['Alive']))")
        out = subprocess.run([sys.executable, "-c", code, self.address], env=self.env(),
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"cannot reach cluster {self.address}: {out.stderr[-2000:]}")
        return out.stdout.split()

    def wait_nodes(self, n: int) -> list[str]:
        deadline = time.monotonic() + self.start_timeout
        nodes: list[str] = []
        while time.monotonic() < deadline:
            nodes = self.alive_nodes()
            if len(nodes) >= n:
                return nodes
            time.sleep(0.5)
        raise TimeoutError(f"cluster {self.address} has {len(nodes)} alive nodes, expected {n}")

    def node_id(self, node: Node) -> str:
        """The Ray node id of ``node`` (its raylet is started with ``--node_id=...``)."""
        pid = node.raylet_pid()
        if pid is not None:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                for arg in f.read().split(b"\0"):
                    if arg.startswith(b"--node_id="):
                        return arg.split(b"=", 1)[1].decode()
        raise LookupError(f"no raylet (so no node id) for {node.name}")

    def stop(self) -> None:
        """Stop every node of this cluster (and only this cluster); remove its folder."""
        try:
            for node in [*self.workers, *([self.head] if self.head else [])]:
                try:
                    node.stop()
                except Exception:  # noqa: BLE001 - keep stopping the others
                    node.kill()
        finally:
            self.workers, self.head = [], None
            if self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
