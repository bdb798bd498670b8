"""Results on disk: one folder, Parquet tables, written whole and renamed.

Layout of a results folder (``SCHEMA_VERSION`` 2)::

    OUT/
      raybench.json          # {"schema_version": 2, ...}: what wrote the folder
      <table>/part-*.parquet # one folder per table: runs, curves and the tables other layers
                             # register (raybench.schema holds every table's columns)

Read it with ``raybench.results.read(OUT)`` or straight with pandas:
``pandas.read_parquet(f"{OUT}/runs")``. Every part is written to a temporary name in the same
folder and renamed into place, so a crash never leaves half a file, and parts are only ever
added, never rewritten. ``OUT`` may be a local path or a URI pyarrow understands
(``s3://bucket/prefix``, ``gs://...``).

One version of each format is read: the folder's (``SCHEMA_VERSION``) and each table's
(``raybench.schema``, recorded in every part). A folder or part of any other version is refused
with one line naming it; nothing older is converted (no release wrote another version).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import posixpath
import re
import socket
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raybench import schema

SCHEMA_VERSION = 2
"""The folder layout's version (``raybench.json``), the only one read; each table's columns have
their own version in ``raybench.schema``."""
MARKER = "raybench.json"


class ResultsError(ValueError):
    """A results folder that cannot be read or written (names the file)."""


def _fs(folder: str) -> tuple[pafs.FileSystem, str]:
    try:
        fs, path = pafs.FileSystem.from_uri(folder)
    except (pa.ArrowInvalid, ValueError):
        fs, path = pafs.LocalFileSystem(), str(folder)
    if isinstance(fs, pafs.LocalFileSystem):
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
    if version != SCHEMA_VERSION:
        action = "upgrade raybench" if version > SCHEMA_VERSION else "write to a new folder"
        raise ResultsError(f"{root} was written with results schema version {version}; this raybench "
                           f"reads version {SCHEMA_VERSION} only: {action}")


def init(folder: str, **meta: Any) -> None:
    """Create ``folder`` (if needed) and its marker file; refuses a newer schema version, and a
    folder that cannot be written (``ResultsError`` naming it and why)."""
    fs, root = _fs(folder)
    marker = posixpath.join(root, MARKER)
    try:
        fs.create_dir(root, recursive=True)
        _check_marker(fs, root)
        if fs.get_file_info(marker).type == pafs.FileType.NotFound:
            _atomic_write(fs, marker, json.dumps({"schema_version": SCHEMA_VERSION, **meta}, indent=1).encode())
    except (OSError, pa.ArrowException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        raise ResultsError(f"results folder {folder} cannot be written ({reason}); choose another --out") from None


LOCK = ".raybench.lock"
"""A results folder's writer lock: ``{"host", "pid", "since", "command"}`` of the one process
writing it."""


class FolderInUse(ResultsError):
    """Another live process is writing the folder."""


@contextlib.contextmanager
def writer(folder: str, **meta: Any) -> Iterator[None]:
    """Hold ``folder`` as its one writer for the block (after ``init``): a second writer gets
    ``FolderInUse`` naming the holder (host, pid, since when). A lock whose process is dead
    (same host) is taken over; of two processes taking over one stale lock, only one wins
    (the stale file is renamed away atomically first). Object-store URIs have no atomic
    create: there raybench takes no lock, and readers still return each run once."""
    init(folder, **meta)
    fs, root = _fs(folder)
    if not isinstance(fs, pafs.LocalFileSystem):
        warnings.warn(f"{folder}: no writer lock on object stores; run one writer at a time there "
                      "(readers keep the first row of a run written twice)", stacklevel=2)
        yield
        return
    path = os.path.join(root, LOCK)
    mine = {"host": socket.gethostname(), "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv[:2])}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if holder is None or _alive(holder):
                raise FolderInUse(_in_use(folder, holder)) from None
            try:  # stale: move it aside under a unique name; a racing taker's rename then fails
                os.rename(path, f"{path}.stale-{uuid.uuid4().hex[:8]}")
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        break
    else:
        raise FolderInUse(_in_use(folder, _read_lock(path)))
    try:
        yield
    finally:
        if _read_lock(path) == mine:
            os.unlink(path)


def check(folder: str) -> None:
    """Everything ``init`` and ``writer`` would refuse about ``folder``, creating nothing (a
    command's ``--check``): a marker of another schema version, a live writer, and, on a local
    disk, a folder that could not be created or written (``ResultsError``, one line)."""
    fs, root = _fs(folder)
    try:
        exists = fs.get_file_info(root).type == pafs.FileType.Directory
        if exists:
            _check_marker(fs, root)
    except (OSError, pa.ArrowException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        raise ResultsError(f"results folder {folder} cannot be read ({reason}); choose another --out") from None
    if isinstance(fs, pafs.LocalFileSystem):
        nearest = root
        while not os.path.exists(nearest):
            nearest = os.path.dirname(nearest) or "."
        try:  # a probe, removed at once (permission bits do not bind root; /proc refuses anyone)
            os.rmdir(tempfile.mkdtemp(prefix=".raybench-check-", dir=nearest))
        except OSError as exc:
            raise ResultsError(f"results folder {folder} cannot be written ({nearest}: {exc.strerror}); "
                               "choose another --out") from None
    check_free(folder)


def check_free(folder: str) -> None:
    """``FolderInUse`` if a live process holds ``folder``'s writer lock now: a check a command
    makes early, before its slow start; ``writer`` is what takes the lock."""
    fs, root = _fs(folder)
    if isinstance(fs, pafs.LocalFileSystem):
        holder = _read_lock(os.path.join(root, LOCK))
        if holder is not None and _alive(holder):
            raise FolderInUse(_in_use(folder, holder))


def _read_lock(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # being written this instant, or garbage: treat as held


def _alive(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return True  # another machine's process, or unreadable: cannot tell, so it holds
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _in_use(folder: str, holder: dict[str, Any] | None) -> str:
    who = (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} "
           f"({holder.get('command')})") if holder else "another process"
    return f"results folder {folder} is being written by {who}; wait for it or choose another --out"


def _atomic_write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    tmp = f"{posixpath.dirname(path)}/.tmp-{uuid.uuid4().hex}-{posixpath.basename(path)}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)


def _cell(value: Any, dtype: pa.DataType) -> Any:
    """One value in the column's type: text columns take tuples as "a,b" and numbers as text;
    NaN is null in text and integer columns."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value) and not pa.types.is_floating(dtype):
        return None
    if pa.types.is_string(dtype):
        if isinstance(value, tuple | list):
            return ",".join(str(x) for x in value)
        return value if isinstance(value, str) else str(value)
    if pa.types.is_floating(dtype):
        return float(value)
    if pa.types.is_integer(dtype):
        return int(value)
    if pa.types.is_boolean(dtype):
        return bool(value)
    return value


def conform(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as an Arrow table of ``table``'s schema; a column the schema lacks raises."""
    sch = schema.get(table).schema()
    types = {f.name: f.type for f in sch}
    for row in rows:
        unknown = sorted(set(row) - set(types))
        if unknown:
            raise ValueError(f"results table {table!r} has no column {unknown[0]!r} "
                             f"(raybench.schema defines its columns)")
    data = {name: [_cell(row.get(name), dtype) for row in rows] for name, dtype in types.items()}
    return pa.Table.from_pydict(data, schema=sch)


def write(folder: str, table: str, rows: list[dict[str, Any]]) -> str | None:
    """Write ``rows`` as one new part of ``table``; returns its path (``None`` if no rows).

    Part names start with the write time, so that name order is write order (readers keep the
    first row written of a run written twice)."""
    tbl = conform(table, rows) if rows else None
    if tbl is None:
        return None
    fs, root = _fs(folder)
    directory = posixpath.join(root, table)
    fs.create_dir(directory, recursive=True)
    sink = pa.BufferOutputStream()
    pq.write_table(tbl, sink)
    path = posixpath.join(directory, f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet")
    _atomic_write(fs, path, sink.getvalue().to_pybytes())
    return path


def replace(folder: str, table: str, rows: list[dict[str, Any]]) -> str | None:
    """Write ``rows`` as the whole of ``table`` (a derived table, rebuilt from the runs each
    time): the new part is written first, then every older part is removed, so a reader sees
    the old content or the new one. Returns the new part's path (``None``: no rows, and then
    no older part is removed either)."""
    part = write(folder, table, rows)
    if part is not None:
        fs, root = _fs(folder)
        for old in _parts(fs, posixpath.join(root, table)):
            if old != part:
                fs.delete_file(old)
    return part


def write_file(folder: str, name: str, data: str | bytes) -> str:
    """A small file (a summary in Markdown or CSV) into ``folder`` on the folder's own
    filesystem (local, ``file://``, ``s3://``, ``gs://``), written whole and then renamed;
    returns its path (a local path for a local folder, else the URI)."""
    fs, root = _fs(folder)
    fs.create_dir(root, recursive=True)
    path = posixpath.join(root, name)
    _atomic_write(fs, path, data.encode() if isinstance(data, str) else data)
    return path if isinstance(fs, pafs.LocalFileSystem) else f"{folder.rstrip('/')}/{name}"


def write_runs(folder: str, runs: list[dict[str, Any]], curves: list[dict[str, Any]]) -> None:
    """Write a finished batch of runs: curves first, then runs (a run row means "complete")."""
    write(folder, "curves", curves)
    write(folder, "runs", runs)


def _parts(fs: pafs.FileSystem, directory: str) -> list[str]:
    """The finished parts of a table folder, in name (= write) order."""
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return []
    names = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(directory)))
    return [p for p in names if p.endswith(".parquet") and not posixpath.basename(p).startswith(".tmp-")]


def _read_part(fs: pafs.FileSystem, path: str, table: schema.TableSchema | None) -> pa.Table:
    """One part; for a ``table`` this process knows, only a part of that table's version."""
    try:
        with fs.open_input_file(path) as f:
            part = pq.read_table(f)
    except (pa.ArrowException, OSError) as exc:
        raise ResultsError(f"corrupt results file {path}: {exc}") from None
    if table is not None:
        written = (part.schema.metadata or {}).get(b"raybench_table_version", b"?").decode()
        if written != str(table.version):
            action = "upgrade raybench" if written.isdigit() and int(written) > table.version else \
                "write to a new folder"
            raise ResultsError(f"results file {path} holds {table.name} table version {written}; this "
                               f"raybench reads version {table.version} only: {action}")
    return part


def read_table(folder: str, table: str) -> pd.DataFrame:
    """All parts of ``table`` as one DataFrame in the table's schema (empty if none).

    ``hp_<name>`` columns of optimizers a part's writer did not know are null there; a corrupt
    part, or one of another table version, is named. A run written twice (``runs``: same ``run_id``) is returned once, the first one
    written, with a warning naming the folder.
    """
    fs, root = _fs(folder)
    _check_marker(fs, root)
    # A table of a layer this process has not imported (``rungs`` of tuning, ``rl_curves`` of
    # rl, ...) has no schema here: its parts are read as written, which is its schema too.
    table_schema = schema.TABLES.get(table)
    if table_schema is None and not re.fullmatch(r"[a-z][a-z0-9_]*", table):
        schema.get(table)  # "unknown table ...": a name that is not a table's cannot name a folder
    sch = table_schema.schema() if table_schema is not None else None
    parts = [_read_part(fs, path, table_schema) for path in _parts(fs, posixpath.join(root, table))]
    if sch is not None and table_schema.dynamic is not None:
        sch = _with_dynamic_columns(sch, parts)
    frames = []
    for part in parts:
        if sch is None:
            frames.append(part)
            continue
        frames.append(pa.table({f.name: (part[f.name].cast(f.type) if f.name in part.column_names
                                         else pa.nulls(part.num_rows, f.type)) for f in sch}))
    if not frames:
        return pd.DataFrame()
    df = pa.concat_tables(frames, promote_options="default").to_pandas()
    if table == "runs" and df["run_id"].duplicated().any():
        dups = int(df["run_id"].duplicated().sum())
        warnings.warn(f"{folder}: {dups} runs were written more than once; keeping the first "
                      "written of each", stacklevel=2)
        df = df.drop_duplicates("run_id", keep="first").reset_index(drop=True)
    return df


def _with_dynamic_columns(sch: pa.Schema, parts: list[pa.Table]) -> pa.Schema:
    """``sch`` plus the ``hp_<name>`` columns parts hold that this process's registry does not
    know (an optimizer named by import path in the command that wrote them): float64 where
    every part has a number, text otherwise, as the writer typed them."""
    known = set(sch.names)
    extra: dict[str, pa.DataType] = {}
    for part in parts:
        for field in part.schema:
            if field.name.startswith("hp_") and field.name not in known:
                numeric = pa.types.is_floating(field.type) or pa.types.is_integer(field.type)
                if not numeric or extra.get(field.name, pa.float64()) != pa.float64():
                    extra[field.name] = pa.string()
                else:
                    extra.setdefault(field.name, pa.float64())
    for name, dtype in sorted(extra.items()):
        sch = sch.append(pa.field(name, dtype))
    return sch


def metric(df: pd.DataFrame, prefix: str, name: str) -> pd.Series:
    """Metric ``name`` of ``prefix`` (``final_val``, ``best_val``, ``test``, ``val``) as floats:
    its own column, or read from the ``<prefix>_extra`` JSON for any other metric."""
    col = f"{prefix}_{name}"
    if name in schema.METRIC_COLUMNS:
        return df[col].astype(float) if col in df else pd.Series(math.nan, index=df.index)
    extra = df.get(f"{prefix}_extra", pd.Series(None, index=df.index))
    return extra.map(lambda t: float(json.loads(t).get(name, math.nan)) if isinstance(t, str) else math.nan)


def read(folder: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, curves)`` of a results folder."""
    return read_table(folder, "runs"), read_table(folder, "curves")


def drop_orphan_curves(folder: str, finished: set[str] | None = None) -> int:
    """Remove curve rows of runs that have no run row (a crash between the two writes).

    ``finished``: the folder's run ids, as its writer read them (``finished_run_ids``);
    ``None``: read here.

    Such a run is redone on resume and writes its curve again; without this its points
    would appear twice. Affected parts are rewritten whole: the new part is written first,
    then the old one removed, and rows already present in another part are not copied, so a
    crash between those two steps cannot duplicate points either. Returns the rows dropped.
    """
    fs, root = _fs(folder)
    if finished is None:
        finished = finished_run_ids(folder)
    parts = {path: _read_part(fs, path, schema.get("curves")).to_pandas()
             for path in _parts(fs, posixpath.join(root, "curves"))}
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


def finished_runs(folder: str) -> pd.DataFrame:
    """The runs already written to ``folder``: their ids, problem, optimizer, hyperparameters and
    the code that made them (``raybench.identity.COLUMNS``), one row per run (empty if none)."""
    from raybench import identity

    columns = ["run_id", "problem", "optimizer", "hparams", *identity.COLUMNS]
    runs = read_table(folder, "runs")
    return runs[columns] if "run_id" in runs else pd.DataFrame(columns=columns)


def finished_run_ids(folder: str) -> set[str]:
    """Run ids already written to ``folder`` (what ``--resume`` skips)."""
    return set(finished_runs(folder)["run_id"])


def drop_runs(folder: str, run_ids: set[str]) -> int:
    """Remove the runs ``run_ids`` from ``folder``: their run rows, then their curves (as
    ``drop_orphan_curves`` does); ``--rerun-changed`` before it redoes them. Each runs part
    holding one is rewritten whole without it, the new part first, then the old one removed
    (a crash in between leaves a kept run twice, which readers return once). Returns the
    run rows removed."""
    if not run_ids:
        return 0
    fs, root = _fs(folder)
    table = schema.get("runs")
    wanted = pa.array(sorted(run_ids), type=pa.string())
    removed = 0
    for path in _parts(fs, posixpath.join(root, "runs")):
        part = _read_part(fs, path, table)
        hit = pa.compute.is_in(part["run_id"], value_set=wanted)
        count = pa.compute.sum(hit).as_py() or 0
        if not count:
            continue
        kept = part.filter(pa.compute.invert(hit))
        if kept.num_rows:
            sink = pa.BufferOutputStream()
            pq.write_table(kept, sink)  # the part's own schema and metadata (its table version)
            new = posixpath.join(posixpath.dirname(path),
                                 f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet")
            _atomic_write(fs, new, sink.getvalue().to_pybytes())
        fs.delete_file(path)
        removed += count
    drop_orphan_curves(folder)
    return removed
