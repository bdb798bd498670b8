"""The documentation site's reference sections, generated from the code when the site is built.

How to run (from the repository root)::

    make docs                          # mkdocs build --strict: this file is its hook (mkdocs.yml)
    python tools/gen_docs.py --check   # exit 1, one line per item that has no doc line
    python tools/gen_docs.py columns   # print one section's markdown

A page under ``docs/`` asks for a section with a line of its own, ``<!-- generated: NAME -->``;
building the site replaces the line with the section, made from the code that holds its facts
(an unknown NAME fails the build). The sections:

- ``folder``: a results folder's layout (``raybench.results.SCHEMA_VERSION``, every table);
- ``columns`` (every table) and ``columns TABLE``: each registered table's version and columns
  with their types (``raybench.schema``) and meanings (``raybench.column_docs``);
- ``problems``: the problem registry (metrics with their direction, kind, options with their
  defaults and what they accept);
- ``optimizers``: the optimizer registry (class, baseline flag, hyperparameters with their
  defaults and what they accept, search space);
- ``schedules``: the learning-rate schedule's hyperparameters and their defaults;
- ``tuning``: ``--tune-lr``'s settings (``raybench.lr_search``, ``raybench.defaults``);
- ``verdict rules``: the claims' verdict vocabulary and thresholds (``raybench.reproduce.claims``);
- ``cli``: every command and subcommand with its usage and every option's help (the parsers of
  ``raybench.cli.build_parser``).

``missing_docs()`` lists every results column, command-line option and registry entry without
a doc line; ``tests/test_docs.py`` requires it to be empty, and the build warns (so fails, being
strict) on each. Documentation tooling: nothing in the package imports this file.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import math
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

MARKER = re.compile(r"^<!-- generated: ([\w ]+?) -->[ \t]*$", re.MULTILINE)
LAYERS = ("raybench", "raybench.problems", "raybench.tuning", "raybench.rl", "raybench.reproduce")
"""The packages whose modules may register a results table (each layer registers its own)."""

SCHEDULE_MEANINGS = {
    "schedule": "`constant` (factor 1: no scheduler at all), `warmup_cosine` or `step`",
    "warmup": "fraction of the budget spent in linear warm-up, `W = round(warmup * T)` steps at factor "
              "`(t+1)/W`; `0 <= warmup < 1`; `warmup_cosine` and `step`",
    "decay_factor": "`step`: the factor is multiplied by this at each milestone; `0 < decay_factor <= 1`",
    "milestones": "`step`: increasing fractions of the budget in (0, 1) where the decay takes effect "
                  "(from step `round(m * T)` on)",
}

REPORT_FILES = """\
  report.md, report.csv, scores.csv, curves_<problem>.png, performance_profile.png,
  algoperf_profile.png, index.html                                       (raybench report)"""

log = logging.getLogger("mkdocs.hooks.gen_docs")


class Unknown(Exception):
    """A page asks for a section that does not exist."""


# -- formatting --------------------------------------------------------------------------------
def number(value: float) -> str:
    """A number as the docs write it: ``1e-3``, ``2.5e-3``, ``0.9``, ``10000``, ``inf``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) < 1e-2:
        mantissa, exponent = f"{value:.6e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{value:g}"


def value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return number(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(value(x) for x in v) + ")"
    if v is None:
        return "None"
    if v == "":
        return '""'
    return str(v)


def cell(text: str) -> str:
    """Text for a markdown table cell: pipes escaped, line breaks joined."""
    return " ".join(text.split()).replace("|", "\\|")


def plain(text: str) -> str:
    """Help text (no markdown in it) as markdown that shows it as written."""
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    parts = re.split(r"(`[^`]*`)", text)  # code spans stay as they are
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            part = re.sub(r"([\\*_\[\]])", r"\\\1", part).replace("<", "&lt;").replace(">", "&gt;")
        out.append(part)
    return cell("".join(out))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- what the code registers -------------------------------------------------------------------
@functools.cache
def _import_layers() -> None:
    for top in LAYERS:
        package = importlib.import_module(top)
        for info in pkgutil.walk_packages(package.__path__, f"{top}."):
            importlib.import_module(info.name)


def register_tables() -> dict[str, Any]:
    """Import every module of every layer, so that each registers its tables, and return them."""
    from raybench import schema

    _import_layers()
    return schema.TABLES


def _type_name(dtype: Any) -> str:
    import pyarrow as pa

    names = {pa.string(): "string", pa.float64(): "float64", pa.int64(): "int64", pa.bool_(): "bool"}
    return names.get(dtype, str(dtype))


def commands() -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(``raybench run``, its one-line help, its parser) for every command and subcommand."""
    from raybench import cli

    def walk(name: str, summary: str, parser: argparse.ArgumentParser) -> Iterator:
        yield name, summary, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help or "" for a in action._choices_actions}
                for sub, subparser in action.choices.items():
                    yield from walk(f"{name} {sub}", helps.get(sub, ""), subparser)

    yield from walk("raybench", "", cli.build_parser())


def options_of(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """A parser's own arguments: options and positionals, not --help nor its subcommands."""
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction) and a.help != argparse.SUPPRESS]


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The action's help as ``--help`` prints it (``%(default)s`` and the like filled in)."""
    if not action.help:
        return ""
    return parser._get_formatter()._expand_help(action)


