"""What one ``raybench reproduce`` runs: its folders, its runs per stage, and their cost.

``check`` answers every input a user can get wrong (the folder, ``--policy-dir``) in
milliseconds, before Ray starts; ``build`` resolves the runs (data checked and prepared, the
cells that cannot run at this scale named with why); ``measure_steps`` times a few optimizer
steps of each problem on the device the runs will use, and ``Plan.text`` turns it all into the
plan printed before anything runs, with the training steps of every stage and the time they
take at the measured step time.

The results folder ``OUT``::

    OUT/                      # a results folder: the runs the claims are measured on (tuned
                              # baselines and the autonomous optimizer), lr_search, claims,
                              # claims.md/csv, report.md, index.html, reproduce.json
    OUT/defaults/             # the baselines at their registry defaults (and their claims)
    OUT/policies/<family>/    # one `raybench rl train` folder per problem family
    OUT/multi_init/<problem>/ # a `raybench multi-init` folder; single/ the same seeds alone
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raybench.defaults import REFERENCE_OPTIMIZER
from raybench.errors import UsageError
from raybench.reproduce import scales
from raybench.reproduce.scales import Scale

if TYPE_CHECKING:
    from raybench.spec import RunSpec

DEFAULTS, POLICIES, MULTI_INIT, SINGLE = "defaults", "policies", "multi_init", "single"
MANIFEST = "reproduce.json"
"""``OUT/reproduce.json``: the scale and policy folder a reproduction was started with;
``--resume`` continues only the same."""
TUNED_METHODS = ("adam", "modified_adam", "momentum")
"""The summary's hand-designed rows: their learning rates are tuned (same budget for each)."""
LEARNED_METHOD = "autonomous"
MULTI_INIT_METHOD = "multi_init_16"
RL_SECONDS_PER_ENV_STEP = 122.0 / 72_000
"""Wall seconds per RL env step: the summary's 72,000-step training of a quadratic policy took
122 s with start-up on 2 CPUs and 2 env runners (BENCHMARKS.md, section 5). RL runs on CPUs."""
MULTI_INIT_FAMILIES_WHY = ("multi-init's seeds draw new instances of this problem family, not only new "
                           "starts, so choosing among 16 seeds would choose the easiest problem; not measured")


def optimizer_of(method: str) -> str:
    from raybench.reproduce import claims

    return str(claims.METHODS[method].optimizer)


def column_problems() -> list[str]:
    """The problems the summary's table measures, in its column order."""
    from raybench.reproduce import claims

    return list(dict.fromkeys(c.problem for c in claims.COLUMNS.values()))


# --- Checks before Ray starts ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Checked:
    """What ``check`` read and checked, handed on rather than read again."""

    manifest: dict[str, Any]
    """The manifest this run writes (``reproduce.json``)."""
    policies: dict[str, str] | None
    """``--policy-dir``'s policy file per family, checked; ``None`` without it."""
    done: set[str]
    """The run ids already in ``OUT``."""
    holds: bool
    """``OUT`` holds a reproduction (its manifest or runs): ``--resume`` continues it."""


def check(out: str, *, scale: Scale, resume: bool, policy_dir: str | None,
          held: contextlib.ExitStack | None = None) -> Checked:
    """Every check of the folder and the given policies, each read once.

    Without ``resume`` the folder must hold no results; with it, a reproduction started with
    the same scale and policy folder (or nothing yet). ``held``: take the folder as its one
    writer (``results.writer``, released when ``held`` closes) before reading it; ``None``
    (``--plan-only``): only check that no other process writes it."""
    if "://" in out:
        raise UsageError(f"--out {out}: reproduce keeps Ray Tune's and RLlib's state there, so it must be a "
                         "local or shared-filesystem folder (not a URI)")
    from raybench import results

    root = Path(out).resolve()
    manifest = {"scale": scale.name, "policy_dir": str(Path(policy_dir).resolve()) if policy_dir else None}
    policies = given_policies(policy_dir) if policy_dir else None
    if held is not None:
        held.enter_context(results.writer(str(root), kind="reproduce"))
    elif root.is_dir():
        results.check_free(str(root))
    previous = read_manifest(str(root))
    runs = results.finished_runs(str(root)) if root.is_dir() else None
    done = set() if runs is None else set(runs["run_id"])
    holds = previous is not None or bool(done)
    if holds and not resume:
        raise UsageError(f"{out} already holds results; pass --resume to complete that reproduction, "
                         "or choose another --out")
    if resume and holds and previous is None:
        raise UsageError(f"{out} holds results that raybench reproduce did not write (no {MANIFEST}); "
                         "choose another --out")
    if previous is not None:
        for key, flag in (("scale", "--scale"), ("policy_dir", "--policy-dir")):
            if previous.get(key) != manifest[key]:
                raise UsageError(f"--resume: {flag} {manifest[key]} differs from the reproduction's "
                                 f"{previous.get(key)} in {out}; it cannot change when resuming")
    if resume:
        _refuse_other_code(out, runs)
    return Checked(manifest, policies, done, holds)


