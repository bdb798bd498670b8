"""The optimizer zoo under three tuning protocols, two tuning budgets and three step budgets.

    python benchmarks/tuning_protocols.py run OUT       # the six raybench commands (about an hour here)
    python benchmarks/tuning_protocols.py analyse OUT   # tables and CSVs from their folders

``run`` runs ``raybench run`` six times, into ``OUT/<protocol>_<group>``:

- protocols: ``defaults`` (no tuning), ``lr`` (the learning-rate search: 6 values over 4 decades
  centred on each default, 2 tuning seeds, up to 3 values past an edge winner) and ``external``
  (AlgoPerf's external tuning: 3 studies x 5 Sobol points of each optimizer's declared space,
  each trial on 2 tuning seeds), the last scored at tuning budgets 1 and 5 trials per study from
  the same trials;
- groups: ``cheap`` = quadratic and logistic at step budgets 100, 200 and 400 (each budget its own
  warmup-cosine schedule and its own tuning), ``main`` = mlp and mnist_mlp (the offline MNIST
  subset) at their default budgets;
- ten optimizers (``ZOO``) and 6 evaluation seeds (0-5: the fewest at which a 95%
  distribution-free interval for a median exists), the same seeds under every protocol, so
  results pair by seed.

Each command's wall time and exit code go to ``OUT/timings.json``; its output to
``OUT/<folder>.log``. Rerunning ``run`` resumes (``--resume``) what is not finished.

``analyse`` reads the folders (``raybench.results``) and writes into OUT:

- ``protocols_scores.csv``: each optimizer's AlgoPerf score (performance-profile area on steps to
  target over the problem instances) per protocol and group, and its rank;
- ``protocols_end.csv``: per problem (and step budget), optimizer and protocol the median test
  headline metric over seeds, runs not ok, and the rank;
- ``protocols_budgets.csv``: the external protocol's time to target (median over studies of each
  study's fastest trial) and chosen validation score at tuning budgets 1 and 5, with ranks;
- ``protocols_cost.csv``: each protocol's total tuning cost per pair (runs, steps, seconds);
- ``zoo_claims.csv``: each zoo optimizer's published headline claim against what this scale
  measures, judged by ``docs/verdict_rules.md`` (``reproduce.claims``' rules);
- ``protocols.md``: the same as Markdown tables, with where rankings change.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ZOO = "adam,adamw,nadam,lion,muon,soap,schedule_free_adamw,prodigy,adan,momentum"
SEEDS = 6
GROUPS = {
    "cheap": ["--problems", "quadratic,logistic", "--step-budgets", "100,200,400"],
    "main": ["--problems", "mlp,mnist_mlp"],
}
PROTOCOLS = {
    "defaults": ["--tuning", "defaults"],
    "lr": ["--tuning", "lr"],
    "external": ["--tuning", "external", "--studies", "3", "--trials", "5", "--tuning-budgets", "1,5"],
}


def folders() -> list[tuple[str, str, str]]:
    """(folder name, protocol, group) of every command, in the order ``run`` runs them."""
    return [(f"{p}_{g}", p, g) for p in PROTOCOLS for g in GROUPS]


def run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for name, protocol, group in folders():
        if timings.get(name, {}).get("rc") == 0:
            print(f"{name}: done before ({timings[name]['seconds']:.0f} s)", flush=True)
            continue
        resume = ["--resume"] if (out / name).exists() else []
        cmd = [sys.executable, "-m", "raybench.cli", "run", *GROUPS[group], "--optimizers", ZOO,
               "--seeds", str(SEEDS), *PROTOCOLS[protocol], "--out", str(out / name), "--no-progress", *resume]
        print(f"{name}: {' '.join(cmd[2:])}", flush=True)
        t0 = time.perf_counter()
        with open(out / f"{name}.log", "a") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - t0
        timings[name] = {"rc": rc, "seconds": seconds, "command": " ".join(["raybench", *cmd[3:]])}
        timings_path.write_text(json.dumps(timings, indent=1))
        print(f"{name}: exit {rc} after {seconds:.0f} s", flush=True)
    total = sum(t["seconds"] for t in timings.values())
    print(f"total {total:.0f} s ({total / 60:.1f} min)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["run", "analyse"])
    p.add_argument("out", type=Path)
    args = p.parse_args()
    if args.what == "run":
        run(args.out)
    else:
        from benchmarks.tuning_protocols_analysis import analyse

        analyse(args.out)


if __name__ == "__main__":
    main()
