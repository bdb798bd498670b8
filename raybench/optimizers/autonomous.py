"""The autonomous (learned) optimizer: a coordinate-wise policy that drives any torch model.

Li & Malik's "Learning to Optimize" as the research summary states it: the policy observes
the last ``H`` steps of [change in objective, gradient] and outputs the parameter update.
This module is the pure-PyTorch half (no Ray, no RLlib): the policy network, the features
it reads, the weights-only policy file, and ``AutonomousOptimizer``. ``rl/`` trains the same
``CoordinatewisePolicy`` inside an RLlib module and exports its ``state_dict`` here.

Observation (``observation``), an ``(H, 1 + n)`` matrix for ``n`` parameters, oldest row
first, newest (the current point) last; rows before the first step are zeros:

* column 0, ``Δf_k = f_now - f_k``: how much the objective changed since history step ``k``,
  divided by ``max_k |Δf_k|`` over the window;
* column ``1 + i``, ``g_k[i]``: coordinate ``i``'s gradient at step ``k``, divided by
  ``max_k |g_k[i]|``, its own largest magnitude in the window.

Both are scale-free (multiplying the objective by any ``c > 0`` leaves them unchanged) and
lie in ``[-1, 1]`` by construction; a column that is all zeros stays zero. Per-coordinate
scaling is what lets one network drive coordinates whose gradients differ by orders of
magnitude, much as Adam divides by each coordinate's own RMS.

Policy (``CoordinatewisePolicy``): coordinate ``i``'s features are its own gradient column
and the shared objective column (``2H`` numbers); one small MLP maps them to that
coordinate's action, the same weights for every coordinate, so a policy trained on a
10-dimensional problem drives a network with a million parameters. The update is
``update_scale * clip(action, -10, 10)``.

Policy file: ``NAME.safetensors`` (tensors only, no code) plus ``NAME.json`` (history length,
feature settings, update scale, family, training info and the weights file's sha256).
``load_policy`` refuses anything else: a pickle, a file whose hash does not match, or
tensors with unexpected names or shapes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

FORMAT = "raybench-autonomous-policy"
FORMAT_VERSION = 1
FEATURES = "window-maxabs-v1"
"""Name of the feature normalisation above; stored in the metadata and checked on load."""
ACTION_CLIP = 10.0
DEFAULT_HISTORY = 25
DEFAULT_HIDDEN = (32, 32)


class PolicyError(ValueError):
    """A policy file that cannot be used (missing, not safetensors, tampered, wrong shape)."""


# -- features --------------------------------------------------------------------------------
def _maxabs_normalise(x: torch.Tensor, dim: int) -> torch.Tensor:
    scale = x.abs().amax(dim=dim, keepdim=True)
    # An all-zero column stays zero instead of becoming 0/0.
    return torch.where(scale > 0, x / torch.where(scale > 0, scale, torch.ones_like(scale)), torch.zeros_like(x))


def observation(f_hist: torch.Tensor, g_hist: torch.Tensor, count: int) -> torch.Tensor:
    """The normalised ``(H, 1 + n)`` observation from raw histories (see the module docstring).

    Args:
        f_hist: ``(H,)`` objective values, oldest first, the current one last.
        g_hist: ``(H, n)`` gradients at those points.
        count: how many steps have been recorded; only the last ``min(count, H)`` rows count.
    """
    history = f_hist.shape[0]
    valid = torch.arange(history, device=f_hist.device) >= history - min(int(count), history)
    f_now = f_hist[-1]
    df = torch.where(valid, f_now - f_hist, torch.zeros_like(f_hist))
    g = torch.where(valid[:, None], g_hist, torch.zeros_like(g_hist))
    obs = torch.cat([_maxabs_normalise(df, 0)[:, None].to(g.dtype), _maxabs_normalise(g, 0)], dim=1)
    # max-abs scaling can round a hair past 1 only through non-finite input; clamp states the bound.
    return torch.nan_to_num(obs, nan=0.0, posinf=1.0, neginf=-1.0).clamp_(-1.0, 1.0).float()


def coordinate_features(obs: torch.Tensor) -> torch.Tensor:
    """``(..., H, 1 + n)`` observations -> ``(..., n, 2H)`` per-coordinate features.

    Coordinate ``i`` sees its own gradient column and the shared objective column.
    """
    f = obs[..., :, :1].transpose(-1, -2)  # (..., 1, H)
    g = obs[..., :, 1:].transpose(-1, -2)  # (..., n, H)
    return torch.cat([g, f.expand(*g.shape[:-1], f.shape[-1])], dim=-1)


# -- policy network --------------------------------------------------------------------------
class CoordinatewisePolicy(nn.Module):
    """One small MLP applied to every coordinate: ``(..., n, 2H)`` features -> ``(..., n)`` actions."""

    def __init__(self, history: int = DEFAULT_HISTORY, hidden: Sequence[int] = DEFAULT_HIDDEN) -> None:
        super().__init__()
        if int(history) < 1:
            raise ValueError(f"Invalid history length: {history} (must be >= 1)")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ValueError(f"Invalid hidden sizes: {list(hidden)} (need one or more positive ints)")
        self.history = int(history)
        self.hidden = tuple(int(h) for h in hidden)
        layers: list[nn.Module] = []
        width = 2 * self.history
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        # A small last layer starts the policy near "do nothing" rather than near a random walk.
        nn.init.uniform_(self.net[-1].weight, -0.01, 0.01)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)

    def from_observation(self, obs: torch.Tensor) -> torch.Tensor:
        """``self(coordinate_features(obs))`` without materialising the ``(n, 2H)`` features.

        The first layer splits into a per-coordinate part (the gradient column) and a part
        shared by every coordinate (the objective column), computed once: about half the
        work of the first layer, and none of the copying, for a model with many parameters.
        """
        first = self.net[0]
        h = self.history
        g = obs[..., :, 1:].transpose(-1, -2)  # (..., n, H)
        f = obs[..., :, 0]  # (..., H)
        shared = f @ first.weight[:, h:].T + first.bias  # (..., hidden)
        x = g @ first.weight[:, :h].T + shared.unsqueeze(-2)
        return self.net[1:](x).squeeze(-1)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean) from ``(..., H, 1 + n)`` observations, clipped."""
        return self.from_observation(obs).clamp(-ACTION_CLIP, ACTION_CLIP)


