"""``raybench reproduce``: the research summary's results table turned into experiments.

The top layer: it runs raybench core's runner and learning-rate search, ``rl``'s policy
training and ``tuning``'s multi-init, and judges the claims with ``raybench.reproduce.claims``. One module
per job, each importing only those above it:

- ``raybench.reproduce.scales``: the summary's protocol and the three scales (smoke, cpu, full) as data;
- ``raybench.reproduce.plan``: the checks, the folders, the runs of each stage and their measured cost;
- ``raybench.reproduce.measure``: multi-init's per-block rows, the claims measured, written, reported;
- ``raybench.reproduce.believability``: what makes multi-init's claim believable or not (``claims.md``);
- ``raybench.reproduce.stages``: the stages, each through its own command's machinery, resumable;
- ``raybench.reproduce.cli``: ``raybench reproduce`` (registered in ``raybench.commands``).

Nothing in ``raybench``, ``tuning`` or ``rl`` imports it.
"""
