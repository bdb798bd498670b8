"""What code made a run: raybench's own source, each user entry's files, a policy's weights.

Every run row records three identities beside ``git_commit`` (``raybench.provenance``):

- ``source_hash``: a hash of raybench's package source, every ``.py`` file of the packages
  raybench installs (``raybench``, its commands, optimizers and learned-optimizer code, and the
  problems, tuning, rl and reproduce layers), keyed by package and file name, so a checkout
  and an installed copy of the same code hash alike;
- ``optimizer_code`` and ``problem_code``: for an entry named by import path, a hash of its
  files (the ``.py`` file, or every file of the package folder it lives in: what
  ``--py-modules`` ships), or ``version X`` of the installed distribution that provides it; for
  a built-in entry nothing beyond ``source_hash``; and for an optimizer given a ``policy`` file
  (the learned optimizer), the hash of that file and of its weights / metadata beside it.

``raybench run --resume`` compares the identities a folder's runs were written with to the
code now (``changes``): a run made by other code is named and refused (exit 2), or redone with
``--rerun-changed``. A Ray worker compares its own ``source_hash`` with the driver's before a
run (``raybench.runner.execute``) and refuses to run on other code.

Hashes are SHA-256, the first 16 hex digits, computed once per process and file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from raybench.spec import RunSpec

PACKAGES = ("raybench", *(f"raybench.{sub}" for sub in ("commands", "learned", "optimizers", "problems",
                                                          "tuning", "rl", "reproduce")))
"""The packages whose source is raybench's (pyproject's ``[tool.setuptools] packages``). Their
folders are found with ``importlib.util.find_spec``, which imports none of them (only their
parent, ``raybench``): core hashes the layers' files without importing the layers."""

COLUMNS = ("source_hash", "optimizer_code", "problem_code")
"""The run columns this module fills (``raybench.schema``'s runs table)."""

_POLICY_SUFFIXES = (".json", ".safetensors", ".pt")


class CodeMismatch(RuntimeError):
    """A Ray worker's raybench source differs from the driver's: it refuses to run."""


def _digest(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "little"))
        h.update(chunk)
    return h.hexdigest()[:16]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def source_hash() -> str:
    """raybench's package source (every ``.py`` file of ``PACKAGES``, by package and name)."""
    chunks: list[bytes] = []
    for package in PACKAGES:
        folder = _package_dir(package)
        if folder is None:
            continue
        for path in sorted(folder.glob("*.py")):
            chunks += [f"{package}/{path.name}".encode(), path.read_bytes()]
    return _digest(chunks)


@functools.cache
def _files_hash(root: str, mtimes: tuple[tuple[str, int], ...]) -> str:
    """Every file under ``root`` (a file or a folder), by relative name; ``mtimes`` keys the cache."""
    base = Path(root)
    chunks: list[bytes] = []
    for rel, _ in mtimes:
        chunks += [rel.encode(), (base / rel if rel else base).read_bytes()]
    return _digest(chunks)


def files_hash(path: str | os.PathLike) -> str:
    """A hash of ``path``: a file's bytes, or every file under a folder (``__pycache__`` and
    hidden files left out), each with its name relative to the folder."""
    base = Path(path)
    if base.is_file():
        return _files_hash(str(base), (("", base.stat().st_mtime_ns),))
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(".pyc"):
                continue
            full = Path(dirpath) / name
            found.append((full.relative_to(base).as_posix(), full.stat().st_mtime_ns))
    return _files_hash(str(base), tuple(found))


def module_code(import_path: str | None) -> str | None:
    """The identity of the code an import path (``MODULE:ATTR``) names: ``version X`` of the
    installed distribution providing it, else ``sha256:<hash>`` of its files (the module's file,
    or the whole folder of the top-level package it lives in); ``None`` for no path, or a module
    that cannot be found."""
    if not import_path:
        return None
    from raybench.registry import distribution_version

    module = import_path.partition(":")[0]
    version = distribution_version(module)
    if version is not None:
        return f"version {version}"
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package: every file of its folder
        return "sha256:" + files_hash(next(iter(spec.submodule_search_locations)))
    if spec.origin and os.path.isfile(spec.origin):
        return "sha256:" + files_hash(spec.origin)
    return None


