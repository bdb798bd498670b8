"""Results on disk: one folder, Parquet tables, written whole and renamed.

Layout of a results folder (``SCHEMA_VERSION`` 1)::

    OUT/
      raybench.json          # {"schema_version": 1, ...}: what wrote the folder
      runs/part-*.parquet    # one row per run           (RUN_COLUMNS)
      curves/part-*.parquet  # one row per evaluation    (CURVE_COLUMNS)
      rungs/part-*.parquet   # multi-init only: one row per (trial, rung)
      lr_search/part-*.parquet  # --tune-lr only: one row per learning rate tried
      rl_curves/part-*.parquet  # raybench rl train only: one row per PPO iteration

Read it with ``raybench.results.read(OUT)`` or straight with pandas:
``pandas.read_parquet(f"{OUT}/runs")``. Every part is written to a temporary name in the same
folder and renamed into place, so a crash never leaves half a file, and parts are only ever
added, never rewritten. ``OUT`` may be a local path or a URI pyarrow understands
(``s3://bucket/prefix``, ``gs://...``).
"""

from __future__ import annotations

import json
import math
import posixpath
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
TABLES = ("runs", "curves", "rungs", "lr_search", "rl_curves")
MARKER = "raybench.json"


class ResultsError(ValueError):
    """A results folder that cannot be read or written (names the file)."""


def _fs(folder: str) -> tuple[pafs.FileSystem, str]:
    try:
        fs, path = pafs.FileSystem.from_uri(folder)
    except (pa.ArrowInvalid, ValueError):
        fs, path = pafs.LocalFileSystem(), str(folder)
    if isinstance(fs, pafs.LocalFileSystem):
        import os

        path = os.path.abspath(path)
    return fs, path


def _check_marker(fs: pafs.FileSystem, root: str) -> None:
    marker = posixpath.join(root, MARKER)
    info = fs.get_file_info(marker)
    if info.type == pafs.FileType.NotFound:
        return
    try:
        with fs.open_input_stream(marker) as f:
            meta = json.loads(f.read().decode())
        version = int(meta["schema_version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{marker}: unreadable results marker ({exc})") from None
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{root} was written with results schema version {version}; this raybench reads "
            f"versions up to {SCHEMA_VERSION}: upgrade raybench"
        )


def init(folder: str, **meta: Any) -> None:
    """Create ``folder`` (if needed) and its marker file; refuses a newer schema version."""
    fs, root = _fs(folder)
    fs.create_dir(root, recursive=True)
    _check_marker(fs, root)
    marker = posixpath.join(root, MARKER)
    if fs.get_file_info(marker).type == pafs.FileType.NotFound:
        _atomic_write(fs, marker, json.dumps({"schema_version": SCHEMA_VERSION, **meta}, indent=1).encode())


def _atomic_write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    tmp = f"{posixpath.dirname(path)}/.tmp-{uuid.uuid4().hex}-{posixpath.basename(path)}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)


