"""``raybench list``: the problems and optimizers, one line each."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list problems and optimizers")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    import problems
    from raybench import optimizers

    print("problems:")
    for name, prob in problems.REGISTRY.items():
        print(f"  {name:<18} {prob.description}")
    print("optimizers:")
    for name, spec in optimizers.REGISTRY.items():
        print(f"  {name:<18} {spec.description}")
    return 0
