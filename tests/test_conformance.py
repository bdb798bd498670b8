"""``raybench test``: the conformance check passes what honours the contract and names what does not.

The broken optimizers and problems below each break one rule and must fail that check and no
other; the registry's own optimizers and synthetic problems must pass every check. They are
reached by import path (``tests.test_conformance:ATTR``), as a contributor's own are.
"""

from __future__ import annotations

import torch

from raybench import conformance, optimizers, problems
from tests.conftest import cli, ok, raybench


class Signum(torch.optim.Optimizer):
    """A sound optimizer (signSGD with momentum) that the broken ones below change in one way."""

    def __init__(self, params, lr: float = 1e-3, beta: float = 0.9) -> None:
        super().__init__(params, {"lr": lr, "beta": beta})

    def direction(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        m = self.state[p].setdefault("momentum", torch.zeros_like(p))
        m.mul_(group["beta"]).add_(p.grad, alpha=1 - group["beta"])
        return torch.sign(m)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(self.direction(p, group), alpha=-group["lr"])
        return loss


class LosesState(Signum):
    """Its checkpoint leaves the momentum out: a resumed run starts it from zero again."""

    def state_dict(self):
        saved = super().state_dict()
        saved["state"] = {}
        return saved


class MakesNaN(Signum):
    """Divides by a second moment it updates only afterwards (0 / 0 at the first step)."""

    def direction(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        v = self.state[p].setdefault("v", torch.zeros_like(p))
        out = p.grad / v.sqrt()
        v.mul_(0.99).add_(p.grad**2, alpha=0.01)
        return out


class Unseeded(Signum):
    """Adds noise from torch's global generator: not determined by the run's seed."""

    def direction(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        return super().direction(p, group) + 0.1 * torch.rand_like(p)


class ForgetsLoss(Signum):
    """Calls the closure but returns nothing, so the training loop has no loss to record."""

    def step(self, closure=None):
        super().step(closure)


BROKEN_OPTIMIZERS = {"LosesState": {"state_dict"}, "MakesNaN": {"finite"}, "Unseeded": {"determinism"},
                     # the training loop itself then fails on it too: finite runs it
                     "ForgetsLoss": {"step_closure", "finite"}}


def unseeded_problem() -> problems.Problem:
    """The example's least squares, but its starting point drawn from torch's global generator."""
    from examples.my_problem import LeastSquares, make_problem

    class Drawn(LeastSquares):
        def __init__(self, seed: int, **options) -> None:
            super().__init__(seed, **options)
            self.model.x.data = torch.randn(self.model.x.shape)

    return make_problem().__class__(**{**vars(make_problem()), "name": "drawn",
                                       "make": lambda seed, **o: Drawn(seed, **o)})


def undeclared_metric_problem() -> problems.Problem:
    """The example's least squares, but evaluating a metric it does not declare."""
    from examples.my_problem import make_problem

    made = make_problem()
    return made.__class__(**{**vars(made), "name": "undeclared", "metrics": {"suboptimality": "min"}})


BROKEN_PROBLEMS = {"unseeded_problem": {"reproducible"}, "undeclared_metric_problem": {"evaluate"}}


def failed(proc) -> set[str]:
    return {line.split(":")[0].removeprefix("FAIL ") for line in proc.stdout.splitlines() if line.startswith("FAIL ")}


def test_examples_pass_as_the_issue_runs_them():
    optimizer = ok(raybench("test", "my_optimizer:Signum", "--py-modules", "examples/my_optimizer.py", timeout=120))
    problem = ok(cli("test", "my_problem:make_problem", "--py-modules", "examples/my_problem.py"))
    for proc in (optimizer, problem):
        lines = proc.stdout.splitlines()
        assert lines[-1].endswith(": 6 checks, all passed"), proc.stdout
        assert all(line.startswith("ok   ") for line in lines[:-1]) and len(lines) == 7, proc.stdout
    assert optimizer.stderr == "", optimizer.stderr


def test_a_sound_optimizer_passes_every_check():
    proc = ok(cli("test", "tests.test_conformance:Signum"))
    assert [line.split()[1] for line in proc.stdout.splitlines()[:-1]] == [
        "step_closure", "step_no_closure", "state_dict", "determinism", "train_eval", "finite"]


def test_each_broken_optimizer_fails_its_own_check_and_no_other():
    for attr, checks in BROKEN_OPTIMIZERS.items():
        proc = cli("test", f"tests.test_conformance:{attr}")
        assert proc.returncode == 1, (attr, proc.stdout, proc.stderr)
        assert failed(proc) == checks, (attr, proc.stdout)
        summary = proc.stdout.splitlines()[-1]
        assert f"6 checks, {len(checks)} failed: " in summary and set(summary.split(": ")[-1].split(", ")) == checks


def test_each_broken_problem_fails_its_own_check_and_no_other():
    for attr, checks in BROKEN_PROBLEMS.items():
        proc = cli("test", f"tests.test_conformance:{attr}")
        assert proc.returncode == 1, (attr, proc.stdout, proc.stderr)
        assert failed(proc) == checks, (attr, proc.stdout)


def test_names_of_the_registry_are_accepted():
    assert ok(cli("test", "lbfgs")).stdout.splitlines()[1].startswith("ok   step_no_closure (not supported")
    assert ok(cli("test", "schedule_free_adamw")).stdout.count("ok   ") == 6
    assert ok(cli("test", "quadratic", "--option", "dim=3")).stdout.splitlines()[-1] == \
        "problem quadratic: 6 checks, all passed"


def test_every_registered_optimizer_and_synthetic_problem_passes(tmp_path):
    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    torch.manual_seed(0)
    policy, _ = save_policy(CoordinatewisePolicy(), tmp_path / "policy", update_scale=0.01, info={"family": "none"})
    extra = {"autonomous": {"policy": policy}}  # the one entry with a hyperparameter it cannot default
    for name in [n for n, entry in optimizers.REGISTRY.items() if entry.origin == "raybench"]:
        checks = conformance.check_optimizer(optimizers.get(name), extra.get(name))
        assert [c for c in checks if not c.ok] == [], name
    synthetic = [name for name, entry in problems.REGISTRY.items() if entry.origin == "raybench" and not entry.needs_data]
    assert {"quadratic", "logistic", "robust_regression", "rosenbrock", "mlp"} <= set(synthetic)
    for name in synthetic:
        assert [c for c in conformance.check_problem(problems.get(name)) if not c.ok] == [], name


def test_what_cannot_be_resolved_is_one_line_and_exit_2(tmp_path):
    cases = {("nosuch_module:Thing",): "does not import",
             ("os:getcwd",): "neither an optimizer nor a problem",
             ("nosuchname",): "unknown name 'nosuchname'",
             ("adam", "--py-modules", str(tmp_path / "missing.py")): "not a .py file",
             ("adam", "--hparam", "sgd.lr=1"): "the optimizer under test is 'adam'",
             ("quadratic", "--option", "nosuch=1"): "unknown option 'nosuch'"}
    for args, words in cases.items():
        proc = cli("test", *args)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc.stdout, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, (args, proc.stderr)
