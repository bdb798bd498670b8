"""Logistic: L2-regularised binary logistic regression on two balanced Gaussian classes.

Data. Each seed draws a unit direction ``u``; class 1 is N(+mu u, I) and class 0 is
N(-mu u, I) in ``dim`` dimensions, with ``mu = separation`` (default 1.0). The classes
overlap: the Bayes classifier's accuracy is Phi(mu) = 0.84 at the default, so no model reaches
100%. Every split (train, val, test) has exactly half of each class and is drawn from its own
seeded generator, so changing ``n_train`` does not change the validation data.

Model and objective. theta = (w, b), logits z = x.w + b, and on a split S

    f_S(theta) = mean_{i in S} [softplus(z_i) - y_i z_i] + (l2 / 2) (||w||^2 + b^2)

(the bias is regularised too, so f is strongly convex and has one minimiser). The training
objective is ``f_train``; ``evaluate(split)`` reports ``loss`` = f_split (the split's mean
logistic loss plus the same l2 term), ``accuracy`` on the split, and ``suboptimality`` =
f_train(theta) - f_star for every split: f_star is the minimum of the *training* objective.

f_star. A reference solve in float64: Newton's method on f_train from theta = 0 with a
backtracking (Armijo) line search, stopped when ||grad f_train|| < 1e-10 (it takes about ten
iterations; failing to get there in 100 is an error). Evaluation recomputes f_train in
float64, so suboptimality is exact up to the float32 rounding of the parameters.

Options: dim (10), n_train (1000), n_val (500), n_test (500), separation (1.0), l2 (1e-3),
batch_size (None: full-batch, deterministic; an int: seeded epoch minibatches), steps (300),
target_gap (1e-3: the target is suboptimality <= target_gap). Each seed is a new instance
(a problem family).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from raybench.problems._sampling import SplitDataInstance, check_batch_size, check_split
from raybench.problems.base import Budget, Option, Problem, ProblemError, Target, generator, register

_SPLIT_SALT = {"train": 11, "val": 12, "test": 13}


class LinearModel(torch.nn.Module):
    """Weights ``w`` and a bias ``b`` of a linear score x.w + b."""

    def __init__(self, w0: torch.Tensor, b0: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w0.clone())
        self.b = torch.nn.Parameter(b0.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w + self.b

    def parameter_roles(self) -> dict[str, str]:
        """``w`` is the classifier's output layer (its ``head``), ``b`` its ``bias``: no hidden matrix."""
        return {"w": "head", "b": "bias"}


