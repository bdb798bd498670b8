"""``raybench run`` is a straight pipeline: each stage hands the next what it resolved.

Spies wrap the real functions (they count calls and change nothing), and the command runs in
this process on a really started embedded Ray (the test session's): the folder's run ids are
read once and the tunability check runs once, for a first run and for its ``--resume``.
Formats no release wrote are refused with one line, before Ray.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raybench import lr_search, ray_utils, results, schema
from raybench.cli import main


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counted: Counter[str] = Counter()
    for module, name in ((results, "finished_runs"), (lr_search, "check_tunable"), (ray_utils, "start_ray")):
        real = getattr(module, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            counted[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, functools.wraps(real)(spy))
    return counted


@pytest.mark.ray
@pytest.mark.slow
def test_tune_lr_reads_the_run_ids_once_and_checks_tunability_once(tmp_path: Path, calls: Counter[str], ray_session,
                                                                   capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r"
    args = ["run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--seeds", "1", "--steps", "20",
            "--tune-lr", "--tune-samples", "2", "--out", str(out), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err[-3000:]
    first = dict(calls)
    calls.clear()
    assert main([*args, "--resume"]) == 0, capsys.readouterr().err[-3000:]
    once = {"finished_runs": 1, "check_tunable": 1, "start_ray": 1}
    assert first == once and dict(calls) == once
    err = capsys.readouterr().err
    assert "2 runs in" in err and "(2 ok written now)" in err
    assert "(none written now; 2 written before)" in err and "resume: 2 of 2 runs already in" in err
    runs = results.read_table(str(out), "runs")
    assert len(runs) == 2 and runs["run_id"].is_unique and (runs["hparam_source"] == "tuned").all()
    search = results.read_table(str(out), "lr_search")
    seeds = len(lr_search.TUNING_SEEDS)
    # 2 values x 2 tuning seeds per pair, and (2 samples: the winner is always on an edge) 1 to 3
    # more values past it; --resume reuses the finished search: no row twice
    assert (~search["extension"]).sum() == 2 * 2 * seeds and search["extension"].sum() >= 2 * seeds
    assert not search.duplicated(["optimizer", "lr", "tuning_seed"]).any(), "--resume reuses the finished search"
    assert search.groupby("optimizer")["chosen"].sum().to_dict() == {"adam": seeds, "sgd": seeds}
    for opt, group in search.groupby("optimizer"):
        assert (runs.loc[runs.optimizer == opt, "hp_lr"] == group.loc[group["chosen"], "lr"].iloc[0]).all()


def test_check_reads_the_run_ids_once_and_checks_tunability_once(tmp_path: Path, calls: Counter[str],
                                                                 capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--seeds", "2", "--tune-lr",
                 "--tune-samples", "3", "--out", str(tmp_path / "r"), "--check"]) == 0
    assert dict(calls) == {"finished_runs": 1, "check_tunable": 1}  # and no Ray
    err = capsys.readouterr().err
    assert "--tune-lr would search 2 of 2 pairs, 3 values each" in err and "4 runs to write" in err
    assert not (tmp_path / "r").exists(), "--check runs nothing and creates nothing"


def test_check_refuses_a_folder_that_cannot_be_made_in_one_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "1",
                 "--out", "/proc/raybench-cannot-write-here/r", "--check"]) == 2
    assert "cannot be written" in _one_error_line(capsys)


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("raybench: error:"), lines
    return lines[0]


def test_an_older_lr_search_table_is_refused_with_one_line(tmp_path: Path, calls: Counter[str],
                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r"
    results.init(str(out))
    old = schema.TableSchema("lr_search", lr_search.LR_SEARCH.version - 1,
                             tuple(f for f in lr_search.LR_SEARCH.fields if f.name != "hparam"))
    (out / "lr_search").mkdir()
    part = out / "lr_search" / "part-00000000000000000001-old.parquet"
    pq.write_table(old.schema().empty_table(), part)
    args = ["run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "1", "--tune-lr",
            "--out", str(out), "--resume", "--check"]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert f"{part} holds lr_search table version {old.version}" in line
    assert f"reads version {lr_search.LR_SEARCH.version} only" in line
    assert calls["start_ray"] == 0


def test_an_older_results_folder_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / results.MARKER).write_text(f'{{"schema_version": {results.SCHEMA_VERSION - 1}}}')
    assert main(["run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "1", "--out", str(out),
                 "--resume", "--check"]) == 2
    line = _one_error_line(capsys)
    assert f"results schema version {results.SCHEMA_VERSION - 1}" in line
    assert f"reads version {results.SCHEMA_VERSION} only: write to a new folder" in line
