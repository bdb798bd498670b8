"""``raybench run``: a suite of problems x optimizers x seeds on Ray, to Parquet.

    raybench run --suite quick --out results/
    raybench run --problems quadratic,logistic --optimizers adam,sgd --seeds 5 --steps 200 --out r/
    raybench run --config suite.yaml --out r/ --address ray://head:10001
    raybench run ... --resume          # complete an interrupted run, never duplicating a row
    raybench run ... --check           # check everything and list the runs; run nothing
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from typing import TYPE_CHECKING

from raybench.commands import options

if TYPE_CHECKING:
    from raybench.lr_search import Plan


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a benchmark suite on Ray and write Parquet results",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to run (one of --suite, --config, --problems)")
    what.add_argument("--suite", help="a built-in suite: quick, standard, standard_gpu, seed")
    what.add_argument("--config", help="a YAML suite file")
    options.add_problem(what, "--problems", many=True)
    options.add_optimizer(what, "--optimizers", many=True, more=" (default: all baselines)")
    what.add_argument("--seeds", type=int, help="number of seeds (0..N-1)")
    what.add_argument("--steps", type=int, help="steps per run (default: each problem's budget)")
    options.add_eval_every(what)
    options.add_option(what)
    options.add_hparam(what)
    options.add_out(p, uri=True)
    options.add_address(p)
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs per run (fractions allowed)")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs per run (fractions allowed)")
    options.add_resume(p)
    p.add_argument("--rerun-changed", action="store_true",
                   help="with --resume: redo the runs in --out made by other code than now (raybench's source, "
                        "a --py-modules file, a policy's weights), which --resume alone refuses")
    options.add_pending_timeout(p)
    options.add_max_retries(p)
    p.add_argument("--tune-lr", action="store_true",
                   help="first search each (problem, optimizer) learning rate on validation, same budget for all")
    options.add_tune_samples(p)
    options.add_py_modules(p)
    options.add_no_progress(p)
    p.add_argument("--check", action="store_true",
                   help="check the suite as a run would (names, options, hyperparameters, data, the results "
                        "folder), list its runs and stop: no Ray, no run (missing data is fetched, as for a run)")
    p.set_defaults(handler=main)


def build_specs(args: argparse.Namespace) -> list:
    from raybench import optimizers, suites
    from raybench.errors import UsageError

    chosen = [n for n in ("suite", "config", "problems") if getattr(args, n)]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --suite NAME, --config FILE or --problems LIST")
    if args.suite:
        suite = dict(suites.builtin(args.suite))
    elif args.config:
        suite = suites.load_file(args.config)
    else:
        given = suites.parse_option_flags(args.option)
        suite = {"name": "cli", "problems": _problem_entries(args.problems, given),
                 "optimizers": options.split(args.optimizers) if args.optimizers else optimizers.baselines()}
    if args.optimizers and not args.problems:
        suite["optimizers"] = options.split(args.optimizers)
    if args.option and not args.problems:
        raise UsageError("--option applies to --problems; in a suite file put options under the problem")
    return suites.expand(suite, hparam_overrides=suites.parse_hparam_flags(args.hparam),
                         steps=args.steps, seeds=args.seeds, eval_every=args.eval_every)


def _problem_entries(text: str, given: dict) -> list[dict]:
    from raybench import problems, suites
    from raybench.errors import UsageError

    names = [suites.use_problem(name) for name in options.split(text)]
    accepted = {name: problems.get(name).options for name in names}
    for key in given:
        if not any(key in accepted[n] for n in names):
            raise UsageError(f"option {key!r} is accepted by none of {', '.join(names)}")
    return [{"name": name, "options": {k: v for k, v in given.items() if k in accepted[name]}} for name in names]


def main(args: argparse.Namespace) -> int:
    """The arguments parsed, build and check every spec and read the folder once (``_prepare``,
    while Ray starts), then tune, fan out, write and report (``_run``): each stage takes what
    the one before resolved."""
    from raybench import runner
    from raybench.ray_utils import ensure_resources, start_ray

    # Every check before any run: each user error is exit 2. Those that need no imports come
    # first; the suite's own (names, options, hyperparameters, folder, data) run while Ray starts.
    runner.check_max_retries(args.max_retries)
    runner.check_requests(args.cpus_per_run, args.gpus_per_run)
    py_modules = options.check_py_modules(args.py_modules)
    if args.check:
        return _check(args, _prepare(args, None))
    with contextlib.ExitStack() as held:  # the folder's writer lock, from _prepare to the end
        prepared = start_ray(args.address, lambda: _prepare(args, held), warm_cpus=args.cpus_per_run,
                             warm_at_most=lambda p: len(p.specs), py_modules=py_modules)
        ensure_resources(cpus=args.cpus_per_run, gpus=args.gpus_per_run, embedded=args.address is None,
                         pending_timeout=args.pending_timeout,
                         memory=runner.largest_memory_request(prepared.specs, gpus_per_run=args.gpus_per_run))
        return _run(args, prepared)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What ``_prepare`` resolved, handed to the stages after it."""

    specs: list
    """The suite's specs, built, checked and (embedded Ray) with their data resolved."""
    done: set[str]
    """Run ids already in the folder and made by the code now, read once, holding it as its writer."""
    redo: set[str] = dataclasses.field(default_factory=set)
    """``--rerun-changed``: run ids in the folder made by other code, to remove and run again."""
    search: Plan | None = None
    """``--tune-lr``: the checked ``raybench.lr_search.Plan``; else ``None``."""
    previous: dict = dataclasses.field(default_factory=dict)
    """``--tune-lr --resume``: the learning rates chosen by earlier searches in the folder."""


