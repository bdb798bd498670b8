"""Tiny dataset files in the real on-disk formats, for tests that load them like real data.

- MNIST: IDX files (big-endian; magic 2051 for images ``n x rows x cols`` uint8, 2049 for
  labels ``n`` uint8) under ``<root>/MNIST/raw/``, where ``torchvision.datasets.MNIST`` reads them.
- CIFAR-100: python pickles ``<root>/cifar-100-python/{train,test,meta}``: dicts with
  ``b"data"`` (uint8, ``n x 3072``, channel-major 3x32x32), ``b"fine_labels"``,
  ``b"coarse_labels"``, and in ``meta`` ``b"fine_label_names"`` / ``b"coarse_label_names"``.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write a uint8 array of 1 (labels) or 3 (images) dimensions as an IDX file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {1: 2049, 3: 2051}[array.ndim]  # 0x0801 / 0x0803: type ubyte (0x08), ndim
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_mnist(root: Path, n_train: int = 64, n_test: int = 20, *, seed: int = 0,
                compress: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random 28x28 digits in ``<root>/MNIST/raw``; returns {"train": (x, y), "test": (x, y)}."""
    rng = np.random.default_rng(seed)
    raw = Path(root) / "MNIST" / "raw"
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x, compress=compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y, compress=compress)
        out[split] = (x, y)
    return out


def write_cifar100(root: Path, n_train: int = 64, n_test: int = 20, *,
                   seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random 32x32 colour images in ``<root>/cifar-100-python``; returns {"train"/"test": (data, fine)}."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, size=n).tolist()
        entry = {
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
            b"batch_label": f"{split} batch".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": data,
        }
        with open(folder / split, "wb") as f:
            pickle.dump(entry, f)
        out[split] = (data, np.asarray(fine))
    meta = {
        b"fine_label_names": [f"class_{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"super_{i}".encode() for i in range(20)],
    }
    with open(folder / "meta", "wb") as f:
        pickle.dump(meta, f)
    return out
