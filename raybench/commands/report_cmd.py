"""``raybench report DIR``: the results table and AlgoPerf scores (Markdown, CSV), plots (PNG)
and all of it as one web page (``index.html``) of a results folder, with the sections that
installed layers find in it (``raybench.report.installed_sections``: the research summary's
claims of a ``raybench reproduce`` folder)."""

from __future__ import annotations

import argparse

from raybench.defaults import REFERENCE_OPTIMIZER


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="tables and plots from a results folder")
    p.add_argument("folder", help="results folder written by raybench run")
    p.add_argument("--baseline", default=REFERENCE_OPTIMIZER,
                   help=f"optimizer to compare speeds against (default: {REFERENCE_OPTIMIZER})")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument("--report-dir", help="where to write report.md/csv, PNGs and index.html (default: the folder; "
                   "required when the folder is a URI such as s3://...)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from raybench.errors import UsageError
    from raybench.report import installed_sections, make_report

    remote = "://" in args.folder and not args.folder.startswith("file://")
    if not remote and not Path(args.folder.removeprefix("file://")).is_dir():
        raise UsageError(f"results folder {args.folder} does not exist")
    if remote and not args.report_dir:
        raise UsageError(f"{args.folder} is remote: pass --report-dir DIR for the tables and plots")
    rep = make_report(args.folder, baseline=args.baseline, plots=not args.no_plots,
                      out_dir=args.report_dir, sections=installed_sections(args.folder))
    print(rep["markdown"])
    print(f"parquet: {args.folder}/runs  {args.folder}/curves  (pandas.read_parquet)")
    print(f"table: {rep['md_path']}  {rep['csv_path']}  {rep['scores_path']}")
    print(f"html:  {rep['html_path']}  (one self-contained page: tables and plots)")
    for p in rep["plots"]:
        print(f"plot:  {p}")
    return 0
