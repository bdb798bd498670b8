"""Multi-initialization with progressive elimination on Ray Tune.

``tuning.scheduler.SynchronousHalvingScheduler`` (the Tune scheduler), ``tuning.rungs`` (the
elimination rule, no Ray), ``tuning.multi_init`` (the seed trainable over
``raybench.train.Run``, results, the comparison with single initialization) and
``tuning.cli`` (``raybench multi-init``). Nothing here is imported by ``raybench`` core.
"""
