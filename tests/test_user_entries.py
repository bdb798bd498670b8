"""Optimizers and problems from anywhere (``raybench.registry``): import paths, entry points of
installed packages, ``--py-modules``, and the examples' own commands.

The examples' commands are read from their files, so what the examples say is what is run.
The module shipped to a two-node cluster is in tests/test_cluster_run.py.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from raybench import optimizers, problems, registry, results, schema
from raybench.errors import UsageError
from tests.conftest import ROOT, cli, cli_env

EXAMPLES = ROOT / "examples"


def _documented_command(path: Path) -> list[str]:
    """The ``raybench run ...`` command in an example's docstring (continuation lines joined)."""
    text = re.sub(r"\\+\n", " ", path.read_text())  # "\\" at a line end, as a docstring spells it
    line = next(ln.strip() for ln in text.splitlines() if ln.strip().startswith("raybench run "))
    return shlex.split(line)[1:]


@pytest.mark.ray
@pytest.mark.slow
def test_the_examples_commands_benchmark_a_user_optimizer_and_problem(tmp_path: Path) -> None:
    """Both examples' commands, as written, from the repository root (their modules are not
    installed: they reach the workers through --py-modules). Budgets cut for the test."""
    outs = {}
    for name in ("my_optimizer", "my_problem"):
        args = _documented_command(EXAMPLES / f"{name}.py")
        i = args.index("--out")
        outs[name] = tmp_path / args[i + 1]
        args[i + 1] = str(outs[name])
        args = [*args, "--steps", "40", "--tune-samples", "2", "--tune-extra", "0", "--seeds", "2",
                "--no-progress"]
        proc = subprocess.run([sys.executable, "-m", "raybench.cli", *args], capture_output=True, text=True,
                              timeout=300, env=cli_env(), cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]

    runs, _ = results.read(str(outs["my_optimizer"]))
    signum = runs[runs["optimizer"] == "signum"]
    assert len(signum) == 4 and (signum["status"] == "ok").all(), signum[["status", "error"]]
    assert set(signum["optimizer_path"]) == {"my_optimizer:Signum"}
    assert signum["optimizer_version"].isna().all()  # not an installed distribution
    assert (signum["hparam_source"] == "tuned").all()
    # Its own hyperparameter is a column although this process never registered Signum.
    assert "hp_beta" in runs and (signum["hp_beta"] == 0.9).all()
    adam = runs[runs["optimizer"] == "adam"]
    from importlib import metadata

    assert set(adam["optimizer_path"]) == {"torch.optim:Adam"}
    assert set(adam["optimizer_version"]) == {metadata.version("torch")}

    runs, _ = results.read(str(outs["my_problem"]))
    lsq = runs[runs["problem"] == "least_squares"]
    assert len(lsq) == 4 and (lsq["status"] == "ok").all(), lsq[["status", "error"]]
    assert set(lsq["problem_path"]) == {"my_problem:make_problem"}
    assert lsq["test_suboptimality"].notna().all()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


NO_LR = '''
import torch

class NoLR(torch.optim.Optimizer):
    def __init__(self, params, step_size: float = 0.1):
        super().__init__(params, {"step_size": step_size})

    @torch.no_grad()
    def step(self, closure=None):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(p.grad, alpha=-group["step_size"])
        return loss
'''


