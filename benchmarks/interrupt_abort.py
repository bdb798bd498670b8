"""Ctrl-C during ``raybench run``: does the interrupted command always exit 130?

Starts the real executable (``python -m raybench.cli run``, the console script's ``entry``)
``--tries`` times on a small suite, waits until its first batch of runs is on disk (a Parquet
part under ``OUT/runs``, as tests/test_runner_cli.py's interrupt test does) plus ``--delay``
seconds, sends SIGINT and waits for it to exit. Each try is counted by its exit code and by
what its stderr shows: Ray's core aborting (``Check failed``, ``Tried to complete task that was
not pending``, a ``*** SIGABRT`` stack), and whether the finished runs are on disk.

The abort is a race inside Ray (``ray.cancel`` on a run whose result is arriving at that
moment) with a window of microseconds that grows when the machine is busy: ``--load N`` runs N
busy loops beside it, as pytest-xdist's other worker does on CI.

How to run (nothing else running; about 13 s a try with --load 1 on 2 cores):
    .venv/bin/python benchmarks/interrupt_abort.py [--tries 40] [--load 1] [--keep DIR]

Results to expect: every try exits 130 with runs on disk ("ok 130"). Before the interrupt path
stopped cancelling runs, about 1 try in 50 on a busy machine ended in exit 1 (or -6) with Ray's
"Tried to complete task that was not pending" check failure: too rare for one 10-minute
measurement to show reliably. Numbers in BENCHMARKS.md (section 11).
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_child(pin: int | None) -> None:
    """In the child, before it runs: the default SIGINT disposition, and ``--pin``'s core."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if pin is not None:
        os.sched_setaffinity(0, {pin})  # Ray's processes, started by the command, inherit it


def one_try(args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-m", "raybench.cli", "run", "--problems", args.problems,
           "--optimizers", args.optimizers, "--seeds", str(args.seeds), "--steps", str(args.steps),
           "--cpus-per-run", str(args.cpus_per_run), "--out", str(out), "--no-progress"]
    # PYTHONFAULTHANDLER: on an abort, Python's threads' stacks go to stderr too (where the
    # driver was when Ray's core gave up).
    env = dict(os.environ, RAYBENCH_FLUSH_EVERY_RUNS=str(args.flush_every), RAY_DEDUP_LOGS="0",
               PYTHONFAULTHANDLER="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    err_path = out.parent / "stderr.txt"
    with open(err_path, "w") as err:
        # A shell without job control starts background commands with SIGINT ignored, and the
        # child would inherit that: give it the default disposition, as a terminal's Ctrl-C finds.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=lambda: start_child(args.pin))
        deadline = time.monotonic() + 180
        while not (written := bool(list((out / "runs").glob("part-*.parquet")))):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(args.delay)
        sent = time.monotonic()
        interrupted = proc.poll() is None
        if interrupted:
            proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
        exit_s = time.monotonic() - sent
    text = err_path.read_text(errors="replace")
    runs = 0
    if (out / "runs").is_dir():
        import pyarrow.dataset as ds

        runs = ds.dataset(str(out / "runs"), format="parquet").count_rows()
    extra = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("raybench: interrupted")]
    aborted = "not pending" in text or "Check failed" in text or "SIGABRT" in text or rc == -6
    return {"rc": rc, "interrupted": interrupted, "written": written, "aborted": aborted, "not_pending": "not pending" in text,
            "check_failed": "Check failed" in text, "core_dump": "core dumped" in text or "SIGABRT" in text,
            "message": "raybench: interrupted" in text, "extra": extra, "runs": runs, "exit_s": exit_s,
            "first_error": next((ln for ln in text.splitlines() if "Check failed" in ln or "not pending" in ln), "")}


