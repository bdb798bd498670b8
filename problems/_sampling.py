"""Shared helpers for the synthetic problems: seeded splits and pure-in-step minibatches.

Minibatches come from an epoch permutation drawn from ``generator(seed, salt, epoch)``, so
``batch(step)`` is a pure function of (seed, step): a restored run sees exactly the batches it
would have seen, and every optimizer sees the same batches for the same seed.
"""

from __future__ import annotations

import torch

from raybench.problems.base import Instance, ProblemError, generator


def check_batch_size(problem: str, batch_size: int | None, n_train: int) -> int | None:
    """``None`` (full batch) or a positive int no larger than the training set; else ProblemError."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or not 1 <= int(batch_size) <= n_train:
        raise ProblemError(
            f"bad batch_size {batch_size!r} for problem {problem!r}; accepted: None (full batch) "
            f"or an integer in [1, {n_train}] (n_train)"
        )
    return int(batch_size)


def check_choice(problem: str, option: str, value: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ProblemError(
            f"bad {option} {value!r} for problem {problem!r}; accepted: {', '.join(accepted)}"
        )
    return value


def minibatch_indices(seed: int, salt: int, step: int, n: int, batch_size: int) -> torch.Tensor:
    """Indices of the training examples of ``step``: epochs are seeded permutations of ``range(n)``.

    A step never straddles two epochs: each epoch gives ``n // batch_size`` full batches and
    drops the remainder, so every batch has exactly ``batch_size`` examples.
    """
    per_epoch = max(1, n // batch_size)
    epoch, k = divmod(int(step), per_epoch)
    perm = torch.randperm(n, generator=generator(seed, salt, epoch))
    return perm[k * batch_size:(k + 1) * batch_size]


def split(x: torch.Tensor, y: torch.Tensor, sizes: tuple[int, int, int]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Cut (x, y), drawn i.i.d. in one go, into the train, val and test splits."""
    n_train, n_val, n_test = sizes
    cuts = {"train": (0, n_train), "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, n_train + n_val + n_test)}
    return {name: (x[a:b], y[a:b]) for name, (a, b) in cuts.items()}


def check_split(problem: str, split_name: str) -> str:
    return check_choice(problem, "split", split_name, ("train", "val", "test"))


class SplitDataInstance(Instance):
    """An instance whose data are ``(x, y)`` splits in ``self.data``, sampled in seeded minibatches.

    Subclasses set ``data`` ({"train", "val", "test"} -> (x, y)) and ``batch_size`` (``None``:
    full batch) and use ``train_batch(batch)`` in their loss.
    """

    data: dict[str, tuple[torch.Tensor, torch.Tensor]]
    batch_size: int | None

    def to(self, device: str | torch.device) -> SplitDataInstance:
        super().to(device)
        self.data = {k: (x.to(device), y.to(device)) for k, (x, y) in self.data.items()}
        return self

    def batch(self, step: int) -> torch.Tensor | None:
        if self.batch_size is None:
            return None
        return minibatch_indices(self.seed, 3, step, self.data["train"][0].shape[0], self.batch_size)

    def train_batch(self, batch: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The training examples of ``batch`` (all of them for ``None``)."""
        x, y = self.data["train"]
        if batch is None:
            return x, y
        batch = batch.to(x.device)
        return x[batch], y[batch]
