"""README.md and the documentation pages against the code.

The README is the front page: at most ``MAX_LINES`` lines, the two set-up commands, one line per
command of the CLI, links into the documentation site that land (files and headings). The
reference itself lives in ``docs/`` and is generated from the code when the site is built
(``tests/test_docs.py``); what is written by hand, here and in the pages, is checked where it
names the code: every ``raybench COMMAND --option`` shown in the README or a page must be an
option that command's parser has, so a renamed or removed option fails here, naming the page.
"""

from __future__ import annotations

import argparse
import functools
import re
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

from tests.conftest import ROOT

README = ROOT / "README.md"
MAX_LINES = 250
PAGES = sorted((ROOT / "docs").rglob("*.md"))


@functools.cache
def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its words: ``run``, ``rl train``, ... (``""``: raybench itself)."""
    from raybench import cli

    out: dict[str, argparse.ArgumentParser] = {}

    def walk(words: str, parser: argparse.ArgumentParser) -> None:
        out[words] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(f"{words} {name}".strip(), sub)

    walk("", cli.build_parser())
    return out


def test_the_readme_is_short_and_gives_the_two_set_up_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    assert "make demo" in text and "make test" in text and "make docs" in text


def headings(page: Path) -> set[str]:
    """The anchors of a page's headings, as the site (Python-Markdown's toc) makes them."""
    anchors, fence = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        match = None if fence else re.match(r"^#+ (.*?)(?:\s*\{#([\w-]+)\})?\s*$", line)
        if match:
            anchors.add(match.group(2) or slugify(re.sub(r"[`*]", "", match.group(1)), "-"))
    return anchors


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_link_of_the_readme_lands_on_a_file_and_a_heading() -> None:
    links = [link for link in LINK.findall(README.read_text()) if not re.match(r"[a-z]+:", link)]
    assert len(links) > 20
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), f"README.md links to {link}: no such file"
        if anchor:
            assert anchor in headings(target), f"README.md links to {link}: no such heading in {path}"
    pages = {str(p.relative_to(ROOT)) for p in PAGES}
    linked = {link.partition("#")[0] for link in links}
    assert pages - linked == set(), "documentation pages the README does not link to"


def test_the_readme_has_one_line_per_command() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `raybench ")]
    named = []
    for row in rows:
        words = row.split("`")[1].split()[1:]
        if "/" in words:  # `raybench rl train / export / eval`
            named += [f"{words[0]} {w}" for w in words[1:] if w != "/"]
        else:
            named.append(command_of(words))
    commands = sorted(w for w, p in parsers().items() if w and not any(
        isinstance(a, argparse._SubParsersAction) for a in p._actions))
    assert sorted(named) == commands


def shown_commands(text: str) -> list[str]:
    """Every ``raybench ...`` command line a page shows: in code blocks (continuation lines
    joined, comments dropped) and in inline code."""
    out, block, fence = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            block.append(line.split(" #")[0].split("  #")[0])
            if not line.rstrip().endswith("\\"):
                out.append(" ".join(" ".join(part.rstrip("\\ ") for part in block).split()))
                block = []
        else:
            out += re.findall(r"(?<!`)`(raybench [^`]+)`", line)
    return [re.sub(r"^.*?\braybench ", "raybench ", c) for c in out if re.search(r"(^|[\s/])raybench [a-z]", c)]


def command_of(words: list[str]) -> str:
    """The command the first words name (``["rl", "train", "--family"]``: ``rl train``)."""
    command = ""
    for word in words:
        if f"{command} {word}".strip() not in parsers():
            break
        command = f"{command} {word}".strip()
    return command


def check_command(line: str) -> str | None:
    """``None`` when every option ``line`` uses is one its command's parser has, else why not."""
    words = re.split(r"[\s()\[\]|]+", line.split("raybench ", 1)[1])
    command = command_of(words)
    if not command:
        return None  # raybench COMMAND in prose (a placeholder), not a command line
    known = {flag for action in parsers()[command]._actions for flag in action.option_strings}
    for word in words:
        flag = word.split("=")[0].rstrip(".,;:")
        if flag.startswith("--") and len(flag) > 2 and flag not in known:
            return f"raybench {command}: no option {flag} (in: {line.strip()})"
    return None


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_commands_a_page_shows_use_options_their_parser_has(page: Path) -> None:
    problems = [why for line in shown_commands(page.read_text()) if (why := check_command(line))]
    assert problems == [], f"{page.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_a_renamed_option_is_named() -> None:
    assert check_command("raybench run --suite quick --out r/ --tune-lr") is None
    assert check_command("raybench rl train --family quadratic --out p/") is None
    assert check_command("raybench run --suite quick --tune-learning-rate") == (
        "raybench run: no option --tune-learning-rate (in: raybench run --suite quick --tune-learning-rate)")
    assert check_command("raybench rl eval --heldout --no-such") is not None
    assert shown_commands("```bash\nraybench run --suite quick \\\n    --out r/   # a comment --x\n```\n"
                          "and `raybench report DIR --baseline sgd`.") == [
        "raybench run --suite quick --out r/", "raybench report DIR --baseline sgd"]


OTHER_TOOLS = {"--generate", "--follow", "--head", "--num-cpus", "--temp-dir", "--strict"}
"""Options of the other tools the pages show (``ray get-auth-token``, ``ray job logs``,
``ray start``, ``mkdocs build``): every other option a page names in code is raybench's."""


def code_of(text: str) -> str:
    """Everything a page writes as code: fenced blocks and inline spans."""
    blocks = re.findall(r"^```.*?$(.*?)^```", text, flags=re.S | re.M)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return "\n".join([*blocks, *re.findall(r"`([^`]+)`", prose)])


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_option_a_page_names_is_an_option_of_a_command(page: Path) -> None:
    known = {flag for parser in parsers().values() for action in parser._actions for flag in action.option_strings}
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", code_of(page.read_text())))
    assert named - known - OTHER_TOOLS == set(), f"{page.relative_to(ROOT)} names options no command has"