# -- the check ---------------------------------------------------------------------------------
def missing_docs() -> list[str]:
    """One line per item without a doc line: a results column (``raybench/column_docs.py``), a
    command-line option (its ``help=``), a problem or optimizer (its description)."""
    from raybench import column_docs, optimizers, problems, schedules

    out = []
    for name, table in register_tables().items():
        docs = column_docs.COLUMNS.get(name)
        if docs is None or name not in column_docs.TABLES:
            out.append(f"results table {name!r} has no entry in raybench/column_docs.py (COLUMNS and TABLES)")
            continue
        dynamic = [f.name for f in table.dynamic()] if table.dynamic else []
        for column in table.columns:
            if not docs.get(column, "").strip():
                out.append(f"results table {name!r}: column {column!r} has no doc line in raybench/column_docs.py")
        if dynamic and not docs.get(column_docs.DYNAMIC, "").strip():
            out.append(f"results table {name!r}: its run-time columns ({dynamic[0]!r}, ...) have no "
                       f"{column_docs.DYNAMIC!r} doc line in raybench/column_docs.py")
        for column in docs:
            if column not in table.columns and not (dynamic and (column == column_docs.DYNAMIC or column in dynamic)):
                out.append(f"results table {name!r}: raybench/column_docs.py documents column {column!r}, "
                           "which the table does not have")
    for name in sorted(set(column_docs.COLUMNS) - set(register_tables())):
        out.append(f"raybench/column_docs.py documents table {name!r}, which no layer registers")
    for command, _, parser in commands():
        for action in options_of(parser):
            if not (action.help or "").strip():
                flag = "/".join(action.option_strings) or action.dest
                out.append(f"{command}: option {flag} has no help")
    problems.load_entry_points()
    optimizers.load_entry_points()
    for name in problems.names():
        if not (problems.get(name).description or "").strip():
            out.append(f"problem {name!r} has no description")
    for name, spec in optimizers.REGISTRY.items():
        if not (spec.description or "").strip():
            out.append(f"optimizer {name!r} has no description")
    for key in schedules.DEFAULTS:
        if not SCHEDULE_MEANINGS.get(key):
            out.append(f"schedule hyperparameter {key!r} has no meaning in tools/gen_docs.py (SCHEDULE_MEANINGS)")
    return out


# -- the sections ------------------------------------------------------------------------------
def columns_section(name: str, level: int = 0) -> str:
    """One table's columns; with ``level``, under a heading of that level."""
    from raybench import column_docs

    table = register_tables()[name]
    docs = column_docs.COLUMNS.get(name, {})
    _, rows_are = column_docs.TABLES.get(name, (None, ""))
    types = {f.name: _type_name(f.type) for f in table.fields}
    rows = [[f"`{c}`", types[c], docs.get(c, "")] for c in table.columns]
    if table.dynamic:
        dynamic = {f.name: _type_name(f.type) for f in table.dynamic()}
        named = [c for c in docs if c in dynamic]
        kinds = " or ".join(sorted(set(dynamic.values())))
        rows.append([f"`{column_docs.DYNAMIC}`", kinds, docs.get(column_docs.DYNAMIC, "")])
        rows += [[f"`{c}`", dynamic[c], docs[c]] for c in named]
    head = f"`{name}` columns (table version {table.version})."
    head = (f"{'#' * level} `{name}`\n\nTable version {table.version}." if level else f"**{head}**")
    head += f" {rows_are}" if rows_are else ""
    return head + "\n\n" + markdown_table(["column", "type", "meaning"], rows)


