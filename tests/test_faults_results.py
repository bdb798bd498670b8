"""Faults in a results folder: corrupt or truncated parts, other schema versions, crashed writers.

A results folder is the only state raybench keeps, so every fault in it must be loud and
name the file (never a silent skip that would lose runs), and a writer killed at any moment
must leave only whole files behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raybench import results
from raybench.results import ResultsError
from tests.conftest import cli


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"run_id": f"r{i}", "problem": "quadratic", "optimizer": "sgd", "seed": i,
             "status": "ok", "final_val_loss": 0.5 / (i + 1)} for i in range(start, start + n)]


def _parts(folder: Path, table: str = "runs") -> list[Path]:
    return sorted((folder / table).glob("part-*.parquet"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "res"
    results.init(str(out))
    results.write(str(out), "runs", _rows(3))
    results.write(str(out), "runs", _rows(3, start=3))
    return out


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not parquet at all" * 10)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty], ids=["truncated", "garbage", "empty"])
def test_corrupt_part_is_named_when_reading_and_resuming(folder: Path, damage) -> None:
    assert len(results.read_table(str(folder), "runs")) == 6
    bad = _parts(folder)[1]
    damage(bad)
    for reader in (lambda: results.read(str(folder)), lambda: results.finished_run_ids(str(folder))):
        with pytest.raises(ResultsError) as err:
            reader()
        assert str(bad) in str(err.value)
        assert "\n" not in str(err.value)


def test_cli_resume_on_corrupt_folder_exits_2_naming_the_file(folder: Path) -> None:
    bad = _parts(folder)[0]
    _truncate(bad)
    # --check: every check a run makes before Ray starts (the folder read among them), in process
    proc = cli("run", "--problems", "quadratic", "--optimizers", "sgd", "--seeds", "1",
               "--steps", "5", "--out", str(folder), "--resume", "--no-progress", "--check")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("raybench: error:") and str(bad) in lines[-1]
    assert "Traceback" not in proc.stderr
    assert bad.read_bytes(), "the damaged file must be left for the user, not deleted"


@pytest.mark.parametrize(("delta", "action"), [(1, "upgrade raybench"), (-1, "write to a new folder")],
                         ids=["newer", "older"])
def test_another_schema_version_is_refused(folder: Path, delta: int, action: str) -> None:
    # One folder layout is read: no release wrote another, so nothing older is converted.
    marker = folder / results.MARKER
    meta = json.loads(marker.read_text())
    meta["schema_version"] = results.SCHEMA_VERSION + delta
    marker.write_text(json.dumps(meta))
    for act in (lambda: results.read(str(folder)), lambda: results.init(str(folder)),
                lambda: results.finished_run_ids(str(folder))):
        with pytest.raises(ResultsError, match=rf"schema version {results.SCHEMA_VERSION + delta}; .*"
                                               rf"reads version {results.SCHEMA_VERSION} only: {action}$"):
            act()


def test_a_part_of_another_table_version_is_refused_naming_it(folder: Path) -> None:
    import pyarrow.parquet as pq

    from raybench import schema

    runs = schema.get("runs")
    old = schema.TableSchema("runs", runs.version - 1, runs.fields[:5])
    part = folder / "runs" / "part-00000000000000000000-old.parquet"
    pq.write_table(old.schema().empty_table(), part)
    for reader in (lambda: results.read(str(folder)), lambda: results.finished_run_ids(str(folder))):
        with pytest.raises(ResultsError) as err:
            reader()
        assert str(err.value) == (f"results file {part} holds runs table version {runs.version - 1}; this "
                                  f"raybench reads version {runs.version} only: write to a new folder")


def test_unreadable_marker_is_named(folder: Path) -> None:
    (folder / results.MARKER).write_text("{not json")
    with pytest.raises(ResultsError, match="raybench.json"):
        results.read(str(folder))


def test_parts_are_only_added_and_no_temporaries_remain(folder: Path) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in _parts(folder)}
    for k in range(3):
        results.write_runs(str(folder), _rows(2, start=10 + 2 * k),
                           [{"run_id": f"r{10 + 2 * k}", "step": 1, "train_loss": 1.0}])
    after = _parts(folder)
    assert set(before) <= set(after) and len(after) == len(before) + 3
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime
    leftovers = [p for p in folder.rglob("*") if p.name.startswith(".tmp")]
    assert leftovers == []
    runs = results.read_table(str(folder), "runs")
    assert sorted(runs["run_id"]) == sorted(f"r{i}" for i in [*range(6), *range(10, 16)])


_WRITER = """
import sys
from raybench import results
out = sys.argv[1]
results.init(out)
i = 0
while True:  # big parts, so that a kill often lands in the middle of one
    rows = [{"run_id": f"w{i}-{j}", "problem": "quadratic", "optimizer": "sgd", "seed": j,
             "status": "ok", "final_val_loss": float(j), "error": "x" * 2000} for j in range(400)]
    results.write(out, "runs", rows)
    i += 1
    print(i, flush=True)
"""


def test_writer_killed_mid_write_leaves_only_whole_parts(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # let it write a few parts, then kill it wherever it is
            assert proc.stdout.readline(), "writer died before writing"
        time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    runs = results.read_table(str(out), "runs")  # no ResultsError: every visible part is whole
    n_parts = len(_parts(out))
    assert n_parts >= 3
    assert len(runs) == 400 * n_parts and runs["run_id"].is_unique
    # A temporary left by the kill is invisible to readers and to resume.
    (out / "runs" / ".tmp-deadbeef-part-x.parquet").write_bytes(b"half a file")
    assert len(results.read_table(str(out), "runs")) == 400 * n_parts


def test_orphan_curve_rows_are_dropped_and_a_crash_mid_rewrite_cannot_duplicate(tmp_path) -> None:
    """Curves of a run without a run row (crash between the two writes) go before --resume.

    The state a crash inside ``drop_orphan_curves`` itself leaves (its rewritten part written,
    the old part not yet removed) must also end with every point exactly once.
    """
    from raybench import results

    folder = str(tmp_path)
    results.init(folder)
    points = [{"run_id": "a", "step": 0, "val_loss": 1.0}, {"run_id": "a", "step": 1, "val_loss": 0.5}]
    results.write(folder, "curves", [*points, {"run_id": "orphan", "step": 0, "val_loss": 2.0}])
    results.write(folder, "runs", [{"run_id": "a", "status": "ok"}])
    results.write(folder, "curves", points)  # the rewritten part of an interrupted earlier drop
    assert results.drop_orphan_curves(folder) == 3
    curves = results.read_table(folder, "curves").sort_values("step")
    assert list(curves["run_id"]) == ["a", "a"] and list(curves["step"]) == [0, 1]
    assert results.drop_orphan_curves(folder) == 0