def _refuse_other_code(folder: str, runs: Any) -> None:
    """A reproduction resumes on the code that began it: runs made by other code (raybench's
    source, a policy file) are refused, naming what changed (``raybench.identity.stale``)."""
    from raybench import identity

    changed = identity.stale(runs)
    if changed:
        raise UsageError(f"--resume: {folder} holds runs made by other code than now: {identity.describe(changed)}; "
                         "a reproduction resumes on the code that began it: choose another --out")


@dataclasses.dataclass(frozen=True)
class Written:
    """What the folders already hold, read once before the stages (all empty for a new
    reproduction): each stage skips what is there instead of reading its folder again."""

    done: dict[str, set[str]]
    """Per results folder (``OUT``, ``OUT/defaults``, each ``OUT/multi_init/<problem>/single``):
    the run ids written before."""
    previous: dict[tuple, float]
    """The learning rates earlier searches chose in ``OUT`` (``lr_search.previous_choices``)."""
    blocks: dict[str, set[int]]
    """Per multi-init problem: the seed blocks already written (``tuning.experiment.done_repeats``)."""


def read_written(plan: Plan, checked: Checked) -> Written:
    """Each folder read once (``checked.done`` is ``OUT``'s): its run ids, and, for a resumed
    reproduction, curve rows of runs that have no run row dropped (they are redone)."""
    from raybench import lr_search, results
    from raybench.tuning.experiment import done_repeats

    singles = {p: plan.folder(MULTI_INIT, p, SINGLE) for p in plan.multi_init}
    done = {plan.out: set(checked.done)}
    if not checked.holds:  # a new reproduction: nothing there
        return Written({**done, plan.folder(DEFAULTS): set(), **{f: set() for f in singles.values()}}, {},
                       {p: set() for p in plan.multi_init})
    for folder in (plan.folder(DEFAULTS), *singles.values()):
        results.init(folder)
        runs = results.finished_runs(folder)
        _refuse_other_code(folder, runs)
        done[folder] = set(runs["run_id"])
    for folder, ids in done.items():
        results.drop_orphan_curves(folder, ids)
    return Written(done, lr_search.previous_choices(plan.out),
                   {p: done_repeats(plan.folder(MULTI_INIT, p)) for p in plan.multi_init})


def read_manifest(out: str) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise UsageError(f"{path} is unreadable ({exc}); choose another --out") from None


def write_manifest(out: str, manifest: dict[str, Any]) -> None:
    path = Path(out) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(path)


def needed_families() -> list[str]:
    return list(dict.fromkeys(scales.POLICY_FAMILY[p] for p in column_problems()))


def given_policies(policy_dir: str) -> dict[str, str]:
    """The policy file of every needed family in ``policy_dir`` (``FAMILY.safetensors`` or
    ``FAMILY/policy.safetensors``, what `raybench rl train --out DIR/FAMILY` writes), checked;
    ``UsageError`` naming the first family without a usable one."""
    root = Path(policy_dir)
    if not root.is_dir():
        raise UsageError(f"--policy-dir {policy_dir} is not a folder")
    from raybench.learned.policy import PolicyError, load_policy

    found = {}
    for family in needed_families():
        paths = [root / f"{family}.safetensors", root / family / "policy.safetensors"]
        path = next((p for p in paths if p.is_file()), None)
        if path is None:
            raise UsageError(f"--policy-dir {policy_dir} has no policy for the {family} family (expected "
                             f"{paths[0]} or {paths[1]}); needed: {', '.join(needed_families())}")
        try:
            trained = load_policy(path).metadata.get("training", {}).get("family")
        except PolicyError as exc:
            raise UsageError(str(exc)) from None
        if trained is not None and trained != family:
            raise UsageError(f"--policy-dir: {path} was trained on the {trained} family, not {family}")
        found[family] = str(path.resolve())
    return found


