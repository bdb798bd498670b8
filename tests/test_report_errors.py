"""``raybench report``'s answers to a user's mistakes: exit 2 and one line, never a traceback
or a report that reads a typo as a result."""

from __future__ import annotations

from pathlib import Path

import pytest

from raybench import results, runner
from raybench.spec import RunSpec
from tests.conftest import cli, ok


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A results folder of real quadratic runs (adam and sgd, 2 seeds, 20 steps; no Ray)."""
    out = str(tmp_path_factory.mktemp("report_errors") / "r")
    results.init(out)
    for optimizer in ("adam", "sgd"):
        for seed in range(2):
            row, curve = runner.execute(RunSpec.build("quadratic", optimizer, seed, steps=20), "cpu")
            results.write_runs(out, [row], curve)
    return out


def one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raybench: error:"), proc.stderr
    return lines[0]


def test_unknown_baseline_names_the_optimizers_held(folder: str, tmp_path: Path) -> None:
    line = one_line_error(cli("report", folder, "--baseline", "nosuch", "--no-plots", "--report-dir", str(tmp_path)))
    assert "--baseline nosuch" in line and "adam, sgd" in line
    assert not (tmp_path / "report.md").exists()
    assert "speed vs sgd" in ok(cli("report", folder, "--baseline", "sgd", "--no-plots",
                                    "--report-dir", str(tmp_path))).stdout


def test_unwritable_report_dir(folder: str, tmp_path: Path) -> None:
    line = one_line_error(cli("report", folder, "--no-plots", "--report-dir", "/proc/x"))
    assert "/proc/x cannot be written" in line
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        probe = locked / "probe"
        try:
            probe.touch()
        except PermissionError:
            line = one_line_error(cli("report", folder, "--no-plots", "--report-dir", str(locked)))
            assert str(locked) in line
        # else: run as root, who writes anywhere; /proc/x above is the unwritable folder
    finally:
        locked.chmod(0o700)
