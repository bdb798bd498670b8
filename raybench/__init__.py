"""raybench: honest benchmarks of deep-learning optimizers, on Ray.

Core pieces (no Ray needed): ``raybench.optimizers`` (the registry), ``raybench.Run`` (the
one training loop), ``raybench.results`` (Parquet in and out). ``raybench.runner`` fans runs
out on Ray; ``raybench.report`` makes the tables and plots.
"""

__version__ = "0.1.0"

from raybench.train import Run  # noqa: E402

__all__ = ["Run", "__version__"]