def _normalise(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    for col in df.columns:
        if df[col].dtype == object and not col.startswith("hp_"):
            # Tuples (betas) and mixed hyperparameters become text, so every part has one type.
            df[col] = df[col].map(_to_text)
    return df


_FLOAT_COLUMNS = ("f_star", "batch_size", "target_threshold")


def _hp_kinds() -> dict[str, str]:
    """``hp_<name>`` -> "float" or "text", over every registered optimizer (a fixed column set)."""
    from raybench import optimizers

    kinds: dict[str, str] = {}
    for spec in optimizers.REGISTRY.values():
        for key, default in spec.defaults.items():
            numeric = isinstance(default, int | float) and not isinstance(default, bool)
            kinds[f"hp_{key}"] = "float" if numeric or isinstance(default, bool) else "text"
    return kinds


def _conform(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Give every part of a table the same column types, also where a column is all null."""
    if table == "runs":
        for col, kind in _hp_kinds().items():
            if col not in df:
                df[col] = None
            df[col] = df[col].astype("float64") if kind == "float" else df[col].map(_to_text).astype("string")
    for col in df.columns:
        if col.startswith("hp_") and table == "runs":
            continue
        if df[col].isna().all():
            numeric = col in _FLOAT_COLUMNS or col.split("_")[-1] in ("loss", "accuracy", "suboptimality", "error") and col != "error"
            df[col] = df[col].astype("float64") if numeric else df[col].astype("string")
    return df


def _to_text(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, tuple | list):
        return ",".join(str(x) for x in v)
    return str(v)


def write(folder: str, table: str, rows: list[dict[str, Any]]) -> str | None:
    """Write ``rows`` as one new part of ``table``; returns its path (``None`` if no rows)."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; accepted: {', '.join(TABLES)}")
    if not rows:
        return None
    fs, root = _fs(folder)
    directory = posixpath.join(root, table)
    fs.create_dir(directory, recursive=True)
    df = _conform(table, _normalise(rows))
    tbl = pa.Table.from_pandas(df, preserve_index=False)
    tbl = tbl.replace_schema_metadata({**(tbl.schema.metadata or {}),
                                       b"raybench_schema_version": str(SCHEMA_VERSION).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(tbl, sink)
    path = posixpath.join(directory, f"part-{uuid.uuid4().hex}.parquet")
    _atomic_write(fs, path, sink.getvalue().to_pybytes())
    return path


def write_runs(folder: str, runs: list[dict[str, Any]], curves: list[dict[str, Any]]) -> None:
    """Write a finished batch of runs: curves first, then runs (a run row means "complete")."""
    write(folder, "curves", curves)
    write(folder, "runs", runs)


def read_table(folder: str, table: str) -> pd.DataFrame:
    """All parts of ``table`` as one DataFrame (empty if none); a corrupt part is named."""
    fs, root = _fs(folder)
    _check_marker(fs, root)
    directory = posixpath.join(root, table)
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return pd.DataFrame()
    infos = fs.get_file_info(pafs.FileSelector(directory))
    frames = []
    for info in sorted(infos, key=lambda i: i.path):
        name = posixpath.basename(info.path)
        if not name.endswith(".parquet") or name.startswith(".tmp-"):
            continue
        try:
            with fs.open_input_file(info.path) as f:
                frames.append(pq.read_table(f).to_pandas())
        except (pa.ArrowException, OSError) as exc:
            raise ResultsError(f"corrupt results file {info.path}: {exc}") from None
    if not frames:
        return pd.DataFrame()
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read(folder: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, curves)`` of a results folder."""
    return read_table(folder, "runs"), read_table(folder, "curves")


def drop_orphan_curves(folder: str) -> int:
    """Remove curve rows of runs that have no run row (a crash between the two writes).

    Such a run is redone on resume and writes its curve again; without this its points
    would appear twice. Affected parts are rewritten whole: the new part is written first,
    then the old one removed, and rows already present in another part are not copied, so a
    crash between those two steps cannot duplicate points either. Returns the rows dropped.
    """
    fs, root = _fs(folder)
    finished = finished_run_ids(folder)
    directory = posixpath.join(root, "curves")
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return 0
    parts = {}
    for info in sorted(fs.get_file_info(pafs.FileSelector(directory)), key=lambda i: i.path):
        if not info.path.endswith(".parquet") or posixpath.basename(info.path).startswith(".tmp-"):
            continue
        try:
            with fs.open_input_file(info.path) as f:
                parts[info.path] = pq.read_table(f).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise ResultsError(f"corrupt results file {info.path}: {exc}") from None
    dirty = {p for p, df in parts.items() if not df["run_id"].isin(finished).all()}
    seen = {key for p, df in parts.items() if p not in dirty
            for key in zip(df["run_id"], df["step"], strict=True)}
    dropped = 0
    for path in sorted(dirty):
        df = parts[path]
        keys = list(zip(df["run_id"], df["step"], strict=True))
        keep = df["run_id"].isin(finished).to_numpy() & np.array([k not in seen for k in keys], dtype=bool)
        seen.update(k for k, kept in zip(keys, keep, strict=True) if kept)
        dropped += int((~keep).sum())
        if keep.any():
            write(folder, "curves", df[keep].to_dict("records"))
        fs.delete_file(path)
    return dropped


def finished_run_ids(folder: str) -> set[str]:
    """Run ids already written to ``folder`` (what ``--resume`` skips)."""
    runs = read_table(folder, "runs")
    return set(runs["run_id"]) if "run_id" in runs else set()
