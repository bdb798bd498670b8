"""Robust regression: linear regression under the Geman-McClure loss, with outliers.

    rho(r) = r^2 / (c^2 + r^2),   f_S(w) = mean_{i in S} rho(x_i . w - y_i)

rho is bounded (by 1), so a gross outlier costs at most 1 and pulls on w with a force that
vanishes as its residual grows; least squares has no such bound. rho is not convex (for
|r| > c / sqrt(3)), so the problem is non-convex and f* is unknown (``f_star`` is None).

Data. Each seed draws the generating weights w_true ~ N(0, I / dim) (so ||w_true|| ~ 1 and
y has unit scale), inputs x ~ N(0, I) and y = x . w_true + e with the noise e chosen by
``noise``:

- ``"gaussian"``: e ~ N(0, noise_scale^2);
- ``"outliers"`` (default): Gaussian noise as above, and a seeded ``outlier_fraction``
  (default 20%) of the examples get y replaced by a gross outlier N(0, outlier_scale^2)
  (outlier_scale 10, i.e. ten times the signal's scale) unrelated to x;
- ``"heavy_tail"``: e = noise_scale * t with t Student-t with ``df`` (default 2, infinite
  variance) degrees of freedom, drawn as Z / sqrt(chi2_df / df) from seeded normals.

Train, val and test splits come from separate seeded generators, all with the same noise.

Metrics: ``loss`` (mean rho on the split) and ``param_error`` = ||w - w_true|| / ||w_true||
(the same for every split). Target: ``param_error <= target_error`` (default 0.05). With
f* unknown, param_error is the quantity that says whether the fit recovered the weights:
the irreducible error at the default noise is about noise_scale * sqrt(dim / n_train) = 0.01.

Options: dim (10), n_train (1000), n_val (500), n_test (500), c (1.0), noise ("outliers"),
noise_scale (0.1), outlier_fraction (0.2), outlier_scale (10.0), df (2), batch_size (None:
full batch), steps (300), target_error (0.05). A problem family: every seed draws new data.
"""

from __future__ import annotations

import torch

from raybench.problems._sampling import SplitDataInstance, check_batch_size, check_choice, check_split
from raybench.problems.base import Budget, Option, Problem, ProblemError, Target, generator, register
from raybench.problems.quadratic import VectorModel

NOISES = ("gaussian", "outliers", "heavy_tail")
_SPLIT_SALT = {"train": 11, "val": 12, "test": 13}


def geman_mcclure(r: torch.Tensor, c: float) -> torch.Tensor:
    r2 = r * r
    return r2 / (c * c + r2)


def regression_data(seed: int, salt: int, n: int, w_true: torch.Tensor, noise: str, noise_scale: float,
                    outlier_fraction: float, outlier_scale: float, df: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed, salt)
    x = torch.randn(n, w_true.numel(), generator=g)
    clean = x @ w_true
    if noise == "heavy_tail":
        chi2 = torch.randn(n, df, generator=g).pow(2).sum(dim=1)
        e = torch.randn(n, generator=g) / torch.sqrt(chi2 / df)
        return x, clean + noise_scale * e
    y = clean + noise_scale * torch.randn(n, generator=g)
    if noise == "outliers":
        n_out = int(round(outlier_fraction * n))
        idx = torch.randperm(n, generator=g)[:n_out]
        y[idx] = outlier_scale * torch.randn(n_out, generator=g)
    return x, y


class RobustRegressionInstance(SplitDataInstance):
    def __init__(self, seed: int, dim: int, n_train: int, n_val: int, n_test: int, c: float, noise: str,
                 noise_scale: float, outlier_fraction: float, outlier_scale: float, df: int,
                 batch_size: int | None, steps: int, target_error: float) -> None:
        self.noise = check_choice("robust_regression", "noise", noise, NOISES)
        if not c > 0:
            raise ProblemError(f"bad c {c!r} for problem 'robust_regression'; accepted: c > 0")
        if not 0 <= outlier_fraction <= 1:
            raise ProblemError(f"bad outlier_fraction {outlier_fraction!r} for problem 'robust_regression'; "
                               "accepted: a number in [0, 1]")
        if isinstance(df, bool) or int(df) != df or int(df) < 1:
            raise ProblemError(f"bad df {df!r} for problem 'robust_regression'; accepted: an integer >= 1")
        if int(dim) < 1 or min(n_train, n_val, n_test) < 1:
            raise ProblemError(f"bad sizes for problem 'robust_regression': dim={dim}, n_train={n_train}, "
                               f"n_val={n_val}, n_test={n_test}; accepted: each >= 1")
        self.c = float(c)
        self.batch_size = check_batch_size("robust_regression", batch_size, n_train)
        self.w_true = torch.randn(dim, generator=generator(seed, 1)) / dim**0.5
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.data = {name: regression_data(seed, _SPLIT_SALT[name], n, self.w_true, noise, noise_scale,
                                           outlier_fraction, outlier_scale, int(df))
                     for name, n in sizes.items()}
        self.model = VectorModel(0.1 * torch.randn(dim, generator=generator(seed, 2)))
        self.f_star = None
        self.budget = Budget(steps=steps, batch_size=self.batch_size, eval_every=max(1, steps // 50))
        self.target = Target("param_error", target_error)

    def to(self, device):
        super().to(device)
        self.w_true = self.w_true.to(device)
        return self

    def loss(self, batch: torch.Tensor | None = None) -> torch.Tensor:
        x, y = self.train_batch(batch)
        return geman_mcclure(x @ self.model.x - y, self.c).mean()

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        check_split("robust_regression", split)
        x, y = self.data[split]
        w = self.model.x.detach()
        return {"loss": float(geman_mcclure(x @ w - y, self.c).mean()),
                "param_error": float((w - self.w_true).norm() / self.w_true.norm())}


def memory(*, dim: int, n_train: int, n_val: int, n_test: int, batch_size: int | None, **_: object) -> float:
    """Bytes an instance needs: the float32 splits (``dim`` features and a target per example),
    a minibatch's gathered copy (the whole training split at full batch) and ``x`` x 16 (weights,
    gradient, Adam's moments)."""
    n = n_train + n_val + n_test
    return 4.0 * (dim + 1) * (n + (n_train if batch_size is None else batch_size)) + 16.0 * dim


register(
    Problem(
        name="robust_regression",
        description="linear regression under the Geman-McClure loss; gaussian, outlier or heavy-tailed noise",
        make=lambda seed, **o: RobustRegressionInstance(seed, **o),
        options={"dim": Option(10, min=1), "n_train": Option(1000, min=2), "n_val": Option(500, min=2), "n_test": Option(500, min=2), "c": Option(1.0, above=0.0),
                 "noise": Option("outliers", choices=NOISES), "noise_scale": Option(0.1, min=0.0),
                 "outlier_fraction": Option(0.2, min=0.0, max=1.0), "outlier_scale": Option(10.0, min=0.0),
                 "df": Option(2, float, above=0.0), "batch_size": Option(None, int, min=1),
                 "steps": Option(300, min=1), "target_error": Option(0.05, min=0.0)},
        metrics={"param_error": "min", "loss": "min"},
        family=True,
        memory=memory,
    )
)