def _prepare(args: argparse.Namespace, held: contextlib.ExitStack | None) -> Prepared:
    """The suite's specs, built and checked, and the folder read once: ``held``, the folder
    taken as its one writer there (``results.writer``, released when ``held`` closes); ``None``
    (``--check``), only checked free. A folder holding runs is refused unless --resume. On the
    embedded Ray, whose workers share this machine's data folder, the data are fetched or
    checked once here; with --tune-lr the search is checked and planned on the final specs."""
    from raybench import results, runner

    specs = build_specs(args)
    if held is None:
        results.check(args.out)  # --check creates nothing
    else:
        held.enter_context(results.writer(args.out))
    runs = runner.check_resume(args.out, resume=args.resume or args.rerun_changed)
    if args.address is None:
        specs = runner.prepare_data(specs)
        # A cluster's nodes are checked once Ray is up (ensure_resources); this machine's now.
        runner.check_memory(specs, gpus_per_run=args.gpus_per_run)
    folder = runner.check_code(args.out, specs, runs, rerun_changed=args.rerun_changed)
    if folder.changed:
        from raybench import identity

        verb = "would redo" if held is None else "redoing"
        print(f"--rerun-changed: {verb} the runs made by other code: {identity.describe(folder.changed)}",
              file=sys.stderr)
    if not args.tune_lr:
        return Prepared(specs, folder.done, folder.redo)
    from raybench import lr_search

    search = lr_search.plan(specs, samples=args.tune_samples)
    previous = lr_search.previous_choices(args.out) if args.resume or args.rerun_changed else {}
    if folder.redo:  # a learning rate other code chose is searched again with the code now
        redone = runs[runs["run_id"].isin(folder.redo)]
        stale = set(zip(redone["problem"], redone["optimizer"], strict=True))
        previous = {key: lr for key, lr in previous.items() if tuple(key[:2]) not in stale}
    return Prepared(specs, folder.done, folder.redo, search, previous)


def _check(args: argparse.Namespace, prepared: Prepared) -> int:
    """``--check``: the suite passed every check a run makes before Ray starts; list its runs
    (per problem and optimizer) and what a run would skip. (Whether a cluster can meet
    --cpus/--gpus-per-run is known only once Ray is up.)"""
    specs = prepared.specs
    todo = [s for s in specs if s.run_id not in prepared.done]
    pairs: dict[tuple[str, str], list[str]] = {}
    for s in todo:
        pairs.setdefault((s.problem, s.optimizer), []).append(str(s.steps or "default"))
    for (problem, optimizer), steps in pairs.items():
        print(f"{problem}  {optimizer}  {len(steps)} runs  steps {', '.join(sorted(set(steps)))}")
    skipped = f", {len(specs) - len(todo)} already there (--resume)" if len(todo) < len(specs) else ""
    if prepared.search is not None:
        searched = [k for k in prepared.search.pairs if k not in prepared.previous]
        print(f"check: --tune-lr would search {len(searched)} of {len(prepared.search.pairs)} pairs, "
              f"{prepared.search.samples} values each", file=sys.stderr)
    print(f"check: {len(todo)} runs to write to {args.out}{skipped}; nothing run", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, prepared: Prepared) -> int:
    from raybench import runner

    specs = prepared.specs
    if prepared.redo:
        from raybench import results

        results.drop_runs(args.out, prepared.redo)
    if prepared.search is not None:
        from raybench import lr_search

        specs = lr_search.tune(prepared.search, args.out, previous=prepared.previous,
                               cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
    written = runner.run_specs(specs, args.out, done=prepared.done, resume=args.resume or args.rerun_changed,
                               cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                               progress=not args.no_progress, max_retries=args.max_retries)
    counts = ", ".join(f"{v} {k}" for k, v in sorted(written.items())) or "none"
    before = f"; {len(prepared.done)} written before" if prepared.done else ""
    print(f"{len(prepared.done) + written.total()} runs in {args.out} ({counts} written now{before}); "
          f"report: raybench report {args.out}", file=sys.stderr)
    return 0
