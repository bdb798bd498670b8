"""No result reused after its code changed (``raybench.identity``): every run records the code
that made it; ``--resume`` into a folder written by other code exits 2 naming the entries that
changed, and ``--rerun-changed`` redoes their runs; a Ray worker on other raybench code refuses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from raybench import identity, optimizers, problems, registry, results, runner
from raybench.errors import UsageError
from raybench.spec import RunSpec
from tests.conftest import ROOT, cli_env

MY_SGD = '''
import torch

class MySGD(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 0.05):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
        return loss
'''
DOES_NOTHING = MY_SGD.replace('p.add_(p.grad, alpha=-group["lr"])', "pass")


@pytest.fixture
def clean_registries(monkeypatch: pytest.MonkeyPatch):
    """The entries and the ``myopt`` module a test brings in are gone afterwards (process-wide)."""
    before = {reg: dict(reg) for reg in (optimizers.REGISTRY, problems.REGISTRY)}
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    sys.modules.pop("myopt", None)
    for reg, names in before.items():
        for name in set(reg) - set(names):
            del reg[name]


def _bump(path: Path, text: str) -> None:
    """Rewrite ``path`` with a later modification time (the hash cache keys on it)."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _folder_with_runs(out: Path, specs: list[RunSpec]) -> None:
    results.init(str(out))
    rows, curves = [], []
    for spec in specs:
        row, curve = runner.execute(spec)  # in this process: the identity it records is this process's
        rows.append(row)
        curves += curve
    results.write_runs(str(out), rows, curves)


def test_a_run_records_raybench_source_a_user_module_and_a_policy(tmp_path: Path, clean_registries) -> None:
    module = tmp_path / "mods" / "myopt.py"
    module.parent.mkdir()
    module.write_text(MY_SGD)
    registry.add_module_paths([str(module)])
    spec = RunSpec.build("quadratic", "mine=myopt:MySGD", 0, steps=5)
    row, _ = runner.execute(spec)
    assert row["source_hash"] == identity.source_hash() and len(row["source_hash"]) == 16
    assert row["optimizer_code"] == "sha256:" + identity.files_hash(module)
    assert row["problem_code"] is None  # built in: raybench's source says it all

    builtin, _ = runner.execute(RunSpec.build("quadratic", "adam", 0, steps=5))
    assert builtin["optimizer_code"] is None and builtin["source_hash"] == row["source_hash"]

    # A policy file's identity is its bytes (and those of the files of its name beside it).
    policy = tmp_path / "p.safetensors"
    policy.write_bytes(b"weights-1")
    (tmp_path / "p.json").write_text("{}")
    first = identity.policy_code(policy)
    _bump(policy, "weights-2")
    assert identity.policy_code(policy) != first and identity.policy_code(tmp_path / "p.json") == \
        identity.policy_code(policy)


def test_the_source_hash_covers_every_installed_package() -> None:
    # A file of each layer is part of the hash: the packages are the ones setuptools installs.
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert tuple(declared) == identity.PACKAGES


def test_resume_refuses_runs_of_an_edited_module_and_rerun_changed_redoes_only_those(
        tmp_path: Path, clean_registries) -> None:
    module = tmp_path / "mods" / "myopt.py"
    module.parent.mkdir()
    module.write_text(MY_SGD)
    registry.add_module_paths([str(module)])
    mine = [RunSpec.build("quadratic", "mine=myopt:MySGD", seed, steps=10) for seed in (0, 1)]
    adam = [RunSpec.build("quadratic", "adam", seed, steps=10) for seed in (0, 1)]
    out = tmp_path / "r"
    _folder_with_runs(out, mine + adam)

    # The same code: everything is done, nothing changed.
    runs = runner.check_resume(str(out), resume=True)
    same = runner.check_code(str(out), mine + adam, runs, rerun_changed=False)
    assert same.done == {s.run_id for s in mine + adam} and same.changed == []

    _bump(module, DOES_NOTHING)
    with pytest.raises(UsageError) as err:
        runner.check_code(str(out), mine + adam, runs, rerun_changed=False)
    message = str(err.value)
    assert "\n" not in message and "optimizer mine (2 runs" in message and "--rerun-changed" in message
    assert "adam" not in message and "raybench (" not in message  # only the entry that changed

    redo = runner.check_code(str(out), mine + adam, runs, rerun_changed=True)
    assert redo.redo == {s.run_id for s in mine} and redo.done == {s.run_id for s in adam}
    assert results.drop_runs(str(out), redo.redo) == 2
    kept, curves = results.read(str(out))
    assert set(kept["run_id"]) == {s.run_id for s in adam}
    assert set(curves["run_id"]) == {s.run_id for s in adam}  # their curves went with them


