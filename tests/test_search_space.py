"""Search spaces as data (``raybench.search_space``): every zoo entry declares one, ``raybench list``
shows it, a suite file overrides it, each bad input is one line and exit 2 before any run (no Ray:
``--check``), and the Sobol points of a study are fixed and lie in the space."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from raybench import optimizers, search_space, suites
from raybench.search_space import SearchSpace
from tests.conftest import cli, ok


@pytest.fixture(autouse=True)
def clean_registries():
    """The user entries a test registers (``myasgd``, through a suite) are gone afterwards: the
    registry is process-wide, and another test gives the same name its own search space."""
    before = dict(optimizers.REGISTRY)
    yield
    for name in set(optimizers.REGISTRY) - set(before):
        del optimizers.REGISTRY[name]


def test_every_registry_entry_declares_a_checked_space_of_two_or_more_hyperparameters() -> None:
    for name in optimizers.names():
        entry = optimizers.get(name)
        if entry.origin != "raybench":  # a user's entry another test registered in this process
            continue
        space = search_space.declared(entry)  # names checked against what the entry takes
        assert "lr" in space.names or name == "autonomous", name  # lr_search reads the name from it
        if name != "autonomous":  # the learned optimizer's one knob: its lr_scale
            assert len(space.dims) >= 2, name
        for dim in space.dims:
            if dim.name in entry.defaults:
                assert dim.contains(entry.defaults[dim.name]), (name, dim)


def test_list_shows_each_optimizers_space_in_one_line() -> None:
    lines = ok(cli("list")).stdout.splitlines()
    for name in optimizers.names():
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
        assert lines[at + 1].split(":", 1) == ["search space".rjust(len(lines[at + 1].split(":", 1)[0])),
                                               " " + search_space.declared(optimizers.get(name)).text()]
    assert any("search space: lr 0.0001..0.1 log; one_minus_beta1 0.01..0.3 log" in line for line in lines)


def test_a_suite_overrides_a_built_in_space_and_a_user_entry_gets_a_learning_rate_space() -> None:
    spaces: dict[str, SearchSpace] = {}
    suite = {"problems": ["quadratic"], "optimizers": [
        {"name": "adam", "search_space": {"lr": {"min": 1e-3, "max": 1e-1, "scaling": "log"},
                                          "beta2": {"values": [0.99, 0.999], "scaling": "choice"}}},
        "sgd", {"name": "myasgd", "path": "torch.optim:ASGD"}],
        "search_space": {"sgd": {"momentum": {"min": 0.0, "max": 0.9, "scaling": "linear"}}}}
    suites.expand(suite, spaces=spaces)
    assert spaces["adam"].as_data() == {"lr": {"min": 1e-3, "max": 1e-1, "scaling": "log"},
                                        "beta2": {"values": [0.99, 0.999], "scaling": "choice"}}
    assert spaces["sgd"].text() == "momentum 0..0.9 linear"
    assert spaces["myasgd"].as_data() == optimizers.DEFAULT_LR_SPACE
    assert optimizers.get("adam").search_space["lr"] == {"min": 1e-4, "max": 1e-1, "scaling": "log"}  # registry untouched


def test_a_point_becomes_hyperparameters_a_run_takes() -> None:
    resolved = optimizers.resolve_hparams("adam")
    hp = search_space.hparams({"lr": 0.01, "one_minus_beta2": 0.01, "beta1": 0.8, "warmup": 0.05}, resolved)
    assert hp["betas"] == (0.8, 0.99) and hp["lr"] == 0.01
    assert hp["warmup"] == 0.05 and hp["schedule"] == "warmup_cosine"  # a warm-up needs a schedule that uses it
    assert optimizers.resolve_hparams("adam", hp)["betas"] == (0.8, 0.99)
    assert search_space.hparams({"history_size": 7.6}, optimizers.resolve_hparams("lbfgs"))["history_size"] == 8


def test_sobol_points_are_fixed_per_study_and_lie_in_the_space() -> None:
    space = SearchSpace.parse({"lr": {"min": 1e-4, "max": 1.0, "scaling": "log"},
                               "momentum": {"min": 0.0, "max": 0.99, "scaling": "linear"},
                               "beta2": {"values": [0.9, 0.99, 0.999], "scaling": "choice"}}, "test")
    first = search_space.points(space, 0, 5)
    assert first == search_space.points(space, 0, 5)  # deterministic
    assert search_space.points(space, 0, 2) == first[:2]  # study s's first K points do not depend on how many follow
    assert search_space.points(space, 1, 5) != first  # another study, another sequence
    assert len({p["lr"] for p in first}) == 5 and all(space.contains(p) for s in range(3)
                                                       for p in search_space.points(space, s, 8))


# -- bad input: one line, exit 2, before any run ------------------------------------------------
BAD_SPACES = {
    "empty range": ({"lr": {"min": 0.1, "max": 0.1}}, "empty range"),
    "inverted range": ({"lr": {"min": 0.1, "max": 0.01}}, "inverted range"),
    "log scale reaching 0": ({"weight_decay": {"min": 0.0, "max": 0.1, "scaling": "log"}}, "log scale cannot reach"),
    # (for an import-path entry the registry may say it first: "... learning_rate, which torch.optim:ASGD does not take")
    "unknown hyperparameter": ({"learning_rate": {"min": 1e-4, "max": 0.1}}, "learning_rate"),
    "bad scale": ({"lr": {"min": 1e-4, "max": 0.1, "scaling": "exp"}}, "bad scaling 'exp'"),
    "empty choice": ({"lr": {"values": [], "scaling": "choice"}}, "non-empty list 'values'"),
}


def _suite(tmp_path: Path, **extra) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"problems": ["quadratic"], "seeds": 1, "steps": 5, **extra}))
    return str(path)


@pytest.mark.parametrize("case", list(BAD_SPACES))
@pytest.mark.parametrize("where", ["entry", "suite key", "user entry"])
def test_a_bad_space_is_one_line_and_exit_2(case: str, where: str, tmp_path: Path) -> None:
    space, words = BAD_SPACES[case]
    if where == "entry":
        config = _suite(tmp_path, optimizers=[{"name": "adam", "search_space": space}])
    elif where == "suite key":
        config = _suite(tmp_path, optimizers=["adam"], search_space={"adam": space})
    else:
        config = _suite(tmp_path, optimizers=[{"name": "myasgd", "path": "torch.optim:ASGD", "search_space": space}])
    proc = cli("run", "--config", config, "--out", str(tmp_path / "r"), "--check")
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    if case == "unknown hyperparameter" and where != "user entry":
        assert "unknown hyperparameter 'learning_rate'; accepted: " in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
