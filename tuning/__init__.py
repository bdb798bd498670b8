"""Multi-initialization with progressive elimination on Ray Tune.

One module per job; each imports only modules listed above it:

- ``raybench.tuning.rungs``: the elimination rule, plain arithmetic (no Ray);
- ``raybench.tuning.scheduler``: ``SynchronousHalvingScheduler``, the rule as a Tune scheduler;
- ``raybench.tuning.spec``: ``MultiInitSpec``, one experiment as data, and its checks (``prepare``);
- ``raybench.tuning.trainable``: ``train_seed``, one seed's ``raybench.train.Run`` as a Tune trial;
- ``raybench.tuning.experiment``: the seed trials under synchronous halving, written to the results
  folder with this layer's ``rungs`` table;
- ``raybench.tuning.report``: a finished block read back as text (survivor, rung table);
- ``raybench.tuning.compare``: the survivor against single initialization, speed beside compute;
- ``raybench.tuning.cli``: ``raybench multi-init``.

Nothing here is imported by ``raybench`` core.
"""
