"""The Tune trainable of multi-init: one seed's run, reported and checkpointed round by round.

Each trial is the one training loop, ``raybench.train.Run``, advanced ``steps_per_round``
steps per ``tune.report`` and checkpointed with it (``Run.state_dict``), so a trial that waits
paused for its rung is resumed exactly where it stopped.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

TIME_ATTR = "step"
"""Reported by every trial: optimizer steps scheduled so far (the rung clock)."""
CHECKPOINT_FILE = "run.pt"
"""Inside every checkpoint: the run's state, its curve rows so far and its summary row."""


def train_seed(config: dict[str, Any]) -> None:
    """Tune function trainable: one seed's ``Run``, one ``tune.report`` per round of K steps.

    Every report carries a checkpoint (the run's state, its curve rows so far and its
    summary row), because the scheduler may pause the trial at any rung and Tune resumes a
    function trainable from its last reported checkpoint. A run that diverged keeps
    reporting its (NaN) metric at the scheduled steps without training, so that it is
    judged, and eliminated, at the rung like everyone else.
    """
    import torch
    from ray import tune

    from raybench.train import Run

    device = "cuda" if config.get("use_gpu") and torch.cuda.is_available() else "cpu"
    # "problem" and "optimizer" are MultiInitSpec.names(): NAME=MODULE:ATTR for an import path,
    # which RunSpec.build registers in this worker (the module came with --py-modules).
    run = Run(config["problem"], config["optimizer"], config["hparams"], config["seed"],
              steps=config["steps"], options=config["options"], eval_every=config["eval_every"],
              device=device)
    curves: list[dict[str, Any]] = []
    progress = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location=device, weights_only=False)
        run.load_state_dict(state["run"])
        curves, progress = state["curves"], state["progress"]
    K = int(config["steps_per_round"])
    while progress < run.steps:
        target = min(run.steps, (progress // K + 1) * K)
        if not run.done:
            curves.extend(run.advance(target - run.step))
        progress = target
        final = progress >= run.steps
        summary = run.summary(test=final and run.status == "ok")
        metrics = {TIME_ATTR: progress, "run_step": run.step, "grad_evals": run.grad_evals,
                   "status": run.status}
        metrics.update({f"val_{k}": v for k, v in run.last_metrics.items()})
        if run.status != "ok":
            metrics[f"val_{config['metric']}"] = math.nan
        with tempfile.TemporaryDirectory() as d:
            torch.save({"run": run.state_dict(), "curves": curves, "progress": progress,
                        "summary": summary}, os.path.join(d, CHECKPOINT_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