def cifar_files(data_dir: Path) -> bool:
    """Are CIFAR-100's files (or its archive) in ``data_dir``? Looked at, never downloaded."""
    from raybench.problems.cifar100_data import CIFAR100_ARCHIVE, CIFAR100_FOLDER

    folder = data_dir / CIFAR100_FOLDER
    return all((folder / n).is_file() for n in ("train", "test", "meta")) or (data_dir / CIFAR100_ARCHIVE).is_file()


# --- The plan ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Plan:
    """One reproduction, resolved: what runs where, and why the rest does not."""

    scale: Scale
    out: str
    """The results folder (absolute)."""
    data_dir: Path
    problems: list[str]
    """The table's problems that run at this scale (CIFAR-100 only with its files)."""
    options: dict[str, dict[str, Any]]
    """Each problem's options, data choices resolved."""
    specs: list[RunSpec]
    """The baselines' runs at registry defaults (``OUT/defaults``); tuned, they go to ``OUT``."""
    not_run: dict[Any, str]
    """``claims.measure``'s ``not_run_why``: the cells not run here, and why."""
    policies: dict[str, str]
    """Family -> policy file (given by ``--policy-dir``, or where training puts it)."""
    policy_dir: str | None
    multi_init: list[str]
    budget: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    """Per problem: ``steps`` (the budget) and ``eval_every`` (``measure_steps`` fills it in)."""
    step_seconds: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """Per problem and optimizer (the reference optimizer, ``autonomous``): seconds per step, measured."""
    device: str = "cpu"
    search: Any = None
    """The baselines' learning-rate search (``raybench.lr_search.plan``), checked once."""

    def folder(self, *parts: str) -> str:
        return os.path.join(self.out, *parts)

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(scales.POLICY_FAMILY[p] for p in self.problems))

    def steps_per_round(self, problem: str) -> int:
        k = self.scale.steps_per_round.get(problem)
        return int(k if k is not None else self.budget[problem]["eval_every"])

    def rl_settings(self, family: str, env_runners: int) -> Any:
        from raybench.rl.settings import TrainSettings

        s = TrainSettings(family=family, out=self.folder(POLICIES, family), env_runners=env_runners,
                          **self.scale.rl)
        s.check()
        return s

    # -- cost ------------------------------------------------------------------------------
    def stages(self) -> list[dict[str, Any]]:
        """Per stage: what it runs (a line) and its training steps x measured seconds per step."""
        from raybench.tuning.rungs import rung_sizes

        s = self.scale
        n_tuned = len(TUNED_METHODS)
        seconds = {p: self.step_seconds.get(p, {}) for p in self.problems}
        steps = {p: self.budget.get(p, {}).get("steps", 0) for p in self.problems}
        base = sum((n_tuned * s.tune_samples + 2 * n_tuned * s.seeds) * steps[p] * seconds[p].get(REFERENCE_OPTIMIZER, 0.0)
                   for p in self.problems)
        auto = sum(s.seeds * steps[p] * seconds[p].get("autonomous", 0.0) for p in self.problems)
        rl_steps = 0 if self.policy_dir else sum(self.rl_settings(f, 0).budget_timesteps for f in self.families)
        sizes = rung_sizes(scales.NUM_MODELS, scales.REDUCE_FACTOR)
        mi_seconds, mi_lines = 0.0, []
        for p in self.multi_init:
            k, e = self.steps_per_round(p), steps[p]
            per_block = sum(n * k for n in sizes[:-1]) + (e - (len(sizes) - 1) * k)
            mi_seconds += s.multi_init_blocks * (per_block + scales.NUM_MODELS * e) * seconds[p].get(REFERENCE_OPTIMIZER, 0.0)
            mi_lines.append(f"{p}: {s.multi_init_blocks} block(s) x {scales.NUM_MODELS} seeds, r = "
                            f"{scales.REDUCE_FACTOR}, a rung every {k} steps, survivor to {e} steps "
                            f"({per_block} steps a block), then the same {s.multi_init_blocks * scales.NUM_MODELS} "
                            f"seeds trained alone")
        n_specs = len(self.specs)
        policies = (f"policies from {self.policy_dir}" if self.policy_dir else
                    f"train a policy per family ({', '.join(self.families)}): {rl_steps // max(1, len(self.families))} "
                    f"optimizee steps each (rl train: {self._rl_words()})")
        return [
            {"stage": "1 baselines", "what": (
                f"{', '.join(TUNED_METHODS)}: learning rate searched ({s.tune_samples} values on the reserved "
                f"tuning seed, chosen on validation) for {n_specs // max(1, s.seeds)} (problem, optimizer) pairs = "
                f"{n_specs // max(1, s.seeds) * s.tune_samples} trials; {n_specs} tuned runs -> {self.out}; "
                f"{n_specs} runs at registry defaults -> {self.folder(DEFAULTS)}"), "device_s": base},
            {"stage": "2 autonomous", "what": (
                f"{policies}; {s.seeds * len(self.problems)} runs of {LEARNED_METHOD} -> {self.out}"),
             "device_s": auto, "cpu_s": rl_steps * RL_SECONDS_PER_ENV_STEP},
            {"stage": "3 multi-init", "what": "; ".join(mi_lines) or "none at this scale", "device_s": mi_seconds},
            {"stage": "4 claims and report", "what": (
                f"claims.md, claims.csv, claims/ (Parquet), report.md, index.html in {self.out}; the same at "
                f"registry defaults in {self.folder(DEFAULTS)}"), "device_s": 0.0},
        ]

    def _rl_words(self) -> str:
        rl = dict(self.scale.rl)
        words = [f"{rl['num_problems']} problems", f"{rl['passes']} passes", f"{rl['episode_steps']} steps"]
        if rl.get("timesteps") is not None:
            words.append(f"budget cut to {rl['timesteps']} steps")
        return ", ".join(words)

    def text(self, *, slots: float) -> str:
        """The plan as printed before anything runs; ``slots``: runs the cluster trains at once."""
        s = self.scale
        lines = [f"raybench reproduce --scale {s.name}: {s.description}",
                 f"  results: {self.out}",
                 f"  seeds per cell: {s.seeds} (0..{s.seeds - 1}, paired by seed across optimizers); "
                 f"early stopping: patience {scales.PATIENCE} evaluations on validation loss "
                 f"({', '.join(p for p in scales.EARLY_STOPPING if p in self.problems)})"]
        for p in self.problems:
            opts = ", ".join(f"{k}={v}" for k, v in self.options[p].items()) or "defaults"
            budget = self.budget.get(p, {})
            timing = ", ".join(f"{o} {1000 * t:.2f} ms" for o, t in self.step_seconds.get(p, {}).items())
            lines.append(f"  {p}: {opts}; {budget.get('steps', '?')} steps, evaluated every "
                         f"{budget.get('eval_every', '?')}; step time on {self.device}: {timing or 'not measured'}")
        for key, why in self.not_run.items():
            cell = "/".join(key) if isinstance(key, tuple) else key
            lines.append(f"  not run: {cell}: {why}")
        total = 0.0
        unit = "CPU-hours" if self.device == "cpu" else "GPU-hours"
        stages = self.stages()
        for st in stages:
            total += st["device_s"]
            extra = f"; RL on CPUs ~{st['cpu_s'] / 60:.1f} min" if st.get("cpu_s") else ""
            lines.append(f"  stage {st['stage']}: {st['what']} [{st['device_s'] / 3600:.3g} {unit}{extra}]")
        rl = sum(st.get("cpu_s", 0.0) for st in stages)
        wall = total / max(slots, 1e-9) + rl
        lines.append(f"  estimate: {total / 3600:.3g} {unit} of training steps at the step times measured on "
                     f"{self.device} (at most: early stopping shortens runs; evaluations and start-up not "
                     f"counted); ~{wall / 60:.2g} min of wall time at {slots:g} runs at once, RL included")
        return "\n".join(lines)


