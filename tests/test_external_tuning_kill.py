"""The driver SIGKILLed during ``raybench run --tuning external``'s trials, then ``--resume``.

The command runs as a real subprocess on its own embedded Ray (which dies with its driver),
writing every finished batch of trial runs as its own Parquet part (``RAYBENCH_FLUSH_EVERY_RUNS=1``),
and is SIGKILLed once the first trial runs are written; the resume runs in process on the
session's Ray. Every trial run written before the kill must stay as it was (no finished trial
reruns), the others must be run once each, and the evaluation runs and the ``tuning`` table must
be complete. In the same way as test_faults_resume.py covers multi-init and RL training.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raybench import external_tuning, results
from raybench.lr_search import TUNING_SEEDS
from tests.conftest import ROOT, cli, cli_env, ok, wait_for
from tests.test_external_tuning import _suite

STUDIES, TRIALS, SEEDS = 2, 3, 2
TRIAL_RUNS = STUDIES * TRIALS * len(TUNING_SEEDS)
STEPS = 1000
"""About 0.25 s a run on a quiet core, 0.4 s on a loaded one (measured), so that the 12 trial runs,
2 at a time, are written over a second or more after the first ones: the kill (polled every 0.1 s)
comes in the middle of the trials (1 of 12 written, in every run seen). Should a machine finish
them all first, the test holds as well: then every trial is "already there"."""
SPACE = {"lr": {"min": 0.05, "max": 0.5, "scaling": "log"}}
"""Below the quadratic's divergence (2/3 with eigenvalues up to 3): no trial stops early."""


def _parts(folder: Path) -> dict[str, str]:
    """Each finished Parquet part of ``folder`` (``.tmp-`` files are a write cut short) with a
    digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("part-*.parquet"))}


def _run_ids(folder: Path, names) -> list[str]:
    """The run ids of the parts ``names`` of ``folder``, as written (a run written twice is
    listed twice: ``results.read_table`` would keep one)."""
    return [rid for name in names for rid in pq.read_table(folder / name, columns=["run_id"])["run_id"].to_pylist()]


@pytest.mark.ray
@pytest.mark.slow
def test_external_tuning_driver_sigkill_then_resume_reruns_no_finished_trial(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "r"
    trial_runs = out / external_tuning.TRIALS_FOLDER / "runs"
    config = _suite(tmp_path, space=SPACE, steps=STEPS, eval_every=STEPS // 10, seeds=SEEDS)
    args = ["run", "--config", config, "--out", str(out), "--no-progress", "--tuning", "external",
            "--studies", str(STUDIES), "--trials", str(TRIALS)]
    proc = subprocess.Popen([sys.executable, "-m", "raybench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(RAYBENCH_FLUSH_EVERY_RUNS="1"), cwd=ROOT)
    try:
        wait_for(lambda: _parts(trial_runs), 240, proc, "the first trial runs written")
    finally:
        proc.send_signal(signal.SIGKILL)  # nothing, should the command have ended (then all trials are there)
        proc.communicate()
    before = _parts(trial_runs)
    finished = _run_ids(trial_runs, before)
    assert finished and len(finished) == len(set(finished)) <= TRIAL_RUNS
    if len(finished) < TRIAL_RUNS:  # killed during the trials (the usual case: see STEPS)
        assert not _parts(out / "runs"), "the evaluation runs start only once every trial is written"

    done = ok(cli(*args, "--resume"))  # the resume in process, on the session's Ray

    assert (f"= {TRIAL_RUNS} runs in {external_tuning.trials_folder(str(out))}; {len(finished)} already there"
            in done.stderr), done.stderr[-3000:]
    after = _parts(trial_runs)
    # no finished trial reran: every part written before the kill is there, byte for byte ...
    assert {name: after.get(name) for name in before} == before
    # ... and the parts written since hold exactly the trial runs that were missing, once each
    since = _run_ids(trial_runs, sorted(set(after) - set(before)))
    assert len(since) == TRIAL_RUNS - len(finished) and not set(since) & set(finished)
    every = _run_ids(trial_runs, after)
    assert len(every) == len(set(every)) == TRIAL_RUNS
    trials = results.read_table(str(out / external_tuning.TRIALS_FOLDER), "runs")
    assert set(trials["hparam_source"]) == {"trial"} and set(trials["seed"]) == set(TUNING_SEEDS)
    assert (trials["status"] == "ok").all(), trials[["seed", "status", "error"]]
    curves = results.read_table(str(out / external_tuning.TRIALS_FOLDER), "curves")
    assert set(curves["run_id"]) == set(every) and not curves.duplicated(["run_id", "step"]).any()
    # the tuning table: one row per trial, whose runs are the trial runs, each in one trial
    table = results.read_table(str(out), "tuning")
    assert sorted(zip(table["study"], table["trial"])) == [(s, k) for s in range(STUDIES) for k in range(TRIALS)]
    named = [rid for ids in table["run_ids"] for rid in json.loads(ids)]
    assert sorted(named) == sorted(every) and table["chosen"].sum() == 1
    # the evaluation runs: the chosen point on every evaluation seed, each once
    evaluation = _run_ids(out / "runs", _parts(out / "runs"))
    summary = results.read_table(str(out), "tuning_summary")
    assert len(summary) == 1 and sorted(evaluation) == sorted(json.loads(summary["eval_run_ids"].iloc[0]))
    assert len(evaluation) == len(set(evaluation)) == SEEDS
    runs = results.read_table(str(out), "runs")
    assert set(runs["hparam_source"]) == {"tuned"} and sorted(runs["seed"]) == list(range(SEEDS))
    assert (runs["status"] == "ok").all(), runs[["seed", "status", "error"]]
