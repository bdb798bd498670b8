"""Optimizers and problems from anywhere: import paths, installed packages' entry points, and
the user's own files shipped to the Ray workers.

- An **import path** ``MODULE:ATTR`` names an optimizer class (a ``torch.optim.Optimizer``
  subclass) or a problem factory (a ``Problem``, or a callable returning one). On the command
  line an optimizer is ``NAME=MODULE:CLASS`` or ``MODULE:CLASS`` (then its name is the class
  name in lower case); in a suite file ``{name, path, hparams, search_space}``. Its
  hyperparameters and their defaults are read from the constructor's signature, its learning
  rate searched over log [1e-5, 1] unless the suite gives a space.
- An installed package adds entries through the entry-point groups ``raybench.optimizers``
  and ``raybench.problems`` (in its ``pyproject.toml``:
  ``[project.entry-points."raybench.optimizers"] lion = "mypkg.optim:Lion"``); they are loaded
  once per process, on the driver and on every worker, the first time a name is missing.
- An import path is registered in the process that reads it (the driver), and the ``RunSpec``
  carries it (``optimizer_path``, ``problem_path``), so a Ray worker registers it the same way
  before its run (``ensure``). Code that lives only on the user's machine reaches the workers
  with ``--py-modules PATH`` (Ray's ``runtime_env``).

Each registry entry says where it comes from (``origin``: "raybench", "entry point" or
"import path", and ``path``); the runs table records the path and the version of the
distribution that provides it. An import path naming the class a registry entry of the same
name already wraps is that entry (``lion=pytorch_optimizer:Lion`` is the zoo's ``lion``); any
other reuse of a name is an error.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

from raybench.errors import UsageError

if TYPE_CHECKING:
    from raybench.spec import RunSpec

OPTIMIZER_GROUP = "raybench.optimizers"
"""Entry-point group of installed packages' optimizers (a class, or an ``OptimizerSpec``);
problems' is ``problems.base.ENTRY_POINT_GROUP``."""

DEFAULT_LR_SPACE = {"lr": {"min": 1e-5, "max": 1.0, "scaling": "log"}}
"""The learning-rate search space of an import-path optimizer whose suite entry gives none."""

IMPLEMENTATION_SWITCHES = frozenset({"foreach", "fused", "capturable", "differentiable"})
"""torch.optim constructor arguments that choose an implementation, not an algorithm: left at
their defaults and not made hyperparameters (columns) of an import-path optimizer."""


def split(text: str) -> tuple[str | None, str | None]:
    """``"adam"`` -> ``("adam", None)``; ``"lion=pkg:Lion"`` -> ``("lion", "pkg:Lion")``;
    ``"pkg.mod:NAdam"`` -> ``(None, "pkg.mod:NAdam")`` (the name comes from the class)."""
    name, sep, path = text.partition("=")
    if sep:
        if not name or ":" not in path:
            raise UsageError(f"bad entry {text!r}; accepted: NAME, NAME=MODULE:ATTR or MODULE:ATTR")
        return name.strip(), path.strip()
    if ":" in text:
        return None, text.strip()
    return text.strip(), None


def load(path: str, what: str) -> Any:
    """The object at ``MODULE:ATTR``; a ``UsageError`` naming what failed and what is accepted."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"bad {what} import path {path!r}; accepted: MODULE:ATTR, e.g. torch.optim:NAdam")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix, in one line
        raise UsageError(f"{what} {path!r}: module {module_name!r} does not import ({type(exc).__name__}: "
                         f"{_first_line(exc)}); accepted: an installed module, or a file or package "
                         "given with --py-modules") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{what} {path!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


@functools.cache
def distribution_version(module_name: str) -> str | None:
    """The version of the installed distribution providing top-level module ``module_name``
    (``None`` for a module that is not installed, e.g. one shipped with ``--py-modules``)."""
    top = module_name.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def path_version(path: str | None) -> str | None:
    return distribution_version(path.partition(":")[0]) if path else None


# -- optimizers --------------------------------------------------------------------------------
def optimizer_from_class(name: str, cls: Any, path: str, *, origin: str,
                         search_space: dict[str, Any] | None = None, description: str | None = None) -> Any:
    """An ``OptimizerSpec`` for optimizer class ``cls``: defaults from its constructor."""
    import torch

    from raybench import optimizers

    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise UsageError(f"optimizer {path!r} is {_kind(cls)}, not a torch.optim.Optimizer subclass; "
                         "accepted: MODULE:CLASS of an optimizer class")
    from raybench import schedules

    # An argument named like a schedule hyperparameter (``warmup``, ...) stays at the class's
    # default: on the command line that name means the run's learning-rate schedule.
    defaults = {k: v for k, v in constructor_defaults(cls).items() if k not in schedules.DEFAULTS}
    space = dict(search_space) if search_space is not None else (dict(DEFAULT_LR_SPACE) if "lr" in defaults else {})
    for key, dim in space.items():
        if not isinstance(dim, dict) or not {"min", "max"} <= set(dim) or not 0 < dim["min"] < dim["max"]:
            raise UsageError(f"bad search space for {name}.{key}: {dim!r}; accepted: "
                             "{min: LOW, max: HIGH, scaling: log|linear} with 0 < LOW < HIGH")
        if key not in defaults:
            raise UsageError(f"search space for {name}.{key}, which {path} does not take; "
                             f"accepted: {', '.join(sorted(defaults))}")
    return optimizers.OptimizerSpec(
        name, description or f"{cls.__name__} from {path}", cls, defaults, space,
        origin=origin, path=path)


def _kind(obj: Any) -> str:
    return f"a {type(obj).__name__}" if not isinstance(obj, type) else f"the class {obj.__name__}"


def constructor_defaults(cls: type) -> dict[str, Any]:
    """The keyword arguments of ``cls(params, ...)`` that have a value a command line can set:
    numbers, booleans, strings and tuples of numbers. Those defaulting to ``None`` or an
    object, ``*args``/``**kwargs`` and torch's implementation switches are left out (they stay
    at the class's default)."""
    sig = inspect.signature(cls.__init__)
    out: dict[str, Any] = {}
    for i, p in enumerate(list(sig.parameters.values())[1:]):  # [0] is self
        if i == 0 or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in IMPLEMENTATION_SWITCHES:
            continue  # the first is the parameters
        d = p.default
        if d is p.empty or d is None:
            continue
        if isinstance(d, bool | int | float | str) or (
                isinstance(d, tuple) and d and all(isinstance(x, int | float) and not isinstance(x, bool) for x in d)):
            out[p.name] = d
        elif hasattr(d, "item") and getattr(d, "ndim", 1) == 0:  # a 0-d tensor default, e.g. lr
            out[p.name] = float(d.item())
    return out


