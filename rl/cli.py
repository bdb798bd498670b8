"""``raybench rl``: train, export and evaluate the autonomous (learned) optimizer.

    raybench rl train --family quadratic --num-problems 90 --passes 20 --episode-steps 40 \\
        --env-runners 2 --out policy/               # RLlib PPO; prints one line per iteration
    raybench rl train --family quadratic,logistic,mlp --batch-problems 8 --out mixed/  # raybench.rl.mixed_env
    raybench rl train --family my_family:make_family --py-modules my_family.py --out mine/  # a family of yours
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

from raybench.commands import options
from raybench.rl.evaluate import (  # plain data: keeps `raybench --help` free of torch and ray
    DEFAULT_BASELINES,
    DEFAULT_SEEDS,
)


class _TrainDefaults(argparse.HelpFormatter):
    """Fills each ``{field}`` of ``rl train``'s help from ``TrainSettings``'s defaults, read from the
    dataclass when the help is shown (only then: the settings import torch), so that no default
    is restated here."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        return text.format(**_train_defaults()) if text and "{" in text else text


def _train_defaults() -> dict[str, object]:
    import dataclasses

    from raybench.rl.settings import TrainSettings

    one, several = TrainSettings(), TrainSettings(family="a,b")  # episode_steps: derived per case
    shown = {f.name: getattr(one, f.name) for f in dataclasses.fields(TrainSettings)}
    shown.update(hidden=",".join(map(str, one.hidden)), inputs=",".join(one.inputs),
                 mixed_episode_steps=several.episode_steps)
    return shown


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="train / export / evaluate the learned (autonomous) optimizer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rl = p.add_subparsers(dest="rl_command", metavar="RL_COMMAND", required=True)

    t = rl.add_parser("train", help="train a coordinate-wise policy with RLlib PPO", formatter_class=_TrainDefaults)
    t.add_argument("--family", help="a problem family (raybench list), e.g. quadratic (default {family}) or "
                                    "logistic, or MODULE:ATTR of a family of yours (a Problem with family=True; "
                                    "its module: --py-modules); several, comma-separated, draw a family and its "
                                    "sizes per episode (rl.mixed_env; families with a batched form, rl.batched_env)")
    options.add_py_modules(t)
    t.add_argument("--num-problems", type=int, help="training pool size (default {num_problems})")
    t.add_argument("--passes", type=int, help="passes over the pool (default {passes})")
    t.add_argument("--episode-steps", type=int,
                   help="optimizer steps per episode (default {episode_steps}; {mixed_episode_steps} for "
                        "several families)")
    t.add_argument("--env-runners", type=int,
                   help="parallel RLlib env runners (default {env_runners}; 0: in the driver)")
    t.add_argument("--envs-per-runner", type=int, help="vectorised envs per env runner (default {envs_per_runner})")
    t.add_argument("--batch-problems", type=int,
                   help="problem instances one env step advances as batched tensor ops (default {batch_problems})")
    options.add_out(t, help="output folder: checkpoints, learning curves, the exported policy")
    t.add_argument("--dim", type=int, help="problem dimension (default: the problem's)")
    t.add_argument("--ranges", help="several families: sizes drawn per episode, e.g. quadratic.dim=5:20,"
                                    "mlp.hidden=8:16,logistic.batch_size=none (default: rl.mixed_env's)")
    t.add_argument("--history", type=int, help="history length H the policy sees (default {history})")
    t.add_argument("--update-scale", type=float,
                   help="parameter change per unit of action (default {update_scale})")
    t.add_argument("--hidden", help="hidden widths of the policy (default {hidden})")
    t.add_argument("--inputs", help="input groups the policy observes, comma-separated (default: all, {inputs})")
    t.add_argument("--timesteps", type=int, help="env steps to train (default: problems x passes x steps)")
    t.add_argument("--iterations", type=int, help="stop after this many PPO iterations")
    t.add_argument("--train-batch", type=int, help="env steps per PPO iteration (default {train_batch})")
    t.add_argument("--minibatch", type=int, help="SGD minibatch (default {minibatch})")
    t.add_argument("--epochs", type=int, help="SGD epochs per iteration (default {epochs})")
    t.add_argument("--lr", type=float, help="PPO learner learning rate (default {lr})")
    t.add_argument("--clip", type=float, help="PPO clip parameter (default {clip})")
    t.add_argument("--seed", type=int, help="RLlib seed (default {seed})")
    t.add_argument("--checkpoint-every", type=int,
                   help="iterations between checkpoints (default {checkpoint_every})")
    options.add_address(t)
    options.add_resume(t)
    t.add_argument("--quiet", action="store_true", help="no per-iteration progress lines")
    t.set_defaults(handler=main)

    x = rl.add_parser("export", help="export the policy of a training folder's last checkpoint")
    x.add_argument("--from", dest="source", required=True, help="training folder (raybench rl train --out)")
    options.add_out(x, help="policy path stem: writes STEM.safetensors + STEM.json")
    x.set_defaults(handler=main)

    e = rl.add_parser("eval", help=f"compare a policy with {', '.join(DEFAULT_BASELINES)} on held-out instances")
    e.add_argument("--policy", required=True, help="policy file (.safetensors or its .json)")
    options.add_problem(e, "--family", what="problem family",
                        more=" (required without --heldout), e.g. quadratic")
    e.add_argument("--heldout", action="store_true",
                   help="run the held-out protocol instead (rl/heldout.py; docs/heldout.md): fixed "
                        "MNIST tasks, tuned adam and momentum, speed-up and loss ratio with CIs")
    e.add_argument("--seeds", type=int, help=f"held-out instances (seeds 0..N-1; default {DEFAULT_SEEDS})")
    options.add_out(e)
    options.add_optimizer(e, "--optimizers", many=True,
                          more=f"; 'none' for the policy alone (default {','.join(DEFAULT_BASELINES)})")
    options.add_py_modules(e)
    e.add_argument("--steps", type=int, help="steps per run (default: the problem's budget; --heldout: the task's)")
    e.add_argument("--dim", type=int, help="problem dimension (default: the policy's training dimension)")
    e.add_argument("--lr-scale", type=float, help="multiplies the policy's update scale (default 1)")
    e.add_argument("--tune-samples", type=int,
                   help="--heldout: values tried of each optimizer's lr / lr_scale (default: the protocol's)")
    e.add_argument("--tasks", help="--heldout: its tasks to run, comma-separated, or all (default: the three "
                   "MNIST-subset ones, which need no data beyond the package)")
    options.add_tune_extra(e)
    options.add_address(e)
    options.add_resume(e)
    options.add_max_retries(e)
    options.add_no_progress(e)
    e.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return {"train": _train, "export": _export, "eval": _eval}[args.rl_command](args)


def _settings(args: argparse.Namespace):  # -> rl.settings.TrainSettings
    import dataclasses

    from raybench.errors import UsageError
    from raybench.rl.settings import TrainSettings, resumed

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)
             if getattr(args, f.name, None) is not None}
    # --py-modules before the family is looked up (s.check): a family named by import path loads
    # from them here, and in each env runner, which Ray ships them to (_train).
    paths = options.check_py_modules(given.pop("py_modules", None) or ())
    if paths:
        given["py_modules"] = tuple(paths)
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
    if args.resume and "py_modules" not in given:
        options.check_py_modules(s.py_modules)  # the run's own, importable here again
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
    # (--address) has the CPUs it has. The env runners (Ray actors) build their envs from the
    # family as given: its module reaches them through the job's runtime_env.
    init_ray(args.address, num_cpus=None if args.address else s.local_ray_cpus,
             py_modules=list(s.py_modules) or None)
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
    """Parse, resolve the names and build every spec (user errors before Ray starts), hold the
    folder and read its run ids once, start Ray, run, report."""
    from raybench import results, runner
    from raybench.errors import UsageError
    from raybench.ray_utils import init_ray
    from raybench.report import make_report
    from raybench.rl.evaluate import eval_specs

    if args.heldout:
        return _eval_heldout(args)
    if args.family is None:
        raise UsageError("rl eval needs --family F (a problem family, e.g. quadratic), or --heldout for the "
                         "held-out protocol")
    for flag, value in (("--tune-samples", args.tune_samples), ("--tasks", args.tasks)):
        if value is not None:
            raise UsageError(f"{flag} applies only with --heldout")
    runner.check_max_retries(args.max_retries)
    given = ",".join(DEFAULT_BASELINES) if args.optimizers is None else args.optimizers
    baselines = [] if given.strip() in ("", "none") else options.split(given)
    named = options.resolve(args.py_modules, problems=[args.family], optimizers=baselines)
    specs = eval_specs(args.policy, named.problems[0].name, DEFAULT_SEEDS if args.seeds is None else args.seeds,
                       baselines=[o.name for o in named.optimizers], steps=args.steps, dim=args.dim,
                       lr_scale=1.0 if args.lr_scale is None else args.lr_scale)
    with results.writer(args.out):  # one writer per folder
        done = runner.check_folder(args.out, resume=args.resume, specs=specs)
        init_ray(args.address, py_modules=named.py_modules)
        runner.run_specs(specs, args.out, done=done, resume=args.resume, cpus_per_run=1.0, gpus_per_run=0.0,
                         progress=not args.no_progress, max_retries=args.max_retries)
    rep = make_report(args.out, plots=True)
    print(rep["markdown"])
    print(f"parquet: {args.out}/runs  {args.out}/curves;  table: {rep['md_path']}")
    return 0


