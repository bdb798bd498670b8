"""The ``raybench`` command line.

    raybench list                       # problems and optimizers
    raybench run --suite quick --out results/
    raybench report results/
    raybench multi-init --problem mnist_cnn --optimizer adam --out mi/
    raybench rl train --family quadratic --out policy/

Subcommands import their heavy modules (torch, ray) inside their handlers, so that
``raybench --help`` stays fast. Errors a user can cause print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> module with ``add_parser(subparsers)`` and ``main(args) -> int``.
SUBCOMMANDS = {
    "list": "raybench.commands.list_cmd",
    "run": "raybench.commands.run_cmd",
    "report": "raybench.commands.report_cmd",
    "multi-init": "tuning.cli",
    "rl": "rl.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raybench", description="Benchmark deep-learning optimizers on Ray.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is a complete one-line answer to the user."""
    from problems import ProblemError
    from raybench.errors import UsageError
    from raybench.optimizers import OptimizerError
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


if __name__ == "__main__":
    sys.exit(main())
