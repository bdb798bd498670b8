"""The options commands share, built in one place: same spelling, same help, same default.

Every command that takes them adds them from here (``raybench run``, ``multi-init``, ``rl``,
``reproduce``), and resolves what a user named with ``resolve``: ``--py-modules`` made
importable, then each problem and optimizer text (a registry name, ``MODULE:ATTR`` or
``NAME=MODULE:ATTR``) looked up once in ``raybench.registry``'s registries. Defaults are read
from ``raybench.defaults``; nothing here imports torch or Ray, so ``raybench --help`` stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from raybench import defaults

Parser = argparse.ArgumentParser | argparse._ArgumentGroup

NAMED = "a registry name (raybench list), MODULE:ATTR or NAME=MODULE:ATTR (a module of yours: --py-modules)"
"""What a problem or optimizer argument accepts, in the help of every command."""


# -- what to run --------------------------------------------------------------------------------
def add_problem(p: Parser, flag: str = "--problem", *, many: bool = False, what: str = "problem",
                required: bool = False, more: str = "") -> None:
    """A problem argument (``many``: a comma-separated list), accepting every spelling ``NAMED``."""
    head = f"{what}s, comma-separated, each" if many else f"the {what}:"
    p.add_argument(flag, required=required, help=f"{head} {NAMED}{more}")


def add_optimizer(p: Parser, flag: str = "--optimizer", *, many: bool = False, required: bool = False,
                  more: str = "") -> None:
    """An optimizer argument (``many``: a comma-separated list), accepting every spelling ``NAMED``."""
    head = "optimizers, comma-separated, each" if many else "the optimizer:"
    p.add_argument(flag, required=required, help=f"{head} {NAMED}{more}")


def add_option(p: Parser) -> None:
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="problem option, e.g. dataset=mnist_subset (repeatable)")


def add_hparam(p: Parser) -> None:
    p.add_argument("--hparam", action="append", default=[], metavar="OPT.NAME=VALUE",
                   help="optimizer hyperparameter, e.g. adam.lr=0.01 (repeatable)")


def add_py_modules(p: Parser) -> None:
    p.add_argument("--py-modules", action="append", default=[], metavar="PATH",
                   help="a .py file or package folder of yours (e.g. an optimizer or problem named by import "
                        "path) to ship to every Ray worker (repeatable)")


def add_tune_samples(p: Parser) -> None:
    p.add_argument("--tune-samples", type=int, default=defaults.TUNE_SAMPLES,
                   help=f"learning rates tried per (problem, optimizer) pair with --tune-lr "
                        f"(default {defaults.TUNE_SAMPLES})")


def add_tune_extra(p: Parser) -> None:
    p.add_argument("--tune-extra", type=int, default=defaults.TUNE_EXTRA, metavar="N",
                   help="learning-rate search: values tried past a grid's edge when the winner is on it, at most "
                        f"N per pair (default {defaults.TUNE_EXTRA}; 0: none)")


def add_eval_every(p: Parser) -> None:
    p.add_argument("--eval-every", type=int, metavar="N",
                   help="evaluate on validation every N steps (default: each problem's own spacing); denser "
                        "evaluations resolve steps to target more finely (a claim the spacing cannot resolve "
                        "reads 'unresolved at this evaluation interval')")


# -- where and how ------------------------------------------------------------------------------
def add_out(p: Parser, *, uri: bool = False, help: str | None = None) -> None:
    """``--out``: a results folder (``uri``: an s3:// or gs:// URI too); ``help`` for another kind of folder."""
    where = "local, or an s3:// or gs:// URI" if uri else "local or shared filesystem"
    p.add_argument("--out", required=True, help=help or f"results folder ({where})")


def add_address(p: Parser) -> None:
    p.add_argument("--address", help="join this Ray cluster (default: start an embedded local Ray)")


def add_resume(p: Parser) -> None:
    p.add_argument("--resume", action="store_true",
                   help="complete what an interrupted command left in --out, redoing nothing finished")


def add_pending_timeout(p: Parser) -> None:
    p.add_argument("--pending-timeout", type=float, default=defaults.PENDING_TIMEOUT_S, metavar="S",
                   help="on a cluster that cannot yet meet the CPUs and GPUs asked per run or trial, wait this "
                        f"long for its autoscaler before stopping (default {defaults.PENDING_TIMEOUT_S:g})")


def add_max_retries(p: Parser) -> None:
    p.add_argument("--max-retries", type=int, default=defaults.MAX_RETRIES, metavar="N",
                   help=f"times a run is redone when its worker process or node dies (default {defaults.MAX_RETRIES})")


def add_no_progress(p: Parser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bars or per-round lines")


# -- resolving what was named -------------------------------------------------------------------
def split(text: str | None) -> list[str]:
    """A comma-separated argument as its items (blanks dropped)."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def check_py_modules(paths: Sequence[str]) -> list[str] | None:
    """``--py-modules``: their absolute paths (checked: a ``.py`` file or a package folder), made
    importable here; ``None`` when none is given (what ``init_ray(py_modules=...)`` takes)."""
    if not paths:
        return None
    from raybench import registry
    from raybench.errors import UsageError

    return registry.add_module_paths(list(paths), error=UsageError)


@dataclasses.dataclass(frozen=True)
class Named:
    """What a command's arguments named, resolved once (``resolve``)."""

    py_modules: list[str] | None
    """``--py-modules`` as absolute paths, for ``init_ray`` / ``start_ray``; ``None``: none."""
    problems: list[Any]
    """The problem entries (``raybench.problems.Problem``), in the order given."""
    optimizers: list[Any]
    """The optimizer entries (``raybench.optimizers.OptimizerSpec``), in the order given."""


def resolve(py_modules: Sequence[str] = (), *, problems: Sequence[str] = (),
            optimizers: Sequence[str] = ()) -> Named:
    """Apply ``--py-modules``, then look each problem and optimizer text up once (an import path
    is registered in this process on first use); the one-line errors of the registries."""
    paths = check_py_modules(py_modules)
    found_problems: list[Any] = []
    found_optimizers: list[Any] = []
    if problems:
        from raybench import problems as registry

        found_problems = [registry.get(text) for text in problems]
    if optimizers:
        from raybench import optimizers as registry_o

        found_optimizers = [registry_o.get(text) for text in optimizers]
    return Named(paths, found_problems, found_optimizers)


def spelling(entry: Any) -> str:
    """The text that names ``entry`` in another process (a Ray worker): ``NAME=MODULE:ATTR`` for an
    entry the user named by import path (registered there on first use), else its name."""
    return f"{entry.name}={entry.path}" if entry.origin == "import path" else entry.name
