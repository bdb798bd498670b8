"""Full Fashion-MNIST and MNIST-1D problems: ``fashion_mlp``, ``fashion_cnn``, ``mnist1d_mlp``, ``mnist1d_cnn``.

``fashion_mlp`` and ``fashion_cnn`` are ``mnist_mlp`` and ``mnist_cnn`` (the same 784-64-10 MLP,
batch 32, 10 epochs, and two-conv-layer CNN, batch 64, 15 epochs; ``raybench.problems.vision``)
on full Fashion-MNIST (``raybench.problems.fashion_data``: Debian's ``dataset-fashion-mnist`` or
a folder of the same four files). ``mnist1d_mlp`` (40-100-100-10 ReLU, 15,210 parameters) and
``mnist1d_cnn`` (three strided 1-D convolutions of 25 channels and a linear head, 5,210
parameters) classify MNIST-1D (``raybench.problems.mnist1d_data``: generated offline by the
PyPI package ``mnist1d``), batch 100, 100 epochs.

All four are the image problems' instance (``vision.ImageClassificationInstance``: the same
seeded initialisation, epoch permutations, one evaluation per epoch and accuracy target; an
MNIST-1D signal is a one-row image to it).

Targets (validation accuracy): calibrated for fashion_mlp, mnist1d_mlp and mnist1d_cnn
(``_TARGETS``: tuned AdamW's median at 80% of the budget), provisional for fashion_cnn; budgets
are set by hand. Option ``target_accuracy`` overrides a target, ``steps`` a budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from raybench.problems.base import Instance, Option, Problem, layer_roles, register
from raybench.problems.fashion_data import load_fashion_mnist
from raybench.problems.mnist1d_data import (
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    MIN_SAMPLES,
    check_num_samples,
    load_mnist1d,
)
from raybench.problems.vision import ImageClassificationInstance, MnistCNN, MnistMLP, image_memory


# -- models -----------------------------------------------------------------------------------
class Mnist1dMLP(nn.Module):
    """40-100-100-10 feedforward network with ReLU (15,210 parameters)."""

    def __init__(self, hidden: int = 100, length: int = 40) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(length, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def parameter_roles(self) -> dict[str, str]:
        """Both hidden layers' weights hidden (the first, on the raw signal, too), the last layer the head."""
        return layer_roles(self, head="net.5")


class Mnist1dCNN(nn.Module):
    """conv1d(1,25,5,stride 2)-relu-conv1d(25,25,3,stride 2)-relu-conv1d(25,25,3,stride 2)-relu-fc(125,10),
    each convolution zero-padded by 1: length 40 -> 19 -> 10 -> 5 (5,210 parameters)."""

    def __init__(self, channels: int = 25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(channels * 5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))

    def parameter_roles(self) -> dict[str, str]:
        """The convolution kernels hidden (torch's Muon takes matrices only: no hidden matrix), the fc the head."""
        return layer_roles(self, head="head")


# -- registration -----------------------------------------------------------------------------
# Provisional, not calibrated (see the module docstring): validation accuracy for time-to-target.
_TARGETS = {"fashion_mlp": 0.884, "fashion_cnn": 0.88, "mnist1d_mlp": 0.556, "mnist1d_cnn": 0.934}
"""Validation accuracy targets. fashion_mlp, mnist1d_mlp and mnist1d_cnn: calibrated
(``raybench.calibration``: the median over 5 seeds of AdamW, its learning rate tuned, at 80% of
the budget; BENCHMARKS.md section 16, ``benchmarks/calibrate_targets.py`` at ``cf546e4``).
fashion_cnn: provisional (a round value set by hand; its calibration is a long CPU run left to
a larger machine)."""
_EPOCHS = {"fashion_mlp": 10, "fashion_cnn": 15, "mnist1d_mlp": 100, "mnist1d_cnn": 100}


