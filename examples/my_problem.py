"""A user problem benchmarked by import path: noisy least squares, y = X w* + noise.

``make_problem`` returns a ``problems.Problem``: a name, the metrics it reports with their
direction (headline first), its options with defaults, and ``make(seed, **options)`` building a
seeded ``problems.Instance`` (parameters, ``batch``, ``loss``, ``evaluate``, a budget and a
target). From the repository root:

    raybench run --problems my_problem:make_problem,quadratic --optimizers adam,momentum \\
        --py-modules examples/my_problem.py --seeds 3 --steps 200 --out lsq-results
    raybench report lsq-results
"""

import torch

from raybench.problems import Budget, Instance, Option, Problem, Target, generator
from raybench.problems.quadratic import VectorModel


class LeastSquares(Instance):
    def __init__(self, seed: int, dim: int, samples: int, noise: float, steps: int) -> None:
        g = generator(seed, 0)
        self.X = torch.randn(samples, dim, generator=g)
        w_star = torch.randn(dim, generator=g)
        self.y = self.X @ w_star + noise * torch.randn(samples, generator=g)
        self.model = VectorModel(torch.zeros(dim))
        solution = torch.linalg.lstsq(self.X.double(), self.y.double().unsqueeze(1)).solution.squeeze(1)
        self.f_star = float(self._loss(solution))
        self.budget = Budget(steps=steps, batch_size=None, eval_every=max(1, steps // 20))
        self.target = Target("suboptimality", 1e-3)

    def _loss(self, w: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((self.X.to(w.dtype) @ w - self.y.to(w.dtype)) ** 2).mean()

    def batch(self, step: int) -> None:
        return None  # full batch

    def loss(self, batch=None) -> torch.Tensor:
        return self._loss(self.model.x)

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        f = float(self._loss(self.model.x.double()))
        return {"suboptimality": f - self.f_star, "loss": f}


def make_problem() -> Problem:
    return Problem(
        name="least_squares",
        description="noisy linear least squares (examples/my_problem.py)",
        make=lambda seed, **options: LeastSquares(seed, **options),
        metrics={"suboptimality": "min", "loss": "min"},
        options={"dim": Option(20, min=1), "samples": Option(200, min=1), "noise": Option(0.1, min=0.0),
                 "steps": Option(300, min=1)},
    )
