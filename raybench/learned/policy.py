"""The learned policy: its network and its weights-only file format.

Network (``CoordinatewisePolicy``): coordinate ``i``'s features are the rows of its own column
and of the shared objective column that the policy's input groups fill
(``raybench.learned.features.Layout``: gradient window, momenta, objective window); one small
MLP maps them to that coordinate's action, the same weights for every coordinate, so a
policy trained on a 10-dimensional problem drives a network with a million parameters.
An action is a number in ``[-ACTION_CLIP, ACTION_CLIP]`` per coordinate.

File: ``NAME.safetensors`` (tensors only, no code) plus ``NAME.json`` (history length, hidden
sizes, feature layout and input groups, update scale, family, training info and the weights
file's sha256). ``read_policy`` refuses anything else: a pickle, a file whose hash does not
match, another format version, other features or unknown input groups, tensors with
unexpected names or shapes (one format version, one feature layout: files of unreleased
development builds are refused, not converted). ``load_policy`` is ``read_policy`` behind a small
cache: a file that has not changed since it was last loaded is neither re-read nor re-hashed
(resolving an optimizer's hyperparameters and building it each load the policy).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from raybench.learned.features import FEATURES, FEATURES_V1, Layout, columns, parse_inputs

FORMAT = "raybench-autonomous-policy"
FORMAT_VERSION = 1
ACTION_CLIP = 10.0
"""Actions (and so updates, in units of the update scale) are clipped to +-ACTION_CLIP."""
DEFAULT_HISTORY = 25
DEFAULT_HIDDEN = (32, 32)
CACHE_SIZE = 8
"""Policies ``load_policy`` keeps in memory (most recently used first)."""


class PolicyError(ValueError):
    """A policy file that cannot be used (missing, not safetensors, tampered, wrong shape)."""


class CoordinatewisePolicy(nn.Module):
    """One small MLP applied to every coordinate: ``(..., n, layout.width)`` features -> ``(..., n)`` actions.

    Args:
        history: ``H``, the steps of the window it observes.
        hidden: hidden layer widths.
        inputs: input groups (``raybench.learned.features.GROUPS``); ``None``: all of them.
    """

    def __init__(self, history: int = DEFAULT_HISTORY, hidden: Sequence[int] = DEFAULT_HIDDEN, *,
                 inputs: Sequence[str] | str | None = None) -> None:
        super().__init__()
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ValueError(f"Invalid hidden sizes: {list(hidden)} (need one or more positive ints)")
        self.layout = Layout(history, None if inputs is None else parse_inputs(inputs))
        self.history = self.layout.history
        self.hidden = tuple(int(h) for h in hidden)
        layers: list[nn.Module] = []
        width = self.layout.width
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
        """``self(coordinate_features(obs, self.layout))`` without materialising the features.

        The first layer splits into a per-coordinate part (the coordinate's own column) and a
        part shared by every coordinate (the objective column), computed once: less work in
        the first layer, and none of the copying, for a model with many parameters.
        """
        if obs.shape[-2] != self.layout.rows:
            raise ValueError(f"observation has {obs.shape[-2]} rows; this policy's ({self.layout.features}, "
                             f"history {self.history}) has {self.layout.rows}")
        first = self.net[0]
        f, g = columns(obs)  # (..., R), (..., n, R)
        f, g = f[..., self.layout.shared], g[..., self.layout.own]
        k = g.shape[-1]
        shared = f @ first.weight[:, k:].T + first.bias  # (..., hidden)
        x = g @ first.weight[:, :k].T + shared.unsqueeze(-2)
        return self.net[1:](x).squeeze(-1)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean) from ``(..., R, 1 + n)`` observations, clipped."""
        return self.from_observation(obs).clamp(-ACTION_CLIP, ACTION_CLIP)


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedPolicy:
    """A policy read from its file: what ``AutonomousOptimizer`` is built from.

    ``load_policy`` hands the same object to everyone who loads the same unchanged file, so
    treat it as read-only: its network is in eval mode with ``requires_grad`` off.
    """

    network: CoordinatewisePolicy
    update_scale: float
    """Parameter change per unit of action, as in training."""
    metadata: dict[str, Any]
    """The ``.json`` file's contents (format, shapes, sha256, ``training`` facts)."""
    path: str
    """Absolute path of the weights file."""

    @property
    def history(self) -> int:
        return self.network.history

    @property
    def layout(self) -> Layout:
        return self.network.layout


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
        "features": policy.layout.features, "inputs": list(policy.layout.groups), "action_clip": ACTION_CLIP, "update_scale": float(update_scale),
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        "weights_file": os.path.basename(weights_path), "sha256": _sha256(weights_path),
        "training": dict(info or {}),
    }
    tmp = meta_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    os.replace(tmp, meta_path)
    return weights_path, meta_path


