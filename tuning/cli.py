"""``raybench multi-init``: N seeds, progressive elimination, one survivor (Ray Tune).

    raybench multi-init --problem mnist_cnn --optimizer adam --option dataset=mnist_subset \\
        --num-models 16 --reduce-factor 0.5 --steps-per-round 50 --steps 600 --out mi/
    raybench multi-init ... --compare-single --repeats 5   # against single init, with CI
    raybench multi-init --problem my_problem:make_problem --py-modules my_problem.py \\
        --optimizer adam --out mi/                          # a problem of yours, as for run

Prints one line per rung while it runs (which rung, how many alive), then the survivor, its
metrics and the rung-by-rung table. Results: ``OUT/runs``, ``OUT/curves``, ``OUT/rungs``
(Parquet); with ``--compare-single`` also ``OUT/single/`` (the single-init runs) and
``OUT/multi_init_comparison.json``. Ctrl-C keeps what ran; ``--resume`` continues it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raybench.tuning.spec import MultiInitSpec


def add_parser(sub: argparse._SubParsersAction) -> None:
    from raybench.commands import options
    from raybench.tuning.spec import MultiInitSpec  # plain data: keeps `raybench --help` light

    default = {f.name: f.default for f in dataclasses.fields(MultiInitSpec)}
    p = sub.add_parser(
        "multi-init", help="N seed trials with progressive elimination (synchronous successive halving on Ray Tune)",
        description="Start --num-models seeds, judge all every --steps-per-round steps on the "
                    "validation --metric, keep the best max(1, ceil(n * r)), repeat until one is "
                    "left, train it to --steps.")
    options.add_problem(p, required=True)
    options.add_optimizer(p, required=True)
    p.add_argument("--num-models", type=int, default=default["num_models"],
                   help=f"seed trials (default {default['num_models']})")
    p.add_argument("--reduce-factor", type=float, default=default["reduce_factor"],
                   help=f"fraction of trials kept at each rung, in (0, 1) (default {default['reduce_factor']:g})")
    p.add_argument("--steps-per-round", type=int, default=default["steps_per_round"],
                   help=f"steps between rungs (default {default['steps_per_round']})")
    p.add_argument("--steps", type=int, help="full budget of the survivor (default: the problem's)")
    p.add_argument("--seed-offset", type=int, default=default["seed_offset"],
                   help=f"first seed (default {default['seed_offset']})")
    p.add_argument("--metric", default=default["metric"],
                   help=f"validation metric to rank on, one the problem reports (default {default['metric']}); "
                        "better is the direction the problem declares for it (min or max)")
    p.add_argument("--eval-every", type=int, help="steps between curve points (a divisor of --steps-per-round)")
    options.add_option(p)
    options.add_hparam(p)
    options.add_py_modules(p)
    options.add_out(p)
    options.add_address(p)
    options.add_resume(p)
    options.add_pending_timeout(p)
    p.add_argument("--gpus-per-trial", type=float,
                   help="GPU share per trial (default 1/num-models where the cluster has GPUs, else 0)")
    p.add_argument("--cpus-per-trial", type=float,
                   help="CPUs per trial (default 1 without GPUs: 2 trials at once on 2 CPUs)")
    p.add_argument("--compare-single", action="store_true",
                   help="also train every seed alone to --steps and compare (speed and compute)")
    p.add_argument("--repeats", type=int, default=1,
                   help="multi-init experiments on disjoint seed blocks (default 1)")
    options.add_no_progress(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from raybench.errors import UsageError
    from raybench.tuning.spec import MultiInitSpec, check_arguments, prepare

    # Cheap checks first: a bad number is an answer in milliseconds, before torch or Ray load.
    check_arguments(args.num_models, args.reduce_factor, args.steps_per_round)
    if args.repeats < 1:
        raise UsageError(f"bad --repeats {args.repeats}: accepted: an integer >= 1")
    if "://" in args.out:
        raise UsageError(f"--out {args.out}: multi-init keeps Tune's experiment state there, so it "
                         "must be a local or shared-filesystem folder (not a URI)")
    from raybench import results, suites
    from raybench.commands import options

    # --py-modules made importable, then the problem and optimizer looked up once (an import
    # path is registered here; prepare and every trial know it by its name and path).
    named = options.resolve(args.py_modules, problems=[args.problem], optimizers=[args.optimizer])
    problem, optimizer = named.problems[0].name, named.optimizers[0].name
    problem_options = suites.parse_option_flags(args.option)
    hparam_flags = suites.parse_hparam_flags(args.hparam)
    others = sorted(set(hparam_flags) - {optimizer})
    if others:
        raise UsageError(f"--hparam {others[0]}.*: this experiment's optimizer is {optimizer}")
    spec = prepare(MultiInitSpec(
        problem=problem, optimizer=optimizer, hparams=hparam_flags.get(optimizer, {}),
        options=problem_options, num_models=args.num_models, reduce_factor=args.reduce_factor,
        steps_per_round=args.steps_per_round, steps=args.steps, seed_offset=args.seed_offset,
        metric=args.metric, eval_every=args.eval_every))
    with results.writer(args.out, kind="multi-init"):  # one writer per folder
        return _run(args, spec, named.py_modules)


def _run(args: argparse.Namespace, spec: MultiInitSpec, py_modules: list[str] | None) -> int:
    from raybench.errors import UsageError
    from raybench.tuning.experiment import check_code, default_resources, done_repeats, run_experiment
    from raybench.tuning.report import describe

    done = done_repeats(args.out)
    if done and not args.resume:
        raise UsageError(f"{args.out} already holds a multi-init experiment; pass --resume to "
                         "complete it, or choose another --out")
    if args.resume:
        check_code(spec, args.out, args.repeats)  # never continue what other code made

    from raybench.ray_utils import ensure_resources, init_ray

    init_ray(args.address, py_modules=py_modules)  # the one place this command starts or joins Ray
    resources = default_resources(spec.num_models, gpus_per_trial=args.gpus_per_trial,
                                  cpus_per_trial=args.cpus_per_trial)
    ensure_resources(cpus=resources["cpu"], gpus=resources["gpu"], embedded=args.address is None,
                     pending_timeout=args.pending_timeout, what="trial")
    progress = not args.no_progress
    for b in range(args.repeats):
        if b in done:
            print(f"resume: seed block {b} already in {args.out}", file=sys.stderr)
        else:
            outcome = run_experiment(spec, args.out, repeat=b, resources=resources,
                                     resume=args.resume, progress=progress)
            if outcome is None:
                print(f"raybench: interrupted; what ran is saved: rerun with --resume --out {args.out}",
                      file=sys.stderr)
                return 130
        print(describe(args.out, b))
    if args.compare_single:
        import os

        from raybench.runner import run_suite
        from raybench.tuning.compare import compare, comparison_text, single_specs, write_comparison

        single_out = os.path.join(args.out, "single")
        print(f"single initialization: {spec.num_models * args.repeats} runs to {spec.steps} steps "
              f"-> {single_out}", flush=True)
        single_runs, _ = run_suite(single_specs(spec, args.repeats), single_out,
                                   cpus_per_run=resources["cpu"], gpus_per_run=resources["gpu"],
                                   resume=args.resume, progress=progress)
        comparison = compare(spec, args.out, single_runs, args.repeats)
        write_comparison(args.out, comparison)
        print(comparison_text(comparison))
    print(f"results: {args.out} (runs, curves, rungs as Parquet)")
    return 0
