"""``raybench run``: a suite of problems x optimizers x seeds on Ray, to Parquet.

    raybench run --suite quick --out results/
    raybench run --problems quadratic,logistic --optimizers adam,sgd --seeds 5 --steps 200 --out r/
    raybench run --config suite.yaml --out r/ --address ray://head:10001
    raybench run ... --resume          # complete an interrupted run, never duplicating a row
    raybench run ... --check           # check everything and list the runs; run nothing
    raybench run ... --tuning external --studies 3 --trials 5 --tuning-budgets 1,5
                                       # AlgoPerf's external tuning first (docs/tuning.md)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from typing import TYPE_CHECKING

from raybench.commands import options

if TYPE_CHECKING:
    from raybench import external_tuning
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
    what.add_argument("--step-budgets", metavar="LIST",
                      help="run every problem at each of these step budgets (e.g. 100,200,400), each with its own "
                           "warmup-cosine schedule and tuning, and compare at the end of training; the report "
                           "shows where rankings change (replaces --steps)")
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
    p.add_argument("--tuning", choices=("defaults", "lr", "external"),
                   help="tuning protocol: defaults (none), lr (the learning-rate search: --tune-lr), external "
                        "(AlgoPerf's: --studies x --trials quasi-random points of each optimizer's search space); "
                        "default: the suite file's tuning key, else defaults")
    p.add_argument("--tune-lr", action="store_true",
                   help="first search each (problem, optimizer) learning rate on validation, same budget for all "
                        "(the same as --tuning lr)")
    options.add_tune_samples(p)
    options.add_tune_extra(p)
    p.add_argument("--budget-factor", type=float, metavar="F",
                   help="--tuning defaults: every run gets F times its step budget (AlgoPerf's self-tuning "
                        "ruleset gives untuned submissions a larger budget, e.g. 1.5); default 1")
    p.add_argument("--studies", type=int, metavar="S",
                   help="--tuning external: independent studies (default 3, AlgoPerf's)")
    p.add_argument("--trials", type=int, metavar="K",
                   help="--tuning external: trials per study (default 5, AlgoPerf's)")
    p.add_argument("--tuning-budgets", metavar="LIST",
                   help="--tuning external: score at each tuning budget K (the first K trials of each study), "
                        "e.g. 1,5; each 1 <= K <= --trials; no extra trials (default: --trials)")
    options.add_py_modules(p)
    options.add_no_progress(p)
    p.add_argument("--check", action="store_true",
                   help="check the suite as a run would (names, options, hyperparameters, data, the results "
                        "folder), list its runs and stop: no Ray, no run (missing data is fetched, as for a run)")
    p.set_defaults(handler=main)


def build_specs(args: argparse.Namespace) -> list:
    return _build(args).specs


@dataclasses.dataclass(frozen=True)
class Built:
    """The suite as the arguments give it: its specs, each optimizer's search space and the tuning."""

    specs: list
    spaces: dict
    """Each optimizer's search space (``raybench.search_space.SearchSpace``): the suite's, else its entry's."""
    tuning: dict
    """``protocol`` (defaults, lr, external) and, for external, ``studies``, ``trials`` and ``budgets``."""


def _tuning(args: argparse.Namespace, suite: dict) -> dict:
    """The tuning protocol and its counts: the command line's beat the suite file's; checked."""
    from raybench import external_tuning, suites
    from raybench.errors import UsageError

    given = suites.tuning(suite)
    protocol = args.tuning or ("lr" if args.tune_lr else given.get("protocol", "defaults"))
    if args.tune_lr and protocol != "lr":
        raise UsageError(f"--tune-lr is --tuning lr; it cannot go with --tuning {protocol}")
    external_flags = [f for f, v in (("--studies", args.studies), ("--trials", args.trials),
                                     ("--tuning-budgets", args.tuning_budgets)) if v is not None]
    factor = getattr(args, "budget_factor", None)
    if factor is not None and protocol != "defaults":
        raise UsageError(f"--budget-factor applies to --tuning defaults (AlgoPerf's self-tuning budget), not "
                         f"{protocol}: a tuned protocol runs its trials and its runs at the suite's budget")
    if protocol != "external":
        if external_flags:
            raise UsageError(f"{external_flags[0]} applies to --tuning external, not {protocol}")
        if factor is not None:
            from raybench.spec import check_budget_factor

            return {"protocol": protocol, "budget_factor": check_budget_factor(factor)}
        return {"protocol": protocol}
    studies = args.studies if args.studies is not None else given.get("studies", external_tuning.STUDIES)
    trials = args.trials if args.trials is not None else given.get("trials", external_tuning.TRIALS)
    external_tuning.check_counts(studies, trials)
    budgets = external_tuning.parse_budgets(
        args.tuning_budgets if args.tuning_budgets is not None else given.get("budgets"), trials)
    return {"protocol": protocol, "studies": studies, "trials": trials, "budgets": budgets}


