"""The ``raybench`` command line.

    raybench list                       # problems and optimizers
    raybench run --suite quick --out results/
    raybench report results/
    raybench multi-init --problem mnist_cnn --optimizer adam --out mi/
    raybench rl train --family quadratic --out policy/
    raybench reproduce --scale smoke --out s/

Core's subcommands are listed here; the layers above core (``tuning``: ``multi-init``,
``rl``: ``rl``, ``reproduce``: ``reproduce``) add theirs through the ``raybench.commands`` entry-point group that
``pyproject.toml`` declares, so core never names them. A command module has
``add_parser(subparsers)`` and sets ``handler``; it imports its heavy modules (torch, ray)
inside the handler, so that ``raybench --help`` imports neither. Errors a user can cause print
one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from raybench.commands import list_cmd, merge_cmd, report_cmd, run_cmd, test_cmd

COMMAND_GROUP = "raybench.commands"
"""Entry-point group of the commands that layers above core (and other packages) add."""


def command_modules() -> list:
    """Core's command modules, then every module registered in ``COMMAND_GROUP``."""
    return [list_cmd, run_cmd, report_cmd, merge_cmd, test_cmd,
            *(ep.load() for ep in sorted(metadata.entry_points(group=COMMAND_GROUP), key=lambda e: e.name))]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raybench", description="Benchmark deep-learning optimizers on Ray.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.add_parser(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is a complete one-line answer to the user."""
    from raybench.errors import UsageError
    from raybench.optimizers import OptimizerError
    from raybench.problems import ProblemError
    from raybench.results import ResultsError

    return (UsageError, ProblemError, OptimizerError, ResultsError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("raybench: interrupted; finished runs are on disk (use --resume to complete)",
              file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, user_errors()):
            print(f"raybench: error: {exc}", file=sys.stderr)
            return 2
        from raybench.runner import IncompleteSuite

        if isinstance(exc, IncompleteSuite):
            print(f"raybench: {exc}", file=sys.stderr)
            return 1
        raise


def entry() -> None:
    """The ``raybench`` executable: ``main``, then a quick exit.

    Once the command is done (results written, Ray shut down, every exit handler run, output
    flushed), the process ends without the interpreter's module teardown, which takes 1-1.5 s
    with torch (and ``torch._dynamo``) loaded. A command that ends in a traceback exits the
    ordinary way; output cut short by its reader (``| head``) exits 141 without one."""
    import atexit
    import logging
    import os

    from raybench.ray_utils import stop_ray

    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output went away (raybench list | head): no traceback for that, and
        # no second error from flushing into the closed pipe on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + 13  # as if killed by SIGPIPE, like other command-line tools
    stop_ray()
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
