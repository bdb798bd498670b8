"""Imports point one way: problems <- raybench core <- tuning, rl <- reproduce (and the CLI commands).

Checked on the source itself (every import statement, and every string that names a module of a
higher layer, as importlib would take it), and on what ``raybench --help`` loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT, cli_env

# package -> the top-level packages it must never import
FORBIDDEN = {
    "problems": {"raybench", "tuning", "rl", "reproduce", "ray"},
    "raybench": {"tuning", "rl", "reproduce"},
    "tuning": {"rl", "reproduce"},
    "rl": {"tuning", "reproduce"},
    "reproduce": set(),  # the top layer
}


def imported_names(path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count(".") >= 1 \
                and node.value.split(".")[0] in {"tuning", "rl", "reproduce"} and node.value.replace(".", "").replace("_", "").isalnum():
            found.append((node.lineno, node.value))  # "tuning.cli" handed to importlib
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, name in imported_names(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_string_import() -> None:
    # the check above must catch the importlib style this project used to have
    probe = ROOT / "raybench" / "_probe_layers.py"
    try:
        probe.write_text('import importlib\nimportlib.import_module("tuning.cli")\n')
        assert (2, "tuning.cli") in imported_names(probe)
    finally:
        probe.unlink()


def test_help_imports_neither_torch_nor_ray() -> None:
    code = ("import sys\nfrom raybench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'ray', 'pandas', 'pyarrow') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=cli_env(), cwd=ROOT)
    assert "multi-init" in proc.stdout and "rl" in proc.stdout and "reproduce" in proc.stdout  # entry points
    assert "HEAVY []" in proc.stderr, proc.stderr