def build(scale: Scale, out: str, *, policy_dir: str | None, policies: dict[str, str] | None = None,
          prepare: bool = True) -> Plan:
    """The plan: runs resolved, data checked and prepared, the learning-rate search checked
    and planned, the cells that cannot run named. ``policies``: ``--policy-dir``'s, as
    ``check`` found them (``None``: found here)."""
    from raybench import lr_search, problems, runner
    from raybench.problems.image_data import resolve_data_dir
    from raybench.spec import RunSpec

    out = str(Path(out).resolve())
    data_dir = resolve_data_dir(None)
    not_run: dict[Any, str] = {}
    chosen = []
    for problem in column_problems():
        if problem == "cifar100_cnn" and not cifar_files(data_dir):
            if scale.name != "full":
                not_run["cifar100_cnn"] = f"no CIFAR-100 files in {data_dir}"
                continue
            try:  # the full protocol fetches it where a network exists
                problems.get(problem).prepare(**scales.options(scale, problem))
            except problems.ProblemError as exc:
                not_run["cifar100_cnn"] = str(exc).split(";")[0]
                continue
        chosen.append(problem)
    specs = [RunSpec.build(p, optimizer_of(m), seed, options=scales.options(scale, p), steps=scale.steps[p],
                           patience=scales.PATIENCE if p in scales.EARLY_STOPPING else None)
             for p in chosen for m in TUNED_METHODS for seed in range(scale.seeds)]
    if prepare:
        specs = runner.prepare_data(specs, log=False)
    options = {s.problem: dict(s.options) for s in specs}
    for p in column_problems():
        if p in chosen and p not in scale.multi_init_problems:
            not_run[(MULTI_INIT_METHOD, p)] = (MULTI_INIT_FAMILIES_WHY if _is_family(p)
                                               else f"multi-init on {p} needs a GPU at this scale (--scale full)")
    if policy_dir and policies is None:
        policies = given_policies(policy_dir)
    elif not policy_dir:
        policies = {f: str(Path(out, POLICIES, f, "policy.safetensors")) for f in needed_families()}
    return Plan(scale=scale, out=out, data_dir=data_dir, problems=chosen, options=options, specs=specs,
                not_run=not_run, policies=policies, policy_dir=str(Path(policy_dir).resolve()) if policy_dir else None,
                multi_init=[p for p in scale.multi_init_problems if p in chosen],
                search=lr_search.plan(specs, samples=scale.tune_samples, extra_points=scale.tune_extra))


