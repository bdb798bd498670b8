"""The benchmark runner: problems x optimizers x seeds as Ray tasks, Parquet out.

Each run is one Ray task that builds a ``raybench.train.Run`` and advances it to the end
(no Ray inside the loop). The driver collects finished runs as they come and writes them in
batches (curves first, then runs; each part written whole and renamed), so a crash or Ctrl-C
loses at most the runs still in flight, and ``resume=True`` skips every run already written.
A task whose worker process or node dies is retried by Ray (``max_retries``); a run that
raises is recorded ``failed`` with its error text; a run whose loss turns non-finite is
recorded ``diverged``. The suite always goes on.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from raybench import defaults
from raybench.errors import UsageError
from raybench.ray_utils import require_ray

# The driver's first checks import none of torch, pandas or pyarrow (a command's start overlaps
# Ray's with them); each is imported where it is used.
if TYPE_CHECKING:
    import pandas as pd

    from raybench.identity import Change
    from raybench.spec import RunSpec
    from raybench.train import Run

# How often finished runs are written: after this many runs or seconds, whichever is first.
FLUSH_EVERY_RUNS = int(os.environ.get("RAYBENCH_FLUSH_EVERY_RUNS", "16"))
FLUSH_EVERY_SECONDS = float(os.environ.get("RAYBENCH_FLUSH_EVERY_SECONDS", "10"))
class IncompleteSuite(RuntimeError):
    """Some runs were lost to infrastructure failures; the rest are written (exit 1)."""


def execute(spec: RunSpec, device: str = "cpu",
            code: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Do one run in this process: ``(run row, curve rows)``. Never raises for a run's own fault.

    ``code``: the identity of the code the driver runs (``raybench.identity.Identity.columns``),
    recorded in the row; a worker whose raybench source differs from it raises ``CodeMismatch``
    before the run. ``None``: this process's own identity is recorded."""
    from raybench import identity

    if code is None:
        code = identity.of_spec(spec).columns()
    identity.check_worker(code.get("source_hash"))
    row, curves = _execute(spec, device)
    row.update(code)
    return row, curves


