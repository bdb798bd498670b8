"""The problem registry's contract, and facts about the synthetic problems checked independently.

The contract battery runs over every registered problem that needs no data files
(``needs_data=False``): adding a synthetic problem adds it here with no new test. Problems
that read MNIST or CIFAR files are left to the data problems' own tests, which build tiny
files in the datasets' formats; loading them here would make this file slow and tie it to
their fixtures.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raybench import problems
from raybench.problems._sampling import minibatch_indices
from raybench.problems.logistic import newton_minimum, regularised_logistic
from raybench.train import Run

SYNTHETIC = [name for name in problems.names() if not problems.get(name).needs_data]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: a second intra-op thread only adds contention on a shared 2-core
    machine (measured: the MLP run took 5x longer with 2 threads under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _params(inst: problems.Instance) -> list[torch.Tensor]:
    return [p.detach().clone() for p in inst.parameters()]


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return torch.equal(torch.as_tensor(a), torch.as_tensor(b))


def test_the_synthetic_suite_is_registered() -> None:
    assert {"quadratic", "logistic", "robust_regression", "rosenbrock", "mlp"} <= set(SYNTHETIC)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_problem_contract(name: str) -> None:
    problem = problems.get(name)
    inst = problem.instance(seed=0)

    loss = inst.loss(inst.batch(0))
    assert loss.dim() == 0 and math.isfinite(loss.item())
    loss.backward()
    for p in inst.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()

    for split in ("val", "test"):
        metrics = inst.evaluate(split)
        assert math.isfinite(metrics["loss"])
        assert inst.target.metric in metrics
    assert (inst.f_star is None) == ("suboptimality" not in inst.evaluate())
    assert inst.budget.steps > 0 and inst.budget.eval_every > 0
    assert inst.budget.batch_size is None or inst.budget.batch_size >= 1

    # Same seed: the same start and the same batches; another seed: another start.
    twin, other = problem.instance(seed=0), problem.instance(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(_params(inst), _params(twin)))
    for step in (0, 7):
        assert _same(inst.batch(step), twin.batch(step))
        assert twin.loss(twin.batch(step)).item() == problem.instance(seed=0).loss(inst.batch(step)).item()
    assert not all(torch.equal(a, b) for a, b in zip(_params(inst), _params(other)))


@pytest.mark.parametrize("name", [n for n in SYNTHETIC if problems.get(n).family and n != "mlp"])
def test_families_take_a_dim(name: str) -> None:
    inst = problems.get(name).instance(seed=3, dim=5)
    assert sum(p.numel() for p in inst.parameters()) in (5, 6)  # 6: logistic's bias
    assert math.isfinite(inst.loss(inst.batch(0)).item())


BAD_OPTIONS = [
    # (problem, options, words the one-line error must contain)
    ("robust_regression", {"noise": "cauchy"}, ["'cauchy'", "gaussian", "outliers", "heavy_tail"]),
    ("robust_regression", {"c": 0.0}, ["c 0.0", "> 0"]),
    ("mlp", {"activation": "gelu"}, ["'gelu'", "tanh", "relu"]),
    ("logistic", {"batch_size": 0}, ["batch_size 0", "null"]),
    ("quadratic", {"dim": "abc"}, ["dim 'abc'", "an integer >= 1"]),
    ("quadratic", {"dim": -5}, ["dim -5", "an integer >= 1"]),
    ("logistic", {"l2": 0.0}, ["l2 0.0"]),
    ("rosenbrock", {"dim": 1}, ["dim 1", ">= 2"]),
    ("quadratic", {"dimension": 3}, ["'dimension'", "dim"]),
    # One rule for inf and nan, the optimizers' hyperparameters' too (test_optimizers' OPTIM_DB).
    ("quadratic", {"eig_max": "inf"}, ["eig_max 'inf'", "a number > 0"]),
    ("quadratic", {"eig_max": float("inf")}, ["eig_max inf", "a number > 0"]),
    ("logistic", {"separation": float("nan")}, ["separation nan", "a number >= 0"]),
    ("quadratic", {"dim": "inf"}, ["dim 'inf'", "an integer >= 1"]),
]


@pytest.mark.parametrize(("name", "options", "words"), BAD_OPTIONS)
def test_bad_options_are_one_line_problem_errors(name: str, options: dict, words: list[str]) -> None:
    with pytest.raises(problems.ProblemError) as info:
        problems.get(name).instance(seed=0, **options)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_minibatches_are_seeded_epoch_permutations() -> None:
    n, bs = 103, 10
    epoch0 = torch.cat([minibatch_indices(5, 3, step, n, bs) for step in range(n // bs)])
    assert len(set(epoch0.tolist())) == len(epoch0) == (n // bs) * bs  # no example twice in an epoch
    epoch1 = torch.cat([minibatch_indices(5, 3, step, n, bs) for step in range(n // bs, 2 * (n // bs))])
    assert not torch.equal(epoch0, epoch1)
    inst = problems.get("logistic").instance(seed=0, batch_size=32)
    assert inst.batch(3).shape == (32,)
    assert torch.equal(inst.batch(40), problems.get("logistic").instance(seed=0, batch_size=32).batch(40))


# -- facts, each against an independent computation ----------------------------------------

def test_quadratic_f_star_and_spectrum() -> None:
    inst = problems.get("quadratic").instance(seed=4)
    a, b = inst.A64.numpy(), inst.b64.numpy()
    x_star = np.linalg.solve(a, -b)
    assert inst.f_star == pytest.approx(0.5 * x_star @ a @ x_star + b @ x_star, rel=1e-12, abs=1e-12)
    eig = np.linalg.eigvalsh(a)
    assert eig.min() == pytest.approx(1.0, abs=1e-9) and eig.max() == pytest.approx(30.0, abs=1e-9)
    with torch.no_grad():
        inst.model.x.copy_(torch.from_numpy(x_star))
    assert abs(inst.evaluate()["suboptimality"]) < 1e-5  # float32 rounding of x* only


def test_rosenbrock_is_flat_and_zero_at_its_optimum() -> None:
    inst = problems.get("rosenbrock").instance(seed=0, dim=6)
    assert inst.loss(None).item() > 1.0  # the start is not the optimum
    with torch.no_grad():
        inst.model.x.fill_(1.0)
    loss = inst.loss(None)
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(inst.model.x.grad) == 0
    assert inst.evaluate() == {"loss": 0.0, "suboptimality": 0.0, "param_error": 0.0}
    with torch.no_grad():  # the textbook value at the classic 2-D start (-1.2, 1)
        two = problems.get("rosenbrock").instance(seed=0, dim=2, start_noise=0.0)
    assert two.evaluate()["loss"] == pytest.approx(24.2, rel=1e-6)


def _lstsq_param_error(inst) -> float:
    x, y = (t.double().numpy() for t in inst.data["train"])
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    w_true = inst.w_true.double().numpy()
    return float(np.linalg.norm(w - w_true) / np.linalg.norm(w_true))


def test_geman_mcclure_recovers_the_weights_where_least_squares_does_not() -> None:
    run = Run("robust_regression", "lbfgs", seed=0, options={"noise": "outliers"})
    run.advance()
    robust_error = run.evaluate()["param_error"]
    lstsq_error = _lstsq_param_error(run.instance)
    assert robust_error < 0.05 < 0.2 < lstsq_error
    # Fair comparison: without outliers least squares recovers the weights too.
    assert _lstsq_param_error(problems.get("robust_regression").instance(seed=0, noise="gaussian")) < 0.05


def test_robust_regression_noise_kinds_differ() -> None:
    residual_scale = {}
    for noise in ("gaussian", "outliers", "heavy_tail"):
        inst = problems.get("robust_regression").instance(seed=1, noise=noise)
        x, y = inst.data["train"]
        r = (y - x @ inst.w_true).abs()
        residual_scale[noise] = (float(r.median()), float(r.max()))
    assert residual_scale["gaussian"][1] < 1.0  # 0.1 * N(0, 1) over 1000 draws stays under 10 sigma
    assert residual_scale["outliers"][1] > 10.0 and residual_scale["heavy_tail"][1] > 1.0
    # Most examples are clean in every mode: the median residual stays at the noise scale.
    assert all(median < 0.3 for median, _ in residual_scale.values())


def test_logistic_data_f_star_and_lbfgs_reaches_it() -> None:
    inst = problems.get("logistic").instance(seed=2)
    for split in ("train", "val", "test"):
        assert inst.data[split][1].mean().item() == 0.5  # balanced classes
    # f* is a stationary point of the float64 training objective (autograd, not the Newton formulas).
    theta = inst.theta_star.clone().requires_grad_(True)
    regularised_logistic(theta, *inst.data64["train"], inst.l2).backward()
    assert theta.grad.norm().item() < 1e-9

    run = Run("logistic", "lbfgs", seed=2)
    run.advance()
    val, test = run.evaluate("val"), run.evaluate("test")
    assert -1e-9 <= val["suboptimality"] < 1e-6
    assert val["suboptimality"] == test["suboptimality"]  # always the training objective's gap
    assert val["loss"] != test["loss"]
    # The classes overlap: accuracy near the Bayes rate Phi(1) = 0.841, not 100%.
    assert abs(test["accuracy"] - 0.841) < 0.05


@pytest.mark.parametrize(("dim", "seed"), [(4, 1_000_000), (44, 1_000_003), (37, 8)])
def test_logistic_f_star_where_armijo_cannot_see_a_decrease(dim: int, seed: int) -> None:
    # These instances stalled the reference Newton solve at ||grad|| ~ 2e-10 (Armijo cannot
    # resolve a decrease in float64 there) and raised; the mixed-family RL env draws such sizes.
    inst = problems.get("logistic").instance(seed=seed, dim=dim)
    theta = inst.theta_star.clone().requires_grad_(True)
    regularised_logistic(theta, *inst.data64["train"], inst.l2).backward()
    assert theta.grad.norm().item() < 1e-9


def test_mlp_data_needs_the_hidden_layer() -> None:
    inst = problems.get("mlp").instance(seed=0)
    x, y = inst.data["train"]
    x1 = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    theta, _ = newton_minimum(x1, y.double(), l2=1e-6)
    linear_accuracy = float(((x1 @ theta > 0).double() == y.double()).double().mean())
    assert linear_accuracy < inst.target.threshold  # the best linear classifier misses the target

    run = Run("mlp", "adam", {"lr": 1e-2}, seed=0)
    run.advance()
    assert run.summary(test=False)["converged"] and run.evaluate("test")["accuracy"] > linear_accuracy


@pytest.mark.parametrize("value", ["inf", float("inf"), "-inf", "nan", float("nan")])
def test_inf_and_nan_mean_the_same_to_options_and_hyperparameters(value: object) -> None:
    """Both go through ``raybench.registry.Option``: refused alike, unless the default is
    infinite (then inf, never nan, is accepted)."""
    from raybench import optimizers
    from raybench.registry import Option

    with pytest.raises(problems.ProblemError, match="accepted: a number > 0"):
        problems.get("quadratic").check_options({"eig_max": value})
    with pytest.raises(optimizers.OptimizerError, match="accepted: a number"):
        optimizers.resolve_hparams("adam", {"lr": value})
    unbounded = Option(float("inf"))
    if "nan" in str(value):
        with pytest.raises(ValueError):
            unbounded.coerce(value)
    else:
        assert math.isinf(unbounded.coerce(value))