def _fashion(name: str, model: Callable[[], nn.Module]) -> Callable[..., Instance]:
    def make(seed: int, *, data_dir: Any, steps: int | None, batch_size: int,
             target_accuracy: float) -> Instance:
        load = lambda device: load_fashion_mnist(data_dir, device)  # noqa: E731
        return ImageClassificationInstance(
            seed, problem=name, load=load, model=model(), batch_size=batch_size, steps=steps,
            epochs=_EPOCHS[name], target_accuracy=target_accuracy, augment=False,
        )

    return make


def _mnist1d(name: str, model: Callable[[], nn.Module]) -> Callable[..., Instance]:
    def make(seed: int, *, num_samples: int, data_seed: int, steps: int | None, batch_size: int,
             target_accuracy: float) -> Instance:
        check_num_samples(num_samples, name)
        load = lambda device: load_mnist1d(num_samples, data_seed, device)  # noqa: E731
        return ImageClassificationInstance(
            seed, problem=name, load=load, model=model(), batch_size=batch_size, steps=steps,
            epochs=_EPOCHS[name], target_accuracy=target_accuracy, augment=False,
        )

    return make


def _prepare_fashion(*, data_dir: Any, **_: Any) -> dict[str, Any]:
    """Read (and check) the four files once, before any run."""
    load_fashion_mnist(data_dir)
    return {}


def _prepare_mnist1d(*, num_samples: int, data_seed: int, **_: Any) -> dict[str, Any]:
    """Generate the data once, before any run (bad ``num_samples`` is one line here)."""
    check_num_samples(num_samples, "mnist1d")
    load_mnist1d(num_samples, data_seed)
    return {}


FASHION_EXAMPLES = (70_000, 10_000)
"""Full Fashion-MNIST's examples, all splits together, and its test split's."""


def _fashion_memory(model: Callable[[], nn.Module]) -> Callable[..., float]:
    """Full Fashion-MNIST (``FASHION_EXAMPLES``) and the network."""
    def memory(*, batch_size: int, **_: Any) -> float:
        return image_memory(FASHION_EXAMPLES, (1, 28, 28), model, batch_size)
    return memory


def _mnist1d_memory(model: Callable[[], nn.Module]) -> Callable[..., float]:
    """``num_samples`` float32 signals of length 40 (train, validation and test; the test split,
    a fifth, is the larger held-out one) and the network."""
    def memory(*, num_samples: int, batch_size: int, **_: Any) -> float:
        return image_memory((num_samples, num_samples // 5), (1, 40), model, batch_size, bytes_per_value=4)
    return memory


def _options(name: str, batch_size: int) -> dict[str, Option]:
    return {"steps": Option(None, int, min=1), "batch_size": Option(batch_size, min=1),
            "target_accuracy": Option(_TARGETS[name], float, min=0.0, max=1.0)}


for _name, _model, _batch, _text in (
    ("fashion_mlp", MnistMLP, 32, "784-64-10 ReLU MLP on full Fashion-MNIST (Debian's dataset-fashion-mnist), batch 32"),
    ("fashion_cnn", MnistCNN, 64, "two-conv-layer CNN on full Fashion-MNIST (Debian's dataset-fashion-mnist), batch 64"),
):
    register(Problem(
        name=_name, description=_text, make=_fashion(_name, _model),
        options={"data_dir": Option(None, str), **_options(_name, _batch)},
        metrics={"accuracy": "max", "loss": "min"}, needs_data=True, prepare_data=_prepare_fashion,
        memory=_fashion_memory(_model),
    ))

for _name, _model, _text in (
    ("mnist1d_mlp", Mnist1dMLP, "40-100-100-10 ReLU MLP on MNIST-1D (generated offline by mnist1d), batch 100"),
    ("mnist1d_cnn", Mnist1dCNN, "three-conv-layer 1-D CNN on MNIST-1D (generated offline by mnist1d), batch 100"),
):
    register(Problem(
        name=_name, description=_text, make=_mnist1d(_name, _model),
        options={"num_samples": Option(DEFAULT_SAMPLES, int, min=MIN_SAMPLES), "data_seed": Option(DEFAULT_SEED, int),
                 **_options(_name, 100)},
        metrics={"accuracy": "max", "loss": "min"}, needs_data=True, prepare_data=_prepare_mnist1d,
        memory=_mnist1d_memory(_model),
    ))
