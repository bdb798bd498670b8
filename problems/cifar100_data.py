"""CIFAR-100 (fine labels) for the ``cifar100_cnn`` problem.

Loaded once per process (``functools.cache``: the runner builds many instances in one worker)
as an ``ImageSplits`` (``raybench.problems.image_data``): ``uint8`` images plus ``int64`` labels in
memory, normalised (and augmented) per batch by the problem.

The files are the python pickles ``<data_dir>/cifar-100-python/{train,test,meta}`` (a
``cifar-100-python.tar.gz`` beside them is extracted first; ``download=True`` fetches it), the
data folder resolved by ``raybench.problems.image_data.resolve_data_dir``. They are read by one
reader, ``read_cifar_pickle``, after torchvision's MD5 check of every file. Only
``verify=False`` skips that check (for files made by hand, as the tests do); the reader is
the same either way.

Splits (fixed, independent of the run's seed) follow the research summary's protocol: train
on the whole training set; validation = a fixed random half of the official test set, final
evaluation (``split="test"``) = the other half.
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from raybench.problems.base import ProblemError
from raybench.problems.image_data import ImageSplits, first_line, half_split, resolve_data_dir

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"

# Salt for the fixed (seed-independent) val/test split; any constant works, it just must never change.
_SPLIT_SALT_CIFAR = 7003


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
                f"CIFAR-100 not found in {root} and download failed ({first_line(exc)}); put the folder "
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
    val, test = half_split(tx, ty, _SPLIT_SALT_CIFAR)
    return ImageSplits(
        name="cifar100", train=train, val=val, test=test,
        mean=CIFAR100_MEAN, std=CIFAR100_STD, num_classes=100,
    )
