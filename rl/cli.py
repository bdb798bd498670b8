"""``raybench rl``: train, export and evaluate the autonomous (learned) optimizer.

    raybench rl train --family quadratic --num-problems 90 --passes 20 --episode-steps 40 \\
        --env-runners 2 --out policy/               # RLlib PPO; prints one line per iteration
    raybench rl train --out policy/ --resume        # continue from the last checkpoint
    raybench rl export --from policy/ --out p2      # policy of the last checkpoint -> p2.safetensors
    raybench rl eval --policy policy/policy.safetensors --family quadratic --seeds 20 --out eval/
    raybench run --problems logistic --optimizers adam,autonomous \\
        --hparam autonomous.policy=policy/policy.safetensors --out r/

What to expect: ``train`` writes learning curves (``OUT/rl_curves``, Parquet), RLlib
checkpoints and the exported policy (``OUT/policy.safetensors`` + ``OUT/policy.json``);
``eval`` writes an ordinary raybench results folder and prints the report table.
"""

from __future__ import annotations

import argparse

from rl.evaluate import DEFAULT_BASELINES  # plain data: keeps `raybench --help` free of torch and ray


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="train / export / evaluate the learned (autonomous) optimizer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rl = p.add_subparsers(dest="rl_command", metavar="RL_COMMAND", required=True)

    t = rl.add_parser("train", help="train a coordinate-wise policy with RLlib PPO")
    t.add_argument("--family", help="a problem family, e.g. quadratic (default) or logistic")
    t.add_argument("--num-problems", type=int, help="training pool size (default 90)")
    t.add_argument("--passes", type=int, help="passes over the pool (default 20)")
    t.add_argument("--episode-steps", type=int, help="optimizer steps per episode (default 40)")
    t.add_argument("--env-runners", type=int, help="parallel RLlib env runners (default 2; 0: in the driver)")
    t.add_argument("--envs-per-runner", type=int, help="vectorised envs per env runner (default 8)")
    t.add_argument("--batch-problems", type=int,
                   help="problem instances one env step advances as batched tensor ops (default 1: one)")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--dim", type=int, help="problem dimension (default: the problem's)")
    t.add_argument("--history", type=int, help="history length H the policy sees (default 25)")
    t.add_argument("--update-scale", type=float, help="parameter change per unit of action (default 0.1)")
    t.add_argument("--hidden", help="hidden widths of the policy, e.g. 32,32 (default)")
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
    e.add_argument("--family", required=True, help="the problem family to evaluate on, e.g. quadratic")
    e.add_argument("--seeds", type=int, default=10, help="held-out instances (seeds 0..N-1; default 10)")
    e.add_argument("--out", required=True, help="results folder")
    e.add_argument("--optimizers", default=",".join(DEFAULT_BASELINES),
                   help="baselines, comma-separated; 'none' for the policy alone (default %(default)s)")
    e.add_argument("--steps", type=int, help="steps per run (default: the problem's budget)")
    e.add_argument("--dim", type=int, help="problem dimension (default: the policy's training dimension)")
    e.add_argument("--lr-scale", type=float, default=1.0, help="multiplies the policy's update scale")
    e.add_argument("--address", help="join this Ray cluster (default: embedded local Ray)")
    e.add_argument("--resume", action="store_true", help="skip runs already in --out")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return {"train": _train, "export": _export, "eval": _eval}[args.rl_command](args)


def _settings(args: argparse.Namespace):  # -> rl.settings.TrainSettings
    import dataclasses

    from raybench.errors import UsageError
    from rl.settings import TrainSettings, resumed

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)
             if getattr(args, f.name, None) is not None}
    if "hidden" in given:
        try:
            given["hidden"] = tuple(int(h) for h in given["hidden"].split(","))
        except ValueError:
            raise UsageError(f"bad --hidden {args.hidden!r}; accepted: comma-separated widths like 32,32") from None
    s = resumed(args.out, given) if args.resume else TrainSettings(**given)
    s.check()
    return s


def _train(args: argparse.Namespace) -> int:
    from raybench.ray_utils import init_ray
    from rl.train import train

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
    from rl.checkpoints import export_checkpoint

    weights, meta = export_checkpoint(args.source, args.out)
    print(f"policy: {weights}  {meta}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from raybench import results
    from raybench.ray_utils import init_ray
    from rl.evaluate import eval_specs, evaluate

    baselines = [] if args.optimizers.strip() in ("", "none") else \
        [o.strip() for o in args.optimizers.split(",") if o.strip()]
    specs = eval_specs(args.policy, args.family, args.seeds, baselines=baselines, steps=args.steps,
                       dim=args.dim, lr_scale=args.lr_scale)  # user errors before Ray starts
    with results.writer(args.out):  # one writer per folder
        init_ray(args.address)
        rep = evaluate(specs, args.out, resume=args.resume, progress=not args.no_progress)
    print(rep["report"]["markdown"])
    print(f"parquet: {args.out}/runs  {args.out}/curves;  table: {rep['report']['md_path']}")
    return 0
