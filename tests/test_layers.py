"""Imports point one way and go round no circle.

Layers: problems <- raybench core <- tuning, rl <- reproduce (and the CLI commands). The
repository's top-level folders install as ``raybench.problems``, ``raybench.tuning``,
``raybench.rl`` and ``raybench.reproduce``; everything else under ``raybench`` is core.

Checked on the source itself (every import statement, function-local and ``if TYPE_CHECKING:``
ones included, and every string that names a module of a higher layer, as importlib would take
it), and on what ``raybench --help`` loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env

FOLDERS = {"raybench": "raybench", "problems": "raybench.problems", "tuning": "raybench.tuning",
           "rl": "raybench.rl", "reproduce": "raybench.reproduce"}
"""Repository folder -> the package it installs as (pyproject's package-dir)."""

LAYERS = ("problems", "tuning", "rl", "reproduce")

LEAVES = {"raybench.registry"}
"""Core modules that import nothing of raybench, so that every layer may use them (the registry
that owns names, for problems and optimizers alike)."""

# layer -> the layers (and outside packages) it must never import
FORBIDDEN = {
    "problems": {"raybench", "tuning", "rl", "reproduce", "ray"},
    "raybench": {"tuning", "rl", "reproduce"},
    "tuning": {"rl", "reproduce"},
    "rl": {"tuning", "reproduce"},
    "reproduce": set(),  # the top layer
}


def layer(module: str) -> str:
    """``raybench.rl.train`` -> ``rl``; ``raybench.spec`` -> ``raybench``; ``ray.tune`` -> ``ray``."""
    parts = module.split(".")
    if parts[0] == "raybench" and len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return parts[0]


def modules() -> dict[str, Path]:
    """Every module of the installed package: dotted name -> source file."""
    out = {}
    for folder, package in FOLDERS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            if folder == "raybench" and rel and rel[0] in LAYERS:
                continue
            name = ".".join((package, *rel))
            out[name.removesuffix(".__init__")] = path
    return out


def imported_names(path: Path, module: str, known: dict[str, Path] | None = None) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path`` (module ``module``): statements anywhere,
    relative ones resolved; ``from A import B`` is an import of ``A.B`` where that is a module
    (of ``known``), else of ``A``; and strings naming a module of a layer above core, as importlib
    would take them. A package's ``__getattr__`` (re-exporting its own submodules lazily) is left
    out."""
    known = modules() if known is None else known
    tree = ast.parse(path.read_text(), filename=str(path))
    exempt: set[int] = set()
    if path.name == "__init__.py":
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                exempt |= {id(n) for n in ast.walk(node)}
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            found += [(node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
                      for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("raybench.") \
                and node.value.replace(".", "").replace("_", "").isalnum() \
                and layer(node.value) in {"tuning", "rl", "reproduce"}:
            found.append((node.lineno, node.value))  # "raybench.tuning.cli" handed to importlib
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer(package: str) -> None:
    bad = []
    known = modules()
    for name, path in known.items():
        if layer(name) != package:
            continue
        for line, imported in imported_names(path, name, known):
            if layer(imported) in FORBIDDEN[package] and imported not in LEAVES:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not bad, "\n".join(bad)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""
    known = modules()
    return {name: {imported for _, imported in imported_names(path, name, known)
                   if imported in known and imported != name}
            for name, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_leaves_import_nothing_of_raybench() -> None:
    known = modules()
    for leaf in LEAVES:
        assert not [n for _, n in imported_names(known[leaf], leaf, known) if n.split(".")[0] == "raybench"]


def test_no_import_circle_between_modules() -> None:
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checkers_see_what_they_must(tmp_path: Path) -> None:
    # a string handed to importlib counts, and so does a function-local or TYPE_CHECKING import
    probe = tmp_path / "probe.py"
    probe.write_text('import importlib\nimportlib.import_module("raybench.tuning.cli")\n'
                     "def f():\n    from raybench import spec\n"
                     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from raybench.rl import env\n")
    names = {n for _, n in imported_names(probe, "raybench.probe")}
    assert {"raybench.tuning.cli", "raybench.spec", "raybench.rl.env"} <= names
    # the circle finder finds a circle of three and ignores a chain
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_help_imports_neither_torch_nor_ray() -> None:
    code = ("import sys\nfrom raybench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'ray', 'pandas', 'pyarrow') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=cli_env(), cwd=ROOT)
    assert "multi-init" in proc.stdout and "rl" in proc.stdout and "reproduce" in proc.stdout  # entry points
    assert "HEAVY []" in proc.stderr, proc.stderr