def _execute(spec: RunSpec, device: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from raybench.train import Run

    run = None
    curves: list[dict[str, Any]] = []
    try:
        run = Run(spec, device=device)
        curves = run.advance()
        row = run.summary()
    except Exception as exc:  # noqa: BLE001 - a failing run is a result, not a crash
        row = _failed_row(spec, run, exc, device)
    return row, curves


def _failed_row(spec: RunSpec, run: Run | None, exc: BaseException, device: str) -> dict[str, Any]:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if run is not None:
        run.fail(exc)
        try:
            return run.summary(test=False)
        except Exception:  # noqa: BLE001 - fall back to the row built from the spec alone
            pass
    from raybench.train import failed_row

    return failed_row(spec, error, device=device)


def prepare_data(specs: Sequence[RunSpec], *, log: bool = True) -> list[RunSpec]:
    """Fetch or check every data set the specs need, once, in this process; before any run.

    For an embedded local Ray, whose workers share this machine's data folder: the files
    are downloaded once here instead of by every worker at once, missing data that cannot be
    downloaded is one ``UsageError`` naming the folder and the files (exit 2, nothing started),
    and ``dataset="auto"`` is resolved to the data set found, so that the run ids (and
    ``--resume``) tell full MNIST and the offline subset apart. On a cluster the data live on
    the worker nodes, so the CLI skips this there and a missing file fails each run instead.
    """
    from raybench import problems

    resolved: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[RunSpec] = []
    for spec in specs:
        prob = problems.get(spec.problem)
        if prob.prepare_data is None:
            out.append(spec)
            continue
        key = (spec.problem, repr(sorted(spec.options.items())))
        if key not in resolved:
            try:
                resolved[key] = prob.prepare(**spec.options)
            except problems.ProblemError as exc:
                raise UsageError(f"{spec.problem}: {exc}") from None
            changed = {k: v for k, v in resolved[key].items() if spec.options.get(k, prob.defaults.get(k)) != v}
            if log and changed:
                shown = ", ".join(f"{k}={v}" for k, v in changed.items())
                print(f"data: {spec.problem} uses {shown}", file=sys.stderr)
        out.append(spec.with_(options=resolved[key]) if resolved[key] != spec.options else spec)
    return out


MEMORY_REQUEST_MIN = 64 * 2**20
"""Runs whose memory estimate (``problems.Problem.memory``) is below this ask Ray for no memory:
the many tiny runs keep Ray's default scheduling (one per CPU), which the worker process's own
footprint (Python and torch, several hundred MB, in no estimate) bounds anyway; larger runs ask
for their estimate, so that Ray places no more of them on a node than fit its memory."""


def memory_estimates(specs: Sequence[RunSpec]) -> dict[str, float | None]:
    """Each spec's memory estimate in bytes by run id (``None``: its problem declares none),
    computed once per distinct problem and options."""
    from raybench import problems

    by_options: dict[tuple[str, str], float | None] = {}
    out: dict[str, float | None] = {}
    for spec in specs:
        key = (spec.problem, repr(sorted(spec.options.items())))
        if key not in by_options:
            try:
                by_options[key] = problems.get(spec.problem).memory_bytes(**spec.options)
            except problems.ProblemError as exc:
                raise UsageError(f"{spec.problem}: {exc}") from None
        out[spec.run_id] = by_options[key]
    return out


def describe_memory(spec: RunSpec, estimate: float) -> str:
    """``quadratic with dim=1000000000 needs about 3.2e+19 bytes (28 EiB) per run``."""
    given = " ".join(f"{k}={v}" for k, v in sorted(spec.options.items()))
    return (f"{spec.problem} {'with ' + given if given else 'at its default options'} needs about "
            f"{estimate:.2g} bytes ({human_bytes(estimate)}) per run")


def human_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``23.4 GiB``, ``28 EiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    for unit in units:
        if abs(n) < 1024:
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        import psutil  # a dependency of Ray's

        return int(psutil.virtual_memory().total)


def check_memory(specs: Sequence[RunSpec], *, gpus_per_run: float, have: float | None = None,
                 where: str = "this machine has") -> None:
    """Refuse (one-line ``UsageError``, before any run) a suite with a CPU run whose problem's
    memory estimate exceeds ``have`` bytes (default: this machine's physical memory). GPU runs
    (``gpus_per_run > 0``) are not checked: their model, optimizer state and activations live on
    the GPU, whose memory Ray does not count. Problems that declare no estimate are not checked."""
    if gpus_per_run > 0:
        return
    have = machine_memory() if have is None else have
    estimates = memory_estimates(specs)
    for spec in specs:
        estimate = estimates[spec.run_id]
        if estimate is not None and estimate > have:
            raise UsageError(f"{describe_memory(spec, estimate)}; {where} {human_bytes(have)}: "
                             "choose smaller options")


def largest_memory_request(specs: Sequence[RunSpec], *, gpus_per_run: float) -> tuple[str, float] | None:
    """The largest memory a run of ``specs`` asks Ray for (``resources_for``), described
    (``describe_memory``), for the check against the cluster's nodes; ``None``: none asks."""
    estimates = memory_estimates(specs)
    asked = [(resources_for(s, cpus_per_run=1.0, gpus_per_run=gpus_per_run, estimate=estimates[s.run_id])
              .get("memory", 0), s) for s in specs]
    memory, spec = max(asked, key=lambda a: a[0], default=(0, None))
    return (describe_memory(spec, memory), float(memory)) if memory else None


def resources_for(spec: RunSpec, *, cpus_per_run: float, gpus_per_run: float,
                  estimate: float | None) -> dict[str, Any]:
    """The Ray resources one run of ``spec`` asks for: its CPUs and GPUs and, for a CPU run whose
    memory ``estimate`` (bytes) is at least ``MEMORY_REQUEST_MIN``, that memory."""
    resources: dict[str, Any] = {"num_cpus": cpus_per_run, "num_gpus": gpus_per_run}
    if gpus_per_run == 0 and estimate is not None and estimate >= MEMORY_REQUEST_MIN:
        resources["memory"] = int(estimate)
    return resources


def check_max_retries(max_retries: int) -> None:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise UsageError(f"bad --max-retries {max_retries!r}; accepted: an integer >= 0")


def check_requests(cpus_per_run: float, gpus_per_run: float) -> None:
    if not cpus_per_run > 0 or not gpus_per_run >= 0:
        raise UsageError(f"--cpus-per-run must be > 0 and --gpus-per-run >= 0, "
                         f"got {cpus_per_run} and {gpus_per_run}")


def check_folder(out: str, *, resume: bool, specs: Sequence[RunSpec] = ()) -> set[str]:
    """The run ids already in ``out``; without ``resume``, a folder holding runs is refused
    (so that results are never mixed by accident), and runs of ``specs`` there made by other code
    than now are refused too (one line naming the entries: ``identity.changes``), for a command
    that has no ``--rerun-changed``."""
    runs = check_resume(out, resume=resume)
    if specs:
        check_code(out, specs, runs, rerun_changed=False, remedy="choose another --out")
    return set(runs["run_id"])


class Resume(NamedTuple):
    """A folder read for ``--resume``: what to skip and what other code made."""

    done: set[str]
    """Run ids to skip: in the folder, and made by the code that would run them now."""
    changed: list[Change]
    """Runs of the suite in the folder made by other code (``--rerun-changed`` redoes them)."""

    @property
    def redo(self) -> set[str]:
        return {rid for change in self.changed for rid in change.run_ids}


def check_resume(out: str, *, resume: bool) -> pd.DataFrame:
    """``check_folder``, returning the folder's runs with the code that made them
    (``results.finished_runs``, read once) for ``check_code``."""
    from raybench import results

    runs = results.finished_runs(out)
    if len(runs) and not resume:
        raise UsageError(f"{out} already holds {len(runs)} runs; pass --resume to complete it, "
                         "or choose another --out")
    return runs


def check_code(out: str, specs: Sequence[RunSpec], runs: pd.DataFrame, *, rerun_changed: bool,
               remedy: str = "pass --rerun-changed to redo them, or choose another --out") -> Resume:
    """The folder's runs of ``specs`` (``runs``, from ``check_resume``) made by other code than now
    (``raybench.identity.changes``: raybench's source, a user entry's files, a policy's weights)
    are refused, naming the entries, unless ``rerun_changed``: then they are left out of
    ``done``, to be removed (``results.drop_runs``) and run again."""
    from raybench import identity

    changed = identity.changes(specs, runs)
    if changed and not rerun_changed:
        raise UsageError(f"{out} holds runs made by other code than now: {identity.describe(changed)}; {remedy}")
    state = Resume(set(runs["run_id"]), changed)
    return state._replace(done=state.done - state.redo)


def run_suite(specs: Sequence[RunSpec], out: str, *, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
              resume: bool = False, progress: bool = True,
              max_retries: int = defaults.MAX_RETRIES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every spec on Ray (already started: ``raybench.ray_utils.init_ray``) and write the
    results to ``out``; returns ``results.read(out)``. The library's one call: it checks the
    requests, the retries and the folder itself, then ``run_specs``.

    ``resume`` skips runs already in ``out``; without it, a folder that already holds runs
    is refused (so results are never mixed by accident). ``max_retries``: how many times Ray
    redoes a run whose worker process or node died; a run lost more often than that has no
    row, and the suite ends with ``IncompleteSuite`` after writing every other run.
    """
    from raybench import results

    require_ray()
    check_requests(cpus_per_run, gpus_per_run)
    check_max_retries(max_retries)
    results.init(out)
    done = check_folder(out, resume=resume, specs=specs)
    run_specs(specs, out, done=done, resume=resume, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
              progress=progress, max_retries=max_retries)
    return results.read(out)


def run_specs(specs: Sequence[RunSpec], out: str, *, done: set[str], resume: bool, cpus_per_run: float,
              gpus_per_run: float, progress: bool, max_retries: int) -> Counter[str]:
    """Run the specs whose run ids are not in ``done`` on Ray and write them to ``out``; returns
    how many runs were written with each status. A stage of a command that has checked its
    requests and read ``done`` from the folder it holds as writer (``check_folder``): all of
    that is taken as given. ``resume``: first drop the curves of runs that have no run row.
    """
    from raybench import results

    require_ray()
    if resume:
        results.drop_orphan_curves(out, done)
    by_id: dict[str, RunSpec] = {}
    for spec in specs:
        by_id.setdefault(spec.run_id, spec)  # a spec listed twice is one run
    todo = [s for rid, s in by_id.items() if rid not in done]
    skipped = len(by_id) - len(todo)
    if skipped:
        print(f"resume: {skipped} of {len(by_id)} runs already in {out}", file=sys.stderr)
    if not todo:
        return Counter()
    return _fan_out(todo, out, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, progress=progress,
                    max_retries=max_retries)


def _fan_out(todo: list[RunSpec], out: str, *, cpus_per_run: float, gpus_per_run: float,
             progress: bool, max_retries: int) -> Counter[str]:
    import ray

    from raybench import identity, results

    device = "cuda" if gpus_per_run > 0 else "cpu"
    remote = ray.remote(execute)
    estimates = memory_estimates(todo)
    pending = {remote.options(max_retries=max_retries, retry_exceptions=False, scheduling_strategy="SPREAD",
                              **resources_for(spec, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                                              estimate=estimates[spec.run_id]))
               .remote(spec, device, identity.of_spec(spec).columns()): spec for spec in todo}
    bar = _Progress(len(todo), cpus_per_run, enabled=progress)
    buffer_runs: list[dict[str, Any]] = []
    buffer_curves: list[dict[str, Any]] = []
    lost: list[str] = []
    written: Counter[str] = Counter()
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal buffer_runs, buffer_curves, last_flush
        results.write_runs(out, buffer_runs, buffer_curves)
        buffer_runs, buffer_curves, last_flush = [], [], time.monotonic()

    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.5)
            for ref in ready:
                spec = pending.pop(ref)
                try:
                    row, curves = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    if isinstance(getattr(exc, "cause", None), identity.CodeMismatch):
                        raise identity.CodeMismatch(str(exc.cause)) from None  # what is written stays
                    # execute() never raises, so this is the system's fault (its worker or node
                    # died max_retries + 1 times): no row is written, so --resume retries it.
                    lost.append(f"{spec.problem}/{spec.optimizer}/seed {spec.seed}: {type(exc).__name__}")
                    bar.update("lost")
                    continue
                buffer_runs.append(row)
                buffer_curves.extend(curves)
                written[row["status"]] += 1
                bar.update(row["status"])
            if buffer_runs and (len(buffer_runs) >= FLUSH_EVERY_RUNS
                                or time.monotonic() - last_flush > FLUSH_EVERY_SECONDS):
                flush()
            bar.refresh(len(pending))
    finally:
        # On Ctrl-C or any error: keep every finished run, drop the ones in flight. They are not
        # cancelled but left to end with Ray (a command stops it next: ray_utils.stop_ray; a
        # caller that keeps Ray up lets them run out or shuts it down): ray.cancel on a run whose
        # result is arriving at that moment aborts Ray 2.60's core ("Check failed: ... Tried to
        # complete task that was not pending", exit 1 or -6), and which run is finishing cannot
        # be known here.
        if buffer_runs:
            flush()
        bar.close()
    if lost:
        raise IncompleteSuite(
            f"{len(lost)} runs lost to worker or node failures after {max_retries} retries "
            f"(first: {lost[0]}); every other run is in {out}: rerun with --resume to complete")
    return written


class _Progress:
    """A progress bar: completed / running / failed runs and ETA (tqdm on stderr)."""

    def __init__(self, total: int, cpus_per_run: float, *, enabled: bool, unit: str = "run") -> None:
        self.counts: Counter[str] = Counter()
        self.enabled = enabled
        self.cpus_per_run = cpus_per_run
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1, mininterval=0.5)

    def grow(self, more: int) -> None:
        """More work joined (the learning-rate search's values past an edge)."""
        if self.bar is not None:
            self.bar.total += more
            self.bar.refresh()

    def update(self, status: str) -> None:
        self.counts[status] += 1
        if self.bar is not None:
            self.bar.update(1)

    def refresh(self, n_pending: int) -> None:
        if self.bar is None:
            return
        import ray

        slots = ray.available_resources().get("CPU", 0.0) if n_pending else 0.0
        total_cpu = ray.cluster_resources().get("CPU", 0.0)
        running = min(n_pending, int(round((total_cpu - slots) / self.cpus_per_run))) if n_pending else 0
        lost = f" lost={self.counts['lost']}" if self.counts["lost"] else ""
        self.bar.set_postfix_str(
            f"ok={self.counts['ok']} diverged={self.counts['diverged']} "
            f"failed={self.counts['failed']}{lost} running={max(running, 0)}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
