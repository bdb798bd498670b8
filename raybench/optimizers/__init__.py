"""The optimizer registry: name -> factory, default hyperparameters, learning-rate search space.

    >>> from raybench import optimizers
    >>> opt = optimizers.make("modified_adam", model.parameters(), lr=3e-4)

Every entry's hyperparameters become columns of the results (``hp_<name>``). Search spaces
are plain data in AlgoPerf's shape: ``{"lr": {"min": 1e-4, "max": 1e-1, "scaling": "log"}}``.
An entry states only what it changes from the library's defaults, which are read from the
class's signature (``raybench.optimizers.base.OptimizerSpec``); ``get`` also takes import
paths and installed packages' entry points (``raybench.registry``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from raybench.optimizers import roles
from raybench.optimizers.base import (
    DEFAULT_LR_SPACE,
    GROUP,
    REGISTRY,
    OptimizerError,
    OptimizerSpec,
    baselines,
    build,
    get,
    load_entry_points,
    lr_space,
    make,
    names,
    not_applicable,
    register,
    resolve_hparams,
)
from raybench.optimizers.modified_adam import ModifiedAdam
from raybench.registry import Option
from raybench.search_space import WARMUP, linear, log

# Search spaces (raybench.search_space): the hyperparameters that matter for each entry. lr's
# range is what --tune-lr reads the name from (its grid is centred on the default); the whole
# space is what --tuning external samples. Betas as AlgoPerf states them: 1 - beta on a log scale.
_ADAM_BETAS = {"one_minus_beta1": log(1e-2, 0.3), "one_minus_beta2": log(1e-3, 1e-1)}

register(OptimizerSpec(
    "adam", "Adam (Kingma & Ba), the baseline", torch.optim.Adam, {},
    # Kingma & Ba recommend lr 1e-3, beta1 0.9, beta2 0.999: each interior here.
    {**lr_space(1e-4, 1e-1), **_ADAM_BETAS, **WARMUP}, baseline=True, path="torch.optim:Adam"))
register(OptimizerSpec(
    "sgd", "plain stochastic gradient descent", torch.optim.SGD, {"lr": 1e-2},
    {**lr_space(1e-4, 1.0), "weight_decay": linear(0.0, 1e-3), **WARMUP}, baseline=True, path="torch.optim:SGD"))
register(OptimizerSpec(
    "momentum", "SGD with Nesterov momentum 0.9", torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9, "nesterov": True},
    # Sutskever et al. (2013): momentum 0.9 to 0.99.
    {**lr_space(1e-4, 1.0), "momentum": linear(0.8, 0.99), "weight_decay": linear(0.0, 1e-3), **WARMUP},
    baseline=True, path="torch.optim:SGD"))
register(OptimizerSpec(
    "adagrad", "AdaGrad (Duchi et al.)", torch.optim.Adagrad, {},
    {**lr_space(1e-3, 1.0), "weight_decay": linear(0.0, 1e-3), **WARMUP}, baseline=True,
    path="torch.optim:Adagrad"))
register(OptimizerSpec(
    "rmsprop", "RMSprop (Tieleman & Hinton), alpha 0.99", torch.optim.RMSprop, {"lr": 1e-3},
    # Tieleman & Hinton's lecture uses alpha (their decay) 0.9; torch's default is 0.99.
    {**lr_space(1e-5, 1e-1), "alpha": linear(0.9, 0.999), "momentum": linear(0.0, 0.9), **WARMUP},
    baseline=True, path="torch.optim:RMSprop"))
register(OptimizerSpec(
    "adamw", "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter)", torch.optim.AdamW, {},
    # Wen et al. (arXiv 2509.02046): AdamW's lr, weight decay, warmup and beta2 all need tuning.
    {**lr_space(1e-4, 1e-1), "weight_decay": log(1e-3, 1.0), **_ADAM_BETAS, **WARMUP}, baseline=True,
    path="torch.optim:AdamW"))
register(OptimizerSpec(
    "lbfgs", "L-BFGS with strong-Wolfe line search, one iteration per step (counts every closure call)",
    torch.optim.LBFGS,
    # max_eval must be given: torch's default (max_iter * 5 // 4 = 1 at max_iter=1) leaves the
    # strong-Wolfe search no evaluation to spend, and L-BFGS then stalls (quadratic: stuck at
    # suboptimality 0.16 from step 10 on). 25 is torch's own ratio at its default max_iter=20.
    # The bounds are checked up front: torch takes these at construction and fails (or silently
    # misbehaves) only at the first step, which would turn a typo into a "failed" run.
    {"max_iter": Option(1, min=1), "max_eval": Option(25, min=1), "history_size": Option(10, min=1),
     "line_search_fn": Option("strong_wolfe", choices=("strong_wolfe",), nullable=True)},
    # history_size: Nocedal & Wright suggest 3 to 20 correction pairs (rounded to an integer).
    {**lr_space(1e-2, 1.0), "history_size": linear(3, 20)}, baseline=True, path="torch.optim:LBFGS"))
register(OptimizerSpec(
    "modified_adam", "Adam with the second-moment update scaled by variance_scale (default 1.1)", ModifiedAdam, {},
    {**lr_space(1e-4, 1e-1), "variance_scale": linear(1.0, 1.5), **_ADAM_BETAS}, baseline=True, path="raybench.optimizers.modified_adam:ModifiedAdam"))


def _autonomous(params: Iterable[torch.Tensor] | Iterable[dict], *, policy: str = "",
                **hparams: Any) -> torch.optim.Optimizer:
    """``AutonomousOptimizer`` over the policy file ``policy``, loaded through the policy cache.

    The cache matters: ``resolve_hparams`` builds a probe optimizer and ``make`` builds the real
    one, so a run would otherwise read and hash the same file several times.
    """
    # Imported here so the registry does not load the policy machinery until it is used.
    from raybench.learned.policy import load_policy
    from raybench.optimizers.autonomous import AutonomousOptimizer

    if not policy:
        raise ValueError("autonomous needs policy=<file>: a policy exported by `raybench rl train` "
                         "(e.g. --hparam autonomous.policy=policy/policy.safetensors)")
    return AutonomousOptimizer(params, load_policy(policy), **hparams)


register(OptimizerSpec(
    "autonomous", "learned coordinate-wise policy (raybench rl train); needs policy=<file>", _autonomous, {},
    {"lr_scale": {"min": 0.1, "max": 10.0, "scaling": "log"}},
    path="raybench.optimizers.autonomous:AutonomousOptimizer"))

from raybench.optimizers import zoo  # noqa: E402,F401  (registers the modern zoo: torch.optim, schedulefree, pytorch_optimizer)

__all__ = ["DEFAULT_LR_SPACE", "GROUP", "REGISTRY", "ModifiedAdam", "OptimizerError", "OptimizerSpec", "baselines",
           "build", "get", "load_entry_points", "lr_space", "make", "names", "not_applicable", "register",
           "resolve_hparams", "roles"]
