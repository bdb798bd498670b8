"""raybench: honest benchmarks of deep-learning optimizers, on Ray.

Core pieces (no Ray needed): ``raybench.optimizers`` (the registry), ``raybench.Run`` (the
one training loop), ``raybench.results`` (Parquet in and out). ``raybench.runner`` fans runs
out on Ray; ``raybench.report`` makes the tables and plots.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Run", "RunSpec", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import raybench`` (and ``raybench --help``) does not import torch.
    if name == "Run":
        from raybench.train import Run

        return Run
    if name == "RunSpec":
        from raybench.spec import RunSpec

        return RunSpec
    raise AttributeError(f"module 'raybench' has no attribute {name!r}")
