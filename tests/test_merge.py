"""``raybench merge``: folders of real runs (``runner.execute`` in process, written with
``results.write_runs``; no Ray) merged into one that reports as the folder holding all runs
would; a run in several inputs kept once with its curve once; copies that differ refused or
chosen by ``--prefer``; mixed versions, derived tables, bad inputs and ``file://`` URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raybench import lr_search, report, results, runner, schema
from raybench.spec import RunSpec
from tests.conftest import cli, ok

OPTIMIZERS, SEEDS = ("adam", "sgd"), range(3)


@pytest.fixture(scope="module")
def done() -> dict[str, tuple[dict, list[dict]]]:
    """Real quadratic runs (20 steps), by run id: (run row, curve rows)."""
    out = {}
    for optimizer in OPTIMIZERS:
        for seed in SEEDS:
            row, curve = runner.execute(RunSpec.build("quadratic", optimizer, seed, steps=20), "cpu")
            out[row["run_id"]] = (row, curve)
    return out


def folder(path: Path, runs: list[tuple[dict, list[dict]]], only: int | None = None, **changes) -> str:
    """A results folder holding ``runs`` (the run rows of seed ``only``, or all, updated with ``changes``)."""
    results.init(str(path))
    rows = [{**row, **changes} if only is None or row["seed"] == only else row for row, _ in runs]
    results.write_runs(str(path), rows, [c for _, curve in runs for c in curve])
    return str(path)


def split(done, tmp_path: Path) -> tuple[str, str, str]:
    """Folders a (seeds 0, 1) and b (seeds 1, 2; seed 1 in both, on another host and start time)
    and one folder holding every run."""
    items = list(done.values())
    a = folder(tmp_path / "a", [r for r in items if r[0]["seed"] in (0, 1)])
    b = folder(tmp_path / "b", [r for r in items if r[0]["seed"] in (1, 2)], only=1,
               host="other-machine", started_at="2030-01-01T00:00:00", wall_seconds=99.0, node_id="n2")
    whole = folder(tmp_path / "whole", items)
    return a, b, whole


def comparable(folder: str) -> pd.DataFrame:
    runs, curves = results.read(folder)
    return report.build(runs, curves, baseline="adam", n_boot=200).table


def test_merge_reports_as_one_folder_of_all_runs(done, tmp_path: Path) -> None:
    a, b, whole = split(done, tmp_path)
    out = str(tmp_path / "merged")
    proc = ok(cli("merge", out, a, b))
    assert "6 runs (2 copies in more than one input kept once)" in proc.stdout
    runs, curves = results.read(out)
    assert sorted(runs["run_id"]) == sorted(done)
    assert not curves.duplicated(["run_id", "step"]).any()
    assert len(curves) == sum(len(c) for _, c in done.values())
    # seed 1's copy comes from the first input, with its curve
    assert set(runs[runs["seed"] == 1]["host"]) == {done[next(iter(done))][0]["host"]}
    pd.testing.assert_frame_equal(comparable(out), comparable(whole))
    for f in (out, whole):
        assert "speed vs adam" in ok(cli("report", f, "--no-plots")).stdout
    pd.testing.assert_frame_equal(pd.read_csv(Path(out) / "report.csv"), pd.read_csv(Path(whole) / "report.csv"))


def test_file_uris(done, tmp_path: Path) -> None:
    a, b, whole = split(done, tmp_path)
    out = tmp_path / "merged"
    ok(cli("merge", f"file://{out}", f"file://{a}", f"file://{b}"))
    assert json.loads((out / results.MARKER).read_text())["schema_version"] == results.SCHEMA_VERSION
    pd.testing.assert_frame_equal(comparable(str(out)), comparable(whole))
    assert not (out / results.LOCK).exists()  # held while writing, released after


def test_differing_copies_refused_or_preferred(done, tmp_path: Path) -> None:
    items = list(done.values())
    a = folder(tmp_path / "a", items[:2])
    b = folder(tmp_path / "b", items[1:3], final_val_loss=123.0)
    proc = cli("merge", str(tmp_path / "m"), a, b)
    run_id = items[1][0]["run_id"]
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert run_id in proc.stderr and "final_val_loss" in proc.stderr and "--prefer" in proc.stderr
    assert not (tmp_path / "m" / "runs").exists()
    for prefer, loss in (("first", items[1][0]["final_val_loss"]), ("last", 123.0)):
        out = tmp_path / f"m_{prefer}"
        proc = ok(cli("merge", str(out), a, b, "--prefer", prefer))
        assert f"kept the {prefer} input's copy" in proc.stderr
        runs = results.read_table(str(out), "runs").set_index("run_id")
        assert runs.loc[run_id, "final_val_loss"] == loss and len(runs) == 3


def test_code_identity_compared_where_both_record_it(done, tmp_path: Path) -> None:
    items = list(done.values())[:2]
    a = folder(tmp_path / "a", items, git_commit="aaaa")
    b = folder(tmp_path / "b", items, git_commit=None)
    c = folder(tmp_path / "c", items, git_commit="cccc")
    ok(cli("merge", str(tmp_path / "ab"), a, b))  # b does not know its commit: no conflict
    proc = cli("merge", str(tmp_path / "ac"), a, c)
    assert proc.returncode == 2 and "git_commit (aaaa vs cccc)" in proc.stderr
    # Same commit, other source (an edited checkout): raybench's source hash tells them apart.
    d = folder(tmp_path / "d", items, git_commit="aaaa", source_hash="0" * 16)
    proc = cli("merge", str(tmp_path / "ad"), a, d)
    assert proc.returncode == 2 and f"source_hash ({items[0][0]['source_hash']} vs {'0' * 16})" in proc.stderr


def test_other_tables_merged_and_derived_left_out(done, tmp_path: Path) -> None:
    items = list(done.values())
    a, b = folder(tmp_path / "a", items[:3]), folder(tmp_path / "b", items[2:])
    lr_row = {"pair_key": "('quadratic', 'adam')", "problem": "quadratic", "optimizer": "adam", "hparam": "lr",
              "lr": 0.01, "score": 1.0, "chosen": True}
    results.write(a, lr_search.LR_SEARCH.name, [lr_row])
    results.write(b, "lr_search", [lr_row, {**lr_row, "lr": 0.1, "chosen": False}])
    derived = schema.TableSchema("heldout", 1, schema.columns(("evaluation", pa.string())), derived=True)
    for f in (a, b):  # a derived table this process has not imported: written as its layer would
        (Path(f) / "heldout").mkdir()
        pq.write_table(pa.table({"evaluation": [f]}, schema=derived.schema()), Path(f) / "heldout" / "part-1.parquet")
    from raybench.reproduce import claims

    for f in (a, b):  # a derived table of a layer this process knows, written as it writes it
        results.write(f, claims.CLAIMS.name, [{"method": "adam", "column": "mnist_cnn", "verdict": "baseline"}])
    out = str(tmp_path / "m")
    proc = ok(cli("merge", out, a, b))
    assert "left out derived tables claims, heldout" in proc.stderr
    assert not (Path(out) / "heldout").exists() and not (Path(out) / "claims").exists()
    assert len(results.read_table(out, "lr_search")) == 2  # the row in both, once


def test_unregistered_per_run_table_follows_its_runs(done, tmp_path: Path) -> None:
    items = list(done.values())
    a, b = folder(tmp_path / "a", items[:3]), folder(tmp_path / "b", items[2:])
    layer = schema.TableSchema("layer_rows", 7, schema.columns(("run_id", pa.string()), ("rung", pa.int64())))
    for f, chunk in ((a, items[:3]), (b, items[2:])):
        (Path(f) / "layer_rows").mkdir()
        pq.write_table(pa.table({"run_id": [r["run_id"] for r, _ in chunk], "rung": [0] * len(chunk)},
                                schema=layer.schema()), Path(f) / "layer_rows" / "part-1.parquet")
    out = str(tmp_path / "m")
    ok(cli("merge", out, a, b))
    rows = results.read_table(out, "layer_rows")
    assert sorted(rows["run_id"]) == sorted(done)  # the run in both inputs: its rows once
    part = next((Path(out) / "layer_rows").glob("part-*.parquet"))
    assert pq.read_schema(part).metadata[b"raybench_table_version"] == b"7"


def test_mixed_table_versions_refused(done, tmp_path: Path) -> None:
    items = list(done.values())
    a, b = folder(tmp_path / "a", items[:2]), folder(tmp_path / "b", items[2:4])
    for f, version in ((a, 1), (b, 2)):
        sch = schema.TableSchema("layer_rows", version, schema.columns(("x", pa.int64()))).schema()
        (Path(f) / "layer_rows").mkdir()
        pq.write_table(pa.table({"x": [version]}, schema=sch), Path(f) / "layer_rows" / "part-1.parquet")
    proc = cli("merge", str(tmp_path / "m"), a, b)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "mixed schema versions: table layer_rows is version 1" in proc.stderr


def test_foreign_folder_version_refused(done, tmp_path: Path) -> None:
    items = list(done.values())
    a, b = folder(tmp_path / "a", items[:2]), folder(tmp_path / "b", items[2:4])
    (Path(b) / results.MARKER).write_text(json.dumps({"schema_version": results.SCHEMA_VERSION + 1}))
    proc = cli("merge", str(tmp_path / "m"), a, b)
    assert proc.returncode == 2 and "schema version" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_places_exit_2_in_one_line(done, tmp_path: Path) -> None:
    items = list(done.values())
    a, b = folder(tmp_path / "a", items[:2]), folder(tmp_path / "b", items[2:4])
    (tmp_path / "plain").mkdir()
    cases = {
        "not a results folder": ("merge", str(tmp_path / "m1"), a, str(tmp_path / "plain")),
        "overlaps input": ("merge", a, a, b),
        "overlaps input ": ("merge", str(Path(a) / "sub"), a, b),
        "already holds results (curves, runs)": ("merge", b, a),
        "named twice": ("merge", str(tmp_path / "m2"), a, f"file://{a}"),
    }
    for needle, args in cases.items():
        proc = cli(*args)
        assert proc.returncode == 2, (needle, proc.stderr)
        assert needle.strip() in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert results.read_table(b, "runs")["run_id"].tolist() == [r["run_id"] for r, _ in items[2:4]]


def test_out_held_by_another_writer_refused(done, tmp_path: Path) -> None:
    a = folder(tmp_path / "a", list(done.values())[:2])
    out = str(tmp_path / "m")
    with results.writer(out):
        proc = cli("merge", out, a)
    assert proc.returncode == 2 and "is being written by" in proc.stderr
