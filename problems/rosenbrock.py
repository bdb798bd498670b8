"""Rosenbrock: the n-dimensional Rosenbrock function, a narrow curved valley.

    f(x) = sum_{i=1}^{n-1} [100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2]

Non-convex, global minimum f* = 0 at x* = (1, ..., 1); for n >= 4 there is also a local
minimum near (-1, 1, ..., 1) that an optimizer can end in. Each seed draws the start
x0 = (-1.2, 1, -1.2, 1, ...) + N(0, start_noise^2) (the classic start, jittered), so seeds
are a family of starts on one function.

Metrics: ``loss`` = f(x) (computed in float64), ``suboptimality`` = f(x) - f* = f(x), and
``param_error`` = ||x - x*|| / ||x*||. Full batch (``batch(step)`` is None). Target:
suboptimality <= target_gap (default 1e-3). Options: dim (10, at least 2), start_noise (0.1),
steps (1000), target_gap (1e-3).
"""

from __future__ import annotations

import torch

from raybench.problems.base import (
    Budget,
    Instance,
    Option,
    Problem,
    ProblemError,
    Target,
    generator,
    register,
)
from raybench.problems.quadratic import VectorModel


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


class RosenbrockInstance(Instance):
    def __init__(self, seed: int, dim: int, start_noise: float, steps: int, target_gap: float) -> None:
        if isinstance(dim, bool) or int(dim) != dim or int(dim) < 2:
            raise ProblemError(f"bad dim {dim!r} for problem 'rosenbrock'; accepted: an integer >= 2")
        classic = torch.tensor([-1.2, 1.0]).repeat((int(dim) + 1) // 2)[: int(dim)]
        x0 = classic + start_noise * torch.randn(int(dim), generator=generator(seed, 2))
        self.model = VectorModel(x0)
        self.x_star = torch.ones(int(dim), dtype=torch.float64)
        self.f_star = 0.0
        self.budget = Budget(steps=steps, batch_size=None, eval_every=max(1, steps // 50))
        self.target = Target("suboptimality", target_gap)

    def batch(self, step: int) -> None:
        return None

    def loss(self, batch=None) -> torch.Tensor:
        return rosenbrock(self.model.x)

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        x = self.model.x.detach().double().cpu()
        f = float(rosenbrock(x))
        return {"loss": f, "suboptimality": f - self.f_star,
                "param_error": float((x - self.x_star).norm() / self.x_star.norm())}


def memory(*, dim: int, **_: object) -> float:
    """Bytes an instance needs: ``x`` x 16 (weights, gradient, Adam's moments), ``x*`` in float64
    and the eight or so ``dim``-vectors the objective keeps for its backward pass."""
    return (16.0 + 8.0 + 32.0) * dim


register(
    Problem(
        name="rosenbrock",
        description="n-dimensional Rosenbrock valley from a seeded start near (-1.2, 1, ...); f* = 0",
        make=lambda seed, **o: RosenbrockInstance(seed, **o),
        options={"dim": Option(10, min=2), "start_noise": Option(0.1, min=0.0), "steps": Option(1000, min=1),
                 "target_gap": Option(1e-3, min=0.0)},
        metrics={"suboptimality": "min", "loss": "min", "param_error": "min"},
        family=True,
        memory=memory,
    )
)