def policy_files(policy: str | os.PathLike) -> list[Path]:
    """A policy file and the files of the same name beside it (weights and their metadata)."""
    path = Path(policy)
    stem = path.with_suffix("")
    found = {path} | {stem.with_suffix(s) for s in _POLICY_SUFFIXES}
    return sorted(p for p in found if p.is_file())


def policy_code(policy: str | os.PathLike) -> str | None:
    files = policy_files(policy)
    if not files:
        return None
    return "policy " + _digest(f"{p.name}:{files_hash(p)}".encode() for p in files)


class Identity(NamedTuple):
    """The code a run is made by (the run columns ``COLUMNS``)."""

    source_hash: str
    optimizer_code: str | None
    problem_code: str | None

    def columns(self) -> dict[str, Any]:
        return self._asdict()


def _entry_path(kind: str, name: str, given: str | None) -> str | None:
    """A user entry's import path: the one the spec carries, else the registry's for an entry
    that is not built in (an installed package's entry point)."""
    if given:
        return given
    from raybench import optimizers, problems

    registry = optimizers.REGISTRY if kind == "optimizer" else problems.REGISTRY
    entry = registry[name] if name in registry else None
    if entry is None or entry.origin == "raybench":
        return None
    return entry.path


def of_spec(spec: RunSpec) -> Identity:
    """The identity of the code that runs ``spec`` in this process."""
    optimizer = module_code(_entry_path("optimizer", spec.optimizer, spec.optimizer_path))
    policy = spec.hparams.get("policy")
    if isinstance(policy, str | os.PathLike) and str(policy):
        code = policy_code(policy)
        if code is not None:
            optimizer = f"{optimizer}; {code}" if optimizer else code
    problem = module_code(_entry_path("problem", spec.problem, spec.problem_path))
    return Identity(source_hash(), optimizer, problem)


def check_worker(expected: str | None) -> None:
    """In a Ray worker: refuse (``CodeMismatch``) when its raybench source is not the driver's."""
    if expected is not None and source_hash() != expected:
        import socket

        raise CodeMismatch(
            f"the Ray worker on {socket.gethostname()} runs other raybench code (source hash "
            f"{source_hash()}, the driver's {expected}): install the driver's raybench on every node")


class Change(NamedTuple):
    """Runs of one entry in a folder made by other code than now."""

    entry: str
    """What changed: ``raybench``, ``optimizer NAME`` or ``problem NAME``."""
    was: str | None
    now: str | None
    run_ids: tuple[str, ...]


def _policy(hparams: Any) -> str | None:
    if isinstance(hparams, str):
        try:
            hparams = json.loads(hparams)
        except ValueError:
            return None
    policy = hparams.get("policy") if isinstance(hparams, dict) else None
    return str(policy) if isinstance(policy, str | os.PathLike) and str(policy) else None


def _compare(runs: Any, now_of: Callable[[tuple[str, str, str | None]], Identity | None]) -> list[Change]:
    """The runs (``results.finished_runs``) whose recorded identity differs from ``now_of((problem,
    optimizer, policy))``, grouped by entry; a run whose key gives ``None`` is not judged, one that
    recorded no source hash (an older raybench) counts as other code."""
    import pandas as pd

    if runs is None or len(runs) == 0:
        return []
    found: dict[tuple[str, str | None, str | None], list[str]] = {}
    for row in runs.itertuples(index=False):
        current = now_of((row.problem, row.optimizer, _policy(getattr(row, "hparams", None))))
        if current is None:
            continue
        for column, entry in (("source_hash", "raybench"), ("optimizer_code", f"optimizer {row.optimizer}"),
                              ("problem_code", f"problem {row.problem}")):
            was = getattr(row, column, None)
            was = None if was is None or (isinstance(was, float) and pd.isna(was)) else was
            if was != getattr(current, column) or (column == "source_hash" and was is None):
                found.setdefault((entry, was, getattr(current, column)), []).append(row.run_id)
    return [Change(entry, was, code, tuple(ids)) for (entry, was, code), ids in found.items()]


def changes(specs: Sequence[RunSpec], runs: Any) -> list[Change]:
    """The entries whose runs in ``runs`` (a folder's runs: ``results.finished_runs``) were made
    by other code than ``specs`` would be now. A run counts when its problem and optimizer (and
    policy file, if any) are a pair of ``specs``, whatever its seed or hyperparameters (runs of a
    tuned learning rate included). A run that recorded no identity (an older raybench) counts as
    other code."""
    now: dict[tuple[str, str, str | None], Identity] = {}
    for spec in specs:
        key = (spec.problem, spec.optimizer, _policy(spec.hparams))
        if key not in now:
            now[key] = of_spec(spec)
    return _compare(runs, now.get)


