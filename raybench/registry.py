"""Names: the one place where a name becomes a problem or an optimizer.

A ``Registry`` maps names to entries (``raybench.problems.REGISTRY``,
``raybench.optimizers.REGISTRY``). ``get`` takes every spelling a user may type and resolves it
in one lookup:

- a registered name (``"adam"``, ``"quadratic"``);
- an import path ``MODULE:ATTR`` (its name is the entry's own: for an optimizer class, the class
  name in lower case) or ``NAME=MODULE:ATTR``, loaded and registered on first use;
- a name given by an installed package's entry point in the registry's group
  (``[project.entry-points."raybench.optimizers"] lion = "mypkg.optim:Lion"``), loaded the
  first time a name is missing.

An import path naming what a registry entry of that name already is (``lion=pytorch_optimizer:
Lion`` is the zoo's ``lion``) is that entry; any other reuse of a name is an error.

Typed values: an ``Option`` is a default with its type, range and choices, and ``coerce`` turns
what a command line or a YAML file gives into that type. Problem options and optimizer
hyperparameters both use it, so a value means the same thing in both places.
``signature_options`` reads options from a callable's signature, so that a registry entry
states only what it changes from the library's defaults.

This module imports nothing of raybench and not torch: every layer can use it. Its user errors
are of the class a caller gives (``error=``; ``RegistryError`` by default), one line each.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Generic, Protocol, TypeVar


class RegistryError(ValueError):
    """A name, import path or value a user gave that the registry cannot accept."""


# -- typed values ------------------------------------------------------------------------------
_KIND_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


@dataclasses.dataclass(frozen=True)
class Option:
    """A value as data: its default, its type and what it accepts.

    ``kind`` is ``int``, ``float`` (integers accepted), ``bool``, ``str``, ``tuple`` (of numbers,
    as many as the default has; ``"0.9,0.99"`` on a command line) or ``None`` (anything); left
    out, it is the default's type. A ``None`` default makes the option ``nullable``.

    **Infinity and NaN.** ``nan`` is refused everywhere: no range check can catch it (every
    comparison with it is false) and no optimizer or problem means anything by it. ``inf`` (and
    ``-inf``) is refused unless the option accepts it (``allow_inf``), which an infinite default
    implies: Prodigy's ``growth_rate`` is unbounded by default, and ``inf`` is how one says so.
    Elsewhere an infinite learning rate or scale is a typo that would only surface as a diverged
    run, so it is a one-line error before any run instead.
    """

    default: Any
    kind: type | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    """A strict lower bound (``value > above``), e.g. 0 for a scale."""
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    """``None`` is accepted too (e.g. ``batch_size=None``: full batch)."""
    allow_inf: bool = False

    def __post_init__(self) -> None:
        if self.kind is None and self.default is not None:
            object.__setattr__(self, "kind", type(self.default))
        if self.default is None:
            object.__setattr__(self, "nullable", True)
        if _infinite(self.default):
            object.__setattr__(self, "allow_inf", True)

    def accepted(self) -> str:
        """What this option accepts, in words (for the one-line errors)."""
        if self.choices is not None:
            text = ", ".join(map(str, self.choices))
        elif self.kind is None:
            return "any value"
        elif self.kind is tuple:
            example = ",".join(map(str, self.default))
            text = f"{len(self.default)} numbers separated by commas, like {example}"
        else:
            text = _KIND_WORDS.get(self.kind, self.kind.__name__)
            if self.min is not None and self.max is not None:
                text += f" in [{self.min:g}, {self.max:g}]"
            elif self.min is not None:
                text += f" >= {self.min:g}"
            elif self.above is not None:
                text += f" > {self.above:g}"
            elif self.max is not None:
                text += f" <= {self.max:g}"
            if self.kind is float and self.allow_inf:
                text += " or inf"
        return text + (" or null" if self.nullable else "")

    def coerce(self, value: Any) -> Any:
        """``value`` in this option's type; ``ValueError`` when it is not accepted."""
        if value is None or (self.nullable and isinstance(value, str) and value.lower() in ("none", "null")):
            if self.nullable:
                return None
            raise ValueError("null not accepted")
        out = _coerce_kind(self.kind, value, self.default, self.allow_inf)
        if self.choices is not None and out not in self.choices:
            raise ValueError("not a choice")
        if (self.min is not None and out < self.min) or (self.max is not None and out > self.max) \
                or (self.above is not None and out <= self.above):
            raise ValueError("out of range")
        return out


def _infinite(value: Any) -> bool:
    return isinstance(value, float) and math.isinf(value)


