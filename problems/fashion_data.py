"""Full Fashion-MNIST (60,000 + 10,000 images) for ``fashion_mlp`` and ``fashion_cnn``.

The files are the four gzip-compressed IDX files of Zalando's release,
``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, read in place (nothing is written beside
them) by this module's own IDX reader. Where they are:

- option ``data_dir``: a folder holding the four files (``.gz``, or decompressed under the
  same names without ``.gz``);
- else ``$RAYBENCH_DATA_DIR/FashionMNIST/raw`` (where ``torchvision.datasets.FashionMNIST``
  puts them), when it holds them;
- else Debian's package ``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist``
  (``make data`` installs it where apt is available).

Missing or damaged files are one ``ProblemError`` naming the file and how to get it.

Splits (fixed, independent of the run's seed): validation is a fixed random sixth of the
official training set (10,000 of 60,000; salt ``_SPLIT_SALT``), training the other five
sixths (50,000); the official test set (10,000) is held out for the final evaluation
(``split="test"``). The results name the data ``fashion_mnist``.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from raybench.problems.base import ProblemError, generator
from raybench.problems.image_data import DATA_DIR_ENV, ImageSplits, first_line

DATASET = "fashion_mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
FASHION_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)
# Per-channel statistics of the 60,000 training images (pixels / 255), the usual ones.
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)

# The validation split's salt: any constant works, it just must never change.
_SPLIT_SALT = 7003
_VAL_FRACTION = 6  # a sixth of the training set


def _have(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def resolve_fashion_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The folder the four files are read from (see the module docstring for the order)."""
    if data_dir not in (None, ""):
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        raw = Path(env).expanduser().resolve() / "FashionMNIST" / "raw"
        if all(_have(raw, name) for name in FASHION_FILES):
            return raw
    return DEBIAN_DIR


def _how_to_get(folder: Path) -> str:
    if folder == DEBIAN_DIR:
        return (f"install Debian's {DEBIAN_PACKAGE} (`make data`, or `apt-get install {DEBIAN_PACKAGE}`), "
                f"or pass option data_dir=FOLDER holding {', '.join(n + '.gz' for n in FASHION_FILES)}")
    return f"put {', '.join(n + '.gz' for n in FASHION_FILES)} (or the same names without .gz) there"


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """A uint8 IDX file (gzip-compressed when its name ends in ``.gz``) as an array of ``ndim``
    dimensions; ``ProblemError`` naming the file when it is not one."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut .gz is an EOFError
        raise ProblemError(f"Fashion-MNIST file {path} cannot be read: {first_line(exc)}") from None
    magic = 0x0800 | ndim  # type ubyte (0x08), then the number of dimensions
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        raise ProblemError(f"Fashion-MNIST file {path} is not an IDX file of {ndim}-dimensional uint8 "
                           f"data (magic {magic} expected)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise ProblemError(f"Fashion-MNIST file {path} holds {len(data) - header} bytes of data, its header "
                           f"says {' x '.join(map(str, dims))} = {expected}: truncated or damaged")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_pair(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images_path = _have(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _have(folder, f"{prefix}-labels-idx1-ubyte")
    assert images_path is not None and labels_path is not None  # checked by the caller
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise ProblemError(f"Fashion-MNIST file {images_path} holds {images.shape[1]}x{images.shape[2]} "
                           "images; accepted: 28x28")
    if len(images) != len(labels):
        raise ProblemError(f"Fashion-MNIST files {images_path.name} and {labels_path.name} in {folder} hold "
                           f"{len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ProblemError(f"Fashion-MNIST file {labels_path} holds label {int(labels.max())}; accepted: 0 to 9")
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 28, 28) uint8
    return x, torch.from_numpy(labels.astype(np.int64))


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None,
                       device: str | torch.device = "cpu") -> ImageSplits:
    """Fashion-MNIST as ``ImageSplits`` named ``fashion_mnist``: train / val (fixed, carved
    from the official training set) / test (the official test set), on ``device``.

    Loaded once per process and version of the files (the runner builds many instances in one
    worker; a file replaced in between is read again)."""
    folder = resolve_fashion_dir(data_dir)
    return _load(str(folder), _stamp(folder), str(torch.device(device)))


def _stamp(folder: Path) -> tuple:
    """What identifies the files' version: each one's path, size and modification time."""
    found = [_have(folder, name) for name in FASHION_FILES]
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) if p else None for p in found)


@functools.cache
def _load(folder_text: str, stamp: tuple, device: str) -> ImageSplits:
    if device != "cpu":
        return _load(folder_text, stamp, "cpu").to(device)
    folder = Path(folder_text)
    missing = [name for name in FASHION_FILES if _have(folder, name) is None]
    if missing:
        where = "folder missing" if not folder.is_dir() else f"no {missing[0]}.gz"
        raise ProblemError(f"Fashion-MNIST not found in {folder} ({where}); {_how_to_get(folder)}")
    train_x, train_y = _read_pair(folder, "train")
    test = _read_pair(folder, "t10k")
    n_val = len(train_y) // _VAL_FRACTION
    if n_val < 1 or len(test[1]) < 1:
        raise ProblemError(f"Fashion-MNIST in {folder} holds {len(train_y)} training and {len(test[1])} test "
                           f"images; accepted: at least {_VAL_FRACTION} and 1")
    perm = torch.randperm(len(train_y), generator=generator(0, _SPLIT_SALT))
    val, train = perm[:n_val], perm[n_val:]
    return ImageSplits(
        name=DATASET, train=(train_x[train].contiguous(), train_y[train]), val=(train_x[val].contiguous(), train_y[val]),
        test=test, mean=FASHION_MEAN, std=FASHION_STD, num_classes=10,
    )
