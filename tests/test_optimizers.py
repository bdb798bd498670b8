"""The optimizer registry: a table of entries with valid and invalid hyperparameters, one
parameterised descent test over the whole registry, and Modified Adam held against
``torch.optim.Adam`` step for step.

Adding an optimizer to the registry means adding a line to ``OPTIM_DB`` (the coverage test
fails until it is there) and, if its defaults need something from outside (a file), a line
to ``EXTRA_HPARAMS``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from raybench import optimizers, registry, schedules, search_space
from raybench.optimizers import ModifiedAdam, OptimizerError
from raybench.train import Run

# name -> (valid hyperparameter overrides, [(invalid overrides, words the one-line error must contain)])
OPTIM_DB: dict[str, tuple[list[dict], list[tuple[dict, list[str]]]]] = {
    "adam": ([{}, {"lr": 0.1, "betas": "0.8,0.99"}], [
        ({"lr": -1.0}, ["Invalid learning rate: -1.0"]),
        ({"betas": (1.0, 0.999)}, ["beta", "1.0"]),
        ({"momentum": 0.9}, ["adam.momentum", "accepted: amsgrad, betas, decoupled_weight_decay, eps, lr, "
                                               "weight_decay"]),
        ({"lr": "fast"}, ["'fast'", "adam.lr", "a number"]),
        # One rule for inf and nan, the problem options' too (test_problems_synthetic's BAD_OPTIONS).
        ({"lr": "inf"}, ["'inf'", "adam.lr", "a number"]),
        ({"eps": float("nan")}, ["nan", "adam.eps"]),
        ({"betas": "0.9,inf"}, ["'0.9,inf'", "adam.betas", "2 numbers"]),
    ]),
    "sgd": ([{}, {"lr": 1.0, "weight_decay": 1e-4}], [
        ({"lr": -0.5}, ["Invalid learning rate: -0.5"]),
        ({"weight_decay": -1.0}, ["weight_decay", "-1.0"]),
    ]),
    "momentum": ([{}, {"nesterov": "false", "momentum": 0.5}], [
        ({"momentum": -0.1}, ["Invalid momentum value: -0.1"]),
        ({"momentum": 0.0}, ["Nesterov momentum requires a momentum"]),
        ({"nesterov": "maybe"}, ["'maybe'", "momentum.nesterov", "true or false"]),
        ({"dampening": 0.5}, ["Nesterov momentum requires a momentum and zero dampening"]),  # from SGD's signature
    ]),
    "adagrad": ([{}, {"lr": 0.5}], [
        ({"eps": -1.0}, ["Invalid epsilon value: -1.0"]),
    ]),
    "rmsprop": ([{}, {"alpha": 0.9, "momentum": 0.5}], [
        ({"alpha": -0.5}, ["Invalid alpha value: -0.5"]),
    ]),
    "adamw": ([{}, {"weight_decay": 0.0}], [
        ({"weight_decay": -0.1}, ["Invalid weight_decay value: -0.1"]),
    ]),
    "lbfgs": ([{}, {"history_size": 5, "max_iter": 3}, {"line_search_fn": "null"}], [
        ({"line_search_fn": "bogus"}, ["'bogus'", "strong_wolfe"]),
        ({"history_size": 0}, ["lbfgs.history_size", "0", "an integer >= 1"]),
        ({"max_iter": 1.5}, ["1.5", "lbfgs.max_iter", "an integer"]),
    ]),
    "modified_adam": ([{}, {"variance_scale": 1.0}, {"variance_scale": "2"}], [
        ({"variance_scale": 0.0}, ["Invalid variance_scale value: 0.0"]),
        ({"eps": -1e-8}, ["Invalid epsilon value: -1e-08"]),
        ({"variance": 1.1}, ["modified_adam.variance", "variance_scale"]),
    ]),
    "autonomous": ([{}, {"lr_scale": "0.5"}], [
        ({"policy": ""}, ["autonomous needs policy="]),
        ({"policy": "missing.safetensors"}, ["missing.safetensors", "not found"]),
        ({"lr_scale": -1.0}, ["Invalid lr_scale: -1.0"]),
    ]),
    # The modern zoo (raybench/optimizers/zoo.py): the libraries' own checks, as one-liners.
    "nadam": ([{}, {"decoupled_weight_decay": "true", "weight_decay": 0.01}], [
        ({"momentum_decay": -1.0}, ["Invalid momentum_decay value: -1.0"]),
    ]),
    "radam": ([{}, {"betas": "0.8,0.99"}], [
        ({"betas": "0.9,1.0"}, ["Invalid beta parameter at index 1: 1.0"]),
    ]),
    "adafactor": ([{}, {"eps2": "1e-4", "d": 2}], [
        ({"d": 0.5}, ["Clipping threshold d should be >= 1 but is: 0.5"]),
        ({"eps": 1e-3}, ["adafactor.eps", "eps2"]),
    ]),
    "muon": ([{}, {"nesterov": "false", "adjust_lr_fn": "match_rms_adamw", "adamw_betas": "0.8,0.99"}], [
        ({"momentum": -1.0}, ["momentum should be >= 0 but is: -1.0"]),  # Muon's, checked with no matrix
        ({"adamw_lr": -1.0}, ["Invalid learning rate: -1.0"]),
        ({"adjust_lr_fn": "bogus"}, ["bogus", "not supported"]),
        ({"ns_steps": 0}, ["ns_steps value: 0"]),
    ]),
    "schedule_free_adamw": ([{}, {"warmup_steps": "10", "r": 0.5}], [
        ({"lr": -1.0}, ["Invalid learning rate: -1.0"]),
        ({"betas": "0.9,1.0"}, ["Invalid beta parameter at index 1: 1.0"]),
        ({"warmup_steps": 2.5}, ["2.5", "schedule_free_adamw.warmup_steps", "an integer"]),
    ]),
    "lion": ([{}, {"betas": "0.95,0.98", "weight_decay": 0.1}], [
        ({"lr": -1.0}, ["Invalid learning rate: -1.0"]),
        ({"weight_decay": -1.0}, ["weight_decay must be non-negative"]),
    ]),
    "soap": ([{}, {"precondition_frequency": "5", "precondition_1d": "true"}], [
        ({"precondition_frequency": 0}, ["precondition_frequency must be positive"]),
        ({"data_format": "nchw"}, ["'nchw'", "soap.data_format", "channels_first, channels_last"]),  # its Literal
    ]),
    # growth_rate's default is inf (unbounded), so it accepts inf; nan is refused everywhere.
    "prodigy": ([{}, {"growth_rate": "1.02", "safeguard_warmup": "yes"}, {"growth_rate": "inf"}], [
        ({"lr": -1.0}, ["Invalid learning rate: -1.0"]),
        ({"growth_rate": "nan"}, ["'nan'", "prodigy.growth_rate", "a number or inf"]),
        ({"betas": "0.9,1.5"}, ["beta2", "range"]),
    ]),
    "adan": ([{}, {"betas": "0.9,0.9,0.99", "max_grad_norm": 1.0}], [
        ({"max_grad_norm": -1.0}, ["max_grad_norm must be non-negative"]),
        ({"betas": "0.9,0.9"}, ["'0.9,0.9'", "adan.betas", "3 numbers"]),
    ]),
}

# Hyperparameters an entry cannot be built without, given the test's tmp folder: its defaults
# point at nothing. The learned optimizer needs a policy file; an untrained one (random
# weights, saved the way `raybench rl train` saves) is enough to build and step it.
EXTRA_HPARAMS: dict[str, Callable[[Path], dict]] = {
    "autonomous": lambda tmp: {"policy": _random_policy_file(tmp)},
}

# What the descent test may demand of an entry; every other entry must lower the objective.
DESCENT_EXPECTATION: dict[str, str] = {
    # An untrained policy has no reason to descend: here it must only build, step through Run
    # and move the parameters. Whether a trained policy descends is the RL tests' question.
    "autonomous": "runs",
}


def _random_policy_file(tmp: Path) -> str:
    from raybench.learned.policy import CoordinatewisePolicy, save_policy

    torch.manual_seed(0)
    weights, _ = save_policy(CoordinatewisePolicy(), tmp / "random_policy", update_scale=0.01,
                             info={"family": "none: random weights for tests"})
    return weights


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict]:
    tmp = tmp_path_factory.mktemp("optimizers")
    return lambda name: EXTRA_HPARAMS[name](tmp) if name in EXTRA_HPARAMS else {}

NAMES = optimizers.names()


def test_the_tables_name_exactly_the_registered_optimizers() -> None:
    missing = sorted(set(NAMES) - set(OPTIM_DB))
    assert not missing, f"add a line to OPTIM_DB in tests/test_optimizers.py for: {missing}"
    stale = sorted((set(OPTIM_DB) | set(DESCENT_EXPECTATION)) - set(NAMES))
    assert not stale, f"no longer registered, remove from tests/test_optimizers.py: {stale}"


def test_unknown_optimizer_lists_the_accepted_names() -> None:
    with pytest.raises(OptimizerError) as info:
        optimizers.get("adamax")
    message = str(info.value)
    assert "'adamax'" in message and all(name in message for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry(name: str, extra: Callable[[str], dict]) -> None:
    spec = optimizers.get(name)
    valid, invalid = OPTIM_DB[name]
    space = search_space.declared(spec)  # plain data, checked (names included: raybench.search_space)
    assert space and all(dim.contains(spec.defaults[dim.name]) for dim in space.dims if dim.name in spec.defaults)
    for overrides in valid:
        params = [torch.nn.Parameter(torch.ones(3))]
        opt = optimizers.make(name, params, **{**extra(name), **overrides})
        assert isinstance(opt, torch.optim.Optimizer)
        resolved = optimizers.resolve_hparams(name, {**extra(name), **overrides})
        assert set(resolved) == set(spec.defaults) | set(schedules.DEFAULTS)  # every optimizer takes a schedule
        for key, default in spec.defaults.items():  # CLI strings coerced to the default's type (or null)
            assert type(resolved[key]) is type(default) or (resolved[key] is None and spec.options[key].nullable)
    for overrides, words in invalid:
        with pytest.raises(OptimizerError) as info:
            optimizers.make(name, [torch.nn.Parameter(torch.ones(3))], **{**extra(name), **overrides})
        message = str(info.value)
        assert "\n" not in message
        for word in words:
            assert word in message, f"{word!r} not in {message!r}"


# Per-(optimizer, problem) learning rates where the default does not descend, and why.
LR_OVERRIDES: dict[tuple[str, str], float] = {
    # Rosenbrock's gradient at the start is ~1e3: SGD at its default 1e-2 jumps out of the valley
    # and overflows within 4 steps; 1e-3 descends.
    ("sgd", "rosenbrock"): 1e-3,
    # Nesterov momentum 0.9 multiplies the effective step by ~10: needs 10x smaller than SGD.
    ("momentum", "rosenbrock"): 1e-4,
    # Lion's update is a sign: every coordinate moves by lr per step. At its default 1e-4, 150
    # steps move a coordinate at most 0.015 and lower the objective by ~4%; 1e-3 descends.
    ("lion", "quadratic"): 1e-3,
    ("lion", "rosenbrock"): 1e-3,
}
DESCENT_STEPS = 150
# Entries that are themselves only on matrices (OptimizerSpec.applies): on these vector problems
# a run is not applicable, untrained, rather than AdamW or Adam under their names.
NOT_APPLICABLE_ON_VECTORS = {"muon", "soap"}


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_descends(name: str, problem: str, extra: Callable[[str], dict]) -> None:
    hparams = extra(name)
    if (name, problem) in LR_OVERRIDES:
        hparams["lr"] = LR_OVERRIDES[(name, problem)]
    run = Run(problem, name, hparams, seed=0, steps=DESCENT_STEPS, eval_every=DESCENT_STEPS)
    x0 = [p.detach().clone() for p in run.instance.parameters()]
    rows = run.advance()
    if name in NOT_APPLICABLE_ON_VECTORS:
        assert run.status == "not_applicable" and rows == [] and run.step == 0
        assert f"{name} is not applicable to problem {problem}" in run.error
        return
    start, end = rows[0]["val_suboptimality"], rows[-1]["val_suboptimality"]
    reference = Run(problem, "sgd", seed=0).evaluate()["suboptimality"]
    assert start == reference  # the same start for every optimizer
    assert run.status == "ok" and math.isfinite(end)
    expectation = DESCENT_EXPECTATION.get(name, "descends")
    if expectation == "descends":
        assert end < 0.9 * start
    else:
        assert expectation == "runs"
        assert run.grad_evals == DESCENT_STEPS
        assert not all(torch.equal(a, b) for a, b in zip(x0, run.instance.parameters()))


@pytest.mark.parametrize(("name", "problem"), list(LR_OVERRIDES))
def test_lr_overrides_are_needed(name: str, problem: str, extra: Callable[[str], dict]) -> None:
    """At its default learning rate the entry does not descend where the table overrides it."""
    run = Run(problem, name, extra(name), seed=0, steps=DESCENT_STEPS, eval_every=DESCENT_STEPS)
    rows = run.advance()
    start, end = rows[0]["val_suboptimality"], rows[-1]["val_suboptimality"]
    assert run.status == "diverged" or not end < 0.9 * start


@pytest.mark.parametrize("name", list(EXTRA_HPARAMS))
def test_extra_hparams_are_needed(name: str, extra: Callable[[str], dict]) -> None:
    """Without them the entry cannot be built, and the one-line error names what is missing."""
    with pytest.raises(OptimizerError) as info:
        optimizers.make(name, [torch.nn.Parameter(torch.ones(3))])
    message = str(info.value)
    assert "\n" not in message
    for key in extra(name):
        assert key in message, f"{key!r} not in {message!r}"


# -- Modified Adam against torch.optim.Adam ----------------------------------------------------

def _groups(seed: int) -> tuple[list[torch.nn.Parameter], list[dict]]:
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(5, 3, generator=g)), torch.nn.Parameter(torch.randn(4, generator=g))]
    groups = [{"params": [params[0]], "lr": 1e-2, "weight_decay": 0.1},
              {"params": [params[1]], "lr": 3e-3, "betas": (0.8, 0.99)}]
    return params, groups


def _loss(params: list[torch.Tensor]) -> torch.Tensor:
    # Non-quadratic so that gradients change shape along the path.
    return (params[0].sin() ** 2).sum() + (params[1] ** 4).sum() + params[0].sum() * params[1].sum()


def _train(opt_cls: type, steps: int, **kwargs) -> list[torch.Tensor]:
    params, groups = _groups(0)
    opt = opt_cls(groups, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
    return [p.detach() for p in params]


def test_modified_adam_with_scale_one_is_adam() -> None:
    ours = _train(ModifiedAdam, 50, variance_scale=1.0)
    adam = _train(torch.optim.Adam, 50, foreach=False)
    for a, b in zip(ours, adam):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    scaled = _train(ModifiedAdam, 50, variance_scale=1.1)
    assert max(float((a - b).abs().max()) for a, b in zip(scaled, adam)) > 1e-4


def test_modified_adam_scale_is_lr_over_sqrt_scale() -> None:
    """With eps = 0 and gradients that do not depend on the parameters, v scales by s exactly,
    so Modified Adam with (lr, s) is Adam with lr / sqrt(s) (float64, to rounding)."""
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(6, generator=g, dtype=torch.float64) for _ in range(30)]
    out = []
    for cls, kwargs in ((ModifiedAdam, {"lr": 1e-2, "variance_scale": 1.1}),
                        (torch.optim.Adam, {"lr": 1e-2 / math.sqrt(1.1)})):
        p = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
        opt = cls([p], eps=0.0, **kwargs)
        for grad in grads:
            p.grad = grad.clone()
            opt.step()
        out.append(p.detach())
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-14)


def test_modified_adam_state_dict_round_trip_continues_identically() -> None:
    params, groups = _groups(0)
    opt = ModifiedAdam(groups)

    def steps(ps: list[torch.nn.Parameter], o: torch.optim.Optimizer, n: int) -> None:
        for _ in range(n):
            o.zero_grad()
            _loss(ps).backward()
            o.step()

    steps(params, opt, 10)
    saved_params = [p.detach().clone() for p in params]
    saved_state = copy.deepcopy(opt.state_dict())  # state_dict() shares the live state tensors
    steps(params, opt, 10)

    params2, groups2 = _groups(99)  # different values, overwritten below
    with torch.no_grad():
        for p, v in zip(params2, saved_params):
            p.copy_(v)
    opt2 = ModifiedAdam(groups2)
    opt2.load_state_dict(saved_state)
    steps(params2, opt2, 10)
    for a, b in zip(params, params2):
        assert torch.equal(a, b)


def test_run_checkpoint_with_modified_adam_continues_identically() -> None:
    whole = Run("logistic", "modified_adam", {"lr": 1e-2}, seed=0, steps=40, options={"batch_size": 50})
    whole.advance()
    first = Run("logistic", "modified_adam", {"lr": 1e-2}, seed=0, steps=40, options={"batch_size": 50})
    first.advance(17)
    resumed = Run("logistic", "modified_adam", {"lr": 1e-2}, seed=0, steps=40, options={"batch_size": 50})
    resumed.load_state_dict(first.state_dict())
    resumed.advance()
    for a, b in zip(whole.instance.parameters(), resumed.instance.parameters()):
        assert torch.equal(a, b)
    assert whole.grad_evals == resumed.grad_evals == 40


def test_modified_adam_closure() -> None:
    params, groups = _groups(0)
    calls = []

    def closure() -> torch.Tensor:
        calls.append(1)
        for p in params:
            p.grad = None
        loss = _loss(params)
        loss.backward()
        return loss

    expected = _train(ModifiedAdam, 1)
    loss = ModifiedAdam(groups).step(closure)
    assert len(calls) == 1 and loss.item() == _loss(_groups(0)[0]).item()
    for a, b in zip(params, expected):
        assert torch.equal(a.detach(), b)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"lr": -1.0}, "Invalid learning rate: -1.0"),
    ({"eps": -0.5}, "Invalid epsilon value: -0.5"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ({"weight_decay": -2.0}, "Invalid weight_decay value: -2.0"),
    ({"variance_scale": -1.1}, "Invalid variance_scale value: -1.1"),
])
def test_modified_adam_rejects_bad_arguments(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ModifiedAdam([torch.nn.Parameter(torch.zeros(2))], **kwargs)


# -- L-BFGS ----------------------------------------------------------------------------------

def test_lbfgs_counts_every_closure_call() -> None:
    run = Run("rosenbrock", "lbfgs", seed=0, steps=20)
    run.advance()
    first = run.optimizer.param_groups[0]["params"][0]
    assert run.grad_evals == run.optimizer.state[first]["func_evals"]  # torch's own count
    assert run.grad_evals > run.step == 20  # the line search evaluates more than once per step
    assert run.summary(test=False)["grad_evals"] == run.grad_evals


def test_lbfgs_line_search_has_evaluations_to_spend() -> None:
    # With torch's default max_eval (1 at max_iter=1) the strong-Wolfe search got no evaluation
    # and L-BFGS stalled at suboptimality 0.16 on this quadratic from step 10 on.
    run = Run("quadratic", "lbfgs", seed=0, steps=100)
    run.advance()
    assert run.evaluate()["suboptimality"] < 1e-6


# -- train() / eval() around every evaluation (schedule-free) ---------------------------------

class _ModalSGD(torch.optim.SGD):
    """SGD with schedulefree's protocol: it starts in eval mode, refuses to step outside train
    mode, and records its train() / eval() calls and steps."""

    def __init__(self, params: list, lr: float = 1e-2) -> None:
        super().__init__(params, lr=lr)
        self.training = False
        self.log: list[str] = []

    def train(self) -> None:
        self.training = True
        self.log.append("train")

    def eval(self) -> None:
        self.training = False
        self.log.append("eval")

    def step(self, closure: Callable | None = None):
        assert self.training, "stepped in eval mode"
        self.log.append("step")
        return super().step(closure)


@pytest.fixture
def modal_sgd() -> str:
    spec = optimizers.register(optimizers.OptimizerSpec(
        "modal_sgd_test", "SGD with train()/eval() (tests only)", _ModalSGD, {"lr": 1e-2},
        {"lr": {"min": 1e-3, "max": 1e-1, "scaling": "log"}}))
    try:
        yield spec.name
    finally:
        del optimizers.REGISTRY[spec.name]


def test_the_loop_switches_optimizer_modes_around_every_evaluation(modal_sgd: str) -> None:
    run = Run("quadratic", modal_sgd, seed=0, steps=4, eval_every=2)
    opt = run.optimizer
    evaluate = run.instance.evaluate

    def logged(split: str = "val") -> dict[str, float]:
        opt.log.append(f"evaluate {split} in {'train' if opt.training else 'eval'} mode")
        return evaluate(split)

    run.instance.evaluate = logged
    run.advance()
    run.summary(test=True)
    around = ["eval", "evaluate val in eval mode", "train"]
    assert opt.log == ["train", *around, "step", "step", *around, "step", "step", *around,
                       "eval", "evaluate test in eval mode", "train"]

    def broken(split: str = "val") -> dict[str, float]:
        raise RuntimeError("evaluation failed")

    run.instance.evaluate = broken
    with pytest.raises(RuntimeError):
        run.evaluate()
    assert opt.training and opt.log[-2:] == ["eval", "train"]  # back in train mode all the same


def test_schedule_free_is_evaluated_at_its_averaged_iterate() -> None:
    run = Run("quadratic", "schedule_free_adamw", {"lr": 0.05}, seed=0, steps=30)
    run.advance()
    opt, inst = run.optimizer, run.instance
    assert all(group["train_mode"] for group in opt.param_groups)  # left ready to step
    y = inst.model.x.detach().clone()  # train mode: the point gradients are taken at
    at_y = inst.evaluate()["suboptimality"]
    measured = run.evaluate()["suboptimality"]
    torch.testing.assert_close(inst.model.x.detach(), y)  # train mode again afterwards
    opt.eval()
    at_x = inst.evaluate()["suboptimality"]  # eval mode: the averaged iterate x
    x = inst.model.x.detach().clone()
    opt.train()
    assert not torch.allclose(x, y, atol=1e-3)  # the two iterates differ, so the mode matters
    assert measured == pytest.approx(at_x, rel=1e-5) and measured != pytest.approx(at_y, rel=1e-3)


# -- Muon on the matrices, AdamW on the rest ----------------------------------------------------

def _layer_params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(6, 4, generator=g)),  # a weight matrix: Muon
            torch.nn.Parameter(torch.randn(6, generator=g)),  # a bias: AdamW
            torch.nn.Parameter(torch.randn(3, 2, 3, 3, generator=g))]  # a conv kernel: AdamW


def _layer_loss(params: list[torch.Tensor]) -> torch.Tensor:
    w, b, k = params
    inputs = torch.linspace(-1.0, 1.0, 20).reshape(4, 5)
    return (torch.tanh(w @ inputs + b[:, None]) - 0.5).pow(2).sum() + (k.sin() * k).sum()


def _step_muon(params: list[torch.nn.Parameter], opt: torch.optim.Optimizer, n: int) -> None:
    for _ in range(n):
        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = _layer_loss(params)
            loss.backward()
            return loss
        opt.step(closure)


def test_muon_is_torch_muon_on_matrices_and_adamw_on_the_rest() -> None:
    params = _layer_params(0)
    opt = optimizers.make("muon", params, lr=0.02, adamw_lr=1e-2)
    assert [id(p) for p in opt.muon.param_groups[0]["params"]] == [id(params[0])]
    assert [id(p) for p in opt.adamw.param_groups[0]["params"]] == [id(params[1]), id(params[2])]
    assert all(a is b for a, b in zip(opt.param_groups, [opt.muon.param_groups[0], opt.adamw.param_groups[0]]))

    closure_calls = []
    reference = _layer_params(0)  # the registry's defaults are the libraries' own
    ref_muon = torch.optim.Muon([reference[0]], lr=0.02)
    ref_adamw = torch.optim.AdamW(reference[1:], lr=1e-2)
    for _ in range(10):
        def closure() -> torch.Tensor:
            closure_calls.append(1)
            opt.zero_grad()
            loss = _layer_loss(params)
            loss.backward()
            return loss
        loss = opt.step(closure)
        assert torch.is_tensor(loss)
        ref_muon.zero_grad()
        ref_adamw.zero_grad()
        _layer_loss(reference).backward()
        ref_muon.step()
        ref_adamw.step()
    assert len(closure_calls) == 10  # one evaluation per step
    for ours, theirs in zip(params, reference):
        assert torch.equal(ours, theirs)
    assert set(opt.state) == {params[0], params[1], params[2]} and "momentum_buffer" in opt.state[params[0]]


def test_muon_state_dict_round_trip_continues_identically() -> None:
    params = _layer_params(0)
    opt = optimizers.make("muon", params, lr=0.02)
    _step_muon(params, opt, 5)
    saved_params = [p.detach().clone() for p in params]
    saved_state = copy.deepcopy(opt.state_dict())
    _step_muon(params, opt, 5)

    params2 = _layer_params(99)
    with torch.no_grad():
        for p, v in zip(params2, saved_params):
            p.copy_(v)
    opt2 = optimizers.make("muon", params2, lr=0.02)
    opt2.load_state_dict(saved_state)
    assert all(a is b for a, b in zip(opt2.param_groups, [opt2.muon.param_groups[0], opt2.adamw.param_groups[0]]))
    _step_muon(params2, opt2, 5)
    for a, b in zip(params, params2):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="parts"):
        optimizers.make("muon", [torch.nn.Parameter(torch.ones(3))]).load_state_dict(saved_state)


def test_muon_param_groups_and_schedulers_reach_both_parts() -> None:
    w, b, k = _layer_params(0)
    opt = optimizers.make("muon", [{"params": [w, b], "lr": 0.05, "adamw_lr": 0.1}, {"params": [k]}])
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.1, 1e-3]  # Muon, AdamW, AdamW default
    torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5)  # scales lr in every group at once
    assert opt.muon.param_groups[0]["lr"] == 0.025 and [g["lr"] for g in opt.adamw.param_groups] == [0.05, 5e-4]
    with pytest.raises(ValueError, match="'betas'"):
        optimizers.make("muon", [{"params": [w], "betas": (0.9, 0.9)}])


# -- defaults read from signatures -------------------------------------------------------------

# name -> what the entry states over its class's signature defaults: every other default is the
# library's own. Entries not listed state nothing.
STATED: dict[str, dict] = {
    "sgd": {"lr": 1e-2},
    "momentum": {"lr": 1e-2, "momentum": 0.9, "nesterov": True},
    "rmsprop": {"lr": 1e-3},
    "lbfgs": {"max_iter": 1, "max_eval": 25, "history_size": 10, "line_search_fn": "strong_wolfe"},
    "autonomous": {"policy": ""},  # its factory's: a file, which the class takes loaded
    "adafactor": {"eps2": 1e-3},  # its factory's: eps = (None, eps2), None having no spelling
    "muon": {"adamw_lr": None},  # None (tied to lr by adamw_lr_ratio), which a signature does not list
}


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_the_signatures_with_only_the_stated_changes(name: str) -> None:
    spec = optimizers.get(name)
    cls = registry.load(spec.path, "optimizer")
    assert spec.defaults == {**registry.signature_defaults(cls), **STATED.get(name, {})}
    for key, value in spec.defaults.items():
        assert type(value) is type(spec.options[key].default)


def test_momentum_is_sgd_with_nesterov_momentum() -> None:
    sgd = registry.signature_defaults(torch.optim.SGD)
    assert optimizers.get("momentum").defaults == {**sgd, "lr": 1e-2, "momentum": 0.9, "nesterov": True}
    assert optimizers.get("momentum").changes == {"lr": 1e-2, "momentum": 0.9, "nesterov": True}
    assert type(sgd["weight_decay"]) is float  # `weight_decay: float = 0` is a float, not an int
    assert not {"foreach", "fused", "maximize", "differentiable"} & set(sgd)  # implementation switches
