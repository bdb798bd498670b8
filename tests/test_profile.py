"""AlgoPerf scoring (``raybench.profile``) and optimizer colours on hand-made run rows whose
right answers are worked out by hand: per-problem median times over seeds, ratios to the
fastest, the normalised area up to tau = 4, unsolved problems excluded, and one colour per
optimizer whatever else a folder holds."""

from __future__ import annotations

import math
import zlib

import pandas as pd
import pytest

from raybench import optimizers, profile, report

INF = math.inf


def rows(problem: str, optimizer: str, steps: list[float]) -> list[dict]:
    return [{"problem": problem, "optimizer": optimizer, "seed": seed, "steps_to_target": s}
            for seed, s in enumerate(steps)]


def by_opt(prof: profile.Profile) -> dict[str, float]:
    return dict(zip(prof.scores["optimizer"], prof.scores["score"], strict=True))


def test_scores_by_hand() -> None:
    # medians over seeds: p1: a 100, b 200 -> ratios a 1, b 2.  p2: a 150, b 50 -> ratios a 3, b 1.
    runs = pd.DataFrame(rows("p1", "a", [90, 100, 300]) + rows("p1", "b", [200, 150, 250])
                        + rows("p2", "a", [150, 140, 160]) + rows("p2", "b", [50, 50, INF]))
    prof = profile.profile(runs)
    assert prof.times.loc["p1", "a"] == 100 and prof.times.loc["p2", "b"] == 50
    # area of rho over [1, 4] / 3 = mean over problems of (4 - r) / 3
    # a: ((4-1) + (4-3)) / 3 / 2 = 2/3;  b: ((4-2) + (4-1)) / 3 / 2 = 5/6
    assert by_opt(prof) == pytest.approx({"a": 2 / 3, "b": 5 / 6})
    assert list(prof.scores["optimizer"]) == ["b", "a"]  # best first
    curves = prof.curves.set_index("tau")
    assert list(curves.index) == [1.0, 2.0, 3.0, 4.0]
    assert list(curves["a"]) == [0.5, 0.5, 1.0, 1.0]
    assert list(curves["b"]) == [0.5, 1.0, 1.0, 1.0]
    assert prof.excluded == []


def test_ratios_one_and_two() -> None:
    # a: fastest on both (ratio 1, 1): score 1.  b: ratios 1 (tie) and 2: ((4-1) + (4-2)) / 3 / 2 = 5/6
    runs = pd.DataFrame(rows("p1", "a", [10]) + rows("p1", "b", [10]) + rows("p2", "a", [10]) + rows("p2", "b", [20]))
    assert by_opt(profile.profile(runs)) == pytest.approx({"a": 1.0, "b": 5 / 6})


def test_never_reaching_scores_zero_and_beyond_tau_max_scores_zero() -> None:
    runs = pd.DataFrame(rows("p1", "a", [100, 100]) + rows("p1", "never", [INF, INF])
                        + rows("p1", "far", [500, 500]))  # ratio 5 > tau_max
    prof = profile.profile(runs)
    assert by_opt(prof) == {"a": 1.0, "never": 0.0, "far": 0.0}
    s = prof.scores.set_index("optimizer")
    assert (s.loc["never", "reached"], s.loc["far", "reached"], s.loc["far", "within_tau_max"]) == (0, 1, 0)


def test_median_needs_more_than_half_of_the_seeds() -> None:
    # 2 of 4 seeds reached: median of (10, 10, inf, inf) is inf: not reached.
    # A failed run (NaN) counts as a miss; an optimizer absent from a problem counts as a miss.
    runs = pd.DataFrame(rows("p1", "a", [10, 10, INF, INF]) + rows("p1", "b", [40, 40, 40, math.nan])
                        + rows("p2", "b", [10]))
    prof = profile.profile(runs)
    assert math.isinf(prof.times.loc["p1", "a"]) and prof.times.loc["p1", "b"] == 40
    assert math.isinf(prof.times.loc["p2", "a"])
    assert by_opt(prof) == {"b": 1.0, "a": 0.0}


def test_problem_nobody_solves_is_excluded() -> None:
    runs = pd.DataFrame(rows("solved", "a", [10]) + rows("solved", "b", [20])
                        + rows("unsolved", "a", [INF]) + rows("unsolved", "b", [INF]))
    prof = profile.profile(runs)
    assert prof.excluded == ["unsolved"]
    assert (prof.scores["problems"] == 1).all()
    # b on "solved" alone: (4 - 2) / 3
    assert by_opt(prof) == pytest.approx({"a": 1.0, "b": 2 / 3})
    text = profile.markdown(prof)
    assert "Excluded (no optimizer reached the target): unsolved." in text
    assert "| a | 1.000 | 1/1 | 1/1 |" in text and "| b | 0.667 | 1/1 | 1/1 |" in text