def _known_identity(problem: str, optimizer: str, policy: str | None) -> Identity | None:
    """The identity this process would give runs of these entries (looked up by name in its
    registries); ``None`` for an entry it does not know."""
    from raybench import optimizers, problems

    if optimizer not in optimizers.REGISTRY or problem not in problems.REGISTRY:
        return None
    code = module_code(_entry_path("optimizer", optimizer, None))
    if policy:
        here = policy_code(policy)
        if here is not None:
            code = f"{code}; {here}" if code else here
    return Identity(source_hash(), code, module_code(_entry_path("problem", problem, None)))


def stale(runs: Any) -> list[Change]:
    """``changes`` without a suite: the runs of a folder (``results.finished_runs``) made by
    other code than this process would run them with, for every entry it knows by name (a
    command such as ``reproduce`` whose suite is built in); runs of entries it does not know are
    left out."""
    known: dict[tuple[str, str, str | None], Identity | None] = {}

    def now_of(key: tuple[str, str, str | None]) -> Identity | None:
        if key not in known:
            known[key] = _known_identity(*key)
        return known[key]

    return _compare(runs, now_of)


def describe(change_list: Sequence[Change]) -> str:
    """The changes in one line: each entry, its runs, and the code then and now."""
    parts = []
    for c in change_list:
        was = c.was or "no record"
        parts.append(f"{c.entry} ({len(c.run_ids)} runs; code {was} -> {c.now or 'none'})")
    return "; ".join(parts)


def _short(code: Any) -> str:
    text = "none" if code is None or (isinstance(code, float) and code != code) else str(code)
    return text.rsplit(" ", 1)[-1].removeprefix("sha256:")[:7]


def split_by_code(runs: Any) -> tuple[Any, list[str]]:
    """A report never mixes runs made by different code under one name: where one problem's
    runs of an optimizer were made by more than one code (``COLUMNS``), the runs of the code that
    ran last (the latest ``started_at``) keep the name and the others are renamed
    ``NAME@CODE`` (the first digits of what differs: the entry's hash, else raybench's source
    hash). Returns the runs (a copy when any is renamed) and a line per renamed group."""
    import pandas as pd

    present = [c for c in COLUMNS if c in runs]
    if runs.empty or not present:
        return runs, []
    keys = runs[present].astype(object).where(runs[present].notna(), None)
    codes = keys.apply(tuple, axis=1)
    renamed = runs
    notes = []
    for (problem, optimizer), group in runs.groupby(["problem", "optimizer"], sort=True):
        variants = codes.loc[group.index]
        if variants.nunique(dropna=False) < 2:
            continue
        started = pd.to_datetime(group.get("started_at"), errors="coerce", utc=True, format="ISO8601") \
            if "started_at" in group else pd.Series(pd.NaT, index=group.index)
        latest = variants.loc[started.fillna(pd.Timestamp.min.tz_localize("UTC")).idxmax()]
        if renamed is runs:
            renamed = runs.copy()
        for variant in sorted(set(variants) - {latest}, key=str):
            index = variants[variants == variant].index
            differs = [i for i in (1, 2, 0) if variant[i] != latest[i]][0] if len(variant) == 3 else 0
            label = f"{optimizer}@{_short(variant[differs])}"
            renamed.loc[index, "optimizer"] = label
            notes.append(f"{problem}: {len(index)} runs of {optimizer} made by other code than its latest "
                         f"runs are reported as {label}")
    return renamed, notes


def versions(runs: Any) -> list[str]:
    """The raybench versions a folder's runs were made by: version, commit and source hash, with
    how many runs each, most runs first."""
    columns = [c for c in ("raybench_version", "git_commit", "source_hash") if c in runs]
    if runs.empty or not columns:
        return []
    counts = runs[columns].astype(object).fillna("unknown").value_counts()
    lines = []
    for key, n in counts.items():
        fields = dict(zip(columns, key if isinstance(key, tuple) else (key,), strict=True))
        commit = str(fields.get("git_commit", "unknown"))[:10]
        lines.append(f"raybench {fields.get('raybench_version', 'unknown')} (commit {commit}, source "
                     f"{fields.get('source_hash', 'unknown')}): {n} runs")
    return lines
