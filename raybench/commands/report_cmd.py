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
    p.add_argument("--baseline",
                   help=f"optimizer to compare speeds against, one the folder holds (default: {REFERENCE_OPTIMIZER})")
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
    check_writable(args.report_dir or args.folder.removeprefix("file://"),
                   "--report-dir" if args.report_dir else "results folder")
    if args.baseline is not None:
        check_baseline(args.folder, args.baseline)
    rep = make_report(args.folder, baseline=args.baseline or REFERENCE_OPTIMIZER, plots=not args.no_plots,
                      out_dir=args.report_dir, sections=installed_sections(args.folder))
    print(rep["markdown"])
    print(f"parquet: {args.folder}/runs  {args.folder}/curves  (pandas.read_parquet)")
    print(f"table: {rep['md_path']}  {rep['csv_path']}  {rep['scores_path']}")
    print(f"html:  {rep['html_path']}  (one self-contained page: tables and plots)")
    for p in rep["plots"]:
        print(f"plot:  {p}")
    return 0


def check_writable(folder: str, what: str) -> None:
    """``folder`` (made if missing) takes files: else a one-line ``UsageError`` naming it."""
    import os
    from pathlib import Path

    from raybench.errors import UsageError

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{what} {folder} cannot be written ({exc.strerror or exc}); choose a folder you can write") \
            from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {folder} cannot be written (permission denied); choose a folder you can write")


def check_baseline(folder: str, baseline: str) -> None:
    """A ``--baseline`` the folder holds runs of: else a one-line ``UsageError`` naming those it holds
    (a folder without runs is left to the report, which says so)."""
    import warnings

    from raybench import results
    from raybench.errors import UsageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # runs written twice: the report itself warns once
        runs = results.read_table(folder, "runs")
    held = sorted(set(runs["optimizer"].dropna())) if "optimizer" in runs else []
    if held and baseline not in held:
        raise UsageError(f"--baseline {baseline} has no runs in {folder}; it holds {', '.join(held)}")
