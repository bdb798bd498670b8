"""RLlib checkpoints of a training run, and exporting its policy as a weights-only policy file.

    OUT/checkpoints/iter_NNNNNN/   # RLlib checkpoint (pickles: for --resume and export only)
    OUT/checkpoints/latest.json    # {"checkpoint": "iter_NNNNNN", "iteration": N}: the last complete one

A checkpoint is saved to a new folder before ``latest.json`` is repointed to it, so a crash
while saving leaves the previous checkpoint in charge. Exports go through
``raybench.learned.policy.save_policy`` with the training facts in the policy's metadata.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from raybench.errors import UsageError
from raybench.rl.settings import TrainSettings, load_settings

CHECKPOINTS = "checkpoints"
LATEST = "latest.json"


def latest(out: str) -> tuple[str, int] | None:
    """``(path, iteration)`` of the last complete checkpoint in ``out``, or ``None``."""
    pointer = os.path.join(out, CHECKPOINTS, LATEST)
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as f:
        entry = json.load(f)
    path = os.path.join(out, CHECKPOINTS, entry["checkpoint"])
    return (path, int(entry["iteration"])) if os.path.isdir(path) else None


def save(algo: Any, out: str, iteration: int) -> str:
    """Save to a new folder, then repoint ``latest.json``, then drop older checkpoints."""
    root = os.path.join(out, CHECKPOINTS)
    name = f"iter_{iteration:06d}"
    path = os.path.join(root, name)
    if os.path.isdir(path):
        shutil.rmtree(path)
    algo.save_to_path(path)
    tmp = os.path.join(root, f".{LATEST}.tmp")
    with open(tmp, "w") as f:
        json.dump({"checkpoint": name, "iteration": iteration}, f)
    os.replace(tmp, os.path.join(root, LATEST))
    for other in os.listdir(root):
        if other.startswith("iter_") and other != name:
            shutil.rmtree(os.path.join(root, other), ignore_errors=True)
    return path


def policy_of(algo: Any) -> Any:
    """A ``CoordinatewisePolicy`` holding the learner's current policy weights."""
    import torch

    from raybench.learned.policy import CoordinatewisePolicy
    from raybench.rl.module import DEFAULT_MODEL_CONFIG

    weights = algo.learner_group.get_weights()["default_policy"]
    cfg = {**DEFAULT_MODEL_CONFIG, **algo.config.rl_module_spec.model_config}
    # The input groups travel in the policy file (save_policy records the network's layout).
    policy = CoordinatewisePolicy(cfg["history"], cfg["hidden"], inputs=cfg["inputs"])
    state = {k[len("policy."):]: torch.as_tensor(v) for k, v in weights.items() if k.startswith("policy.")}
    policy.load_state_dict(state)
    return policy


def training_info(s: TrainSettings, extra: dict[str, Any]) -> dict[str, Any]:
    """Training facts recorded in an exported policy's metadata."""
    import ray
    import torch

    from raybench.provenance import provenance

    prov = provenance("cpu")
    if s.mixed:  # what each episode drew from: families, their probabilities, size ranges (batch_size too)
        from raybench.rl.mixed_env import resolve_mixed_config

        cfg = resolve_mixed_config(s.env_config())
        extra = {"families": cfg["families"], "family_weights": cfg["weights"], "ranges": cfg["ranges"], **extra}
    return {"family": s.family, "dim": s.dim, "num_problems": s.num_problems, "passes": s.passes,
            "episode_steps": s.episode_steps, "batch_problems": s.batch_problems,
            "env": s.env_class().__name__, "env_runners": s.env_runners, "seed": s.seed,
            "train_batch": s.train_batch, "lr": s.lr, "clip": s.clip, **extra,
            "torch_version": torch.__version__, "ray_version": ray.__version__,
            "git_commit": prov.get("git_commit"), "raybench_version": prov.get("raybench_version")}


def export(algo: Any, s: TrainSettings, path: str, extra: dict[str, Any] | None = None) -> tuple[str, str]:
    """Write the learner's policy as ``path`` (.safetensors + .json)."""
    from raybench.learned.policy import save_policy

    return save_policy(policy_of(algo), path, update_scale=s.update_scale, info=training_info(s, extra or {}))


def export_checkpoint(out: str, path: str) -> tuple[str, str]:
    """Export the policy of ``out``'s last checkpoint to ``path`` (``raybench rl export``).

    Reads only the learner's module from the checkpoint (RLlib's own format: a pickle this
    tool wrote itself), so it needs neither Ray nor the environment.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    from raybench.learned.policy import save_policy

    s = load_settings(out)
    found = latest(out)
    if found is None:
        raise UsageError(f"no checkpoint in {out}/{CHECKPOINTS}; train first (raybench rl train)")
    checkpoint, iteration = found
    module = RLModule.from_checkpoint(
        os.path.join(checkpoint, "learner_group", "learner", "rl_module", "default_policy"))
    info = training_info(s, {"iterations": iteration, "checkpoint": os.path.abspath(checkpoint)})
    return save_policy(module.policy, path, update_scale=s.update_scale, info=info)
