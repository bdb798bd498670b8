"""The raybench problem suite: pure PyTorch problems looked up by name.

    >>> import problems
    >>> inst = problems.get("quadratic").instance(seed=0)
    >>> inst.evaluate()["suboptimality"] > 0
    True
"""

from problems.base import (
    REGISTRY,
    Batch,
    Budget,
    Instance,
    Problem,
    ProblemError,
    Target,
    generator,
    get,
    names,
    register,
)
from problems import quadratic  # noqa: F401  (registers)
from problems import logistic  # noqa: F401  (registers)
from problems import robust_regression  # noqa: F401  (registers)
from problems import rosenbrock  # noqa: F401  (registers)
from problems import mlp  # noqa: F401  (registers)
from problems import vision  # noqa: F401  (registers mnist_mlp, mnist_cnn, cifar100_cnn)

__all__ = [
    "REGISTRY", "Batch", "Budget", "Instance", "Problem", "ProblemError", "Target",
    "generator", "get", "names", "register",
]
