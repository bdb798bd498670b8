"""Suites: which problems, optimizers, seeds and hyperparameters one benchmark runs.

A suite is plain data, built in (``builtin_suites()``) or read from a YAML file (safe loader)::

    name: my-suite
    seeds: 5                 # or a list of seeds: [0, 1, 2]
    steps: 300               # optional: overrides every problem's default budget
    problems:
      - quadratic
      - {name: mnist_mlp, options: {dataset: mnist_subset}, steps: 300}
    optimizers: [adam, sgd, momentum, modified_adam]
    hparams:                 # optional, per optimizer
      sgd: {lr: 0.05}
    search_space:            # optional, per optimizer: replaces its declared space (raybench.search_space)
      adam: {lr: {min: 1.0e-4, max: 1.0e-2, scaling: log}, beta2: {values: [0.99, 0.999], scaling: choice}}
    tuning: external         # optional: defaults | lr | external, or {protocol: external, studies: 3,
                             # trials: 5, budgets: [1, 5]} (the command line's --tuning ... beat it)

Every name, option and hyperparameter is checked before any run starts; a fault is one
``UsageError`` line naming it and what is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raybench import optimizers, problems, search_space
from raybench.errors import UsageError
from raybench.search_space import SearchSpace
from raybench.spec import RunSpec

STANDARD_PROBLEMS: list[Any] = ["quadratic", "logistic", "rosenbrock", "mnist1d_cnn", "fashion_mlp", "char_gpt"]
"""The ``standard`` suite's problems, one per kind: a convex quadratic, convex classification
(logistic regression), a non-convex valley (Rosenbrock), a small 1-D CNN on generated data
(MNIST-1D), an image classifier on a full data set (Fashion-MNIST) and a language model (the
character GPT on the packaged corpus)."""


def builtin_suites() -> dict[str, dict[str, Any]]:
    """The built-in suites; which problems need data and which optimizers are baselines are
    registry flags, read here, not lists kept beside the registries."""
    synthetic = [name for name in problems.names() if not problems.get(name).needs_data]
    return {
        # Every synthetic problem plus the offline MNIST subset, every baseline, 5 seeds:
        # a few minutes on a 2-core laptop.
        "quick": {
            "name": "quick",
            "seeds": 5,
            "problems": [*synthetic, {"name": "mnist_mlp", "options": {"dataset": "mnist_subset"}, "steps": 300}],
            "optimizers": optimizers.baselines(),
        },
        # One problem per kind, convex to language model, at the CPU sizes and each problem's own
        # budget, target and parameter roles: the suite a researcher runs their optimizer on
        # (`raybench run --suite standard --optimizers adam,muon,mine=MOD:CLASS --tune-lr`).
        # Needs full Fashion-MNIST (`make data`); the budgets and targets are the problems' own
        # (provisional until calibrated: docs/problems.md).
        "standard": {
            "name": "standard",
            "seeds": 5,
            "problems": STANDARD_PROBLEMS,
            "optimizers": optimizers.baselines(),
        },
        # The same kinds at the GPU sizes, for `--gpus-per-run` on a cluster: the character GPT
        # of a few million parameters, the image CNN on full Fashion-MNIST and CIFAR-100.
        "standard_gpu": {
            "name": "standard_gpu",
            "seeds": 5,
            "problems": [*STANDARD_PROBLEMS[:3], "mnist1d_cnn", "fashion_cnn", "cifar100_cnn",
                         {"name": "char_gpt", "options": {"size": "gpu"}}],
            "optimizers": optimizers.baselines(),
        },
        # The research summary's table: MNIST CNN, CIFAR-100, quadratic, logistic regression.
        # Sized for a GPU cluster (full datasets, default budgets).
        "seed": {
            "name": "seed",
            "seeds": 5,
            "problems": ["mnist_cnn", "cifar100_cnn", "quadratic", "logistic"],
            "optimizers": optimizers.baselines(),
        },
    }

_SUITE_KEYS = {"name", "seeds", "steps", "problems", "optimizers", "hparams", "eval_every", "patience",
               "search_space", "tuning"}
_PROBLEM_KEYS = {"name", "options", "steps", "eval_every"}


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a suite YAML file with the safe loader (no Python objects, ever)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"suite file {path} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise UsageError(f"suite file {path} is not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise UsageError(f"suite file {path} must be a mapping with keys: {', '.join(sorted(_SUITE_KEYS))}")
    return data


def builtin(name: str) -> dict[str, Any]:
    suites = builtin_suites()
    if name not in suites:
        raise UsageError(f"unknown suite {name!r}; accepted: {', '.join(suites)}")
    return suites[name]


def expand(suite: dict[str, Any], *, hparam_overrides: dict[str, dict[str, Any]] | None = None,
           steps: int | None = None, seeds: int | None = None, eval_every: int | None = None,
           spaces: dict[str, SearchSpace] | None = None) -> list[RunSpec]:
    """The suite's runs: problems x optimizers x seeds, each a resolved ``RunSpec``. ``steps``,
    ``seeds`` and ``eval_every`` (the command line's) beat the suite's own. ``spaces``, when
    given, is filled with every optimizer's search space: the suite's override, else its entry's."""
    unknown = sorted(set(suite) - _SUITE_KEYS)
    if unknown:
        raise UsageError(f"unknown suite key {unknown[0]!r}; accepted: {', '.join(sorted(_SUITE_KEYS))}")
    for key in ("problems", "optimizers"):
        if not isinstance(suite.get(key), list) or not suite[key]:
            raise UsageError(f"suite needs a non-empty list {key!r}")
    seed_list = _seeds(seeds if seeds is not None else suite.get("seeds", 1))
    hparams: dict[str, dict[str, Any]] = {}
    raw_hparams = suite.get("hparams") or {}
    if not isinstance(raw_hparams, dict):
        raise UsageError("suite key 'hparams' must map optimizer -> {name: value}")
    for source in (raw_hparams, hparam_overrides or {}):
        for opt, values in source.items():
            if not isinstance(values, dict):
                raise UsageError(f"hparams for {opt!r} must be a mapping name -> value")
            hparams.setdefault(opt, {}).update(values)
    given_spaces: dict[str, SearchSpace] = {}
    opt_names = use_optimizers(suite["optimizers"], hparams, given_spaces)
    _top_level_spaces(suite.get("search_space"), opt_names, given_spaces)
    if spaces is not None:
        spaces.update({opt: given_spaces[opt] if opt in given_spaces else search_space.declared(optimizers.get(opt))
                       for opt in opt_names})
    for opt in hparams:
        if opt not in opt_names:
            raise UsageError(f"hyperparameters given for {opt!r}, which is not in this suite's "
                             f"optimizers: {', '.join(opt_names)}")
    resolved = {opt: optimizers.resolve_hparams(opt, hparams.get(opt)) for opt in opt_names}
    specs = []
    for entry in suite["problems"]:
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or "name" not in entry:
            raise UsageError(f"a problem entry must be a name or a mapping with 'name', got {entry!r}")
        bad = sorted(set(entry) - _PROBLEM_KEYS)
        if bad:
            raise UsageError(f"unknown problem key {bad[0]!r}; accepted: {', '.join(sorted(_PROBLEM_KEYS))}")
        name = use_problem(str(entry["name"]))
        options = dict(entry.get("options") or {})
        problems.get(name).check_options(options)
        # --steps beats the problem entry's steps, which beats the suite's.
        p_steps = steps if steps is not None else entry.get("steps", suite.get("steps"))
        for opt in opt_names:
            for seed in seed_list:
                specs.append(RunSpec.build(
                    name, opt, seed, hparams=resolved[opt], options=options, steps=p_steps,
                    eval_every=eval_every if eval_every is not None else entry.get("eval_every",
                                                                                   suite.get("eval_every")),
                    patience=suite.get("patience"),
                    hparam_source="config" if opt in hparams else "default"))
    return specs


_OPTIMIZER_KEYS = {"name", "path", "hparams", "search_space"}


def use_optimizers(items: list[Any], hparams: dict[str, dict[str, Any]],
                   spaces: dict[str, SearchSpace] | None = None) -> list[str]:
    """The names of a suite's optimizers, each a registry name, ``NAME=MODULE:CLASS``,
    ``MODULE:CLASS`` or a mapping ``{name, path, hparams, search_space}``; import paths are
    registered (``raybench.registry``) and a mapping's ``hparams`` go into ``hparams`` (under
    any given on the command line). A mapping's ``search_space`` (any entry's, built-in or the
    user's) is checked and goes into ``spaces``. A name given twice is a ``UsageError``."""
    names: list[str] = []
    for item in items:
        if isinstance(item, dict):
            bad = sorted(set(item) - _OPTIMIZER_KEYS)
            if bad or "name" not in item and "path" not in item:
                raise UsageError(f"bad optimizer entry {item!r}; accepted keys: {', '.join(sorted(_OPTIMIZER_KEYS))} "
                                 "(name or path required)")
            name, path = item.get("name"), item.get("path")
            given = item.get("search_space")
            space = None if given is None else search_space.SearchSpace.parse(given, str(name or path))
            if path:
                # The registry keeps the ranges it can hold (an import-path entry's learning rate
                # is what --tune-lr searches over); the whole space is the suite's, below.
                name = optimizers.get(f"{name}={path}" if name else str(path),
                                      search_space=None if space is None else _registry_part(space)).name
            if space is not None:
                space.check_names(optimizers.get(str(name)).defaults, str(name))
                if spaces is not None:
                    spaces[str(name)] = space
            if item.get("hparams"):
                if not isinstance(item["hparams"], dict):
                    raise UsageError(f"hparams for {name!r} must be a mapping name -> value")
                hparams[str(name)] = {**item["hparams"], **hparams.get(str(name), {})}
        else:
            name = optimizers.get(str(item)).name
        optimizers.get(str(name))
        if name in names:
            raise UsageError(f"optimizer {name!r} is given twice in this suite; give each entry its own name")
        names.append(str(name))
    return names


def _registry_part(space: SearchSpace) -> dict[str, Any]:
    """The part of a user's space an import-path registry entry holds: positive ranges of its own
    hyperparameters (no choices, schedule hyperparameters or pieces of betas)."""
    skip = set(search_space.SCHEDULE_NAMES) | set(search_space.BETA_NAMES)
    return {d.name: d.as_data() for d in space.dims if d.scaling != "choice" and d.min > 0 and d.name not in skip}


def _top_level_spaces(given: Any, opt_names: list[str], spaces: dict[str, SearchSpace]) -> None:
    """The suite's ``search_space:`` key (optimizer -> space), checked into ``spaces``."""
    if given is None:
        return
    if not isinstance(given, dict):
        raise UsageError("suite key 'search_space' must map optimizer -> {hyperparameter: {min, max, scaling}}")
    for opt, data in given.items():
        if opt not in opt_names:
            raise UsageError(f"search space given for {opt!r}, which is not in this suite's optimizers: "
                             f"{', '.join(opt_names)}")
        space = search_space.SearchSpace.parse(data, str(opt))
        space.check_names(optimizers.get(str(opt)).defaults, str(opt))
        spaces[str(opt)] = space


def use_problem(text: str) -> str:
    """A problem entry's name: a registry name, or ``MODULE:ATTR`` registered (``raybench.registry``)."""
    return problems.get(text).name


def _seeds(value: Any) -> list[int]:
    if isinstance(value, bool):
        raise UsageError(f"seeds must be a count or a list of integers, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise UsageError(f"seeds must be >= 1, got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [int(v) for v in value]
    raise UsageError(f"seeds must be a count or a list of integers, got {value!r}")


def parse_hparam_flags(flags: list[str]) -> dict[str, dict[str, Any]]:
    """``["adam.lr=0.01", "sgd.momentum=0.5"]`` -> ``{"adam": {"lr": "0.01"}, ...}`` (coerced later)."""
    out: dict[str, dict[str, Any]] = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        opt, dot, name = key.partition(".")
        if not sep or not dot or not opt or not name:
            raise UsageError(f"bad --hparam {flag!r}: expected OPTIMIZER.NAME=VALUE, e.g. adam.lr=0.01")
        out.setdefault(opt, {})[name] = value
    return out


def parse_option_flags(flags: list[str]) -> dict[str, Any]:
    """``["dim=20", "dataset=mnist_subset"]`` -> problem options (YAML scalars: ints, floats, bools)."""
    import yaml

    out: dict[str, Any] = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key:
            raise UsageError(f"bad --option {flag!r}: expected NAME=VALUE, e.g. dim=20")
        out[key] = yaml.safe_load(value) if value else value
    return out


_TUNING_KEYS = {"protocol", "studies", "trials", "budgets"}
TUNING_PROTOCOLS = ("defaults", "lr", "external")
"""The tuning protocols (``raybench run --tuning``; ``raybench.external_tuning``)."""


def tuning(suite: dict[str, Any]) -> dict[str, Any]:
    """The suite's ``tuning:`` key as ``{protocol, studies, trials, budgets}`` (the ones it gives):
    a protocol name, or a mapping with those keys; checked (one ``UsageError`` line)."""
    given = suite.get("tuning")
    if given is None:
        return {}
    if isinstance(given, str):
        given = {"protocol": given}
    if not isinstance(given, dict):
        raise UsageError(f"suite key 'tuning' must be a protocol ({', '.join(TUNING_PROTOCOLS)}) or a mapping with "
                         f"keys {', '.join(sorted(_TUNING_KEYS))}, got {given!r}")
    bad = sorted(set(given) - _TUNING_KEYS)
    if bad:
        raise UsageError(f"unknown tuning key {bad[0]!r}; accepted: {', '.join(sorted(_TUNING_KEYS))}")
    if given.get("protocol", "external") not in TUNING_PROTOCOLS:
        raise UsageError(f"unknown tuning protocol {given['protocol']!r}; accepted: {', '.join(TUNING_PROTOCOLS)}")
    for key in ("studies", "trials"):
        if key in given and (isinstance(given[key], bool) or not isinstance(given[key], int)):
            raise UsageError(f"tuning {key} must be an integer >= 1, got {given[key]!r}")
    budgets = given.get("budgets")
    if budgets is not None and not (isinstance(budgets, list) and all(isinstance(b, int) for b in budgets)):
        raise UsageError(f"tuning budgets must be a list of integers, e.g. [1, 5], got {budgets!r}")
    return {"protocol": "external", **given}
