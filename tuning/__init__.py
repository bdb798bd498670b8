"""Multi-initialization with progressive elimination on Ray Tune.

One module per job; each imports only modules listed above it:

- ``tuning.rungs``: the elimination rule, plain arithmetic (no Ray);
- ``tuning.scheduler``: ``SynchronousHalvingScheduler``, the rule as a Tune scheduler;
- ``tuning.spec``: ``MultiInitSpec``, one experiment as data, and its checks (``prepare``);
- ``tuning.trainable``: ``train_seed``, one seed's ``raybench.train.Run`` as a Tune trial;
- ``tuning.experiment``: the seed trials under synchronous halving, written to the results
  folder with this layer's ``rungs`` table;
- ``tuning.report``: a finished block read back as text (survivor, rung table);
- ``tuning.compare``: the survivor against single initialization, speed beside compute;
- ``tuning.cli``: ``raybench multi-init``.

Nothing here is imported by ``raybench`` core.
"""
