"""Being written (issue 3)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="(being written)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from raybench.errors import UsageError

    raise UsageError("this command is not implemented yet")
