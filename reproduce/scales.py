"""The research summary's protocol, and the three scales ``raybench reproduce`` runs it at.

The protocol's facts are written once here (``PATIENCE``, the RL training budget, the CNN batch
size) or read from their homes (multi-init's ``NUM_MODELS`` and ``REDUCE_FACTOR`` from
``raybench.tuning.spec``, the reference optimizer and learning-rate samples from ``raybench.defaults``);
a ``Scale`` says how much of it one machine runs: seeds per cell, training budgets, the
learning-rate search's samples, the RL budget, the multi-init seed blocks. ``smoke`` is minutes on a laptop (the tests run it), ``cpu`` what a
2-core machine does in under an hour on the offline MNIST subset, ``full`` the summary's
protocol on full MNIST and CIFAR-100 for a GPU cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from raybench import defaults
from raybench.errors import UsageError
from raybench.tuning import spec

# --- The summary's protocol ("Training Configuration", "Technical Details") ---------------------

PATIENCE = 3
"""Early stopping: patience of 3 evaluations on validation loss (the image problems evaluate once
per epoch, so 3 epochs)."""
EARLY_STOPPING = ("mnist_cnn", "cifar100_cnn")
"""The problems trained in epochs, where the summary stops early; the synthetic ones run their budget."""
CNN_BATCH = 64
"""The summary's batch size for CNNs (``cifar100_cnn``'s own default is 128)."""
NUM_MODELS = spec.NUM_MODELS
"""Multi-init's seed trials: the summary's 16, ``MultiInitSpec``'s default."""
REDUCE_FACTOR = spec.REDUCE_FACTOR
"""Multi-init's fraction kept at each rung: the summary's 0.5, ``MultiInitSpec``'s default."""
MULTI_INIT_OPTIMIZER = defaults.REFERENCE_OPTIMIZER
"""Multi-init trains with Adam at its tuned learning rate, against single-init Adam."""
MULTI_INIT_METRIC = "loss"
"""The summary sorts the models by validation loss."""
RL_PROTOCOL = {"num_problems": 90, "passes": 20, "episode_steps": 40}
"""The summary's RL training: 90 problem instances, 20 passes, 40 steps per episode."""
POLICY_FAMILY = {"quadratic": "quadratic", "logistic": "logistic", "mnist_cnn": "mlp", "cifar100_cnn": "mlp"}
"""The problem family whose policy drives the autonomous optimizer on each problem. MNIST and
CIFAR-100 are not families (a seed does not draw a new instance), so their policy is trained on
``mlp``, the family of small neural-network classifiers; the policy is coordinate-wise, so it
drives a CNN unchanged."""


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much of the protocol one run of ``raybench reproduce`` does."""

    name: str
    description: str
    seeds: int
    """Seeds per cell (0 .. seeds-1, the same for every optimizer: paired by seed)."""
    mnist_dataset: str
    """``mnist_cnn``'s ``dataset`` option: ``mnist_subset`` (offline, named as such) or ``mnist``."""
    steps: Mapping[str, int | None]
    """Training budget per problem in optimizer steps; ``None``: the problem's default."""
    cifar_width: int | None
    """``cifar100_cnn``'s width; ``None``: the problem's own (the summary's network). Another
    width is named in the claims."""
    tune_samples: int
    """Learning rates tried per (problem, optimizer) on each reserved tuning seed."""
    rl: Mapping[str, Any]
    """``rl.settings.TrainSettings`` fields (the budget) of every policy trained."""
    env_runners: int
    """RLlib env runners (at most the cluster's CPUs are used)."""
    multi_init_blocks: int
    """Disjoint blocks of ``NUM_MODELS`` seeds; each block is one multi-init experiment."""
    steps_per_round: Mapping[str, int | None]
    """Multi-init's K per problem; ``None``: one evaluation interval of the problem (an epoch)."""
    multi_init_problems: tuple[str, ...]
    """Where multi-init runs at this scale (the others' cells say why not)."""
    tune_extra: int = defaults.TUNE_EXTRA
    """Values tried past a grid's edge winner per pair (the smoke scale tries none: it checks the
    pipeline, not the learning rates)."""


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke", description="the whole pipeline on tiny budgets, in minutes (what the tests run)",
        seeds=3, mnist_dataset="mnist_subset",
        steps={"mnist_cnn": 16, "cifar100_cnn": 4, "quadratic": 60, "logistic": 60},
        cifar_width=8, tune_samples=2, tune_extra=0,
        rl={**RL_PROTOCOL, "timesteps": 100, "train_batch": 50, "minibatch": 50, "epochs": 1,
            "checkpoint_every": 1},
        env_runners=0, multi_init_blocks=1, steps_per_round={"mnist_cnn": 2, "cifar100_cnn": 1},
        multi_init_problems=("mnist_cnn",)),
    "cpu": Scale(
        name="cpu", description="everything a 2-core machine runs in under an hour: the offline MNIST "
                                "subset, quadratic, logistic; CIFAR-100 at width 16 when its files are present",
        seeds=10, mnist_dataset="mnist_subset",
        # mnist_cnn: 6 epochs of the subset's 4,000 training digits at batch 64 (62 steps each);
        # multi-init judges once an epoch, so its 4 rungs take 4 of them.
        steps={"mnist_cnn": 372, "cifar100_cnn": 100, "quadratic": None, "logistic": None},
        cifar_width=16, tune_samples=defaults.TUNE_SAMPLES, rl=dict(RL_PROTOCOL), env_runners=2,
        multi_init_blocks=10, steps_per_round={"mnist_cnn": None, "cifar100_cnn": None},
        multi_init_problems=("mnist_cnn",)),
    "full": Scale(
        name="full", description="the summary's protocol on full MNIST and CIFAR-100, for a GPU cluster",
        seeds=10, mnist_dataset="mnist",
        steps={"mnist_cnn": None, "cifar100_cnn": None, "quadratic": None, "logistic": None},
        cifar_width=None, tune_samples=defaults.TUNE_SAMPLES, rl=dict(RL_PROTOCOL), env_runners=8,
        multi_init_blocks=10, steps_per_round={"mnist_cnn": None, "cifar100_cnn": None},
        multi_init_problems=("mnist_cnn", "cifar100_cnn")),
}


def get(name: str) -> Scale:
    """The scale called ``name``; ``UsageError`` naming the accepted ones."""
    if name not in SCALES:
        raise UsageError(f"unknown --scale {name!r}; accepted: {', '.join(SCALES)}")
    return SCALES[name]


def options(scale: Scale, problem: str) -> dict[str, Any]:
    """The problem options the scale runs ``problem`` with (the summary's batch sizes)."""
    if problem == "mnist_cnn":
        return {"dataset": scale.mnist_dataset, "batch_size": CNN_BATCH}
    if problem == "cifar100_cnn":
        width = {} if scale.cifar_width is None else {"width": scale.cifar_width}
        return {"batch_size": CNN_BATCH, **width}
    return {}


def reduced(scale: Scale, problem: str) -> str | None:
    """How ``problem`` at this scale differs from the summary's network, to name it in the claims
    (``None`` if it does not)."""
    if problem == "cifar100_cnn" and scale.cifar_width is not None:
        from raybench import problems

        return f"width {scale.cifar_width}, not {problems.get(problem).defaults['width']}"
    return None