def test_tune_lr_needs_a_learning_rate_exit_2_before_any_run(tmp_path: Path, clean_registries,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # In process through --check (every check a run makes, nothing run): sys.path and the
    # module cache are restored afterwards.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "nolr", None)  # so that the module imported here goes at the end
    del sys.modules["nolr"]
    module = _write(tmp_path / "mods" / "nolr.py", NO_LR)
    out = tmp_path / "out"
    proc = cli("run", "--problems", "quadratic", "--optimizers", "adam,nolr:NoLR", "--py-modules", str(module),
               "--tune-lr", "--out", str(out), "--check")
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--tune-lr: optimizer 'nolr' (nolr:NoLR) has no learning rate" in lines[0], lines
    assert not (out / "runs").exists()


@pytest.fixture
def clean_registries():
    """Entries a test registers are removed afterwards (the registries are process-wide)."""
    before_o, before_p = dict(optimizers.REGISTRY), dict(problems.REGISTRY)
    yield
    for names, before in ((optimizers.REGISTRY, before_o), (problems.REGISTRY, before_p)):
        for name in set(names) - set(before):
            del names[name]


def test_an_import_path_reads_defaults_from_the_signature(clean_registries, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(_write(tmp_path / "nolr.py", NO_LR).parent))
    assert registry.split("x=nolr:NoLR") == ("x", "nolr:NoLR")
    assert registry.split("torch.optim:NAdam") == (None, "torch.optim:NAdam")
    spec = optimizers.get("nolr:NoLR")  # the same lookup as a name's, registered on first use
    name = spec.name
    assert (name, spec.defaults, spec.search_space, spec.origin) == ("nolr", {"step_size": 0.1}, {}, "import path")
    assert optimizers.get("nolr:NoLR") is spec is optimizers.get("nolr") is optimizers.get("nolr=nolr:NoLR")
    # Checked like a built-in's: coerced, unknown names refused.
    assert optimizers.resolve_hparams("nolr", {"step_size": "0.5"})["step_size"] == 0.5
    with pytest.raises(optimizers.OptimizerError, match="unknown hyperparameter nolr.lr"):
        optimizers.resolve_hparams("nolr", {"lr": 1})
    # torch's implementation switches are not hyperparameters; tensors-or-floats defaults are.
    asgd = optimizers.get("myasgd=torch.optim:ASGD")
    assert {"lr", "lambd", "alpha", "t0", "weight_decay"} <= set(asgd.defaults)
    assert not {"foreach", "capturable", "differentiable"} & set(asgd.defaults)
    assert asgd.search_space == {"lr": {"min": 1e-5, "max": 1.0, "scaling": "log"}}
    # The registry's own entry, named by its class: that entry, with its curated defaults.
    assert optimizers.get("lion=pytorch_optimizer:Lion").name == "lion"
    assert optimizers.get("pytorch_optimizer:Lion").origin == "raybench"
    with pytest.raises(optimizers.OptimizerError, match="optimizer name 'sgd' is used twice"):
        optimizers.get("sgd=torch.optim:Adam")
    with pytest.raises(optimizers.OptimizerError, match="search space for myasgd2.nope"):
        optimizers.get("myasgd2=torch.optim:ASGD", search_space={"nope": {"min": 1, "max": 2}})
    with pytest.raises(optimizers.OptimizerError, match="module 'nosuchmodule' does not import"):
        optimizers.get("nosuchmodule:Opt")
    with pytest.raises(optimizers.OptimizerError, match="unknown optimizer 'nosuch'; accepted: adam, .*MODULE:ATTR"):
        optimizers.get("nosuch")


LEAST_SQUARES = '''
from raybench.problems import Problem
from raybench.problems.quadratic import QuadraticInstance


def make_problem():
    return Problem(name="tiny_lsq", description="a 3-d quadratic", metrics={"suboptimality": "min", "loss": "min"},
                   make=lambda seed, **o: QuadraticInstance(seed, dim=3, eig_min=1.0, eig_max=2.0, steps=10,
                                                            target_gap=1e-3))
'''


def test_a_problem_import_path_goes_through_the_same_lookup(clean_registries, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(_write(tmp_path / "lsqmod.py", LEAST_SQUARES).parent))
    prob = problems.get("lsqmod:make_problem")
    assert (prob.name, prob.origin, prob.path) == ("tiny_lsq", "import path", "lsqmod:make_problem")
    assert problems.get("lsqmod:make_problem") is prob is problems.get("tiny_lsq")
    assert problems.get("lsq2=lsqmod:make_problem").name == "lsq2"  # NAME= names it, as for optimizers
    from raybench.spec import RunSpec

    spec = RunSpec.build("lsqmod:make_problem", "adam", 0, steps=3)  # the Python API takes the path too
    assert (spec.problem, spec.problem_path) == ("tiny_lsq", "lsqmod:make_problem")
    with pytest.raises(problems.ProblemError, match="problem name 'quadratic' is used twice"):
        problems.get("quadratic=lsqmod:make_problem")
    with pytest.raises(problems.ProblemError, match="not a problems.Problem"):
        problems.get("lsqmod:__name__")
    with pytest.raises(problems.ProblemError, match="has no attribute 'nope'"):
        problems.get("lsqmod:nope")


def test_suite_file_entries_with_hparams_and_search_space(clean_registries) -> None:
    from raybench import lr_search, suites

    suite = {"problems": ["quadratic"], "seeds": 1, "optimizers": [
        "adam", {"name": "myasgd", "path": "torch.optim:ASGD", "hparams": {"lambd": 1e-3},
                 "search_space": {"lr": {"min": 1e-3, "max": 1e-1, "scaling": "log"}}}]}
    specs = suites.expand(suite, hparam_overrides={"myasgd": {"lr": "0.02"}})
    asgd = next(s for s in specs if s.optimizer == "myasgd")
    assert asgd.hparams["lambd"] == 1e-3 and asgd.hparams["lr"] == 0.02 and asgd.hparam_source == "config"
    assert asgd.optimizer_path == "torch.optim:ASGD"
    adam = next(s for s in specs if s.optimizer == "adam")
    assert adam.optimizer_path is None  # registry entries travel by name
    assert lr_search.grid("myasgd", 3) == pytest.approx([1e-3, 1e-2, 1e-1])
    # The path is part of the run's identity.
    from raybench.spec import run_id

    args = ("quadratic", "myasgd", asgd.hparams, 0, None, {})
    assert asgd.run_id == run_id(*args, optimizer_path="torch.optim:ASGD") != run_id(*args)
    with pytest.raises(UsageError, match="optimizer 'adam' is given twice"):
        suites.expand({**suite, "optimizers": ["adam", "adam"]})


ENTRY_POINTS_PKG = '''
import torch
from raybench.problems import Problem
from raybench.problems.quadratic import QuadraticInstance


class HalfStep(torch.optim.SGD):
    def __init__(self, params, lr: float = 0.05):
        super().__init__(params, lr=lr)


def tiny_quadratic():
    return Problem(name="tiny_quadratic", description="a 5-d quadratic from a plugin",
                   make=lambda seed, **o: QuadraticInstance(seed, dim=5, eig_min=1.0, eig_max=10.0, steps=50,
                                                            target_gap=1e-3),
                   metrics={"suboptimality": "min", "loss": "min", "param_error": "min"})
'''


def test_installed_packages_add_entries_through_entry_points(tmp_path: Path) -> None:
    """A distribution (dist-info with entry_points.txt) on the path: ``raybench list`` shows its
    entries with where they come from, and a run uses them, in a fresh process."""
    site = tmp_path / "site"
    _write(site / "rbplugin" / "__init__.py", ENTRY_POINTS_PKG)
    _write(site / "rbplugin-0.3.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: rbplugin\nVersion: 0.3\n")
    _write(site / "rbplugin-0.3.dist-info" / "top_level.txt", "rbplugin\n")
    _write(site / "rbplugin-0.3.dist-info" / "entry_points.txt",
           "[raybench.optimizers]\nhalfstep = rbplugin:HalfStep\n\n"
           "[raybench.problems]\ntiny_quadratic = rbplugin:tiny_quadratic\n")
    env = cli_env(PYTHONPATH=f"{site}:{ROOT}")
    listing = subprocess.run([sys.executable, "-m", "raybench.cli", "list"], capture_output=True, text=True,
                             timeout=120, env=env, cwd=ROOT)
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"halfstep .*\[entry point: rbplugin:HalfStep \(rbplugin 0\.3\)\]", listing.stdout), listing.stdout
    assert re.search(r"tiny_quadratic .*\[entry point: rbplugin:tiny_quadratic", listing.stdout), listing.stdout
    code = ("from raybench import Run; r = Run('tiny_quadratic', 'halfstep', {'lr': 0.1}, seed=0); r.advance(); "
            "s = r.summary(); print(s['status'], s['optimizer_path'], s['optimizer_version'], s['converged'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok", "rbplugin:HalfStep", "0.3", "True"]


def test_a_table_of_a_layer_not_imported_reads_as_written(tmp_path: Path) -> None:
    """``results.read_table`` of a table whose layer this process has not imported (e.g.
    ``rl_curves`` read by a process that never imported ``rl``) reads the parts as written."""
    import pyarrow as pa

    table = schema.register(schema.TableSchema("plugin_table", 1, schema.columns(("a", pa.int64()))))
    try:
        results.init(str(tmp_path))
        results.write(str(tmp_path), "plugin_table", [{"a": 1}, {"a": 2}])
    finally:
        del schema.TABLES[table.name]
    assert results.read_table(str(tmp_path), "plugin_table")["a"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="unknown table"):
        results.read_table(str(tmp_path), "../plugin_table")


def test_py_modules_are_made_importable_or_refused_in_one_line(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    module = _write(tmp_path / "mods" / "nolr.py", NO_LR)
    assert registry.add_module_paths([str(module)], error=UsageError) == [str(module)]
    assert str(module.parent) in sys.path
    with pytest.raises(UsageError, match="not a .py file or a package folder"):
        registry.add_module_paths([str(tmp_path / "missing.txt")], error=UsageError)
