"""``raybench test``: check that an optimizer or a problem honours raybench's contract.

    raybench test my_optimizer:Signum --py-modules examples/my_optimizer.py
    raybench test my_problem:make_problem --py-modules examples/my_problem.py
    raybench test adam                      # a registry name works too
    raybench test autonomous --hparam autonomous.policy=policy/policy.safetensors

Whether the entry is an optimizer or a problem is told from what it names. The checks run in
this process, without Ray, in seconds (``raybench.conformance`` says what each checks): one line
per check (``ok   NAME`` or ``FAIL NAME: WHY``), then a summary. Exit 0 when every check
passes, 1 when one fails, 2 when the entry cannot be resolved (one line): usable in CI.
"""

from __future__ import annotations

import argparse

from raybench.commands import options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="check that an optimizer or problem of yours honours raybench's contract",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("entry", metavar="ENTRY", help=f"the optimizer or problem to check: {options.NAMED}")
    options.add_py_modules(p)
    options.add_hparam(p)
    options.add_option(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from raybench import conformance, suites
    from raybench.errors import UsageError

    options.check_py_modules(args.py_modules)
    hparams = suites.parse_hparam_flags(args.hparam)
    given = suites.parse_option_flags(args.option)
    kind, entry = conformance.resolve(args.entry)
    if kind == "optimizer":
        if given:
            raise UsageError(f"--option sets a problem's options; {args.entry} is an optimizer (use --hparam)")
        other = sorted(set(hparams) - {entry.name})
        if other:
            raise UsageError(f"--hparam {other[0]}.*: the optimizer under test is {entry.name!r}; "
                             f"accepted: {entry.name}.NAME=VALUE")
        checks = conformance.check_optimizer(entry, hparams.get(entry.name, {}))
    else:
        if hparams:
            raise UsageError(f"--hparam sets an optimizer's hyperparameters; {args.entry} is a problem (use --option)")
        checks = conformance.check_problem(entry, entry.check_options(given))
    for check in checks:
        print(check.line(), flush=True)
    failed = [c.name for c in checks if not c.ok]
    where = f" ({entry.path})" if entry.origin == "import path" else ""
    verdict = f"{len(failed)} failed: {', '.join(failed)}" if failed else "all passed"
    print(f"{kind} {entry.name}{where}: {len(checks)} checks, {verdict}")
    return 1 if failed else 0
