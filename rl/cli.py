"""``raybench rl``: train, export and evaluate the autonomous (learned) optimizer.

    raybench rl train --family quadratic --num-problems 90 --passes 20 --episode-steps 40 \\
        --env-runners 2 --out policy/               # RLlib PPO; prints one line per iteration
    raybench rl train --family quadratic,logistic,mlp --batch-problems 8 --out mixed/  # raybench.rl.mixed_env
    raybench rl train --out policy/ --resume        # continue from the last checkpoint
    raybench rl export --from policy/ --out p2      # policy of the last checkpoint -> p2.safetensors
    raybench rl eval --policy policy/policy.safetensors --family quadratic --seeds 20 --out eval/
    raybench rl eval --policy policy/policy.safetensors --heldout --out heldout/   # the held-out protocol
    raybench run --problems logistic --optimizers adam,autonomous \\
        --hparam autonomous.policy=policy/policy.safetensors --out r/

What to expect: ``train`` writes learning curves (``OUT/rl_curves``, Parquet), RLlib
checkpoints and the exported policy (``OUT/policy.safetensors`` + ``OUT/policy.json``);
``eval`` writes an ordinary raybench results folder and prints the report table (``--heldout``:
the protocol's summary, also in ``OUT/heldout.md``, ``heldout.csv`` and the table ``heldout``).
"""

from __future__ import annotations

import argparse