def test_runs_without_a_recorded_identity_count_as_other_code(tmp_path: Path) -> None:
    spec = RunSpec.build("quadratic", "adam", 0, steps=5)
    row, curve = runner.execute(spec)
    row.update({column: None for column in identity.COLUMNS})  # as an older raybench wrote it
    results.init(str(tmp_path / "r"))
    results.write_runs(str(tmp_path / "r"), [row], curve)
    runs = runner.check_resume(str(tmp_path / "r"), resume=True)
    with pytest.raises(UsageError, match=r"raybench \(1 runs; code no record -> "):
        runner.check_code(str(tmp_path / "r"), [spec], runs, rerun_changed=False)
    # Runs of pairs the suite does not hold are not its business.
    other = RunSpec.build("quadratic", "sgd", 0, steps=5)
    assert runner.check_code(str(tmp_path / "r"), [other], runs, rerun_changed=False).changed == []


def test_a_worker_on_other_raybench_code_refuses_to_run() -> None:
    spec = RunSpec.build("quadratic", "adam", 0, steps=5)
    code = {**identity.of_spec(spec).columns(), "source_hash": "0" * 16}
    with pytest.raises(identity.CodeMismatch, match="runs other raybench code"):
        runner.execute(spec, "cpu", code)


@pytest.mark.ray
@pytest.mark.slow
def test_edited_module_then_resume_exits_2_and_rerun_changed_reports_the_new_code(tmp_path: Path,
                                                                                 clean_registries) -> None:
    """The issue's case, as a user meets it: after the first run (here made in this process, as
    ``raybench run`` would write it), the commands in fresh interpreters."""
    module = tmp_path / "myopt.py"
    module.write_text(MY_SGD)
    out = tmp_path / "r"
    args = [sys.executable, "-m", "raybench.cli", "run", "--problems", "quadratic",
            "--optimizers", "mine=myopt:MySGD", "--py-modules", str(module), "--seeds", "2", "--steps", "30",
            "--out", str(out), "--no-progress"]

    def raybench(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([*args, *extra], capture_output=True, text=True, timeout=300, env=cli_env(),
                              cwd=tmp_path)

    registry.add_module_paths([str(module)])
    _folder_with_runs(out, [RunSpec.build("quadratic", "mine=myopt:MySGD", seed, steps=30) for seed in (0, 1)])
    before, _ = results.read(str(out))
    assert (before["optimizer_code"] == "sha256:" + identity.files_hash(module)).all()
    _bump(module, DOES_NOTHING)

    # --resume refuses in the checks every run makes before Ray starts (the ones --check makes
    # too, which spares this test a Ray start).
    resumed = raybench("--resume", "--check")
    assert resumed.returncode == 2, resumed.stderr[-3000:]
    last = resumed.stderr.strip().splitlines()[-1]
    assert "optimizer mine (2 runs" in last and "--rerun-changed" in last
    assert results.read(str(out))[0]["run_id"].tolist() == before["run_id"].tolist()  # nothing lost

    rerun = raybench("--rerun-changed")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after, curves = results.read(str(out))
    assert sorted(after["run_id"]) == sorted(before["run_id"]) and len(after) == 2  # redone, not added
    assert (after["optimizer_code"] == "sha256:" + identity.files_hash(module)).all()
    # The new code does nothing: each run ends where it began (its first curve point's loss).
    start = curves[curves["step"] == 0].set_index("run_id")["train_loss"]
    assert (after.set_index("run_id")["final_train_loss"].sub(start).abs() <= 1e-5 * start.abs()).all()  # float32
    assert (before.set_index("run_id")["final_train_loss"] < start).all()  # the old code learned


def test_a_report_never_mixes_runs_of_different_code_under_one_name() -> None:
    import pandas as pd

    runs = pd.DataFrame({
        "run_id": list("abcdef"), "problem": ["q"] * 6, "optimizer": ["adam", "adam", "mine", "mine", "mine", "sgd"],
        "source_hash": ["s1", "s1", "s1", "s1", "s1", "s0"],
        "optimizer_code": [None, None, "sha256:1111111aa", "sha256:2222222bb", "sha256:2222222bb", None],
        "problem_code": [None] * 6,
        "started_at": ["2026-01-01T00:00:00", "2026-01-01T00:00:01", "2026-01-03T00:00:00",
                       "2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-01T00:00:00"],
        "raybench_version": ["0.1"] * 6, "git_commit": ["c1"] * 5 + ["c0"]})
    split, notes = identity.split_by_code(runs)
    # The code that ran last keeps the name; the other code's runs are named by their own hash.
    assert split["optimizer"].tolist() == ["adam", "adam", "mine", "mine@2222222", "mine@2222222", "sgd"]
    assert notes == ["q: 2 runs of mine made by other code than its latest runs are reported as mine@2222222"]
    assert runs["optimizer"].tolist()[3] == "mine"  # the caller's frame is left as it was
    assert identity.versions(runs) == ["raybench 0.1 (commit c1, source s1): 5 runs",
                                       "raybench 0.1 (commit c0, source s0): 1 runs"]
    same, none = identity.split_by_code(runs[runs["optimizer"] != "mine"])
    assert none == [] and same["optimizer"].tolist() == ["adam", "adam", "sgd"]


def test_a_reproduction_resumes_only_on_the_code_that_began_it(tmp_path: Path) -> None:
    import json

    from raybench.reproduce import plan, scales

    out = tmp_path / "repro"
    spec = RunSpec.build("quadratic", "adam", 0, steps=5)
    row, curve = runner.execute(spec)
    results.init(str(out))
    results.write_runs(str(out), [row], curve)
    (out / plan.MANIFEST).write_text(json.dumps({"scale": "smoke", "policy_dir": None}))
    checked = plan.check(str(out), scale=scales.get("smoke"), resume=True, policy_dir=None)
    assert checked.done == {spec.run_id}  # the same code: resumed

    other = tmp_path / "other"
    results.init(str(other))
    results.write_runs(str(other), [{**row, "source_hash": "0" * 16}], curve)
    (other / plan.MANIFEST).write_text(json.dumps({"scale": "smoke", "policy_dir": None}))
    with pytest.raises(UsageError) as err:
        plan.check(str(other), scale=scales.get("smoke"), resume=True, policy_dir=None)
    assert "\n" not in str(err.value) and f"raybench (1 runs; code {'0' * 16} -> {identity.source_hash()})" in str(err.value)
    # Runs of entries this process does not know are not judged (it cannot say what their code is now).
    unknown = results.finished_runs(str(other)).assign(optimizer="not_registered_here")
    assert identity.stale(unknown) == []


def test_rerun_changed_searches_again_the_learning_rates_other_code_chose(tmp_path: Path) -> None:
    """With --tune-lr, the pairs whose runs other code made lose their earlier choice (searched
    again with the code now); the others keep theirs."""
    from raybench import lr_search
    from raybench.cli import build_parser
    from raybench.commands import run_cmd

    out = tmp_path / "r"
    specs = [RunSpec.build("quadratic", name, 0, steps=5) for name in ("adam", "sgd")]
    search = lr_search.plan(specs, samples=2)
    rows, curves = [], []
    for spec in specs:
        tuned = spec.with_(hparams={**spec.hparams, "lr": 0.01}, hparam_source="tuned")
        row, curve = runner.execute(tuned)
        rows.append({**row, "source_hash": "0" * 16} if spec.optimizer == "adam" else row)
        curves += curve
    results.init(str(out))
    results.write_runs(str(out), rows, curves)
    results.write(str(out), "lr_search", [{"pair_key": repr(key), "problem": key[0], "optimizer": key[1],
                                           "hparam": "lr", "lr": 0.01, "chosen": True} for key in search.pairs])
    args = build_parser().parse_args(["run", "--problems", "quadratic", "--optimizers", "adam,sgd", "--seeds", "1",
                                      "--steps", "5", "--tune-lr", "--tune-samples", "2", "--out", str(out),
                                      "--rerun-changed"])
    prepared = run_cmd._prepare(args, None)
    assert prepared.redo == {rows[0]["run_id"]} and prepared.done == {rows[1]["run_id"]}
    assert [key[1] for key in prepared.previous] == ["sgd"]  # adam's lr is searched again


def test_multi_init_resumes_only_on_the_code_that_began_it(tmp_path: Path, clean_registries) -> None:
    """A multi-init experiment interrupted mid-way (its Tune experiment recorded the code it began
    with), then its optimizer's module edited: ``--resume`` exits 2 naming the entry, before Ray
    starts; a finished block's runs made by other raybench code are refused the same way."""
    from raybench.tuning import experiment
    from raybench.tuning.spec import MultiInitSpec, prepare

    module = tmp_path / "myopt.py"
    module.write_text(MY_SGD)
    registry.add_module_paths([str(module)])
    out = tmp_path / "mi"
    spec = prepare(MultiInitSpec(problem="quadratic", optimizer="mine=myopt:MySGD", num_models=4,
                                 reduce_factor=0.5, steps_per_round=5, steps=20))
    code = identity.of_spec(experiment.run_spec(spec)).columns()
    experiment._record_code(str(out), 0, spec, code)  # what run_experiment writes when a block starts
    experiment.check_code(spec, str(out), 1)  # the same code: it may continue
    _bump(module, DOES_NOTHING)
    args = [sys.executable, "-m", "raybench.cli", "multi-init", "--problem", "quadratic",
            "--optimizer", "mine=myopt:MySGD", "--py-modules", str(module), "--num-models", "4",
            "--reduce-factor", "0.5", "--steps-per-round", "5", "--steps", "20", "--out", str(out),
            "--no-progress", "--resume", "--address", "127.0.0.1:1"]  # never reached: no Ray there
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=cli_env(), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "made by other code than now" in last and "optimizer mine (1 runs" in last
    assert f"code {code['optimizer_code']} -> sha256:{identity.files_hash(module)}" in last

    # A finished block (runs in the folder) of other raybench code.
    other = tmp_path / "finished"
    row, curve = runner.execute(experiment.run_spec(spec))
    results.init(str(other))
    results.write_runs(str(other), [{**row, "source_hash": "0" * 16}], curve)
    with pytest.raises(UsageError) as err:
        experiment.check_code(spec, str(other), 1)
    assert "\n" not in str(err.value) and "raybench (1 runs; code 0000000000000000" in str(err.value)


def test_rl_eval_resumes_only_on_the_code_that_made_its_runs(tmp_path: Path, capsys) -> None:
    """``rl eval --resume`` (no ``--rerun-changed`` there): a policy retrained in place makes
    its earlier runs other code, and so does a baseline's run of other raybench source; both
    exit 2 naming the entry, before Ray starts, and nothing in the folder is lost."""
    import torch

    from raybench.cli import main as raybench_main
    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    torch.manual_seed(0)
    weights, _ = save_policy(CoordinatewisePolicy(), tmp_path / "policy", update_scale=0.01)
    out = tmp_path / "eval"
    learned = RunSpec.build("quadratic", "autonomous", 0, hparams={"policy": str(weights)}, steps=3)
    _folder_with_runs(out, [learned])
    args = ["rl", "eval", "--policy", str(weights), "--family", "quadratic", "--optimizers", "adam",
            "--seeds", "1", "--steps", "3", "--out", str(out), "--resume", "--address", "127.0.0.1:1"]
    torch.manual_seed(1)  # the policy retrained in place: other weights in the same file
    save_policy(CoordinatewisePolicy(), tmp_path / "policy", update_scale=0.01)
    os.utime(weights, ns=(os.stat(weights).st_atime_ns, os.stat(weights).st_mtime_ns + 1_000_000_000))
    assert raybench_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "made by other code than now" in err[0] and "optimizer autonomous (1 runs" in err[0]
    assert len(results.read(str(out))[0]) == 1  # nothing lost

    baseline = tmp_path / "baseline"
    row, curve = runner.execute(RunSpec.build("quadratic", "adam", 0, steps=3))
    results.init(str(baseline))
    results.write_runs(str(baseline), [{**row, "source_hash": "0" * 16}], curve)
    assert raybench_main([*args[:-5], "--out", str(baseline), "--resume", "--address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "raybench (1 runs; code 0000000000000000" in err and "choose another --out" in err
