"""The built-in ``standard`` suite: one problem per kind, convex to language model, each at its own
budget and target; its ``standard_gpu`` variant at the GPU sizes."""

from __future__ import annotations

from raybench import optimizers, problems, suites


def test_standard_holds_one_problem_of_each_kind_at_the_cpu_sizes() -> None:
    specs = suites.expand(suites.builtin("standard"), seeds=1)
    names = list(dict.fromkeys(s.problem for s in specs))
    assert names == ["quadratic", "logistic", "rosenbrock", "mnist1d_cnn", "fashion_mlp", "char_gpt"]
    kinds = {name: problems.get(name) for name in names}
    assert not any(p.needs_data for n, p in kinds.items() if n in ("quadratic", "logistic", "rosenbrock"))
    assert kinds["fashion_mlp"].needs_data  # a full data set (make data)
    assert "bits_per_char" in kinds["char_gpt"].metrics  # the language model
    assert {s.optimizer for s in specs} == set(optimizers.baselines())
    assert all(s.steps is None and not s.options for s in specs)  # each problem's own budget and size


def test_standard_gpu_uses_the_larger_sizes() -> None:
    specs = suites.expand(suites.builtin("standard_gpu"), seeds=1)
    gpt = {s.options.get("size") for s in specs if s.problem == "char_gpt"}
    assert gpt == {"gpu"} and {"fashion_cnn", "cifar100_cnn"} <= {s.problem for s in specs}
