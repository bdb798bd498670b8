"""The modern zoo: registry entries for optimizers that maintained libraries implement.

Each entry is the library's class with the library's defaults (read from its signature when
first needed), used and not copied:

- ``torch.optim``: NAdam, RAdam, Adafactor, and Muon (as ``MuonAdamW``: Muon on the hidden
  matrices, AdamW on the rest; ``raybench.optimizers.muon``);
- ``schedulefree``: AdamW schedule-free (it has ``train()`` / ``eval()``, which the training loop
  calls around every evaluation);
- ``pytorch_optimizer``: Lion, SOAP, Prodigy, Adan.

The third-party packages are imported inside the factories, so ``import raybench.optimizers``
does not load them (reading an entry's defaults does). A library argument whose default is
``None`` (Prodigy's ``beta3``, SOAP's ``shampoo_beta``) or a tuple holding ``None`` (Adafactor's
``eps``) is left at the library's default rather than listed: a hyperparameter must have a
value its command-line string can be coerced to. SOAP's ``data_format`` takes the choices of its
``Literal`` annotation (SOAP does not check it). None of these entries is a baseline: a suite
compares them only when named.

Muon and SOAP are themselves only on matrices: on a model with none (Muon: no hidden matrix by
its parameter roles; SOAP: no parameter of 2 or more dimensions) a run is ``not_applicable``
(``OptimizerSpec.applies``) rather than AdamW or Adam under their names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from raybench.optimizers import roles
from raybench.optimizers.base import OptimizerSpec, lr_space, register
from raybench.optimizers.muon import MuonAdamW
from raybench.registry import Option
from raybench.search_space import WARMUP, linear, log

Params = Iterable[torch.Tensor] | Iterable[dict]
_ADAM_BETAS = {"one_minus_beta1": log(1e-2, 0.3), "one_minus_beta2": log(1e-3, 1e-1)}
"""AlgoPerf's way of searching Adam's betas: 1 - beta on a log scale."""


def _torch_optim(class_name: str, since: str) -> Callable[..., torch.optim.Optimizer]:
    """``torch.optim.<class_name>``, looked up when called: older torch gets a one-line error."""
    def factory(params: Params, **hparams: Any) -> torch.optim.Optimizer:
        cls = getattr(torch.optim, class_name, None)
        if cls is None:
            raise ValueError(f"torch.optim.{class_name} needs torch >= {since}; this torch is {torch.__version__}")
        return cls(params, **hparams)
    factory.__name__ = factory.__qualname__ = class_name
    return factory


def _adafactor(params: Params, *, eps2: float = 1e-3, **hparams: Any) -> torch.optim.Optimizer:
    """``torch.optim.Adafactor`` with ``eps = (None, eps2)``: eps1 stays torch's ``None`` (the
    machine epsilon of the parameters' dtype), which no command-line value can spell."""
    return _torch_optim("Adafactor", "2.5")(params, eps=(None, eps2), **hparams)


def _schedule_free_adamw(params: Params, **hparams: Any) -> torch.optim.Optimizer:
    """``schedulefree.AdamWScheduleFree``, with the argument checks it does not make itself."""
    import schedulefree

    # Each checked when given (the registry gives them all; the library's defaults otherwise).
    if not hparams.get("lr", 0.0) >= 0.0:
        raise ValueError(f"Invalid learning rate: {hparams['lr']}")
    for i, beta in enumerate(hparams.get("betas", ())):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if not hparams.get("eps", 0.0) >= 0.0:
        raise ValueError(f"Invalid epsilon value: {hparams['eps']}")
    if not hparams.get("weight_decay", 0.0) >= 0.0:
        raise ValueError(f"Invalid weight_decay value: {hparams['weight_decay']}")
    if hparams.get("warmup_steps", 0) < 0:
        raise ValueError(f"Invalid warmup_steps value: {hparams['warmup_steps']}")
    return schedulefree.AdamWScheduleFree(params, **hparams)


def _pytorch_optimizer(class_name: str) -> Callable[..., torch.optim.Optimizer]:
    """``pytorch_optimizer.<class_name>``; its negative-learning-rate error (a bare
    ``Exception``) becomes the ``ValueError`` the registry reports as a one-line message."""
    def factory(params: Params, **hparams: Any) -> torch.optim.Optimizer:
        import pytorch_optimizer
        from pytorch_optimizer.base.exception import NegativeLRError

        try:
            return getattr(pytorch_optimizer, class_name)(params, **hparams)
        except NegativeLRError:
            raise ValueError(f"Invalid learning rate: {hparams.get('lr')}; accepted: lr >= 0") from None
    factory.__name__ = factory.__qualname__ = class_name
    return factory


register(OptimizerSpec(
    "nadam", "NAdam: Adam with Nesterov momentum (Dozat), torch.optim.NAdam", _torch_optim("NAdam", "1.10"), {},
    # Dozat: momentum_decay 0.004 (the schedule of beta1), interior here.
    {**lr_space(1e-4, 1e-1), **_ADAM_BETAS, "momentum_decay": log(1e-3, 1e-2), "weight_decay": linear(0.0, 0.1),
     **WARMUP}, path="torch.optim:NAdam"))
