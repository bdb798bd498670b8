"""What ``pip install raybench`` puts into site-packages: only ``raybench``.

The repository's folders ``problems/``, ``tuning/``, ``rl/`` and ``reproduce/`` install as
``raybench.problems`` and so on (pyproject's package-dir), because the top-level names
``problems``, ``rl``, ``tuning`` and ``reproduce`` belong to other PyPI distributions (``rl`` is
GNU Readline bindings) and a second owner of a name breaks whichever installs first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_a_wheel_puts_only_raybench_at_the_top_of_site_packages(tmp_path: Path) -> None:
    # Built from a copy of the tracked files: a build writes build/ and *.egg-info beside its
    # sources, and no test writes into the source tree.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    src = tmp_path / "src"
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("raybench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"raybench"}, top
    for package in ("problems", "tuning", "rl", "reproduce"):
        assert f"raybench/{package}/__init__.py" in names, package
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "multi-init = raybench.tuning.cli" in text and "rl = raybench.rl.cli" in text
