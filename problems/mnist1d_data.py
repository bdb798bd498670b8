"""MNIST-1D for ``mnist1d_mlp`` and ``mnist1d_cnn``: generated offline by the PyPI package ``mnist1d``.

MNIST-1D (Greydanus and Kobak, 2020-24) is ten 1-D templates (one per digit), each padded,
dilated, scaled, translated, sheared and noised into signals of length 40. It is generated
here with ``mnist1d.data.make_dataset`` (never its download path, ``get_dataset``) from
``mnist1d.data.get_dataset_args()``, the package's defaults (5,000 samples, seed 42, template
length 12, padding 36-60, scale 0.4, translation up to 48, correlated noise 0.25, iid noise
0.02, shear 0.75, unshuffled, length 40), with two of them as options: ``num_samples`` (a
multiple of 10, at least ``MIN_SAMPLES``) and ``data_seed``. The results name the data
``mnist1d`` at the package's defaults and ``mnist1d_n{num_samples}_seed{data_seed}``
otherwise, so that a result always says which data it is.

The generator draws from numpy's and Python's global random state (``mnist1d.utils.set_seed``):
both are saved before and restored after, so generating the data changes no caller's random
stream.

Splits (fixed, independent of the run's seed): the package's own train / test split
(``train_split`` 0.8 of the shuffled samples); validation is a fixed random eighth of its
training part, so 70% train / 10% validation / 20% test (3,500 / 500 / 1,000 at the defaults).
The signals are already standardised by the generator (mean 0, standard deviation 1 over the
whole set), so batches are used as they are.
"""

from __future__ import annotations

import dataclasses
import functools
import random

import numpy as np
import torch

from raybench.problems.base import ProblemError, generator
from raybench.problems.image_data import ImageSplits

DATASET = "mnist1d"
MIN_SAMPLES = 100
"""The fewest samples accepted: 10 per class, so every split holds some of them."""
DEFAULT_SAMPLES, DEFAULT_SEED = 5000, 42  # mnist1d.data.get_dataset_args()'s

_SPLIT_SALT = 7004
_VAL_FRACTION = 8  # an eighth of the package's training part


@dataclasses.dataclass(frozen=True)
class SignalSplits(ImageSplits):
    """``ImageSplits`` of float 1-D signals (N, 1, length): standardised already, so
    ``normalise`` only makes them float32 (what the image problems' instance calls per batch)."""

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return images.float()


def dataset_name(num_samples: int, data_seed: int) -> str:
    """What the results call the data generated with these arguments."""
    if (num_samples, data_seed) == (DEFAULT_SAMPLES, DEFAULT_SEED):
        return DATASET
    return f"{DATASET}_n{num_samples}_seed{data_seed}"


def check_num_samples(num_samples: int, problem: str) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < MIN_SAMPLES \
            or num_samples % 10:
        raise ProblemError(f"bad num_samples {num_samples!r} for problem {problem!r}; accepted: "
                           f"a multiple of 10 (the ten classes) >= {MIN_SAMPLES}")


def load_mnist1d(num_samples: int = DEFAULT_SAMPLES, data_seed: int = DEFAULT_SEED,
                 device: str | torch.device = "cpu") -> ImageSplits:
    """MNIST-1D as ``SignalSplits`` ((N, 1, 40) float32 signals, int64 labels) on ``device``,
    generated once per process and arguments."""
    check_num_samples(num_samples, "mnist1d")
    return _load(int(num_samples), int(data_seed), str(torch.device(device)))


def _generate(num_samples: int, data_seed: int) -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ProblemError(f"MNIST-1D needs the PyPI package mnist1d ({exc}); pip install mnist1d") from None
    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, data_seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        return make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


@functools.cache
def _load(num_samples: int, data_seed: int, device: str) -> ImageSplits:
    if device != "cpu":
        return _load(num_samples, data_seed, "cpu").to(device)
    made = _generate(num_samples, data_seed)
    as_x = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32)).unsqueeze(1).contiguous()  # noqa: E731
    as_y = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    x, y = as_x(made["x"]), as_y(made["y"])
    n_val = len(y) // _VAL_FRACTION
    perm = torch.randperm(len(y), generator=generator(0, _SPLIT_SALT))
    val, train = perm[:n_val], perm[n_val:]
    return SignalSplits(
        name=dataset_name(num_samples, data_seed), train=(x[train], y[train]), val=(x[val], y[val]),
        test=(as_x(made["x_test"]), as_y(made["y_test"])), mean=(0.0,), std=(1.0,), num_classes=10,
    )