# -- policy files ----------------------------------------------------------------------------
def _paths(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(weights, metadata)`` paths of a policy given either file or their common stem."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    if ext not in (".safetensors", ".json"):
        stem = path
    return stem + ".safetensors", stem + ".json"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_policy(policy: CoordinatewisePolicy, path: str | os.PathLike[str], *, update_scale: float,
                info: dict[str, Any] | None = None) -> tuple[str, str]:
    """Write ``policy`` as ``STEM.safetensors`` + ``STEM.json``; returns both paths.

    ``info`` (family, dimension, training settings...) goes into the metadata as ``training``.
    Both files are written to temporary names and renamed, weights first.
    """
    from safetensors.torch import save_file

    weights_path, meta_path = _paths(path)
    os.makedirs(os.path.dirname(os.path.abspath(weights_path)), exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in policy.state_dict().items()}
    tmp = weights_path + ".tmp"
    save_file(tensors, tmp, metadata={"format": FORMAT})
    os.replace(tmp, weights_path)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "history": policy.history, "hidden": list(policy.hidden), "activation": "tanh",
        "features": FEATURES, "action_clip": ACTION_CLIP, "update_scale": float(update_scale),
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        "weights_file": os.path.basename(weights_path), "sha256": _sha256(weights_path),
        "training": dict(info or {}),
    }
    tmp = meta_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    os.replace(tmp, meta_path)
    return weights_path, meta_path