def use_optimizer(name: str | None, path: str, *, search_space: dict[str, Any] | None = None) -> str:
    """Register the optimizer at import path ``path`` under ``name`` (default: the class name in
    lower case) in this process; returns the name. A registry entry of that name with the same
    path is that entry; with another path, a ``UsageError``."""
    from raybench import optimizers

    cls = load(path, "optimizer")
    name = name or getattr(cls, "__name__", "").lower()
    existing = optimizers.REGISTRY.get(name)
    if existing is not None:
        if existing.path == path:
            return name
        raise UsageError(f"optimizer name {name!r} is used twice: {existing.path or existing.description} "
                         f"and {path}; give one another name, e.g. my{name}={path}")
    optimizers.register(optimizer_from_class(name, cls, path, origin="import path", search_space=search_space))
    return name


# -- problems ----------------------------------------------------------------------------------
def problem_from(obj: Any, path: str) -> Any:
    """The ``Problem`` that ``obj`` (a ``Problem``, or a callable returning one) stands for."""
    from raybench import problems

    made = obj
    if not isinstance(obj, problems.Problem) and callable(obj):
        try:
            made = obj()
        except Exception as exc:  # noqa: BLE001 - the user's factory, reported in one line
            raise UsageError(f"problem {path!r}: calling it raised {type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(made, problems.Problem):
        raise UsageError(f"problem {path!r} gave {_kind(made)}, not a problems.Problem; accepted: "
                         "MODULE:ATTR of a Problem or of a callable returning one")
    return made


def use_problem(path: str) -> str:
    """Register the problem at import path ``path`` in this process; returns its name."""
    import dataclasses

    from raybench import problems

    made = problem_from(load(path, "problem"), path)
    existing = problems.REGISTRY.get(made.name)
    if existing is not None:
        if getattr(existing, "path", None) == path:
            return made.name
        raise UsageError(f"problem name {made.name!r} is used twice: the registry's {made.name} and {path}; "
                         "give the Problem another name")
    problems.register(dataclasses.replace(made, origin="import path", path=path))
    return made.name


# -- entry points and workers ------------------------------------------------------------------
_loaded_entry_points = False


def load_entry_points() -> None:
    """Register every installed package's ``raybench.optimizers`` / ``raybench.problems`` entry
    (once per process). A broken entry is a warning naming it, not the end of every command."""
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    from raybench import optimizers, problems

    for ep in metadata.entry_points(group=OPTIMIZER_GROUP):
        if ep.name in optimizers.REGISTRY:
            continue
        try:
            obj = ep.load()
            if isinstance(obj, optimizers.OptimizerSpec):
                import dataclasses

                spec = dataclasses.replace(obj, name=ep.name, origin="entry point", path=obj.path or ep.value)
            else:
                spec = optimizer_from_class(ep.name, obj, ep.value, origin="entry point",
                                            description=f"{getattr(obj, '__name__', ep.value)} from {_dist(ep)}")
            optimizers.register(spec)
        except Exception as exc:  # noqa: BLE001
            print(f"raybench: warning: entry point {OPTIMIZER_GROUP}:{ep.name} = {ep.value} not loaded: "
                  f"{_first_line(exc)}", file=sys.stderr)
    problems.load_entry_points()


def _dist(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ep.value


def ensure(spec: RunSpec) -> None:
    """Make ``spec``'s problem and optimizer known in this process (a Ray worker): register
    its import paths, or load the entry points, as the driver did."""
    from raybench import optimizers, problems

    if spec.problem_path and spec.problem not in problems.REGISTRY:
        use_problem(spec.problem_path)
    if spec.optimizer_path and spec.optimizer not in optimizers.REGISTRY:
        use_optimizer(spec.optimizer, spec.optimizer_path)
    if spec.problem not in problems.REGISTRY or spec.optimizer not in optimizers.REGISTRY:
        load_entry_points()


def add_module_paths(paths: list[str]) -> list[str]:
    """``--py-modules``: each a ``.py`` file or a package folder, made importable in this
    process (its folder put on ``sys.path``); returns their absolute paths for Ray's
    ``runtime_env["py_modules"]``, which ships them to every worker."""
    out = []
    for given in paths:
        path = os.path.abspath(os.path.expanduser(given))
        is_module = os.path.isfile(path) and path.endswith(".py")
        is_package = os.path.isdir(path) and os.path.isfile(os.path.join(path, "__init__.py"))
        if not (is_module or is_package):
            raise UsageError(f"--py-modules {given}: not a .py file or a package folder (with __init__.py)")
        parent = os.path.dirname(path)
        if parent not in sys.path:
            sys.path.insert(0, parent)
        out.append(path)
    return out
