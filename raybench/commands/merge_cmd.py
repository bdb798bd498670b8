"""``raybench merge OUT DIR...``: results folders written by separate commands (machines,
clusters) as one folder that ``raybench report OUT`` reports like any other.

    raybench merge all/ machine_a/ machine_b/
    raybench merge file:///data/all file:///data/a s3://bucket/b
    raybench merge all/ a/ b/ --prefer last    # copies of a run that differ: keep the last input's

A run in several inputs is kept once; copies that differ in more than where and how fast they
ran are refused unless --prefer chooses. Tables computed from the others (claims, held-out and
multi-init summaries) are left out, as stderr says. OUT must be new or hold no tables yet.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge results folders of separate runs into one",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", metavar="OUT", help="the merged results folder: new, or holding no tables yet "
                                              "(local, file://, or an s3:// or gs:// URI)")
    p.add_argument("inputs", metavar="DIR", nargs="+", help="results folders to merge, in order")
    p.add_argument("--prefer", choices=("first", "last"),
                   help="when copies of a run differ (not only in host, device, start time or wall seconds), "
                        "keep the first or last input's copy (default: refuse, naming the run)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from raybench.merge import merge

    summary = merge(args.out, args.inputs, prefer=args.prefer)
    if summary.left_out:
        print(f"raybench merge: left out derived tables {', '.join(summary.left_out)} (computed from the "
              "inputs' runs, not the merged ones; rerun the command that wrote them on OUT to recompute)",
              file=sys.stderr)
    if summary.preferred:
        print(f"raybench merge: {len(summary.preferred)} runs differed between inputs; kept the {args.prefer} "
              f"input's copy (e.g. {summary.preferred[0]})", file=sys.stderr)
    tables = ", ".join(f"{name} {rows}" for name, rows in summary.tables.items())
    print(f"merged {len(args.inputs)} folders into {args.out}: {summary.runs} runs "
          f"({summary.duplicates} copies in more than one input kept once); rows: {tables}")
    return 0
