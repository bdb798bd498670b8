"""The raybench problem suite: pure PyTorch problems looked up by name.

    >>> from raybench import problems
    >>> inst = problems.get("quadratic").instance(seed=0)
    >>> inst.evaluate()["suboptimality"] > 0
    True
"""

from raybench.problems.base import (
    MODES,
    REGISTRY,
    Batch,
    Budget,
    Instance,
    Option,
    Problem,
    ProblemError,
    Target,
    better,
    families,
    generator,
    get,
    layer_roles,
    load_entry_points,
    names,
    register,
)
# Registration order is the order of problems.names() (listings, reports): kept by hand,
# convex to non-convex, synthetic before data, so the import sorter is told to leave it.
# ruff: noqa: I001
from raybench.problems import quadratic  # noqa: F401  (registers)
from raybench.problems import logistic  # noqa: F401  (registers)
from raybench.problems import robust_regression  # noqa: F401  (registers)
from raybench.problems import rosenbrock  # noqa: F401  (registers)
from raybench.problems import mlp  # noqa: F401  (registers)
from raybench.problems import vision  # noqa: F401  (registers mnist_mlp, mnist_cnn, cifar100_cnn)
from raybench.problems import workloads_images  # noqa: F401  (registers fashion_mlp, fashion_cnn, mnist1d_mlp, mnist1d_cnn)
from raybench.problems import char_gpt  # noqa: F401  (registers)

__all__ = [
    "MODES", "REGISTRY", "Batch", "Budget", "Instance", "Option", "Problem", "ProblemError", "Target",
    "better", "families", "generator", "get", "layer_roles", "load_entry_points", "names", "register",
]