def _build(args: argparse.Namespace) -> Built:
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
    tuning = _tuning(args, suite)
    spaces: dict = {}
    specs = suites.expand(suite, hparam_overrides=suites.parse_hparam_flags(args.hparam),
                          steps=args.steps, seeds=args.seeds, eval_every=args.eval_every, spaces=spaces)
    if args.step_budgets is not None:
        from raybench import step_budgets

        if args.steps is not None:
            raise UsageError("--steps and --step-budgets both set the budget; give one")
        specs = step_budgets.expand(specs, step_budgets.parse(args.step_budgets))
    if tuning.get("budget_factor", 1.0) != 1.0:
        specs = [s.with_(budget_factor=tuning["budget_factor"]) for s in specs]
    return Built(specs, spaces, tuning)


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
    external: external_tuning.Plan | None = None
    """``--tuning external``: the checked ``raybench.external_tuning.Plan``; else ``None``."""
    trials_done: set[str] = dataclasses.field(default_factory=set)
    """``--tuning external``: run ids of the trials already in the folder's trials folder."""


def _prepare(args: argparse.Namespace, held: contextlib.ExitStack | None) -> Prepared:
    """The suite's specs, built and checked, and the folder read once: ``held``, the folder
    taken as its one writer there (``results.writer``, released when ``held`` closes); ``None``
    (``--check``), only checked free. A folder holding runs is refused unless --resume. On the
    embedded Ray, whose workers share this machine's data folder, the data are fetched or
    checked once here; with --tune-lr the search is checked and planned on the final specs."""
    from raybench import results, runner

    built = _build(args)
    specs = built.specs
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
    protocol = built.tuning["protocol"]
    if protocol == "external":
        from raybench import external_tuning

        external = external_tuning.plan(specs, built.spaces, studies=built.tuning["studies"],
                                        trials=built.tuning["trials"], budgets=built.tuning["budgets"])
        trials_done = external_tuning.previous(args.out, external, resume=args.resume or args.rerun_changed,
                                               rerun_changed=args.rerun_changed, drop=held is not None)
        return Prepared(specs, folder.done, folder.redo, external=external, trials_done=trials_done)
    if protocol != "lr":
        return Prepared(specs, folder.done, folder.redo)
    from raybench import lr_search

    search = lr_search.plan(specs, samples=args.tune_samples, extra_points=args.tune_extra)
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
        budget = str(s.steps or "default") + (f" x {s.budget_factor:g}" if s.budget_factor != 1.0 else "")
        pairs.setdefault((s.problem, s.optimizer), []).append(budget)
    for (problem, optimizer), steps in pairs.items():
        print(f"{problem}  {optimizer}  {len(steps)} runs  steps {', '.join(sorted(set(steps)))}")
    skipped = f", {len(specs) - len(todo)} already there (--resume)" if len(todo) < len(specs) else ""
    if prepared.search is not None:
        searched = [k for k in prepared.search.pairs if k not in prepared.previous]
        print(f"check: --tune-lr would search {len(searched)} of {len(prepared.search.pairs)} pairs, "
              f"{prepared.search.samples} values each", file=sys.stderr)
    if prepared.external is not None:
        from raybench import external_tuning

        plan = prepared.external
        runs = plan.trial_specs
        left = sum(1 for s in runs if s.run_id not in prepared.trials_done)
        print(f"check: --tuning external would run {left} of {len(runs)} trial runs ({len(plan.pairs)} pairs x "
              f"{plan.studies} studies x {plan.trials_per_study} trials x {len(runs) // max(1, len(plan.trials))} "
              f"tuning seeds) into {external_tuning.trials_folder(args.out)}, scored at tuning budgets "
              f"{', '.join(map(str, plan.budgets))}", file=sys.stderr)
        for spec in plan.pairs.values():
            print(f"check: {spec.problem}/{spec.optimizer} search space: {plan.spaces[spec.optimizer].text()}",
                  file=sys.stderr)
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

        specs = lr_search.tune(prepared.search, args.out, previous=prepared.previous, progress=not args.no_progress,
                               cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
    if prepared.external is not None:
        from raybench import external_tuning

        specs = external_tuning.tune(prepared.external, args.out, done=prepared.trials_done,
                                     resume=args.resume or args.rerun_changed, cpus_per_run=args.cpus_per_run,
                                     gpus_per_run=args.gpus_per_run, progress=not args.no_progress,
                                     max_retries=args.max_retries)
    written = runner.run_specs(specs, args.out, done=prepared.done, resume=args.resume or args.rerun_changed,
                               cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                               progress=not args.no_progress, max_retries=args.max_retries)
    counts = ", ".join(f"{v} {k}" for k, v in sorted(written.items())) or "none"
    before = f"; {len(prepared.done)} written before" if prepared.done else ""
    print(f"{len(prepared.done) + written.total()} runs in {args.out} ({counts} written now{before}); "
          f"report: raybench report {args.out}", file=sys.stderr)
    return 0