def _eval_heldout(args: argparse.Namespace) -> int:
    from raybench import results, runner
    from raybench.errors import UsageError
    from raybench.ray_utils import init_ray
    from raybench.rl.heldout import heldout_plan, run_heldout

    for flag, value in (("--family", args.family), ("--optimizers", args.optimizers), ("--dim", args.dim),
                        ("--lr-scale", args.lr_scale), ("--py-modules", args.py_modules or None)):
        if value is not None:
            raise UsageError(f"{flag} does not apply with --heldout (its tasks, baselines and tuning are the "
                             "protocol's); accepted there: --seeds, --tune-samples, --steps, --tasks")
    runner.check_max_retries(args.max_retries)
    plan = heldout_plan(args.policy, seeds=args.seeds, samples=args.tune_samples, steps=args.steps,
                        extra_points=args.tune_extra,
                        tasks=options.split(args.tasks) or None)  # user errors before Ray starts
    with results.writer(args.out):  # one writer per folder; its run ids read once, here
        done = runner.check_folder(args.out, resume=args.resume, specs=plan.specs)
        init_ray(args.address)
        summary = run_heldout(plan, args.out, done=done, resume=args.resume, progress=not args.no_progress,
                              prepare_data=args.address is None, max_retries=args.max_retries)
    print(summary["markdown"])
    print(f"parquet: {args.out}/runs  {args.out}/curves  {args.out}/lr_search  {args.out}/heldout;  "
          f"summary: {summary['md_path']};  report: raybench report {args.out}")
    return 0