from raybench.rl.evaluate import (
    DEFAULT_BASELINES,  # plain data: keeps `raybench --help` free of torch and ray
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="train / export / evaluate the learned (autonomous) optimizer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rl = p.add_subparsers(dest="rl_command", metavar="RL_COMMAND", required=True)

    t = rl.add_parser("train", help="train a coordinate-wise policy with RLlib PPO")
    t.add_argument("--family", help="a problem family, e.g. quadratic (default) or logistic; several, "
                                    "comma-separated, draw a family and its sizes per episode (rl.mixed_env)")
    t.add_argument("--num-problems", type=int, help="training pool size (default 90)")
    t.add_argument("--passes", type=int, help="passes over the pool (default 20)")
    t.add_argument("--episode-steps", type=int,
                   help="optimizer steps per episode (default 40; 100 for several families)")
    t.add_argument("--env-runners", type=int, help="parallel RLlib env runners (default 2; 0: in the driver)")
    t.add_argument("--envs-per-runner", type=int, help="vectorised envs per env runner (default 8)")
    t.add_argument("--batch-problems", type=int,
                   help="problem instances one env step advances as batched tensor ops (default 1: one)")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--dim", type=int, help="problem dimension (default: the problem's)")
    t.add_argument("--ranges", help="several families: sizes drawn per episode, e.g. quadratic.dim=5:20,"
                                    "mlp.hidden=8:16,logistic.batch_size=none (default: rl.mixed_env's)")
    t.add_argument("--history", type=int, help="history length H the policy sees (default 25)")
    t.add_argument("--update-scale", type=float, help="parameter change per unit of action (default 0.1)")
    t.add_argument("--hidden", help="hidden widths of the policy, e.g. 32,32 (default)")
    t.add_argument("--inputs", help="input groups the policy observes, comma-separated, from "
                                    "objective,gradient,momentum (default: all)")
    t.add_argument("--timesteps", type=int, help="env steps to train (default: problems x passes x steps)")
    t.add_argument("--iterations", type=int, help="stop after this many PPO iterations")
    t.add_argument("--train-batch", type=int, help="env steps per PPO iteration (default 2000)")
    t.add_argument("--minibatch", type=int, help="SGD minibatch (default 200)")
    t.add_argument("--epochs", type=int, help="SGD epochs per iteration (default 10)")
    t.add_argument("--lr", type=float, help="PPO learner learning rate (default 3e-4)")
    t.add_argument("--clip", type=float, help="PPO clip parameter (default 0.2)")
    t.add_argument("--seed", type=int, help="RLlib seed (default 0)")
    t.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints (default 5)")
    t.add_argument("--address", help="join this Ray cluster (default: embedded local Ray)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no per-iteration progress lines")
    t.set_defaults(handler=main)

    x = rl.add_parser("export", help="export the policy of a training folder's last checkpoint")
    x.add_argument("--from", dest="source", required=True, help="training folder (raybench rl train --out)")
    x.add_argument("--out", required=True, help="policy path stem: writes STEM.safetensors + STEM.json")
    x.set_defaults(handler=main)

    e = rl.add_parser("eval", help=f"compare a policy with {', '.join(DEFAULT_BASELINES)} on held-out instances")
    e.add_argument("--policy", required=True, help="policy file (.safetensors or its .json)")
    e.add_argument("--family", help="the problem family to evaluate on, e.g. quadratic (required without --heldout)")
    e.add_argument("--heldout", action="store_true",
                   help="run the held-out protocol instead (rl/heldout.py; README: held-out protocol): fixed "
                        "MNIST tasks, tuned adam and momentum, speed-up and loss ratio with CIs")
    e.add_argument("--seeds", type=int, help="held-out instances (seeds 0..N-1; default 10)")
    e.add_argument("--out", required=True, help="results folder")
    e.add_argument("--optimizers",
                   help=f"baselines, comma-separated; 'none' for the policy alone (default {','.join(DEFAULT_BASELINES)})")
    e.add_argument("--steps", type=int, help="steps per run (default: the problem's budget; --heldout: the task's)")
    e.add_argument("--dim", type=int, help="problem dimension (default: the policy's training dimension)")
    e.add_argument("--lr-scale", type=float, help="multiplies the policy's update scale (default 1)")
    e.add_argument("--tune-samples", type=int,
                   help="--heldout: values tried of each optimizer's lr / lr_scale (default: the protocol's)")
    e.add_argument("--tasks", help="--heldout: a subset of its tasks, comma-separated (default: all)")
    e.add_argument("--address", help="join this Ray cluster (default: embedded local Ray)")
    e.add_argument("--resume", action="store_true", help="skip runs already in --out")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return {"train": _train, "export": _export, "eval": _eval}[args.rl_command](args)


def _settings(args: argparse.Namespace):  # -> rl.settings.TrainSettings
    import dataclasses

    from raybench.errors import UsageError
    from raybench.rl.settings import TrainSettings, resumed

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)
             if getattr(args, f.name, None) is not None}
    if "hidden" in given:
        try:
            given["hidden"] = tuple(int(h) for h in given["hidden"].split(","))
        except ValueError:
            raise UsageError(f"bad --hidden {args.hidden!r}; accepted: comma-separated widths like 32,32") from None
    if "inputs" in given:
        from raybench.learned.features import parse_inputs

        try:
            given["inputs"] = parse_inputs(given["inputs"])  # canonical order: --resume compares it
        except ValueError as exc:
            raise UsageError(f"bad --inputs {args.inputs!r}: {exc}") from None
    if "ranges" in given:
        given["ranges"] = _ranges(given["ranges"])
    s = resumed(args.out, given) if args.resume else TrainSettings(**given)
    s.check()
    return s


def _ranges(text: str) -> dict[str, dict[str, object]]:
    """``--ranges FAMILY.OPTION=LO:HI|VALUE,...`` -> ``{family: {option: [lo, hi] or value}}``."""
    from raybench.errors import UsageError

    out: dict[str, dict[str, object]] = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        name, _, value = item.partition("=")
        family, _, option = name.partition(".")
        try:
            if not (family and option and value):
                raise ValueError
            ends = [None if v.strip().lower() in ("none", "null") else int(v) for v in value.split(":")]
            if len(ends) > 2 or (len(ends) == 2 and None in ends):
                raise ValueError
        except ValueError:
            raise UsageError(f"bad --ranges item {item!r}; accepted: FAMILY.OPTION=LO:HI or FAMILY.OPTION=VALUE "
                             f"(integers or none), comma-separated") from None
        out.setdefault(family.strip(), {})[option.strip()] = ends if len(ends) == 2 else ends[0]
    return out


