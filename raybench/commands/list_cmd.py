"""``raybench list``: every problem and optimizer, one line each, with where it comes from.

Where: ``raybench`` (the built-in registry; for optimizers the class it builds and the
distribution providing it, e.g. ``pytorch_optimizer:Lion (pytorch_optimizer 4.1.0)``), an
installed package's entry point (``raybench.optimizers`` / ``raybench.problems`` groups), or an
import path. Under each optimizer, its declared search space in one compact line (what
``raybench run --tuning external`` samples; a suite file may override it).
"""

from __future__ import annotations

import argparse

# Each optimizer's search space (``raybench.search_space``) follows on its own line, indented:
#     search space: lr 0.0001..0.1 log; one_minus_beta1 0.01..0.3 log; warmup 0..0.1 linear


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list problems and optimizers, with where each comes from",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from raybench import optimizers, problems

    problems.load_entry_points()
    optimizers.load_entry_points()
    print("problems:")
    for name, prob in problems.REGISTRY.items():
        print(f"  {name:<20} {prob.description}{_memory(prob)}  [{_where(prob.origin, prob.path)}]")
    print("optimizers:")
    for name, spec in optimizers.REGISTRY.items():
        print(f"  {name:<20} {spec.description}  [{_where(spec.origin, spec.path)}]")
        print(f"  {'':<20} search space: {_space(spec)}")
    return 0


def _memory(prob) -> str:
    """The problem's memory estimate at its default options (``Problem.memory``), or nothing
    where it declares none or its defaults need data that are missing."""
    from raybench import problems
    from raybench.runner import human_bytes

    try:
        estimate = prob.memory_bytes()
    except problems.ProblemError:
        return ""
    return "" if estimate is None else f"; about {human_bytes(estimate)} a run"


def _where(origin: str, path: str | None) -> str:
    from raybench import registry

    if not path:
        return origin
    version = registry.path_version(path)
    dist = path.partition(":")[0].split(".")[0]
    provided = f" ({dist} {version})" if version else ""
    return f"{origin}: {path}{provided}" if origin != "raybench" else f"{path}{provided}"


def _space(spec) -> str:
    from raybench import search_space
    from raybench.errors import UsageError

    try:
        return search_space.declared(spec).text()
    except UsageError as exc:  # an installed package's entry may declare a bad one: say so, list on
        return f"invalid ({exc})"
