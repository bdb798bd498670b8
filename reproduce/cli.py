"""``raybench reproduce``: the research summary's results table, cell by cell, measured.

    raybench reproduce --scale smoke --out s/           # the whole pipeline in minutes
    raybench reproduce --scale cpu --out c/             # a 2-core machine, under an hour
    raybench reproduce --scale full --out f/ --address HEAD:6379 --gpus-per-run 0.25
    raybench reproduce ... --resume                     # continue after a crash or Ctrl-C
    raybench reproduce --scale full --out f/ --plan-only

Prints the plan (stages, runs, training steps at a measured step time) before anything runs,
then runs the stages (``raybench.reproduce.stages``) and writes ``OUT/claims.md``, ``claims.csv``, the
``claims`` Parquet table, ``report.md`` and ``index.html`` (``raybench.reproduce.measure``). What to
expect at ``smoke``: every cell measured on 3 seeds (so most verdicts are ``inconclusive``) or
``not run: <why>``.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from raybench.commands import options
    from raybench.reproduce.scales import SCALES

    p = sub.add_parser("reproduce", help="run every cell of the research summary's table and judge its claims",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", required=True, metavar="SCALE",
                   help="; ".join(f"{name}: {s.description}" for name, s in SCALES.items()))
    options.add_out(p)
    options.add_address(p)
    p.add_argument("--gpus-per-run", type=float, default=0.0,
                   help="GPUs per run, learning-rate trial and multi-init trial (fractions allowed; default 0)")
    p.add_argument("--policy-dir", help="take the autonomous optimizer's policies from here "
                                        "(FAMILY.safetensors or FAMILY/policy.safetensors for quadratic, "
                                        "logistic, mlp) instead of training them")
    options.add_resume(p)
    p.add_argument("--plan-only", action="store_true", help="print the plan and its estimated cost, then stop")
    options.add_max_retries(p)
    options.add_no_progress(p)
    # No --py-modules: reproduce takes no problem or optimizer; its cells are the summary's own.
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """A straight pipeline: every user error first, in milliseconds (exit 2, before Ray starts):
    the folder checked and read once, held as its writer from then on (``plan.check``); the
    plan built on what the check found while Ray starts (``_prepare``), and printed; the stages,
    each taking what the one before resolved; the claims and the report."""
    import contextlib
    import os

    from raybench import runner
    from raybench.ray_utils import start_ray
    from raybench.reproduce import plan as planning
    from raybench.reproduce import scales

    # Tune's newer console output ignores verbose=0 and boxes every learning-rate search.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    scale = scales.get(args.scale)
    runner.check_requests(1.0, args.gpus_per_run)
    runner.check_max_retries(args.max_retries)
    with contextlib.ExitStack() as held:  # the folder's writer lock, from the check to the end
        checked = planning.check(args.out, scale=scale, resume=args.resume, policy_dir=args.policy_dir,
                                 held=None if args.plan_only else held)
        plan, written = start_ray(args.address, lambda: _prepare(args, scale, checked), warm_cpus=1.0)
        import ray

        planning.measure_steps(plan, gpus=args.gpus_per_run)
        resources = ray.cluster_resources()
        slots = (resources.get("GPU", 0.0) / args.gpus_per_run if args.gpus_per_run > 0
                 else resources.get("CPU", 1.0))
        print(plan.text(slots=slots), flush=True)
        if args.plan_only:
            return 0
        return _run(args, plan, written)


def _prepare(args: argparse.Namespace, scale, checked):
    """The plan, built on what the check found; for a run (not ``--plan-only``), the manifest
    written and what the folders already hold read once (``plan.read_written``)."""
    from raybench.reproduce import plan as planning

    plan = planning.build(scale, args.out, policy_dir=args.policy_dir, policies=checked.policies,
                          prepare=args.address is None)
    if args.plan_only:
        return plan, None
    planning.write_manifest(plan.out, checked.manifest)
    return plan, planning.read_written(plan, checked)


def _run(args: argparse.Namespace, plan, written) -> int:
    from raybench.reproduce import measure, stages

    progress = not args.no_progress
    gpus, retries = args.gpus_per_run, args.max_retries
    tuned = stages.baselines(plan, written, cpus=1.0, gpus=gpus, progress=progress, max_retries=retries)
    found = stages.policies(plan, progress=progress)
    auto = stages.autonomous(plan, written, found, cpus=1.0, gpus=gpus, progress=progress, max_retries=retries)
    extra = stages.multi_init(plan, written, tuned, gpus=gpus, progress=progress, max_retries=retries)
    stages.say("stage 4/4: claims and report")
    table, rep = measure.write_all(plan, {s.run_id for s in tuned}, {s.run_id for s in plan.specs},
                                   {s.run_id for s in auto}, extra)
    from raybench.reproduce.claims import markdown

    print(markdown(table).split("\n## Every cell")[0])
    counts = table["verdict"].map(lambda v: "not run" if v.startswith("not run") else v).value_counts()
    print(f"{len(table)} cells: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    print(f"claims: {plan.folder('claims.md')}  {plan.folder('claims.csv')}  {plan.folder('claims')} (Parquet)")
    print(f"report: {rep['html_path']}  {rep['md_path']}  (again: raybench report {plan.out})", file=sys.stdout)
    return 0
