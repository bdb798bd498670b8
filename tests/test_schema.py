"""The results schema: one home for every table's columns, which writers, failed rows and readers
all follow (the docs' column reference is generated from it: tests/test_docs.py)."""

from __future__ import annotations

import math

import pytest

import raybench.reproduce.believability  # noqa: F401  (registers multi_init_evidence, multi_init_rank_correlation)
import raybench.reproduce.claims  # noqa: F401  (registers claims)
import raybench.rl.heldout  # noqa: F401  (registers heldout)
import raybench.rl.train  # noqa: F401  (registers rl_curves)
import raybench.tuning.experiment  # noqa: F401  (registers rungs)
from raybench import lr_search, results, schema  # noqa: F401  (lr_search registers its table)
from raybench.spec import RunSpec
from raybench.train import Run, failed_row


def test_hp_columns_cover_every_registered_hyperparameter() -> None:
    from raybench import optimizers

    names = set(schema.RUNS.schema().names)
    for spec in optimizers.REGISTRY.values():
        assert {f"hp_{k}" for k in spec.defaults} <= names, spec.name


def test_a_run_row_and_a_failed_row_both_fit_the_schema_exactly() -> None:
    run = Run("quadratic", "adam", seed=0, steps=5)
    run.advance()
    row = run.summary()
    assert set(row) <= set(schema.RUNS.schema().names)
    spec = RunSpec.build("quadratic", "adam", 1, steps=5)
    failed = failed_row(spec, "RuntimeError: boom")
    table = results.conform("runs", [row, failed])
    assert table.schema.equals(schema.RUNS.schema(), check_metadata=False)
    back = table.to_pandas()
    assert list(back["status"]) == ["ok", "failed"]
    assert back.loc[1, "run_id"] == spec.run_id and back.loc[1, "hp_lr"] == pytest.approx(1e-3)
    assert math.isinf(back.loc[1, "steps_to_target"]) and back.loc[1, "error"] == "RuntimeError: boom"


def test_a_column_the_schema_lacks_is_refused_and_a_missing_one_is_null(tmp_path) -> None:
    with pytest.raises(ValueError, match="has no column 'typo_column'"):
        results.write(str(tmp_path), "curves", [{"run_id": "a", "step": 0, "typo_column": 1.0}])
    results.write(str(tmp_path), "curves", [{"run_id": "a", "step": 0}])
    curves = results.read_table(str(tmp_path), "curves")
    assert list(curves.columns) == schema.CURVES.columns
    assert curves["val_loss"].isna().all() and curves["step"].tolist() == [0]


def test_reader_returns_a_run_written_twice_once_the_first_written(tmp_path) -> None:
    out = str(tmp_path)
    spec = RunSpec.build("quadratic", "adam", 0, steps=5)
    results.write(out, "runs", [failed_row(spec, "first")])
    results.write(out, "runs", [failed_row(spec, "second")])
    with pytest.warns(UserWarning, match="written more than once"):
        runs = results.read_table(out, "runs")
    assert runs["error"].tolist() == ["first"]