def outcome(r: dict) -> str:
    if not r["interrupted"]:
        return f"finished before SIGINT (exit {r['rc']})"
    if r["aborted"]:
        return f"ABORT (exit {r['rc']})"
    if not r["written"]:
        return f"no run written within 180 s (exit {r['rc']})"
    if r["rc"] == 130 and r["message"] and r["runs"] > 0:
        return "ok 130" if not r["extra"] else "ok 130, other stderr lines"
    return f"other (exit {r['rc']}, runs {r['runs']})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The defaults: the interrupt test's suite on which CI saw the abort (16 runs of 150 steps).
    p.add_argument("--tries", type=int, default=40)
    p.add_argument("--problems", default="logistic,mlp")
    p.add_argument("--optimizers", default="adam,sgd,rmsprop,adagrad")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--cpus-per-run", type=float, default=1.0,
                   help="below 1, more runs share the cores at once (more tasks in flight at SIGINT)")
    p.add_argument("--flush-every", type=int, default=2, help="RAYBENCH_FLUSH_EVERY_RUNS")
    p.add_argument("--delay", type=float, default=0.0, help="seconds from the first Parquet part to SIGINT")
    p.add_argument("--keep", type=Path, help="a folder to copy the stderr of each try not \"ok 130\" to")
    p.add_argument("--load", type=int, default=0,
                   help="busy-looping processes to run beside it (a loaded CI machine: pytest-xdist's other worker)")
    p.add_argument("--pin", type=int, metavar="CORE",
                   help="run the command (with every Ray process it starts) and the busy loops on this one core")
    args = p.parse_args()

    total = args.seeds * len(args.problems.split(",")) * len(args.optimizers.split(","))
    print(f"raybench run --problems {args.problems} --optimizers {args.optimizers} --seeds {args.seeds} "
          f"--steps {args.steps} --cpus-per-run {args.cpus_per_run:g} ({total} runs), "
          f"RAYBENCH_FLUSH_EVERY_RUNS={args.flush_every}, SIGINT {args.delay:g} s after the first part; "
          f"{args.load} busy processes beside it"
          f"{'' if args.pin is None else f', all on core {args.pin}'}; {args.tries} tries", flush=True)
    print(f"{'try':>3}  {'exit':>5}  {'runs':>4}  {'exit s':>6}  outcome", flush=True)
    # Each busy loop also ends should this script be killed (its parent changes).
    spin = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", spin], preexec_fn=lambda: start_child(args.pin))
            for _ in range(args.load)]
    rows = []
    started = time.monotonic()
    try:
        for i in range(args.tries):
            with tempfile.TemporaryDirectory(prefix="raybench-interrupt-") as tmp:
                r = one_try(args, Path(tmp) / "out")
                if args.keep and outcome(r) != "ok 130":
                    args.keep.mkdir(parents=True, exist_ok=True)
                    (args.keep / f"try-{i}.stderr.txt").write_bytes((Path(tmp) / "stderr.txt").read_bytes())
            rows.append(r)
            shown = r["first_error"] or (r["extra"][0] if r["extra"] and r["interrupted"] else "")
            note = f"  {shown.strip()[:110]}" if shown else ""
            print(f"{i:>3}  {r['rc']!s:>5}  {r['runs']:>4}  {r['exit_s']:>6.2f}  {outcome(r)}{note}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    counts = collections.Counter(outcome(r) for r in rows)
    interrupted = [r for r in rows if r["interrupted"]]
    print(f"\n{len(rows)} tries in {time.monotonic() - started:.0f} s:")
    for what, n in counts.most_common():
        print(f"  {n:>3}  {what}")
    if interrupted:
        aborted = sum(r["aborted"] for r in interrupted)
        slowest = max(r["exit_s"] for r in interrupted)
        print(f"aborted: {aborted} of {len(interrupted)} interrupted tries; "
              f"'not pending' in {sum(r['not_pending'] for r in interrupted)}; "
              f"slowest exit after SIGINT {slowest:.2f} s")


if __name__ == "__main__":
    main()
