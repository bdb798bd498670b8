"""Security: what raybench exposes and what a hostile input file can make it do.

- The embedded Ray listens on loopback only (every process it starts, the driver included)
  and runs no dashboard (no web UI, no job API).
- YAML is only ever read with a safe loader (the CLI refusing a ``!!python/object`` suite
  file with exit 2 is tested in test_runner_cli.py).
- A table name cannot make raybench write outside ``--out`` (a hostile suite name is tested
  on the cluster in test_cluster_run.py).
- No shell command is built anywhere (no ``shell=True``, ``os.system``, ``os.popen``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from raybench import results

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, os
import ray
import psutil  # vendored by ray
from raybench.ray_utils import init_ray

init_ray(num_cpus=1)

@ray.remote
def where():
    return os.getpid()

worker_pid = ray.get(where.remote())
ctx = ray.get_runtime_context()
me = psutil.Process()
listening = []
for proc in [me, *me.children(recursive=True)]:
    try:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                listening.append([proc.name(), conn.laddr.ip, conn.laddr.port,
                                  " ".join(proc.cmdline())])
    except psutil.Error:
        pass
# What a dashboard.py listener answers on the job API's path (none should serve it).
import urllib.request
served = {}
for name, ip, port, cmd in listening:
    if "dashboard/dashboard.py" in cmd:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/", timeout=5) as r:
                served[port] = r.read(200).decode("utf-8", "replace")
        except Exception as exc:
            served[port] = f"{type(exc).__name__}: {exc}"
names = []
for proc in me.children(recursive=True):
    try:
        names.append(" ".join(proc.cmdline()))
    except psutil.Error:
        pass
print(json.dumps({"listening": listening, "gcs": ctx.gcs_address, "worker_pid": worker_pid,
                  "nodes": [n["NodeManagerAddress"] for n in ray.nodes()], "cmdlines": names,
                  "served": served}))
ray.shutdown()
"""

_LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.mark.ray
def test_embedded_ray_listens_on_loopback_only_and_has_no_dashboard() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    names = {name.split("::")[0] for name, *_ in info["listening"]}
    # The GCS, the raylet and the workers all serve gRPC: they must have been seen.
    assert {"gcs_server", "raylet"} <= names, info["listening"]
    exposed = [entry for entry in info["listening"] if entry[1] not in _LOOPBACK]
    assert exposed == [], f"listening beyond loopback: {exposed}"
    assert info["gcs"].startswith("127.0.0.1:")
    assert info["nodes"] == ["127.0.0.1"]
    # Ray keeps a head process named dashboard.py even without a dashboard. Without
    # ray[default] it is the minimal one and listens on nothing; with it (the test extras
    # install it) it loads only the usage-stats module, no web UI, and listens on loopback for
    # Prometheus metrics and gRPC. Either way no job API: nothing answers /api/jobs/ but
    # metrics text or a non-HTTP (gRPC) reply.
    heads = [c for c in info["cmdlines"] if "dashboard/dashboard.py" in c]
    assert heads, info["cmdlines"]
    for c in heads:
        assert "--minimal" in c or ("--disable-frontend" in c and "--modules-to-load=UsageStatsHead" in c), c
        assert "JobHead" not in c, c
    for port, answer in info["served"].items():
        assert answer.startswith(("# HELP", "BadStatusLine", "RemoteDisconnected")), \
            f"dashboard.py port {port} answers /api/jobs/ with {answer!r}"


@pytest.mark.parametrize("table", ["../escape", "runs/../../escape", "/tmp/escape", "runs/x", ".."])
def test_table_names_cannot_leave_the_results_folder(tmp_path: Path, table: str) -> None:
    out = tmp_path / "nest" / "out"
    results.init(str(out))
    with pytest.raises(ValueError, match="unknown table"):
        results.write(str(out), table, [{"run_id": "a"}])
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["nest", "out", results.MARKER]


def _shell_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        if func in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
            found.append(func)
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append(f"{func}(shell=...)")
    return found


def test_no_shell_commands_in_the_package() -> None:
    offenders = {}
    files = [p for d in ("raybench", "problems", "tuning", "rl", "reproduce") for p in (ROOT / d).rglob("*.py")]
    assert files
    for path in files:
        calls = _shell_calls(ast.parse(path.read_text(), filename=str(path)))
        if calls:
            offenders[str(path.relative_to(ROOT))] = calls
    assert offenders == {}
    # The checker itself must see a shell call when there is one.
    assert _shell_calls(ast.parse("import subprocess\nsubprocess.run('ls', shell=True)"))


def test_yaml_is_only_read_with_the_safe_loader() -> None:
    """Every yaml.load-family call in the package uses a safe loader (AST, not grep)."""
    unsafe = []
    for d in ("raybench", "problems", "tuning", "rl", "reproduce"):
        for path in (ROOT / d).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    func = ast.unparse(node.func)
                    if func in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load",
                                "yaml.unsafe_load_all", "yaml.full_load_all"):
                        loader = " ".join(ast.unparse(k.value) for k in node.keywords if k.arg == "Loader")
                        if "Safe" not in loader and "BaseLoader" not in loader:
                            unsafe.append(f"{path.relative_to(ROOT)}:{node.lineno} {func}")
    assert unsafe == []
