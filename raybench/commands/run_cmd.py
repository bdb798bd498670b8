"""``raybench run``: a suite of problems x optimizers x seeds on Ray, to Parquet.

    raybench run --suite quick --out results/
    raybench run --problems quadratic,logistic --optimizers adam,sgd --seeds 5 --steps 200 --out r/
    raybench run --config suite.yaml --out r/ --address ray://head:10001
    raybench run ... --resume          # complete an interrupted run, never duplicating a row
    raybench run ... --check           # check everything and list the runs; run nothing
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a benchmark suite on Ray and write Parquet results",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to run (one of --suite, --config, --problems)")
    what.add_argument("--suite", help="a built-in suite: quick, seed")
    what.add_argument("--config", help="a YAML suite file")
    what.add_argument("--problems", help="comma-separated problem names")
    what.add_argument("--optimizers", help="comma-separated optimizer names (default: all baselines)")
    what.add_argument("--seeds", type=int, help="number of seeds (0..N-1)")
    what.add_argument("--steps", type=int, help="steps per run (default: each problem's budget)")
    what.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                      help="problem option for --problems, e.g. dataset=mnist_subset (repeatable)")
    what.add_argument("--hparam", action="append", default=[], metavar="OPT.NAME=VALUE",
                      help="hyperparameter, e.g. adam.lr=0.01 (repeatable)")
    p.add_argument("--out", required=True, help="results folder (or s3://, gs:// URI)")
    p.add_argument("--address", help="join this Ray cluster (default: start an embedded local Ray)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs per run (fractions allowed)")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs per run (fractions allowed)")
    p.add_argument("--resume", action="store_true", help="skip runs already in --out")
    p.add_argument("--pending-timeout", type=float, default=600.0, metavar="S",
                   help="on a cluster that cannot yet meet --cpus/--gpus-per-run, wait this long for its "
                        "autoscaler before stopping (default 600)")
    p.add_argument("--max-retries", type=int, default=3, metavar="N",
                   help="times a run is redone when its worker process or node dies (default 3)")
    p.add_argument("--tune-lr", action="store_true",
                   help="first search each (problem, optimizer) learning rate on validation, same budget for all")
    p.add_argument("--tune-samples", type=int, default=6, help="learning rates tried per pair with --tune-lr")
    p.add_argument("--py-modules", action="append", default=[], metavar="PATH",
                   help="a .py file or package folder of yours (e.g. an optimizer or problem named by import "
                        "path) to ship to every Ray worker (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        options = suites.parse_option_flags(args.option)
        suite = {"name": "cli", "problems": _problem_entries(args.problems, options),
                 "optimizers": _split(args.optimizers) if args.optimizers else optimizers.baselines()}
    if args.optimizers and not args.problems:
        suite["optimizers"] = _split(args.optimizers)
    if args.option and not args.problems:
        raise UsageError("--option applies to --problems; in a suite file put options under the problem")
    return suites.expand(suite, hparam_overrides=suites.parse_hparam_flags(args.hparam),
                         steps=args.steps, seeds=args.seeds)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _problem_entries(text: str, options: dict) -> list[dict]:
    from raybench import problems, suites
    from raybench.errors import UsageError

    entries = []
    names = [suites.use_problem(name) for name in _split(text)]
    for name in names:
        accepted = problems.get(name).options
        entries.append({"name": name, "options": {k: v for k, v in options.items() if k in accepted}})
    for key in options:
        if not any(key in problems.get(n).options for n in names):
            raise UsageError(f"option {key!r} is accepted by none of {', '.join(names)}")
    return entries


def main(args: argparse.Namespace) -> int:
    from raybench import runner
    from raybench.ray_utils import ensure_resources, start_ray

    # Every check before any run: each user error is exit 2. Those that need no imports come
    # first; the suite's own (names, options, hyperparameters, folder, data) run while Ray starts.
    runner.check_max_retries(args.max_retries)
    runner.check_requests(args.cpus_per_run, args.gpus_per_run)
    py_modules = check_py_modules(args.py_modules)
    if args.check:
        return _check(args, _prepare(args))
    specs = start_ray(args.address, lambda: _prepare(args), warm_cpus=args.cpus_per_run, warm_at_most=len,
                      py_modules=py_modules)
    from raybench import results

    with results.writer(args.out):
        runner.check_folder(args.out, resume=args.resume)  # again, now as the folder's one writer
        ensure_resources(cpus=args.cpus_per_run, gpus=args.gpus_per_run, embedded=args.address is None,
                         pending_timeout=args.pending_timeout)
        return _run(args, specs)


def check_py_modules(paths: list[str]) -> list[str] | None:
    """``--py-modules``: their absolute paths (checked: a ``.py`` file or a package folder), made
    importable here; ``None`` when none is given."""
    if not paths:
        return None
    from raybench import entries

    return entries.add_module_paths(paths)


def _prepare(args: argparse.Namespace) -> list:
    """The suite's specs, built and checked, and the folder checked (writable, not in use, no
    runs unless --resume); on the embedded Ray, whose workers share this machine's data
    folder, the data fetched or checked once here."""
    from raybench import results, runner

    specs = build_specs(args)
    if args.tune_lr:
        from raybench import lr_search

        lr_search.check_tunable(specs)
    results.init(args.out)
    results.check_free(args.out)
    runner.check_folder(args.out, resume=args.resume)
    if args.address is None:
        specs = runner.prepare_data(specs)
    return specs


def _check(args: argparse.Namespace, specs: list) -> int:
    """``--check``: the suite passed every check a run makes before Ray starts; list its runs
    (per problem and optimizer) and what a run would skip. (Whether a cluster can meet
    --cpus/--gpus-per-run is known only once Ray is up.)"""
    from raybench import runner

    done = runner.check_folder(args.out, resume=args.resume)
    todo = [s for s in specs if s.run_id not in done]
    pairs: dict[tuple[str, str], list[str]] = {}
    for s in todo:
        pairs.setdefault((s.problem, s.optimizer), []).append(str(s.steps or "default"))
    for (problem, optimizer), steps in pairs.items():
        print(f"{problem}  {optimizer}  {len(steps)} runs  steps {', '.join(sorted(set(steps)))}")
    skipped = f", {len(specs) - len(todo)} already there (--resume)" if len(todo) < len(specs) else ""
    print(f"check: {len(todo)} runs to write to {args.out}{skipped}; nothing run", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, specs: list) -> int:
    from raybench import runner

    if args.tune_lr:
        from raybench import lr_search

        specs = lr_search.tune_specs(specs, args.out, samples=args.tune_samples,
                                     cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                                     resume=args.resume)
    runs, _ = runner.run_suite(specs, args.out, cpus_per_run=args.cpus_per_run,
                               gpus_per_run=args.gpus_per_run, resume=args.resume,
                               progress=not args.no_progress, max_retries=args.max_retries)
    counts = runs["status"].value_counts().to_dict() if "status" in runs else {}
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"{len(runs)} runs in {args.out} ({summary}); report: raybench report {args.out}",
          file=sys.stderr)
    return 0