def gaussian_classes(seed: int, salt: int, n: int, direction: torch.Tensor, separation: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points, half in each class, class means +-separation * direction, identity covariance."""
    g = generator(seed, salt)
    y = (torch.arange(n) % 2)[torch.randperm(n, generator=g)].to(torch.float64)
    x = torch.randn(n, direction.numel(), generator=g, dtype=torch.float64)
    x += (2 * y - 1)[:, None] * separation * direction
    return x, y


def regularised_logistic(theta: torch.Tensor, x1: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    """f(theta) for theta = (w, b) and x1 = [x, 1] (any dtype)."""
    z = x1 @ theta
    return (F.softplus(z) - y * z).mean() + 0.5 * l2 * theta @ theta


def newton_minimum(x1: torch.Tensor, y: torch.Tensor, l2: float, tol: float = 1e-10,
                   max_iter: int = 100) -> tuple[torch.Tensor, float]:
    """The minimiser and minimum of ``regularised_logistic`` by damped Newton in float64."""
    x1, y = x1.double(), y.double()
    n, d = x1.shape
    theta = torch.zeros(d, dtype=torch.float64)
    f = float(regularised_logistic(theta, x1, y, l2))
    for _ in range(max_iter):
        p = torch.sigmoid(x1 @ theta)
        grad = x1.T @ (p - y) / n + l2 * theta
        if float(grad.norm()) < tol:
            return theta, f
        hess = (x1.T * (p * (1 - p))) @ x1 / n + l2 * torch.eye(d, dtype=torch.float64)
        direction = -torch.linalg.solve(hess, grad)
        slope = float(grad @ direction)
        t = 1.0
        # Within float64's resolution of f (a Newton decrement, -slope, below 1e-12 |f|) Armijo
        # cannot see a decrease and would halve t to nothing, stalling with ||grad|| near 2e-10
        # on some instances: there the full Newton step is taken, as in the quadratic phase.
        while -slope > 1e-12 * max(1.0, abs(f)):
            f_new = float(regularised_logistic(theta + t * direction, x1, y, l2))
            # Armijo; the t floor stops at float64 resolution where f can no longer decrease.
            if f_new <= f + 1e-4 * t * slope or t < 1e-12:
                break
            t *= 0.5
        else:
            f_new = float(regularised_logistic(theta + direction, x1, y, l2))
        theta, f = theta + t * direction, f_new
    raise RuntimeError(f"Newton reference solve did not reach ||grad|| < {tol} in {max_iter} iterations")


class LogisticInstance(SplitDataInstance):
    def __init__(self, seed: int, dim: int, n_train: int, n_val: int, n_test: int, separation: float,
                 l2: float, batch_size: int | None, steps: int, target_gap: float) -> None:
        if int(dim) < 1 or min(n_train, n_val, n_test) < 2:
            raise ProblemError(f"bad sizes for problem 'logistic': dim={dim}, n_train={n_train}, "
                               f"n_val={n_val}, n_test={n_test}; accepted: dim >= 1 and each n >= 2")
        if not l2 > 0:
            raise ProblemError(f"bad l2 {l2!r} for problem 'logistic'; accepted: l2 > 0 (strong convexity)")
        self.batch_size = check_batch_size("logistic", batch_size, n_train)
        self.l2 = float(l2)
        u = torch.randn(dim, generator=generator(seed, 1), dtype=torch.float64)
        self.direction = u / u.norm()
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.data64: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, n in sizes.items():
            x, y = gaussian_classes(seed, _SPLIT_SALT[name], n, self.direction, separation)
            self.data64[name] = (torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], dim=1), y)
        self.data = {k: (x[:, :-1].float(), y.float()) for k, (x, y) in self.data64.items()}
        self.theta_star, self.f_star = newton_minimum(*self.data64["train"], self.l2)
        g = generator(seed, 2)
        self.model = LinearModel(0.1 * torch.randn(dim, generator=g), 0.1 * torch.randn((), generator=g))
        self.budget = Budget(steps=steps, batch_size=self.batch_size, eval_every=max(1, steps // 50))
        self.target = Target("suboptimality", target_gap)

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        reg = self.model.w @ self.model.w + self.model.b * self.model.b
        return F.binary_cross_entropy_with_logits(z, y) + 0.5 * self.l2 * reg

    def loss(self, batch: torch.Tensor | None = None) -> torch.Tensor:
        return self.objective(*self.train_batch(batch))

    def theta64(self) -> torch.Tensor:
        return torch.cat([self.model.w.detach().reshape(-1), self.model.b.detach().reshape(1)]).double().cpu()

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        check_split("logistic", split)
        theta = self.theta64()
        x1, y = self.data64[split]
        accuracy = float(((x1 @ theta > 0).double() == y).double().mean())
        f_train = float(regularised_logistic(theta, *self.data64["train"], self.l2))
        return {"loss": float(regularised_logistic(theta, x1, y, self.l2)), "accuracy": accuracy,
                "suboptimality": f_train - self.f_star}


def memory(*, dim: int, n_train: int, n_val: int, n_test: int, **_: object) -> float:
    """Bytes an instance needs: the splits in float64 (with the ones column) and in float32, about
    12 bytes per feature of every example; the Newton solve's ``(dim + 1) x n_train`` float64
    temporary and three ``(dim + 1)^2`` ones (Hessian, identity, LU); parameters x 16 (weights,
    gradients, Adam's moments). A minibatch's activations are a few vectors: not counted."""
    n, d = n_train + n_val + n_test, dim + 1
    return 12.0 * n * (d + 1) + 8.0 * n_train * d + 24.0 * d * d + 16.0 * d


register(
    Problem(
        name="logistic",
        description="L2-regularised logistic regression on two overlapping Gaussian classes; f* by Newton",
        make=lambda seed, **o: LogisticInstance(seed, **o),
        options={"dim": Option(10, min=1), "n_train": Option(1000, min=2), "n_val": Option(500, min=2), "n_test": Option(500, min=2),
                 "separation": Option(1.0, min=0.0), "l2": Option(1e-3, above=0.0),
                 "batch_size": Option(None, int, min=1), "steps": Option(300, min=1),
                 "target_gap": Option(1e-3, min=0.0)},
        metrics={"accuracy": "max", "loss": "min", "suboptimality": "min"},
        family=True,
        memory=memory,
    )
)