def test_score_on_gradient_evaluations_beside_steps() -> None:
    # "ls" takes fewer steps but 5 gradient evaluations per step: fastest on steps, slower on evals
    runs = pd.DataFrame([{**r, "grad_evals_to_target": r["steps_to_target"] * k}
                         for name, steps, k in (("ls", 10, 5), ("sgd", 20, 1))
                         for r in rows("p", name, [steps])])
    steps, evals = profile.profile(runs), profile.profile(runs, cost="grad_evals_to_target")
    assert by_opt(steps) == pytest.approx({"ls": 1.0, "sgd": 2 / 3})
    assert by_opt(evals) == pytest.approx({"ls": 0.5, "sgd": 1.0})  # ls: 50 / 20 = 2.5 -> (4 - 2.5) / 3
    text = profile.markdown(steps, also=evals)
    assert "| optimizer | score on steps | problems within 4x of the fastest | problems reached " \
           "| score on grad evals |" in text
    assert "| ls | 1.000 | 1/1 | 1/1 | 0.500 |" in text and "| sgd | 0.667 | 1/1 | 1/1 | 1.000 |" in text


def test_nothing_solved_scores_zero() -> None:
    prof = profile.profile(pd.DataFrame(rows("p", "a", [INF]) + rows("p", "b", [INF])))
    assert prof.excluded == ["p"] and by_opt(prof) == {"a": 0.0, "b": 0.0}


def test_target_met_at_step_zero_gives_finite_ratios() -> None:
    # times are clipped below at 1 step: 0 -> 1, 2 -> ratio 2
    prof = profile.profile(pd.DataFrame(rows("p", "a", [0]) + rows("p", "b", [2])))
    assert by_opt(prof) == pytest.approx({"a": 1.0, "b": 2 / 3})


def rgb(hexa: str) -> tuple[int, int, int]:
    return tuple(int(hexa[i:i + 2], 16) for i in (1, 3, 5))


def plotted_colours(runs: pd.DataFrame, folder) -> set[tuple[int, int, int]]:
    from matplotlib import image

    folder.mkdir()
    path = report.plot_algoperf_profile(profile.profile(runs), folder)
    assert path is not None and path.name == "algoperf_profile.png"
    return {tuple(px) for px in (image.imread(path)[..., :3] * 255).round().astype(int).reshape(-1, 3)}


def test_colour_is_fixed_per_name() -> None:
    # registry names take the fixed palette in registry order: all distinct
    names = optimizers.names()[: len(report.PALETTE)]
    assert [report.optimizer_colour(n) for n in names] == list(report.PALETTE[: len(names)])
    # any other name: a colour outside the registry's palette, from a hash that is the same in
    # every process (crc32, not Python's salted hash)
    assert report.optimizer_colour("my_opt") == report.EXTRA_PALETTE[zlib.crc32(b"my_opt") % len(report.EXTRA_PALETTE)]
    assert not set(report.PALETTE) & set(report.EXTRA_PALETTE)


def test_same_optimizer_same_colour_in_two_folders(tmp_path) -> None:
    # two folders with different optimizer sets, each solved by its first optimizer on p1 and
    # its second on p2 so that every line is drawn
    first = pd.DataFrame(rows("p1", "adam", [10]) + rows("p1", "lbfgs", [20]) + rows("p1", "my_opt", [30])
                         + rows("p2", "adam", [30]) + rows("p2", "lbfgs", [10]) + rows("p2", "my_opt", [20]))
    second = pd.DataFrame(rows("p1", "sgd", [10]) + rows("p1", "lbfgs", [20]) + rows("p1", "my_opt", [30])
                          + rows("p1", "other_opt", [25]) + rows("p2", "sgd", [30]) + rows("p2", "lbfgs", [10])
                          + rows("p2", "my_opt", [20]) + rows("p2", "other_opt", [25]))
    seen_first = plotted_colours(first, tmp_path / "first")
    seen_second = plotted_colours(second, tmp_path / "second")
    for name in ("lbfgs", "my_opt"):
        assert rgb(report.optimizer_colour(name)) in seen_first & seen_second, name
    assert rgb(report.optimizer_colour("adam")) in seen_first - seen_second
    assert rgb(report.optimizer_colour("sgd")) in seen_second - seen_first
    assert rgb(report.optimizer_colour("rmsprop")) not in seen_first | seen_second
