"""The learned optimizer's parts that are plain PyTorch, in the order a step uses them.

Following learned_optimization's split, the learned parameters live apart from the optimizer
built from them:

* ``features``: what the policy sees (the history window and its normalised observation);
* ``policy``: the coordinate-wise network and its weights-only file (``load_policy``);
* ``step``: ``features -> policy -> update``, shared by the RL environment (``raybench.rl.env``) and
  ``raybench.optimizers.autonomous.AutonomousOptimizer``.

Core layer: imports torch and ``problems`` only, never Ray or ``rl``.
"""
