"""Quadratic: f(x) = 0.5 x^T A x + b^T x with A symmetric positive definite.

A = Q diag(lambda) Q^T with Q a random orthogonal basis (QR of a Gaussian matrix) and the
eigenvalues lambda drawn uniformly in [eig_min, eig_max] (default [1, 30], the research
summary's range), the two ends always included so that the condition number is exactly
eig_max / eig_min. The optimum is x* = -A^{-1} b and f* = -0.5 b^T A^{-1} b, computed in
float64. Every seed draws a new (A, b, x0): it is a problem family.
"""

from __future__ import annotations

import torch

from raybench.problems.base import Budget, Instance, Option, Problem, Target, generator, register


class VectorModel(torch.nn.Module):
    """A module holding one parameter vector ``x`` (for closed-form objectives)."""

    def __init__(self, x0: torch.Tensor) -> None:
        super().__init__()
        self.x = torch.nn.Parameter(x0.clone())

    def parameter_roles(self) -> dict[str, str]:
        """``x`` is the objective's variable vector: no layer, role ``other`` (raybench.optimizers.roles)."""
        return {"x": "other"}


class QuadraticInstance(Instance):
    def __init__(self, seed: int, dim: int, eig_min: float, eig_max: float, steps: int, target_gap: float) -> None:
        g = generator(seed, 1)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        eig = torch.empty(dim, dtype=torch.float64).uniform_(eig_min, eig_max, generator=g)
        if dim >= 2:
            eig[0], eig[1] = eig_min, eig_max
        self.A64 = (q * eig) @ q.T
        self.A64 = 0.5 * (self.A64 + self.A64.T)
        self.b64 = torch.randn(dim, generator=g, dtype=torch.float64)
        self.x_star64 = -torch.linalg.solve(self.A64, self.b64)
        self.f_star = float(0.5 * self.x_star64 @ self.A64 @ self.x_star64 + self.b64 @ self.x_star64)
        self.eigenvalues = eig
        self.A = self.A64.float()
        self.b = self.b64.float()
        x0 = torch.randn(dim, generator=generator(seed, 2))
        self.model = VectorModel(x0)
        self.budget = Budget(steps=steps, batch_size=None, eval_every=max(1, steps // 50))
        self.target = Target("suboptimality", target_gap)

    def to(self, device):
        super().to(device)
        self.A, self.b = self.A.to(device), self.b.to(device)
        return self

    def batch(self, step: int) -> None:
        return None

    def objective(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x @ (self.A @ x) + self.b @ x

    def loss(self, batch=None) -> torch.Tensor:
        return self.objective(self.model.x)

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        x = self.model.x.detach().double().cpu()
        f = float(0.5 * x @ self.A64 @ x + self.b64 @ x)
        return {"loss": f, "suboptimality": f - self.f_star}


def memory(*, dim: int, **_: object) -> float:
    """Bytes an instance needs: the peak of building it, four float64 ``dim x dim`` matrices alive
    at once (``Q``, ``A`` and the two temporaries of symmetrising ``A``), which is more than the
    float64 and float32 copies of ``A`` a run keeps; the vectors (``b``, ``x*``, ``x`` with its
    gradient and Adam's moments) are a few ``dim``."""
    return 32.0 * dim * dim + 64.0 * dim


register(
    Problem(
        name="quadratic",
        description="0.5 x'Ax + b'x, A SPD with eigenvalues in [1, 30]; f* in closed form",
        make=lambda seed, **o: QuadraticInstance(seed, **o),
        options={"dim": Option(10, min=1), "eig_min": Option(1.0, above=0.0), "eig_max": Option(30.0, above=0.0),
                 "steps": Option(500, min=1), "target_gap": Option(1e-3, min=0.0)},
        metrics={"suboptimality": "min", "loss": "min"},
        family=True,
        memory=memory,
    )
)