def _coerce_kind(kind: type | None, value: Any, default: Any, allow_inf: bool) -> Any:
    if kind is None:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in (*_TRUE, *_FALSE):
            return value.lower() in _TRUE
        raise ValueError("not a bool")
    if kind is int or kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("not a number")
        number = float(value)
        if math.isnan(number) or (math.isinf(number) and not (kind is float and allow_inf)):
            raise ValueError("not finite")
        if kind is int:
            if not number.is_integer():
                raise ValueError("not an integer")
            return int(number)
        return number
    if kind is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise ValueError("not text")
        return value
    if kind is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        if len(items) != len(default):
            raise ValueError("wrong length")
        return tuple(_coerce_kind(type(d), v.strip() if isinstance(v, str) else v, d, _infinite(d))
                     for d, v in zip(default, items, strict=True))
    if isinstance(value, kind):
        return value
    raise ValueError(f"not a {kind.__name__}")


IMPLEMENTATION_SWITCHES = frozenset({"foreach", "fused", "capturable", "differentiable", "maximize"})
"""torch.optim constructor arguments that choose an implementation (or, ``maximize``, flip the
objective a problem defines), not an algorithm: left at the library's default, never options."""


def signature_options(func: Callable[..., Any]) -> dict[str, Option]:
    """The keyword arguments of ``func(first, ...)`` (a class: its constructor) that a command
    line can set, as ``Option``s: numbers, booleans, text and tuples of numbers. The first
    argument (an optimizer's parameters), ``*args``/``**kwargs``, arguments without a default or
    defaulting to ``None`` or to an object (or a tuple holding one) and
    ``IMPLEMENTATION_SWITCHES`` are left out: they stay at the callable's default.

    The annotation refines the default: an integer default of an argument annotated ``float``
    (``weight_decay: float = 0``) is a float, ``X | None`` makes it nullable, and
    ``Literal[...]`` gives its choices. A 0-d tensor default (torch's ``lr``) is a float.
    """
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return {}
    out: dict[str, Option] = {}
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in IMPLEMENTATION_SWITCHES:
            continue
        default = p.default
        if hasattr(default, "item") and getattr(default, "ndim", 1) == 0:  # a 0-d tensor
            default = float(default.item())
        if default is p.empty or default is None or not _settable(default):
            continue
        text = p.annotation if isinstance(p.annotation, str) else \
            ("" if p.annotation is p.empty else inspect.formatannotation(p.annotation))
        if type(default) is int and re.search(r"\bfloat\b", text) and not re.search(r"\bint\b", text):
            default = float(default)
        choices = None
        literal = re.search(r"Literal\[([^\]]*)\]", text)
        if literal:
            try:
                choices = tuple(ast.literal_eval(f"({literal.group(1)},)"))
            except (ValueError, SyntaxError):
                choices = None
        nullable = bool(re.search(r"\bNone\b|Optional\[", text))
        out[p.name] = Option(default, choices=choices, nullable=nullable)
    return out


def _settable(value: Any) -> bool:
    if isinstance(value, bool | int | float | str):
        return True
    return isinstance(value, tuple) and bool(value) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value)


def signature_defaults(func: Callable[..., Any]) -> dict[str, Any]:
    """``signature_options(func)``'s defaults: what a registry entry need not state."""
    return {name: option.default for name, option in signature_options(func).items()}


# -- import paths ------------------------------------------------------------------------------
def split(text: str, *, error: type[Exception] = RegistryError) -> tuple[str | None, str | None]:
    """``"adam"`` -> ``("adam", None)``; ``"lion=pkg:Lion"`` -> ``("lion", "pkg:Lion")``;
    ``"pkg.mod:NAdam"`` -> ``(None, "pkg.mod:NAdam")`` (the name comes from what it loads)."""
    name, sep, path = text.partition("=")
    if sep:
        if not name.strip() or ":" not in path:
            raise error(f"bad entry {text!r}; accepted: NAME, NAME=MODULE:ATTR or MODULE:ATTR")
        return name.strip(), path.strip()
    if ":" in text:
        return None, text.strip()
    return text.strip(), None


def load(path: str, what: str, *, error: type[Exception] = RegistryError) -> Any:
    """The object at ``MODULE:ATTR``; an ``error`` naming what failed and what is accepted."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise error(f"bad {what} import path {path!r}; accepted: MODULE:ATTR, e.g. torch.optim:NAdam")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix, in one line
        raise error(f"{what} {path!r}: module {module_name!r} does not import ({type(exc).__name__}: "
                    f"{first_line(exc)}); accepted: an installed module, or a file or package "
                    "given with --py-modules") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise error(f"{what} {path!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (for one-line errors)."""
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
    """The version of the distribution providing import path ``path``'s module, if installed."""
    return distribution_version(path.partition(":")[0]) if path else None


