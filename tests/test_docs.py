"""The documentation site: every documented fact has a doc line, and the site builds and opens.

- Every results column of every registered table has its line in ``raybench/column_docs.py``,
  every option of every command parser its ``help=``, every problem and optimizer its
  description (``tools/gen_docs.py``'s ``missing_docs``); a missing one is named.
- The reference sections the site's build generates say what the code says (columns with their
  schema types and table versions, registries, options, verdict rules), and every page marker
  names a section.
- ``mkdocs build --strict`` builds the site (a warning fails it), and headless Chromium opens
  its reference pages without a console error (mark ``browser``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import http.server
import importlib.util
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, cli_env

DOCS = ROOT / "docs"


@functools.cache
def _load_gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    return _load_gen_docs()


# -- every item has a doc line -----------------------------------------------------------------
def test_every_column_option_and_registry_entry_has_a_doc_line(gen_docs: ModuleType) -> None:
    missing = gen_docs.missing_docs()
    assert missing == [], "\n".join(missing)


def test_a_missing_doc_line_is_named(gen_docs: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from raybench import column_docs, optimizers, problems

    runs = dict(column_docs.COLUMNS["runs"])
    del runs["steps_to_target"]
    runs["no_such_column"] = "a line for a column the table does not have"
    monkeypatch.setitem(column_docs.COLUMNS, "runs", runs)
    parser = argparse.ArgumentParser(prog="raybench nohelp")
    parser.add_argument("--quiet-flag", action="store_true")
    real = gen_docs.commands
    monkeypatch.setattr(gen_docs, "commands", lambda: [*real(), ("raybench nohelp", "", parser)])
    # The registries are not dicts (monkeypatch.setitem cannot undo on them): added, then removed.
    optimizers.REGISTRY["undocumented"] = dataclasses.replace(optimizers.REGISTRY["adam"], name="undocumented",
                                                              description="")
    problems.REGISTRY["undocumented_problem"] = dataclasses.replace(problems.get("quadratic"),
                                                                    name="undocumented_problem", description=" ")
    try:
        missing = gen_docs.missing_docs()
    finally:
        del optimizers.REGISTRY["undocumented"]
        del problems.REGISTRY["undocumented_problem"]
    assert "results table 'runs': column 'steps_to_target' has no doc line in raybench/column_docs.py" in missing
    assert ("results table 'runs': raybench/column_docs.py documents column 'no_such_column', "
            "which the table does not have") in missing
    assert "raybench nohelp: option --quiet-flag has no help" in missing
    assert "optimizer 'undocumented' has no description" in missing
    assert "problem 'undocumented_problem' has no description" in missing
    assert len(missing) == 5, missing
    assert gen_docs.main(["--check"]) == 1


def test_a_table_without_column_docs_is_named(gen_docs: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from raybench import schema

    table = schema.TableSchema("undocumented_table", 1, schema.columns(("x", pa.int64())))
    monkeypatch.setitem(schema.TABLES, table.name, table)
    assert ("results table 'undocumented_table' has no entry in raybench/column_docs.py (COLUMNS and TABLES)"
            in gen_docs.missing_docs())


# -- the generated sections say what the code says ---------------------------------------------
def test_the_column_reference_has_every_column_with_its_type_and_table_version(gen_docs: ModuleType) -> None:
    from raybench import column_docs

    text = gen_docs.all_columns_section()
    for name, table in gen_docs.register_tables().items():
        section = gen_docs.columns_section(name)
        assert f"`{name}` columns (table version {table.version})" in section
        assert f"## `{name}`\n\nTable version {table.version}." in text
        for field in table.fields:
            row = f"| `{field.name}` | {gen_docs._type_name(field.type)} | {gen_docs.cell(column_docs.COLUMNS[name][field.name])} |"
            assert row in section, (name, field.name)
    assert "| `hp_<name>` | float64 or string |" in gen_docs.columns_section("runs")


def test_the_registry_references_list_every_entry_with_its_defaults_and_search_space(gen_docs: ModuleType) -> None:
    from raybench import optimizers, problems

    text = gen_docs.problems_section()
    for name in problems.names():
        problem = problems.get(name)
        assert f"### `{name}` {{#{name}}}" in text and problem.description in text
        for key, option in problem.option_specs.items():
            assert f"| `{key}` | `{gen_docs.value(option.default)}` | {gen_docs.cell(option.accepted())} |" in text
    text = gen_docs.optimizers_section()
    for name, spec in optimizers.REGISTRY.items():
        assert f"### `{name}` {{#{name}}}" in text and gen_docs.space_text(spec.search_space) in text
        for key, option in spec.options.items():
            assert f"| `{key}` | `{gen_docs.value(option.default)}` |" in text, (name, key)
    assert "`lr` 1e-4 .. 0.1 (log)" in text  # adam's search space, as the registry holds it
    text = gen_docs.schedules_section()
    assert "| `schedule` | constant |" in text


def test_the_command_line_reference_has_every_command_and_option(gen_docs: ModuleType) -> None:
    text = gen_docs.cli_section()
    for name, _, parser in gen_docs.commands():
        if name != "raybench":
            assert f"## `{name}`" in text
        for action in gen_docs.options_of(parser):
            for flag in action.option_strings:
                assert f"`{flag}" in text, (name, flag)
    assert "## `raybench rl train`" in text and "`--tune-lr`" in text


def test_the_verdict_rules_section_states_every_verdict_and_the_quadratic_thresholds(gen_docs: ModuleType) -> None:
    from raybench.reproduce import claims

    section = gen_docs.verdict_rules_section()
    for word in claims.VERDICTS:
        assert f"`{word}" in section, word
    assert f"{claims.REQUIRED_FRACTION:.0%}" in section and f"{claims.NEAR_FACTOR:g}" in section
    assert f"fewer than {claims.MIN_SEEDS}" in section.lower()


def test_every_page_marker_names_a_section_and_the_references_use_them_all(gen_docs: ModuleType) -> None:
    known = gen_docs.sections()
    used = set()
    for page in DOCS.rglob("*.md"):
        for line in page.read_text().splitlines():
            if line.startswith("<!-- generated"):
                match = gen_docs.MARKER.match(line)
                assert match and match.group(1) in known, f"{page.relative_to(ROOT)}: {line}"
                used.add(match.group(1))
    assert {"folder", "columns", "problems", "optimizers", "schedules", "verdict rules", "tuning", "cli"} <= used
    with pytest.raises(gen_docs.Unknown, match="no generated section 'nosuch'"):
        gen_docs.render("text\n<!-- generated: nosuch -->\n")
    assert gen_docs.render("a\n<!-- generated: schedules -->\nb") == f"a\n{gen_docs.schedules_section()}\nb"


def test_the_verdict_rules_file_is_in_the_site_as_it_is() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    assert "verdict_rules.md" in nav
    assert "generated" not in (DOCS / "verdict_rules.md").read_text()


# -- the site builds and opens -----------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``mkdocs build --strict`` (what ``make docs`` runs) into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=cli_env(NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def served(site: Path):
    """The built site over HTTP on 127.0.0.1 (the search index is fetched; file:// would refuse it)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _open(browser, url: str) -> str:
    browser.get(url)
    text = browser.find_element("tag name", "body").text
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    return text


@pytest.mark.browser
def test_the_site_builds_strict_and_its_reference_pages_open_in_chromium(site: Path, served: str, browser) -> None:
    for page in ("index", "getting-started", "commands", "results", "tuning", "claims", "heldout",
                 "cluster", "learned-optimizer", "multi-init", "problems", "optimizers", "performance",
                 "verdict_rules", "reference/columns", "reference/problems", "reference/optimizers",
                 "reference/cli", "reference/api"):
        assert (site / page / "index.html").is_file() or (site / f"{page}.html").is_file(), page

    text = _open(browser, f"{served}/reference/columns/")
    assert "Results columns" in browser.title
    headers = [h.text for h in browser.find_elements("css selector", "article table th")]
    assert headers[:3] == ["column", "type", "meaning"]
    cells = [c.text for c in browser.find_elements("css selector", "article table td")]
    assert "steps_to_target" in cells and "float64" in cells  # a column, rendered as a table cell
    assert "the target was met" in text

    text = _open(browser, f"{served}/reference/problems/")
    assert "quadratic" in [c.text for c in browser.find_elements("css selector", "article table td")]
    assert browser.find_element("id", "quadratic").text.strip() == "quadratic"

    text = _open(browser, f"{served}/reference/cli/")
    assert "raybench run" in text and "--tune-lr" in text

    _open(browser, f"{served}/reference/api/")
    assert browser.find_elements("css selector", "[id='raybench.train.Run']")

    # The verdict rules, as the file is, and the home page (with its search box working).
    text = _open(browser, f"{served}/verdict_rules/")
    assert "inconclusive" in text
    _open(browser, f"{served}/")
    assert re.search(r"raybench", browser.title)
