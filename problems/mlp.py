"""MLP: a 2-layer network classifying two interleaved moons (not linearly separable).

Data. Each seed draws a two-moons data set in torch: class 0 on the upper arc
(cos t, sin t), class 1 on the lower arc (1 - cos t, 0.5 - sin t), t ~ U(0, pi), plus
N(0, noise^2) jitter (default 0.2), centred at the origin. Every split (train, val, test)
has half of each class and comes from its own seeded generator. The best linear classifier
gets about 88-91% of it right and a trained 2-layer net about 97%, so the target
(validation accuracy >= 0.95) needs the hidden layer.

Model: Linear(2, hidden) -> activation ("tanh" or "relu") -> Linear(hidden, 1), weights and
biases drawn from the seed as U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's default scale),
trained with the mean binary cross-entropy on minibatches. ``batch(step)`` is pure in
(seed, step): each epoch is a permutation from ``generator(seed, 3, epoch)``.

Metrics: ``loss`` (mean cross-entropy on the split) and ``accuracy``. f* is unknown (None).
Target: accuracy >= target_accuracy (default 0.95, mode "max").

Options: hidden (32), activation ("tanh"), n_train (1000), n_val (500), n_test (500),
noise (0.2), batch_size (32; None means full batch), steps (1000), target_accuracy (0.95).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from raybench.problems._sampling import SplitDataInstance, check_batch_size, check_choice, check_split
from raybench.problems.base import (
    Budget,
    Option,
    Problem,
    ProblemError,
    Target,
    generator,
    layer_roles,
    register,
)

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}
_SPLIT_SALT = {"train": 11, "val": 12, "test": 13}


def two_moons(seed: int, salt: int, n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed, salt)
    y = (torch.arange(n) % 2)[torch.randperm(n, generator=g)].float()
    t = math.pi * torch.rand(n, generator=g)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.where(y[:, None] > 0, lower, upper) + noise * torch.randn(n, 2, generator=g)
    return x - torch.tensor([0.5, 0.25]), y


class TwoLayerNet(torch.nn.Module):
    def __init__(self, hidden: int, activation: str, g: torch.Generator) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(2, hidden)
        self.out = torch.nn.Linear(hidden, 1)
        self.activation = ACTIVATIONS[activation]
        # Seeded init at torch's default scale: nn.Linear would draw from the global RNG.
        with torch.no_grad():
            for layer in (self.hidden, self.out):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=g)
                layer.bias.uniform_(-bound, bound, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.activation(self.hidden(x))).squeeze(-1)

    def parameter_roles(self) -> dict[str, str]:
        """``hidden.weight`` hidden (the first layer, on raw inputs), ``out.weight`` the head, biases."""
        return layer_roles(self, head="out")


class MLPInstance(SplitDataInstance):
    def __init__(self, seed: int, hidden: int, activation: str, n_train: int, n_val: int, n_test: int,
                 noise: float, batch_size: int | None, steps: int, target_accuracy: float) -> None:
        check_choice("mlp", "activation", activation, tuple(ACTIVATIONS))
        if isinstance(hidden, bool) or int(hidden) != hidden or int(hidden) < 1:
            raise ProblemError(f"bad hidden {hidden!r} for problem 'mlp'; accepted: an integer >= 1")
        if min(n_train, n_val, n_test) < 2:
            raise ProblemError(f"bad sizes for problem 'mlp': n_train={n_train}, n_val={n_val}, "
                               f"n_test={n_test}; accepted: each >= 2")
        self.batch_size = check_batch_size("mlp", batch_size, n_train)
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.data = {name: two_moons(seed, _SPLIT_SALT[name], n, noise) for name, n in sizes.items()}
        self.model = TwoLayerNet(int(hidden), activation, generator(seed, 2))
        self.f_star = None
        self.budget = Budget(steps=steps, batch_size=self.batch_size, eval_every=max(1, steps // 50))
        self.target = Target("accuracy", target_accuracy)

    def loss(self, batch: torch.Tensor | None = None) -> torch.Tensor:
        x, y = self.train_batch(batch)
        return F.binary_cross_entropy_with_logits(self.model(x), y)

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        check_split("mlp", split)
        x, y = self.data[split]
        z = self.model(x)
        return {"loss": float(F.binary_cross_entropy_with_logits(z, y)),
                "accuracy": float(((z > 0).float() == y).float().mean())}


def memory(*, hidden: int, n_train: int, n_val: int, n_test: int, batch_size: int | None, **_: object) -> float:
    """Bytes an instance needs: the float32 splits (two features and a label per example), the
    ``4 hidden + 1`` parameters x 16 (weights, gradients, Adam's moments) and the larger of a
    minibatch's activations (three ``hidden``-vectors per example: pre-activation, activation and
    its gradient) and an evaluation's (two per example of the larger held-out split)."""
    batch = n_train if batch_size is None else batch_size
    return (12.0 * (n_train + n_val + n_test) + 16.0 * (4 * hidden + 1)
            + 4.0 * hidden * max(3 * batch, 2 * max(n_val, n_test)))


register(
    Problem(
        name="mlp",
        description="2-layer MLP (tanh) on noisy two moons, minibatches of 32; target val accuracy 0.95",
        make=lambda seed, **o: MLPInstance(seed, **o),
        options={"hidden": Option(32, min=1), "activation": Option("tanh", choices=tuple(ACTIVATIONS)),
                 "n_train": Option(1000, min=2), "n_val": Option(500, min=2), "n_test": Option(500, min=2), "noise": Option(0.2, min=0.0),
                 "batch_size": Option(32, min=1, nullable=True), "steps": Option(1000, min=1),
                 "target_accuracy": Option(0.95, min=0.0, max=1.0)},
        metrics={"accuracy": "max", "loss": "min"},
        family=True,
        memory=memory,
    )
)
