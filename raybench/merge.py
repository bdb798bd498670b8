"""Merge results folders written by separate commands (machines, clusters) into one.

    from raybench.merge import merge
    summary = merge("all/", ["machine_a/", "machine_b/"])      # or file:// and s3:// URIs

Every table of the inputs goes into ``out`` (a new folder, or one holding no tables yet), and
``raybench report out`` reports it like any other folder:

- ``runs``: a run (its ``run_id``) present in several inputs is kept once. The copies must agree
  on everything but where and how fast they ran (``SET_ASIDE``: host, device, node, start time,
  wall seconds, package versions, error text); code identity (``CODE_IDENTITY``: ``git_commit``
  and ``raybench.identity``'s source and entry hashes) is compared where both copies record it. Copies that differ are refused,
  naming the run, unless ``prefer`` keeps the first or last input's copy.
- tables whose rows carry a ``run_id`` (``curves``, multi-init's ``rungs``, ...): a kept run's
  rows come from the input whose copy of the run was kept, so its curve is never doubled;
  curve rows once per (``run_id``, ``step``).
- other tables (``lr_search``, ...): their distinct rows, in input order.
- tables computed from the others (claims, multi-init evidence, held-out summaries: their parts
  say so, ``raybench.schema.TableSchema.derived``) are left out: the merged runs would not be the ones they were computed from. The command
  that wrote them recomputes them (``raybench reproduce ... --resume``).

Each table's version must be the same in every input (and, for a table this process knows, the
one it reads: ``raybench.results`` refuses any other). Files other than tables (``report.md``,
``index.html``, ...) are not copied. ``out`` is held with the writer lock while it is written,
and ``runs`` is written last, so a crash leaves no run without its curve.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raybench import identity, results, schema
from raybench.errors import UsageError

SET_ASIDE = frozenset({"host", "device", "node_id", "started_at", "wall_seconds", "seconds_to_target",
                       "raybench_version", "torch_version", "ray_version", "error"})
"""Run columns two copies of one run may differ in: where, when and how fast it ran (provenance,
``raybench.provenance``), and its error text (which names paths, hosts and process ids)."""
CODE_IDENTITY = frozenset({"git_commit", *identity.COLUMNS})
"""Run columns naming the code that computed a run: compared where both copies record one (a copy
with none, such as an installed package without git, cannot be told apart)."""
PREFER = ("first", "last")
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class Summary:
    """What ``merge`` wrote."""

    out: str
    runs: int
    """Runs in ``out``."""
    duplicates: int
    """Copies of runs dropped because another input held the same run."""
    preferred: tuple[str, ...]
    """Runs whose copies differed, kept from the input ``prefer`` chose."""
    tables: dict[str, int]
    """Rows written per table."""
    left_out: tuple[str, ...]
    """Derived tables found in the inputs and not written."""


def merge(out: str, inputs: Sequence[str], *, prefer: str | None = None) -> Summary:
    """Merge the results folders ``inputs`` into ``out`` (see the module docstring).

    Raises ``UsageError`` (one line) for an input that is not a results folder or holds no runs,
    ``out`` equal to or inside an input (or the reverse), ``out`` already holding tables, tables
    of mixed versions, and copies of a run that differ when ``prefer`` is ``None``;
    ``results.ResultsError`` for a folder or table version this raybench does not read, and
    ``results.FolderInUse`` when another process writes ``out``."""
    if prefer not in (None, *PREFER):
        raise UsageError(f"prefer must be one of {', '.join(PREFER)}, not {prefer!r}")
    inputs = list(inputs)
    if not inputs:
        raise UsageError("merge needs at least one results folder to read")
    _check_places(out, inputs)
    results.check_free(out)
    _check_empty(out)
    tables = {folder: _tables(folder) for folder in inputs}
    names = sorted({name for found in tables.values() for name in found})
    derived = {name for name in names
               if _check_versions(name, {folder: found[name] for folder, found in tables.items() if name in found})}
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run written twice in one input: it is kept once anyway
        for name in names:
            if name in derived:
                continue
            frames[name] = {folder: results.read_table(folder, name) for folder in inputs if name in tables[folder]}

    runs, source, duplicates, preferred = _merge_runs(frames.get("runs", {}), prefer)
    merged: dict[str, pd.DataFrame] = {}
    for name, by_input in frames.items():
        if name == "runs":
            continue
        if all("run_id" in df for df in by_input.values()):
            merged[name] = _follow_runs(name, by_input, source)
        else:
            merged[name] = _distinct(by_input)
    merged["runs"] = runs

    with results.writer(out, merged_from=inputs):
        _check_empty(out)  # again, now that out is ours
        order = [n for n in merged if n not in ("runs", "curves")] + ["curves", "runs"]
        written = {}
        for name in order:
            if name in merged and not merged[name].empty:
                _write(out, name, merged[name], [(f, p) for f in inputs if name in tables[f] for p in tables[f][name]])
                written[name] = len(merged[name])
    return Summary(out=out, runs=len(runs), duplicates=duplicates, preferred=tuple(preferred), tables=written,
                   left_out=tuple(n for n in names if n in derived))


# -- checks -------------------------------------------------------------------------------------
def _place(folder: str) -> tuple[str, str]:
    fs, root = results._fs(folder)
    return type(fs).__name__, root.rstrip("/")


def _check_places(out: str, inputs: Sequence[str]) -> None:
    kind_out, root_out = _place(out)
    seen: dict[tuple[str, str], str] = {}
    for folder in inputs:
        fs, root = results._fs(folder)
        if fs.get_file_info(posixpath.join(root, results.MARKER)).type != pafs.FileType.File:
            raise UsageError(f"{folder} is not a results folder (no {results.MARKER}); "
                             "merge reads folders that raybench commands wrote")
        place = _place(folder)
        if place in seen:
            raise UsageError(f"{folder} is named twice (also as {seen[place]})")
        seen[place] = folder
        kind, root = place
        if kind == kind_out and (root == root_out or root.startswith(root_out + "/")
                                 or root_out.startswith(root + "/")):
            raise UsageError(f"OUT {out} overlaps input {folder}; merge into a new folder")


def _check_empty(out: str) -> None:
    held = _tables(out)
    if held:
        raise UsageError(f"OUT {out} already holds results ({', '.join(sorted(held))}); "
                         "merge into a new or empty folder (name this one as an input to include it)")


def _tables(folder: str) -> dict[str, list[str]]:
    """The tables of ``folder`` that hold parts: name -> part paths (write order)."""
    fs, root = results._fs(folder)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return {}
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(root)):
        name = posixpath.basename(info.path)
        if info.type == pafs.FileType.Directory and _TABLE_NAME.fullmatch(name):
            parts = results._parts(fs, info.path)
            if parts:
                found[name] = parts
    return found


def _metadata(folder: str, part: str) -> dict[bytes, bytes]:
    fs, _ = results._fs(folder)
    try:
        with fs.open_input_file(part) as f:
            return pq.read_schema(f).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise results.ResultsError(f"corrupt results file {part}: {exc}") from None


def _check_versions(name: str, parts: dict[str, list[str]]) -> bool:
    """One version of table ``name`` across every input's parts, else a one-line refusal;
    returns whether the table is derived (its parts' ``raybench_derived``)."""
    where: dict[str, str] = {}
    derived = False
    for folder, paths in parts.items():
        for path in paths:
            meta = _metadata(folder, path)
            where.setdefault(meta.get(b"raybench_table_version", b"?").decode(), folder)
            derived = derived or meta.get(schema.DERIVED_KEY) == b"1"
    if len(where) > 1:
        (va, fa), (vb, fb) = sorted(where.items())[:2]
        raise UsageError(f"mixed schema versions: table {name} is version {va} in {fa} and version {vb} in {fb}; "
                         "merge folders written by one raybench version")
    return derived


# -- merging ------------------------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    return bool(a == b)


def _difference(a: pd.Series, b: pd.Series) -> str | None:
    """The first column two copies of a run differ in (``None``: they agree), with both values."""
    for col in a.index.union(b.index):
        if col in SET_ASIDE or col.startswith("hp_"):  # hp_*: the hparams column holds them
            continue
        va, vb = a.get(col), b.get(col)
        if col in CODE_IDENTITY and (pd.isna(va) or pd.isna(vb)):
            continue
        if not _same(va, vb):
            return f"{col} ({va} vs {vb})"
    return None


def _merge_runs(by_input: dict[str, pd.DataFrame], prefer: str | None
                ) -> tuple[pd.DataFrame, dict[str, str], int, list[str]]:
    """The runs kept, the input each kept run comes from, copies dropped, runs chosen by ``prefer``."""
    if not by_input:
        raise UsageError("no input holds runs; merge reads folders that raybench run (or another command) wrote")
    empty = [folder for folder, df in by_input.items() if df.empty]
    if empty:
        raise UsageError(f"{empty[0]} holds no runs")
    kept: dict[str, tuple[str, pd.Series]] = {}
    duplicates, preferred = 0, []
    for folder, df in by_input.items():
        for _, row in df.iterrows():
            run_id = row["run_id"]
            if run_id not in kept:
                kept[run_id] = (folder, row)
                continue
            duplicates += 1
            first_folder, first = kept[run_id]
            diff = _difference(first, row)
            if diff is None:
                continue
            if prefer is None:
                raise UsageError(f"run {run_id} ({row.get('problem')}/{row.get('optimizer')} seed {row.get('seed')}) "
                                 f"differs between {first_folder} and {folder} in {diff}; "
                                 "pass --prefer first or --prefer last to keep one copy")
            if run_id not in preferred:
                preferred.append(run_id)
            if prefer == "last":
                kept[run_id] = (folder, row)
    runs = pd.DataFrame([row for _, row in kept.values()]).reset_index(drop=True)
    return runs, {run_id: folder for run_id, (folder, _) in kept.items()}, duplicates, preferred


def _follow_runs(name: str, by_input: dict[str, pd.DataFrame], source: dict[str, str]) -> pd.DataFrame:
    """Rows of a per-run table: a kept run's from the input it was kept from; rows of a run no
    input's ``runs`` holds (a trial without a run row), from every input, once each."""
    pieces = []
    for folder, df in by_input.items():
        origin = df["run_id"].map(source)
        pieces.append(df[(origin == folder) | origin.isna()])
    frame = pd.concat(pieces, ignore_index=True)
    key = ["run_id", "step"] if name == "curves" else None
    return frame.drop_duplicates(subset=key).reset_index(drop=True)


def _distinct(by_input: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(list(by_input.values()), ignore_index=True)
    return frame.drop_duplicates().reset_index(drop=True)


# -- writing ------------------------------------------------------------------------------------
def _schema(name: str, frame: pd.DataFrame, folder_parts: list[tuple[str, str]]) -> pa.Schema:
    """The table's schema: the registered one with the dynamic columns the frame holds, or (a
    table of a layer this process has not imported) the inputs' own, unified."""
    known = schema.TABLES.get(name)
    if known is None:
        found = []
        for folder, part in folder_parts:
            fs, _ = results._fs(folder)
            with fs.open_input_file(part) as f:
                found.append(pq.read_schema(f))
        return pa.unify_schemas(found).with_metadata(found[0].metadata)
    sch = known.schema()
    for col in frame.columns:
        if col not in sch.names:
            numeric = pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col])
            sch = sch.append(pa.field(col, pa.float64() if numeric else pa.string()))
    return sch


def _write(out: str, name: str, frame: pd.DataFrame, parts: list[tuple[str, str]]) -> None:
    """``frame`` as one new part of ``out``'s table ``name``, written whole and renamed as
    ``raybench.results.write`` writes; ``parts``: the inputs' (folder, part), whose columns a table
    this process does not know keeps."""
    sch = _schema(name, frame, parts)
    rows = frame.to_dict("records")
    data = {f.name: [results._cell(row.get(f.name), f.type) for row in rows] for f in sch}
    tbl = pa.Table.from_pydict(data, schema=sch)
    fs, root = results._fs(out)
    directory = posixpath.join(root, name)
    fs.create_dir(directory, recursive=True)
    sink = pa.BufferOutputStream()
    pq.write_table(tbl, sink)
    path = posixpath.join(directory, f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet")
    results._atomic_write(fs, path, sink.getvalue().to_pybytes())