def _train(args: argparse.Namespace) -> int:
    from raybench.ray_utils import init_ray
    from raybench.rl.train import train

    s = _settings(args)  # user errors before Ray starts
    # The embedded Ray declares a CPU per env runner so that any --env-runners fits; a cluster
    # (--address) has the CPUs it has.
    init_ray(args.address, num_cpus=None if args.address else s.local_ray_cpus)
    summary = train(s, resume=args.resume, progress=not args.quiet)
    print(f"trained {summary['iterations']} iterations, {summary['env_steps']} env steps in "
          f"{summary['wall_seconds']:.1f} s")
    print(f"policy: {summary['policy']}  {summary['metadata']}")
    print(f"curves: {args.out}/rl_curves (pandas.read_parquet)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from raybench.rl.checkpoints import export_checkpoint

    weights, meta = export_checkpoint(args.source, args.out)
    print(f"policy: {weights}  {meta}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from raybench import results
    from raybench.errors import UsageError
    from raybench.ray_utils import init_ray
    from raybench.rl.evaluate import eval_specs, evaluate

    if args.heldout:
        return _eval_heldout(args)
    if args.family is None:
        raise UsageError("rl eval needs --family F (a problem family, e.g. quadratic), or --heldout for the "
                         "held-out protocol")
    for flag, value in (("--tune-samples", args.tune_samples), ("--tasks", args.tasks)):
        if value is not None:
            raise UsageError(f"{flag} applies only with --heldout")
    optimizers = ",".join(DEFAULT_BASELINES) if args.optimizers is None else args.optimizers
    baselines = [] if optimizers.strip() in ("", "none") else \
        [o.strip() for o in optimizers.split(",") if o.strip()]
    specs = eval_specs(args.policy, args.family, 10 if args.seeds is None else args.seeds, baselines=baselines,
                       steps=args.steps, dim=args.dim,
                       lr_scale=1.0 if args.lr_scale is None else args.lr_scale)  # user errors before Ray starts
    with results.writer(args.out):  # one writer per folder
        init_ray(args.address)
        rep = evaluate(specs, args.out, resume=args.resume, progress=not args.no_progress)
    print(rep["report"]["markdown"])
    print(f"parquet: {args.out}/runs  {args.out}/curves;  table: {rep['report']['md_path']}")
    return 0


def _eval_heldout(args: argparse.Namespace) -> int:
    from raybench import results, runner
    from raybench.errors import UsageError
    from raybench.ray_utils import init_ray
    from raybench.rl.heldout import evaluate_heldout, heldout_plan

    for flag, value in (("--family", args.family), ("--optimizers", args.optimizers), ("--dim", args.dim),
                        ("--lr-scale", args.lr_scale)):
        if value is not None:
            raise UsageError(f"{flag} does not apply with --heldout (its tasks, baselines and tuning are the "
                             "protocol's); accepted there: --seeds, --tune-samples, --steps, --tasks")
    tasks = None if args.tasks is None else [t.strip() for t in args.tasks.split(",") if t.strip()]
    plan = heldout_plan(args.policy, seeds=args.seeds, samples=args.tune_samples, steps=args.steps,
                        tasks=tasks)  # user errors before Ray starts
    results.init(args.out)
    results.check_free(args.out)
    runner.check_folder(args.out, resume=args.resume)
    init_ray(args.address)
    summary = evaluate_heldout(plan, args.out, resume=args.resume, progress=not args.no_progress,
                               prepare_data=args.address is None)
    print(summary["markdown"])
    print(f"parquet: {args.out}/runs  {args.out}/curves  {args.out}/lr_search  {args.out}/heldout;  "
          f"summary: {summary['md_path']};  report: raybench report {args.out}")
    return 0