def all_columns_section() -> str:
    from raybench import column_docs

    tables = register_tables()
    order = [n for n in column_docs.TABLES if n in tables] + [n for n in tables if n not in column_docs.TABLES]
    return "\n\n".join(columns_section(name, level=2) for name in order)


def folder_section() -> str:
    from raybench import column_docs, results

    tables = register_tables()
    lines = [(f"{name}/part-*.parquet", where) for name, (where, _) in column_docs.TABLES.items()
             if name in tables and where]
    width = max(len(path) for path, _ in lines) + 2
    out = ["```", "OUT/", f"  {'raybench.json':<{width}}{{\"schema_version\": {results.SCHEMA_VERSION}}}"]
    out += [f"  {path:<{width}}{where}" for path, where in lines]
    return "\n".join([*out, REPORT_FILES, "```"])


def _option_rows(options: dict[str, Any]) -> list[list[str]]:
    return [[f"`{k}`", f"`{value(o.default)}`", o.accepted()] for k, o in options.items()]


def problems_section() -> str:
    from raybench import problems

    problems.load_entry_points()
    summary, details = [], []
    for name in problems.names():
        p = problems.get(name)
        metrics = ", ".join(f"`{m}` ({mode})" for m, mode in p.metrics.items())
        kind = "family" if p.family else ("data" if p.needs_data else "fixed")
        where = "raybench" if p.origin == "raybench" else f"{p.origin}: `{p.path}`"
        summary.append([f"[`{name}`](#{name})", p.description, kind, metrics])
        body = [f"### `{name}` {{#{name}}}", "", p.description, "",
                f"Kind: {kind}. Metrics (headline first, direction): {metrics}. From: {where}.", ""]
        body.append(markdown_table(["option", "default", "accepts"], _option_rows(p.option_specs))
                    if p.option_specs else "No options.")
        details.append("\n".join(body))
    return "\n\n".join([markdown_table(["problem", "what", "kind", "metrics (headline first, direction)"], summary),
                        *details])


def space_text(space: dict[str, dict[str, Any]]) -> str:
    return "; ".join(f"`{key}` {number(dim['min'])} .. {number(dim['max'])} ({dim.get('scaling', 'log')})"
                     for key, dim in space.items()) or "none"


def optimizers_section() -> str:
    from raybench import optimizers

    optimizers.load_entry_points()
    summary, details = [], []
    for name, spec in optimizers.REGISTRY.items():
        cls = f"`{spec.path}`" if spec.path else "(a factory)"
        summary.append([f"[`{name}`](#{name})", spec.description, "yes" if spec.baseline else "", cls,
                        space_text(spec.search_space)])
        body = [f"### `{name}` {{#{name}}}", "", spec.description, "",
                f"Class: {cls}. Baseline: {'yes' if spec.baseline else 'no'}. "
                f"Search space: {space_text(spec.search_space)}.", ""]
        body.append(markdown_table(["hyperparameter", "default", "accepts"], _option_rows(spec.options))
                    if spec.options else "No hyperparameters.")
        details.append("\n".join(body))
    return "\n\n".join([markdown_table(["name", "what", "baseline", "class", "search space"], summary), *details])


def schedules_section() -> str:
    from raybench import schedules

    rows = [[f"`{k}`", value(v), SCHEDULE_MEANINGS.get(k, "")] for k, v in schedules.DEFAULTS.items()]
    return markdown_table(["hyperparameter", "default", "meaning"], rows)


