"""``--tuning defaults --budget-factor F``: AlgoPerf's self-tuning analogue with a larger step
budget. A run's budget is F times its own (the problem's default, or ``--steps``), its id says
so (and a factor of 1 leaves every earlier id as it was), and bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from raybench import runner
from raybench.errors import UsageError
from raybench.spec import RunSpec
from tests.conftest import cli


def test_a_run_gets_the_factor_times_its_budget() -> None:
    plain = RunSpec.build("quadratic", "adam", 0)
    longer = RunSpec.build("quadratic", "adam", 0, budget_factor=1.5)
    assert longer.run_id != plain.run_id and plain.with_(budget_factor=1.0).run_id == plain.run_id
    row, curves = runner.execute(longer)
    assert row["status"] == "ok" and row["budget_steps"] == row["steps"] == 750  # the quadratic's 500 x 1.5
    assert max(c["step"] for c in curves) == 750
    given = runner.execute(RunSpec.build("quadratic", "adam", 0, steps=40, budget_factor=1.5))[0]
    assert given["budget_steps"] == 60
    with pytest.raises(UsageError, match="bad budget factor 0"):
        RunSpec.build("quadratic", "adam", 0, budget_factor=0)


@pytest.mark.parametrize(("args", "words"), [
    (["--budget-factor", "1.5", "--tuning", "lr"], "--budget-factor applies to --tuning defaults"),
    (["--budget-factor", "1.5", "--tuning", "external"], "--budget-factor applies to --tuning defaults"),
    (["--budget-factor", "0"], "bad budget factor 0.0"),
    (["--budget-factor", "inf"], "bad budget factor inf"),
])
def test_bad_budget_factor_is_one_line_and_exit_2(args: list[str], words: str, tmp_path: Path) -> None:
    done = cli("run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "1", "--out",
               str(tmp_path / "r"), "--check", *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and words in lines[0], done.stderr


def test_check_lists_the_larger_budget(tmp_path: Path) -> None:
    done = cli("run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "2", "--out",
               str(tmp_path / "r"), "--check", "--tuning", "defaults", "--budget-factor", "1.5")
    assert done.returncode == 0, done.stderr
    assert "quadratic  adam  2 runs  steps default x 1.5" in done.stdout
