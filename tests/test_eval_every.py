"""``raybench run --eval-every N``: denser (or sparser) validation evaluations, where a speed
claim needs them resolved; the command line's spacing beats a suite file's."""

from __future__ import annotations

from pathlib import Path

import pytest

from raybench import runner
from raybench.cli import build_parser, main
from raybench.commands.run_cmd import build_specs


def test_eval_every_sets_the_curve_spacing_of_every_run(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text("problems: [{name: quadratic, eval_every: 10}]\noptimizers: [adam]\nsteps: 20\n")
    parse = build_parser().parse_args
    assert [s.eval_every for s in build_specs(parse(["run", "--config", str(suite), "--out", "x"]))] == [10]
    specs = build_specs(parse(["run", "--config", str(suite), "--eval-every", "4", "--out", "x"]))
    assert [s.eval_every for s in specs] == [4]
    _, curve = runner.execute(specs[0])
    assert [point["step"] for point in curve] == [0, 4, 8, 12, 16, 20]


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_bad_eval_every_is_one_line_and_exit_2(value: str, tmp_path: Path, capsys) -> None:
    assert main(["run", "--problems", "quadratic", "--eval-every", value, "--out", str(tmp_path / "r"), "--check"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"eval_every must be a positive integer, got {value}" in lines[0]