def verdict_rules_section() -> str:
    from raybench.reproduce import claims

    verdicts = ", ".join(f"`{v}: <why>`" if v == claims.NOT_RUN else f"`{v}`" for v in claims.VERDICTS)
    rows = [
        ["`VERDICTS`", verdicts, "every verdict is one of these"],
        ["`MIN_SEEDS`", str(claims.MIN_SEEDS),
         f"fewer than {claims.MIN_SEEDS} seeds for a mean, a paired difference or a proportion: `{claims.INCONCLUSIVE}`"],
        ["`MIN_SEEDS_MEDIAN`", str(claims.MIN_SEEDS_MEDIAN),
         f"fewer than {claims.MIN_SEEDS_MEDIAN} (paired) seeds for a median (every speed ratio): `{claims.INCONCLUSIVE}`"],
        ["`MARGIN`", ", ".join(f"{k} {number(v)}" for k, v in claims.MARGIN.items()),
         "how far a claim's interval is widened before a CI is judged against it"],
        ["`MAX_WIDTH`", ", ".join(f"{k} {number(v)}" for k, v in claims.MAX_WIDTH.items()),
         f"the widest (finite) CI that can be `{claims.CONSISTENT}`"],
        ["`CATEGORIES`", ", ".join(f"`{c}`" for c in claims.CATEGORIES), "the quadratic's categories, best first"],
        ["`REQUIRED_FRACTION`", f"{claims.REQUIRED_FRACTION:.0%}", "share of seeds that must meet a category's threshold"],
        ["`NEAR_FACTOR`", number(claims.NEAR_FACTOR), "Near-Optimal's threshold in units of tau"],
    ]
    return markdown_table([f"rule (`raybench.reproduce.claims`; in words: `{claims.RULES_FILE}`)", "value", "meaning"], rows)


def tuning_section() -> str:
    from raybench import defaults, lr_search

    rows = [
        ["`--tune-samples`", str(defaults.TUNE_SAMPLES), "values tried per (problem, optimizer) pair (`raybench.defaults.TUNE_SAMPLES`)"],
        ["`TUNING_SEEDS`", ", ".join(map(str, lr_search.TUNING_SEEDS)),
         "the reserved seeds every value runs on; never evaluation seeds"],
        ["`DECADES`", number(lr_search.DECADES), "decades every grid spans, centred (in log) on the optimizer's default"],
        ["`EXTRA_POINTS`", str(lr_search.EXTRA_POINTS), "at most this many values tried past an edge winner, per pair"],
    ]
    return markdown_table(["setting (`raybench.lr_search`)", "value", "meaning"], rows)


def cli_section() -> str:
    out = []
    for name, summary, parser in commands():
        if name == "raybench":
            continue
        parts = [f"## `{name}`", ""]
        if summary:
            parts += [plain(summary[0].upper() + summary[1:]) + ".", ""]
        usage = parser.format_usage().strip().removeprefix("usage: ")
        description = (parser.description or "").strip("\n")
        parts += ["```text", usage, *(["", description] if description else []), "```", ""]
        rows = []
        for action in options_of(parser):
            flag = ", ".join(action.option_strings) or action.metavar or action.dest
            if action.option_strings and action.nargs != 0:
                flag += f" {action.metavar or action.dest.upper()}"
            default = action.default
            hidden = default is None or default is argparse.SUPPRESS or default == [] or action.nargs == 0
            shown = "" if hidden else f"`{value(default)}`"
            rows.append([f"`{flag}`", shown, plain(help_text(parser, action))])
        parts.append(markdown_table(["option", "default", "what"], rows) if rows else "No options.")
        out.append("\n".join(parts))
    return "\n\n".join(out)


def sections() -> dict[str, Callable[[], str]]:
    """Every generated section by its marker name, each made on demand."""
    out: dict[str, Callable[[], str]] = {"folder": folder_section, "columns": all_columns_section}
    for name in register_tables():
        out[f"columns {name}"] = lambda name=name: columns_section(name)
    out.update(problems=problems_section, optimizers=optimizers_section, schedules=schedules_section,
               tuning=tuning_section, cli=cli_section)
    out["verdict rules"] = verdict_rules_section
    return out


def render(markdown: str) -> str:
    """``markdown`` with every marker line replaced by its section."""
    makers = sections()

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in makers:
            raise Unknown(f"no generated section {name!r} (known: {', '.join(makers)})")
        return makers[name]()

    return MARKER.sub(replace, markdown)


# -- the mkdocs hook (mkdocs.yml: hooks) -------------------------------------------------------
def on_pre_build(config: Any) -> None:
    for line in missing_docs():
        log.warning(line)  # mkdocs build --strict fails on a warning


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown)
    except Unknown as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", nargs="?", help="print this section's markdown")
    parser.add_argument("--check", action="store_true", help="exit 1 if any item has no doc line")
    args = parser.parse_args(argv)
    if args.check:
        missing = missing_docs()
        for line in missing:
            print(line, file=sys.stderr)
        return 1 if missing else 0
    makers = sections()
    if args.section not in makers:
        print(f"sections: {', '.join(makers)}", file=sys.stderr)
        return 2
    print(makers[args.section]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