def read_policy(path: str | os.PathLike[str]) -> LoadedPolicy:
    """Read and check a policy written by ``save_policy`` (either file of the pair), uncached.

    Never unpickles anything: the weights are read with safetensors, after the file's sha256
    was checked against the metadata. Raises ``PolicyError`` naming the file and what is accepted.
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
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format version {meta.get('format_version')!r}; this raybench reads "
                             f"version {FORMAT_VERSION} only")
        features = meta.get("features")
        if features == FEATURES_V1:
            raise ValueError(f"features {features} are those of a development build before input groups, "
                             f"no longer read; accepted: {FEATURES} (train the policy again)")
        if features != FEATURES:
            raise ValueError(f"features {features!r} unknown; accepted: {FEATURES}")
        inputs = meta.get("inputs")
        if not isinstance(inputs, list):
            raise ValueError(f"inputs {inputs!r}; expected a list of input groups")
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
        network = CoordinatewisePolicy(history, hidden, inputs=inputs)
    except ValueError as exc:
        raise PolicyError(f"bad policy metadata {meta_path}: {exc}") from None
    expected = {k: list(v.shape) for k, v in network.state_dict().items()}
    got = {k: list(v.shape) for k, v in tensors.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise PolicyError(f"refusing {weights_path}: tensors do not fit a history-{history} policy with hidden "
                          f"{hidden} and inputs {','.join(network.layout.groups)} (missing {missing}, "
                          f"unexpected {extra}, wrong shape {wrong})")
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise PolicyError(f"refusing {weights_path}: it holds non-finite weights")
    network.load_state_dict(tensors)
    network.eval()
    network.requires_grad_(False)
    return LoadedPolicy(network, update_scale, meta, os.path.abspath(weights_path))


_cache: collections.OrderedDict[str, tuple[tuple[tuple[int, int, int], ...], LoadedPolicy]] = \
    collections.OrderedDict()
_cache_lock = threading.Lock()


def _stamp(*paths: str) -> tuple[tuple[int, int, int], ...] | None:
    """What tells a changed file from an unchanged one without reading it: inode, size, mtime.

    The inode catches a rewrite within the file system's mtime granularity, since
    ``save_policy`` writes a new file and renames it over the old one.
    """
    try:
        stats = [os.stat(p) for p in paths]
    except OSError:
        return None
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def load_policy(path: str | os.PathLike[str]) -> LoadedPolicy:
    """``read_policy(path)``, or the policy read before if neither file changed since.

    A file is unchanged when its path, inode, size and modification time (of both the weights
    and the metadata) are those of the last read. Errors are never cached.
    """
    weights_path, meta_path = _paths(path)
    key = os.path.abspath(weights_path)
    # Stamped before reading: a file that changes while it is read is read again next time.
    stamp = _stamp(weights_path, meta_path)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and stamp is not None and hit[0] == stamp:
            _cache.move_to_end(key)
            return hit[1]
    loaded = read_policy(path)
    if stamp is not None:
        with _cache_lock:
            _cache[key] = (stamp, loaded)
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return loaded