register(OptimizerSpec(
    "radam", "RAdam: Adam with a rectified warm-up of the adaptive step (Liu et al.), torch.optim.RAdam",
    _torch_optim("RAdam", "1.10"), {},
    # No warm-up: Liu et al. rectify the adaptive step so that RAdam needs none.
    {**lr_space(1e-4, 1e-1), **_ADAM_BETAS, "weight_decay": linear(0.0, 0.1)}, path="torch.optim:RAdam"))
register(OptimizerSpec(
    "adafactor", "Adafactor: factored second moments, relative step size (Shazeer & Stern), torch.optim.Adafactor",
    _adafactor, {},
    # Shazeer & Stern: second-moment decay 1 - t^-0.8 (beta2_decay -0.8), interior here.
    {**lr_space(1e-4, 1.0), "beta2_decay": linear(-1.0, -0.5), "weight_decay": linear(0.0, 0.1), **WARMUP},
    path="torch.optim:Adafactor"))
register(OptimizerSpec(
    "muon", "Muon (torch.optim.Muon) on the hidden matrices, AdamW at lr x adamw_lr_ratio on embeddings, head, "
    "norms, biases and conv kernels (by the model's parameter roles, else every 2-D weight to Muon)", MuonAdamW,
    # adamw_lr defaults to None (tied to lr by the ratio), which a signature does not list: stated.
    {"adamw_lr": Option(None, kind=float)},
    # Keller Jordan: lr 0.02, Nesterov momentum 0.95; Liu et al. (Moonshot): weight decay 0.1 and one
    # learning rate for both parts (adamw_lr_ratio 1); modded-nanogpt's AdamW rates differ from Muon's
    # by up to ~30x, hence the ratio's range.
    {**lr_space(1e-4, 1e-1), "adamw_lr_ratio": log(0.03, 3.0), "momentum": linear(0.85, 0.99),
     "weight_decay": linear(0.0, 0.2), **WARMUP},
    path="raybench.optimizers.muon:MuonAdamW", applies=roles.needs_hidden_matrix))
register(OptimizerSpec(
    "schedule_free_adamw", "schedule-free AdamW (Defazio et al.), schedulefree.AdamWScheduleFree; "
    "evaluated at its averaged iterate (eval())",
    _schedule_free_adamw, {},
    # Defazio et al.: no schedule (so no warmup fraction here; its own warmup_steps is in steps),
    # a larger lr than scheduled AdamW, beta1 0.9.
    {**lr_space(1e-4, 1e-1), **_ADAM_BETAS, "weight_decay": linear(0.0, 0.1)},
    path="schedulefree:AdamWScheduleFree"))
register(OptimizerSpec(
    "lion", "Lion: sign of interpolated momentum (Chen et al.), pytorch_optimizer.Lion", _pytorch_optimizer("Lion"),
    # Chen et al.: lr 3-10x smaller and weight decay 3-10x larger than AdamW's; beta1 0.9, beta2 0.99
    # (0.98 for stability).
    {}, {**lr_space(1e-5, 1e-2), "weight_decay": linear(0.0, 1.0), "beta1": linear(0.85, 0.95),
         "beta2": linear(0.95, 0.995), **WARMUP}, path="pytorch_optimizer:Lion"))
register(OptimizerSpec(
    "soap", "SOAP: Adam in Shampoo's eigenbasis (Vyas et al.), pytorch_optimizer.SOAP", _pytorch_optimizer("SOAP"),
    # Vyas et al.: lr 3e-3, betas (0.95, 0.95), weight decay 0.01, preconditioner every 10 steps.
    {}, {**lr_space(1e-4, 1e-1), "beta1": linear(0.9, 0.99), "beta2": linear(0.9, 0.99),
         "weight_decay": linear(0.0, 0.1), **WARMUP},
    path="pytorch_optimizer:SOAP", applies=roles.needs_matrix))
register(OptimizerSpec(
    "prodigy", "Prodigy: learning-rate-free Adam, estimates the step size d (Mishchenko & Defazio), "
    "pytorch_optimizer.Prodigy; lr multiplies the estimate",
    # Mishchenko & Defazio: keep lr 1 and scale the estimate with d_coef (0.1..10 here) where needed.
    _pytorch_optimizer("Prodigy"), {},
    {**lr_space(1e-1, 10.0), "d_coef": log(0.1, 10.0), "weight_decay": linear(0.0, 0.1), **WARMUP},
    path="pytorch_optimizer:Prodigy"))
register(OptimizerSpec(
    "adan", "Adan: adaptive Nesterov momentum (Xie et al.), pytorch_optimizer.Adan", _pytorch_optimizer("Adan"),
    # Xie et al.: betas (0.98, 0.92, 0.99), weight decay 0.02.
    {}, {**lr_space(1e-4, 1e-1), "beta1": linear(0.9, 0.99), "beta2": linear(0.85, 0.95),
         "beta3": linear(0.95, 0.999), "weight_decay": linear(0.0, 0.1), **WARMUP},
    path="pytorch_optimizer:Adan"))
