"""Faults a new user meets, each answered by one line and exit 2 before any run, and one writer
per results folder. Every case here once hung, duplicated results or ran a whole suite into
``failed`` rows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raybench import results
from tests.conftest import RAY_CPUS, ROOT, cli, cli_env, raybench

pytestmark = pytest.mark.ray

QUICK = ["run", "--problems", "quadratic", "--optimizers", "adam", "--seeds", "1", "--steps", "5", "--no-progress"]


def one_line_usage_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("raybench: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]


def test_unwritable_out_is_exit_2() -> None:
    # the real executable once; the other refusals below go through main() in process
    one_line_usage_error(raybench(*QUICK, "--out", "/proc/raybench-cannot-write-here"),
                         "/proc/raybench-cannot-write-here", "cannot be written")


@pytest.mark.parametrize("value", ["abc", "-5", "2.5"])
def test_bad_problem_option_value_is_exit_2_before_any_run(tmp_path: Path, value: str, ray_session) -> None:
    out = tmp_path / "r"
    one_line_usage_error(cli(*QUICK, "--option", f"dim={value}", "--out", str(out)),
                         f"bad dim {value}" if value != "abc" else "bad dim 'abc'", "an integer >= 1")
    assert not out.exists()
    assert ray_session.is_initialized(), "a Ray the command did not start is left up"


def test_address_without_a_cluster_answers_at_once_without_rays_retries(tmp_path: Path) -> None:
    # raybench's own probe answers (Ray's ray.init would retry for 20 s, then say something else);
    # no bound on the seconds it took: a loaded machine may be slow at anything
    proc = raybench(*QUICK, "--out", str(tmp_path / "r"), "--address", "127.0.0.1:1", timeout=60)
    one_line_usage_error(proc, "127.0.0.1:1", "no Ray cluster answers")
    assert "Traceback" not in proc.stderr and not (tmp_path / "r" / "runs").exists()


def test_gpus_the_embedded_ray_does_not_have_are_exit_2(tmp_path: Path, ray_session) -> None:
    proc = cli(*QUICK, "--out", str(tmp_path / "r"), "--gpus-per-run", "0.5")
    one_line_usage_error(proc, "0.5 GPUs", "0 GPUs", "--gpus-per-run 0")
    assert not (tmp_path / "r" / "runs").exists()


def test_multi_init_gpu_share_the_embedded_ray_does_not_have_is_exit_2(tmp_path: Path, ray_session) -> None:
    proc = cli("multi-init", "--problem", "quadratic", "--optimizer", "adam", "--num-models", "4",
               "--steps-per-round", "5", "--steps", "20", "--gpus-per-trial", "0.25", "--out", str(tmp_path / "mi"))
    one_line_usage_error(proc, "0.25 GPUs", "0 GPUs", "--gpus-per-trial 0")


def test_a_second_writer_is_refused_naming_the_first_and_nothing_is_duplicated(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "r"
    assert cli(*QUICK, "--out", str(out)).returncode == 0
    # a first writer that holds the folder until told to stop (its stdin closes)
    code = ("import sys\nfrom raybench import results\nwith results.writer(sys.argv[1]):\n"
            "    print('held', flush=True)\n    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = json.loads((out / results.LOCK).read_text())
        second = cli(*QUICK, "--seeds", "2", "--out", str(out), "--resume")
        one_line_usage_error(second, "is being written by", f"pid {holder.pid}", lock["host"])
    finally:
        holder.communicate(input="", timeout=60)
    assert not (out / results.LOCK).exists()
    again = cli(*QUICK, "--seeds", "2", "--out", str(out), "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    runs, curves = results.read(str(out))
    assert sorted(runs["seed"]) == [0, 1] and runs["run_id"].is_unique
    assert not curves.duplicated(["run_id", "step"]).any()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "r"
    results.init(str(out))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    import socket

    (out / results.LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout),
                                                "since": "earlier", "command": "raybench run"}))
    proc = cli(*QUICK, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(results.read_table(str(out), "runs")) == 1 and not (out / results.LOCK).exists()


def test_two_in_process_writers_exclude_each_other(tmp_path: Path) -> None:
    out = str(tmp_path / "r")
    with results.writer(out):
        with pytest.raises(results.FolderInUse, match=f"pid {os.getpid()}"):
            with results.writer(out):
                pass
    with results.writer(out):  # released: free again
        pass


def test_report_reads_a_folder_with_a_run_written_twice(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "r"
    assert cli(*QUICK, "--out", str(out)).returncode == 0
    part = next((out / "runs").glob("part-*.parquet"))
    (out / "runs" / ("part-99999999999999999999-copy.parquet")).write_bytes(part.read_bytes())
    with pytest.warns(UserWarning, match="written more than once"):  # on stderr from the executable
        proc = cli("report", str(out), "--no-plots")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| quadratic | adam |" in proc.stdout


def _processes_using(folder: str) -> list[str]:
    """Processes with a file under ``folder`` open or named on their command line (Ray's
    agents rename their command lines and environments but keep their log files open)."""
    def uses(proc: Path) -> bool:
        if folder.encode() in (proc / "cmdline").read_bytes():
            return True
        for fd in os.listdir(proc / "fd"):
            try:
                if os.readlink(proc / "fd" / fd).startswith(folder):
                    return True
            except OSError:  # closed meanwhile
                continue
        return False

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if uses(proc):
                found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
        except OSError:  # ended meanwhile
            continue
    return found


def test_the_quick_exit_writes_everything_and_leaves_no_ray_process(tmp_path: Path) -> None:
    # The executable ends without the interpreter's teardown (raybench.cli.entry): every run
    # must still be on disk and every process of its embedded Ray gone.
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="rbexit", dir="/tmp")  # short: Ray's socket paths live under it
    out = tmp_path / "r"
    proc = raybench(*QUICK, "--out", str(out), env=cli_env(RAY_TMPDIR=ray_tmp))
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = results.read(str(out))[0]
    assert len(runs) == 1 and set(runs["status"]) == {"ok"}
    assert "1 runs in" in proc.stderr
    deadline = time.monotonic() + 30
    while _processes_using(ray_tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_using(ray_tmp) == []
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_suite_warms_no_more_workers_than_it_has_runs(ray_session, monkeypatch) -> None:
    # One worker per CPU is warmed (torch and the training code imported ahead of the first
    # run), but never more than the suite can use: a one-run suite warms one.
    from raybench import ray_utils

    monkeypatch.setattr(ray_utils, "_warming", [])
    ray_utils.warm_workers(1.0, at_most=1)
    assert len(ray_utils._warming) == 1
    ray_utils.warm_workers(1.0)
    assert len(ray_utils._warming) == 1 + RAY_CPUS
    ray_session.get(ray_utils._warming)
    modules = ray_session.get(ray_session.remote(lambda: list(__import__("sys").modules)).remote())
    assert "torch" in modules


def test_output_cut_short_by_its_reader_is_no_traceback() -> None:
    # `raybench list | head -1`: the reader goes away before the listing is written.
    proc = subprocess.Popen([sys.executable, "-m", "raybench.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
    proc.stdout.close()  # before the command (still importing) has printed anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and "Traceback" not in err and "BrokenPipeError" not in err, err