def load_policy(path: str | os.PathLike[str]) -> tuple[CoordinatewisePolicy, dict[str, Any]]:
    """Load a policy written by ``save_policy`` (either file of the pair); raises ``PolicyError``.

    Never unpickles anything: the weights are read with safetensors, after the file's sha256
    was checked against the metadata.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path, meta_path = _paths(path)
    accepted = "a policy exported by `raybench rl train` or `raybench rl export` (NAME.safetensors + NAME.json)"
    if not os.path.isfile(weights_path):
        raise PolicyError(f"policy file {weights_path} not found; expected {accepted}")
    with open(weights_path, "rb") as f:
        head = f.read(8)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise PolicyError(f"refusing {weights_path}: it is a pickle / torch.save file, which can run code "
                          f"when loaded; expected {accepted}")
    if not os.path.isfile(meta_path):
        raise PolicyError(f"policy metadata {meta_path} not found; expected {accepted}")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, not {FORMAT!r}")
        if int(meta.get("format_version", -1)) > FORMAT_VERSION:
            raise ValueError(f"format version {meta['format_version']} is newer than {FORMAT_VERSION}")
        if meta.get("features") != FEATURES:
            raise ValueError(f"features {meta.get('features')!r} unknown; accepted: {FEATURES}")
        history, hidden = int(meta["history"]), [int(h) for h in meta["hidden"]]
        update_scale = float(meta["update_scale"])
        expected_sha = str(meta["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PolicyError(f"bad policy metadata {meta_path}: {exc}") from None
    if not (math.isfinite(update_scale) and update_scale > 0):
        raise PolicyError(f"bad policy metadata {meta_path}: update_scale {update_scale} must be > 0")
    actual_sha = _sha256(weights_path)
    if actual_sha != expected_sha:
        raise PolicyError(f"refusing {weights_path}: its sha256 {actual_sha[:12]}... does not match the "
                          f"metadata's {expected_sha[:12]}... (the file was changed after export)")
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise PolicyError(f"refusing {weights_path}: not a safetensors file ({exc})") from None
    try:
        policy = CoordinatewisePolicy(history, hidden)
    except ValueError as exc:
        raise PolicyError(f"bad policy metadata {meta_path}: {exc}") from None
    expected = {k: list(v.shape) for k, v in policy.state_dict().items()}
    got = {k: list(v.shape) for k, v in tensors.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise PolicyError(f"refusing {weights_path}: tensors do not fit a history-{history} policy with hidden "
                          f"{hidden} (missing {missing}, unexpected {extra}, wrong shape {wrong})")
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise PolicyError(f"refusing {weights_path}: it holds non-finite weights")
    policy.load_state_dict(tensors)
    policy.eval()
    return policy, meta


# -- the optimizer ---------------------------------------------------------------------------
class AutonomousOptimizer(torch.optim.Optimizer):
    """Parameter updates chosen by a learned coordinate-wise policy.

    Each step calls ``closure`` once for the loss and gradients, appends them to every
    parameter's history (the last ``H`` values, as in training), and moves each coordinate
    by ``lr_scale * update_scale * clip(policy(features), -10, 10)``.

    Args:
        params: parameters or parameter groups.
        policy: path of a policy file (``.safetensors`` or its ``.json``) from ``raybench rl``.
        lr_scale: multiplies the policy's own update scale (1.0: as trained).

    Example:
        >>> opt = AutonomousOptimizer(model.parameters(), policy="policy/policy.safetensors")
        >>> opt.step(closure)  # closure: zero grads, loss, backward, return loss
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], policy: str = "",
                 lr_scale: float = 1.0) -> None:
        if not policy:
            raise ValueError("autonomous needs policy=<file>: a policy exported by `raybench rl train` "
                             "(e.g. --hparam autonomous.policy=policy/policy.safetensors)")
        if not (isinstance(lr_scale, int | float) and math.isfinite(lr_scale) and lr_scale > 0):
            raise ValueError(f"Invalid lr_scale: {lr_scale} (must be a finite number > 0)")
        self.policy_net, self.policy_meta = load_policy(policy)
        for p in self.policy_net.parameters():
            p.requires_grad_(False)
        self.history = self.policy_net.history
        self.update_scale = float(self.policy_meta["update_scale"])
        super().__init__(params, {"policy": str(policy), "lr_scale": float(lr_scale)})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise RuntimeError("AutonomousOptimizer needs the loss value: call step(closure) with a closure "
                               "that zeroes the gradients, computes the loss, calls backward() and returns it")
        with torch.enable_grad():
            loss = closure()
        f = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        for group in self.param_groups:
            scale = group["lr_scale"] * self.update_scale
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, f, scale)
        return loss

    def _update(self, p: torch.Tensor, f: float, scale: float) -> None:
        state = self.state[p]
        if not state:
            state["step"] = 0
            # Histories in the parameter's dtype: load_state_dict casts floating state to it anyway,
            # and the RL environment records float32 histories of float32 parameters alike.
            state["f_hist"] = torch.zeros(self.history, dtype=p.dtype, device=p.device)
            state["g_hist"] = torch.zeros(self.history, p.numel(), dtype=p.dtype, device=p.device)
        # Shift the window one row up and append the newest point (oldest-first order). New
        # tensors rather than in-place writes: a state_dict loaded into another optimizer
        # shares these tensors with its source, and must not change when the source steps.
        f_new = torch.full((1,), f, dtype=state["f_hist"].dtype, device=p.device)
        f_hist = state["f_hist"] = torch.cat([state["f_hist"][1:], f_new])
        g_new = p.grad.detach().reshape(1, -1).to(state["g_hist"].dtype)
        g_hist = state["g_hist"] = torch.cat([state["g_hist"][1:], g_new])
        state["step"] += 1
        net = self.policy_net
        if next(net.parameters()).device != p.device:
            net.to(p.device)
        action = net.act(observation(f_hist, g_hist, state["step"]))
        p.add_(action.reshape(p.shape).to(p.dtype), alpha=scale)