def _is_family(problem: str) -> bool:
    from raybench import problems

    return problems.get(problem).family


# --- Measured step times ----------------------------------------------------------------------

def measure_steps(plan: Plan, *, gpus: float) -> None:
    """Fill in ``plan.budget`` and ``plan.step_seconds``: a few steps of Adam and of the
    autonomous optimizer (an untrained policy: the same arithmetic) on every problem, timed in a
    Ray task on the device the runs get (``gpus`` > 0: a GPU)."""
    import ray

    task = ray.remote(_time_steps).options(num_cpus=1, num_gpus=gpus, max_retries=0)
    found = ray.get(task.remote({p: plan.options[p] for p in plan.problems},
                                {p: plan.scale.steps[p] for p in plan.problems}, "cuda" if gpus > 0 else "cpu"))
    plan.device = found.pop("_device")
    for p, entry in found.items():
        plan.budget[p] = {"steps": entry["steps"], "eval_every": entry["eval_every"]}
        plan.step_seconds[p] = entry["seconds"]


def _time_steps(options: dict[str, dict[str, Any]], steps: dict[str, int | None], device: str,
                min_seconds: float = 0.3, max_steps: int = 50) -> dict[str, Any]:
    """Per problem: its budget and seconds per optimizer step (warm, evaluations left out)."""
    import tempfile
    import time

    import torch

    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    out: dict[str, Any] = {"_device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        policy, _ = save_policy(CoordinatewisePolicy(), os.path.join(tmp, "untrained"), update_scale=0.01)
        for problem, opts in options.items():
            entry: dict[str, Any] = {"seconds": {}}
            for optimizer, hparams in ((REFERENCE_OPTIMIZER, {}), (LEARNED_METHOD, {"policy": policy})):
                make = (problem, optimizer, hparams, steps[problem], opts, device)
                run, entry["steps"], entry["eval_every"] = _warm_run(*make)
                n, spent = 0, 0.0
                while n < max_steps and spent < min_seconds:
                    if run.step >= run.steps - 1:  # a short budget: go on with a fresh run
                        run = _warm_run(*make)[0]
                    t0 = time.perf_counter()
                    run.advance(1)
                    if device == "cuda":
                        torch.cuda.synchronize()
                    spent += time.perf_counter() - t0
                    n += 1
                entry["seconds"][optimizer] = spent / max(n, 1)
            out[problem] = entry
    return out


def _warm_run(problem: str, optimizer: str, hparams: dict[str, Any], steps: int | None,
              options: dict[str, Any], device: str) -> tuple[Any, int, int]:
    """A run one step in, that evaluates no more: (run, its budget, its evaluation interval)."""
    from raybench.train import Run

    run = Run(problem, optimizer, hparams, 0, steps=steps, options=options, device=device)
    budget, eval_every = run.steps, run.eval_every
    run.eval_every = 10**9  # time the steps, not the evaluations
    run.advance(1)  # warm-up (and the evaluation at step 0)
    return run, budget, eval_every
