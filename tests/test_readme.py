"""README.md's reference tables are the code's: ``tools/readme_tables.py --check`` in process.

The generator reads every fact it prints (columns and their types, table versions, the folder's
schema version, problems' metrics and options, optimizers' defaults and search spaces) from the
code; this test fails, naming the section, when README.md says anything else. It never writes
the README: ``check`` only compares.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def readme_tables() -> ModuleType:
    path = ROOT / "tools" / "readme_tables.py"
    spec = importlib.util.spec_from_file_location("readme_tables", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_the_readme_reference_tables_are_generated_from_the_code(readme_tables: ModuleType) -> None:
    assert readme_tables.check(ROOT / "README.md") is None


def test_a_stale_section_is_named_in_one_line(readme_tables: ModuleType, tmp_path: Path) -> None:
    from raybench import schema

    text = (ROOT / "README.md").read_text()
    version = schema.get("lr_search").version
    stale = tmp_path / "README.md"
    stale.write_text(text.replace(f"`lr_search` columns (table version {version})",
                                  f"`lr_search` columns (table version {version - 1})"))
    assert readme_tables.check(stale) == ("README.md: section 'columns lr_search' differs from the code; "
                                          "run python tools/readme_tables.py")
    assert readme_tables.main(["--check", "--readme", str(stale)]) == 1
    assert stale.read_text() != text  # --check writes nothing
    missing = tmp_path / "missing.md"
    missing.write_text(text.replace("<!-- generated: problems -->", "<!-- problems -->"))
    assert "no section 'problems'" in readme_tables.check(missing)


def test_every_column_of_every_table_is_described_once_with_its_schema_type(readme_tables: ModuleType) -> None:
    from raybench import schema

    for name, table in schema.TABLES.items():
        text = readme_tables.columns_section(name)
        assert f"`{name}` columns (table version {table.version})" in text
        for field in table.fields:
            assert f"`{field.name}`" in text, (name, field.name)


def test_the_claims_section_states_every_verdict_and_the_quadratic_thresholds(readme_tables: ModuleType) -> None:
    from raybench.reproduce import claims

    section = readme_tables.verdict_rules_section()
    for word in claims.VERDICTS:
        assert f"`{word}" in section, word
    assert f"{claims.REQUIRED_FRACTION:.0%}" in section and f"{claims.NEAR_FACTOR:g}" in section
    assert f"fewer than {claims.MIN_SEEDS}" in section.lower()
