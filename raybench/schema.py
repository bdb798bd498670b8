"""The results tables and their columns: one versioned pyarrow schema per table.

Every writer (``raybench.results.write``), every failed-row builder and every reader
(``raybench.results.read_table``) goes through the table's ``TableSchema``: a row with a
column the schema does not name is a bug and raises; a column a row leaves out is null; every
part of a table has the same column types, so ``pandas.read_parquet(folder/table)`` works.

Each layer registers its own tables (``register``): core registers ``runs`` and ``curves``
here and ``lr_search`` in ``raybench.lr_search``; ``tuning`` and ``rl`` register theirs. The
The docs' column reference is generated from these schemas (tools/gen_docs.py; tests/test_docs.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pyarrow as pa

METRIC_COLUMNS = ("loss", "accuracy", "suboptimality", "param_error")
"""Metrics with their own columns (``<prefix>_<metric>``); any other metric a problem reports
goes to the JSON column ``<prefix>_extra`` (a table's columns are fixed; problems' are not)."""


@dataclasses.dataclass(frozen=True)
class TableSchema:
    """One results table: its name, version and columns."""

    name: str
    version: int
    fields: tuple[pa.Field, ...]
    dynamic: Callable[[], list[pa.Field]] | None = None
    """Columns known only at run time (``hp_<name>`` from the optimizer registry)."""
    derived: bool = False
    """Computed from the folder's other tables (claims, held-out summaries): rewritten whole by
    the command that owns it, left out by ``raybench merge``. Each part says so in its metadata
    (``raybench_derived``), so a reader that never imported the table's layer knows it too."""

    def schema(self) -> pa.Schema:
        extra = self.dynamic() if self.dynamic else []
        meta = {b"raybench_table": self.name.encode(), b"raybench_table_version": str(self.version).encode()}
        if self.derived:
            meta[DERIVED_KEY] = b"1"
        return pa.schema([*self.fields, *extra], metadata=meta)

    @property
    def columns(self) -> list[str]:
        """The fixed columns, in order (the dynamic ones come after them)."""
        return [f.name for f in self.fields]


DERIVED_KEY = b"raybench_derived"
"""A part's metadata key marking a derived table (``TableSchema.derived``)."""

TABLES: dict[str, TableSchema] = {}


def register(table: TableSchema) -> TableSchema:
    """Add a table; registering the same name again with other columns is an error."""
    old = TABLES.get(table.name)
    if old is not None and old != table:
        raise ValueError(f"results table {table.name!r} registered twice with different columns")
    TABLES[table.name] = table
    return table


def get(name: str) -> TableSchema:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; accepted: {', '.join(TABLES)}") from None


def columns(*spec: tuple[str, pa.DataType]) -> tuple[pa.Field, ...]:
    return tuple(pa.field(name, dtype) for name, dtype in spec)


def metric_fields(prefix: str) -> list[tuple[str, pa.DataType]]:
    return [*((f"{prefix}_{m}", pa.float64()) for m in METRIC_COLUMNS), (f"{prefix}_extra", pa.string())]


def _hp_fields() -> list[pa.Field]:
    """``hp_<name>`` for every hyperparameter of every registered optimizer and of the
    learning-rate schedule (``hp_schedule``, ``hp_warmup``, ...): float64 for numbers and
    booleans, text otherwise (tuples such as betas as "0.9,0.999")."""
    from raybench import optimizers, schedules

    kinds: dict[str, pa.DataType] = {}
    numbers = (int, float, bool)
    for spec in optimizers.REGISTRY.values():
        for key, option in spec.options.items():
            # An option whose default is None (muon's adamw_lr: tied) is typed by its kind.
            numeric = isinstance(option.default, numbers) or option.kind in numbers
            kinds.setdefault(f"hp_{key}", pa.float64() if numeric else pa.string())
    for key, default in schedules.DEFAULTS.items():
        kinds.setdefault(f"hp_{key}", pa.float64() if isinstance(default, numbers) else pa.string())
    return [pa.field(name, dtype) for name, dtype in sorted(kinds.items())]


STR, FLOAT, INT, BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()

RUNS = register(TableSchema("runs", 3, columns(
    ("run_id", STR), ("problem", STR), ("dataset", STR), ("optimizer", STR), ("seed", INT),
    ("optimizer_path", STR), ("optimizer_version", STR), ("problem_path", STR),
    ("hparams", STR), ("options", STR), ("hparam_source", STR), ("param_roles", STR),
    ("status", STR), ("error", STR),
    ("budget_steps", INT), ("batch_size", INT), ("steps", INT), ("grad_evals", INT), ("wall_seconds", FLOAT),
    ("stopped_early", BOOL), ("final_train_loss", FLOAT),
    *metric_fields("final_val"), *metric_fields("best_val"), *metric_fields("test"),
    ("metric_modes", STR), ("target_metric", STR), ("target_mode", STR), ("target_threshold", FLOAT), ("f_star", FLOAT),
    ("converged", BOOL), ("steps_to_target", FLOAT), ("grad_evals_to_target", FLOAT), ("seconds_to_target", FLOAT),
    ("raybench_version", STR), ("torch_version", STR), ("ray_version", STR), ("git_commit", STR),
    ("source_hash", STR), ("optimizer_code", STR), ("problem_code", STR),
    ("device", STR), ("host", STR), ("node_id", STR), ("started_at", STR),
), dynamic=_hp_fields))

CURVES = register(TableSchema("curves", 1, columns(
    ("run_id", STR), ("step", INT), ("grad_evals", INT), ("wall_seconds", FLOAT), ("train_loss", FLOAT),
    *metric_fields("val"),
)))