def add_module_paths(paths: list[str], *, error: type[Exception] = RegistryError) -> list[str]:
    """``--py-modules``: each a ``.py`` file or a package folder, made importable in this
    process (its folder put on ``sys.path``); returns their absolute paths for Ray's
    ``runtime_env["py_modules"]``, which ships them to every worker."""
    out = []
    for given in paths:
        path = os.path.abspath(os.path.expanduser(given))
        is_module = os.path.isfile(path) and path.endswith(".py")
        is_package = os.path.isdir(path) and os.path.isfile(os.path.join(path, "__init__.py"))
        if not (is_module or is_package):
            raise error(f"--py-modules {given}: not a .py file or a package folder (with __init__.py)")
        parent = os.path.dirname(path)
        if parent not in sys.path:
            sys.path.insert(0, parent)
        out.append(path)
    return out


# -- the registry ------------------------------------------------------------------------------
class Entry(Protocol):
    name: str
    path: str | None


E = TypeVar("E", bound=Entry)

Adopt = Callable[..., E]
"""``adopt(obj, *, name, path, origin, source, **extra) -> entry``: the entry that ``obj``
(loaded from ``path``) stands for; ``name`` is ``None`` when the user gave none (the entry's
own), ``origin`` "import path" or "entry point", ``source`` says where it came from in words
(the path, or the distribution and its version); ``extra`` is what ``get`` was given."""


class Registry(Generic[E]):
    """Name -> entry, for one kind of thing (``kind``: "problem", "optimizer").

    The mapping protocol (``in``, ``[]``, iteration, ``del``) sees what this process has
    registered; ``get`` also resolves import paths and entry points (``group``), loading them on
    first need. ``adopt`` turns a loaded object into an entry; ``error`` is the class of the
    one-line errors a user can cause.
    """

    def __init__(self, kind: str, *, group: str | None, adopt: Adopt,
                 error: type[Exception] = RegistryError) -> None:
        self.kind = kind
        self.group = group
        self.error = error
        self._adopt = adopt
        self._entries: dict[str, E] = {}
        self._by_path: dict[str, str] = {}
        self._entry_points_loaded = False

    # mapping protocol: the entries registered in this process
    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> E:
        return self._entries[name]

    def __setitem__(self, name: str, entry: E) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> Any:
        return self._entries.keys()

    def values(self) -> Any:
        return self._entries.values()

    def items(self) -> Any:
        return self._entries.items()

    def pop(self, name: str, *default: Any) -> Any:
        return self._entries.pop(name, *default)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def register(self, entry: E) -> E:
        """Add ``entry`` under its name; a name registered twice is a programming error."""
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} registered twice")
        self._entries[entry.name] = entry
        return entry

    def get(self, text: str, **extra: Any) -> E:
        """The entry ``text`` names: a name, ``MODULE:ATTR`` or ``NAME=MODULE:ATTR`` (registered
        on first use; ``extra`` goes to ``adopt``), or an installed package's entry point."""
        found = self._entries.get(text)
        if found is not None:
            return found
        name, path = split(text, error=self.error)
        if path is not None:
            return self._from_path(name, path, extra)
        if name not in self._entries:
            self.load_entry_points()
        try:
            return self._entries[str(name)]
        except KeyError:
            raise self.error(f"unknown {self.kind} {name!r}; accepted: {', '.join(self._entries)}, "
                             "or MODULE:ATTR") from None

    def _from_path(self, name: str | None, path: str, extra: dict[str, Any]) -> E:
        known = name if name is not None else self._by_path.get(path)
        if known is not None and known in self._entries:
            return self._same_or_clash(self._entries[known], path)
        entry = self._adopt(load(path, self.kind, error=self.error), name=name, path=path,
                            origin="import path", source=path, **extra)
        existing = self._entries.get(entry.name)
        if existing is not None:
            entry = self._same_or_clash(existing, path)
        else:
            self.register(entry)
        if name is None:
            self._by_path[path] = entry.name
        return entry

    def _same_or_clash(self, existing: E, path: str) -> E:
        if existing.path == path:
            return existing
        raise self.error(f"{self.kind} name {existing.name!r} is used twice: "
                         f"{existing.path or 'the registry entry'} and {path}; give one another name, "
                         f"e.g. my{existing.name}={path}")

    def load_entry_points(self) -> None:
        """Register every installed package's entry in ``group`` (once per process; ``get``
        calls it on a miss). A broken entry is a warning naming it, not the end of every command."""
        if self.group is None or self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._entries:
                continue
            try:
                dist = getattr(ep, "dist", None)
                source = f"{dist.name} {dist.version}" if dist is not None else ep.value
                entry = self._adopt(ep.load(), name=ep.name, path=ep.value, origin="entry point", source=source)
                if entry.name not in self._entries:
                    self.register(entry)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break every command
                print(f"raybench: warning: entry point {self.group}:{ep.name} = {ep.value} not loaded: "
                      f"{type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
