"""A user optimizer benchmarked by import path: signSGD with momentum ("Signum", Bernstein et al. 2018).

Any ``torch.optim.Optimizer`` subclass works the same way; raybench reads its hyperparameters
and their defaults from the constructor's signature. From the repository root:

    raybench run --problems quadratic,mlp --optimizers adam,signum=my_optimizer:Signum \\
        --py-modules examples/my_optimizer.py --seeds 3 --steps 200 --tune-lr --out signum-results
    raybench report signum-results
"""

import torch


class Signum(torch.optim.Optimizer):
    """p <- p - lr * sign(m), m <- beta * m + (1 - beta) * grad."""

    def __init__(self, params, lr: float = 1e-3, beta: float = 0.9, weight_decay: float = 0.0):
        if not lr >= 0.0 or not 0.0 <= beta < 1.0 or not weight_decay >= 0.0:
            raise ValueError(f"Invalid Signum arguments: lr={lr}, beta={beta}, weight_decay={weight_decay}; "
                             "accepted: lr >= 0, 0 <= beta < 1, weight_decay >= 0")
        super().__init__(params, {"lr": lr, "beta": beta, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("momentum", torch.zeros_like(p))
                m.mul_(group["beta"]).add_(p.grad, alpha=1 - group["beta"])
                p.mul_(1 - group["lr"] * group["weight_decay"]).add_(torch.sign(m), alpha=-group["lr"])
        return loss
