"""Shared test helpers: the real CLI as a subprocess, and waiting on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

# In-process training shares 2 cores with Ray workers and CLI subprocesses: one torch thread
# each avoids oversubscription (measured ~5x slower MLP runs with 2 threads under load).
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("RAY_DEDUP_LOGS", "0")
    env.update(extra)
    return env


def raybench(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
             check: bool = False) -> subprocess.CompletedProcess:
    """Run ``raybench ARGS`` (the installed console entry point's module) and capture output."""
    proc = subprocess.run([sys.executable, "-m", "raybench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or cli_env(), cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"raybench {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def wait_for(predicate, timeout: float, proc: subprocess.Popen, what: str, log: Path | None = None):
    """Poll ``predicate`` until truthy (returned), failing if ``proc`` exits first or on timeout.

    ``log``: the file ``proc``'s stderr goes to (else it is a pipe), quoted in the failure."""
    def tail() -> str:
        return log.read_text()[-3000:] if log is not None else proc.communicate()[1][-3000:]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) before {what}: {tail()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {tail() if log is not None else ''}")


# -- tiers ------------------------------------------------------------------------------------
MARKERS = {
    "ray": "starts or joins Ray (in process, or through a CLI subprocess): every such test runs in "
           "the one xdist group 'ray', so two Rays never fight over 2 cores and ports",
    "cluster": "starts a multi-node `ray start` cluster on 127.0.0.1 (in the 'ray' group too)",
    "browser": "drives Debian's headless Chromium",
    "slow": "an end-to-end run of the real CLI of more than about 15 s; `make test-fast` leaves it out",
}
"""The tiers: `make test-fast` runs what carries none of ray, cluster, slow; `make test` runs all."""


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def _uses_ray(item: pytest.Item) -> bool:
    return bool(item.get_closest_marker("ray") or item.get_closest_marker("cluster"))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_ray(item):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # An xdist worker under --dist loadgroup: every Ray test must carry the group in its id, or
    # xdist spreads them over both workers and two Rays fight over 2 cores and their ports.
    if getattr(session.config.option, "loadgroup", False):
        stray = [item.nodeid for item in session.items if _uses_ray(item) and not item.nodeid.endswith("@ray")]
        if stray:
            raise pytest.UsageError(f"xdist did not group {len(stray)} Ray tests (e.g. {stray[0]}): this "
                                    f"pytest ({pytest.__version__}) and pytest-xdist do not work together")


# -- one Ray per test session -----------------------------------------------------------------
RAY_CPUS = 2


def _start_session_ray() -> None:
    from raybench.ray_utils import init_ray

    # No runtime_env: a job-level one (a worker_process_setup_hook, say) makes Ray start a fresh
    # worker for every task and Tune trial instead of its prestarted ones (measured 2-3x slower
    # multi-init tests). Test-only problems reach the workers as users' own do: by import path.
    init_ray(num_cpus=RAY_CPUS)


def session_ray():
    """The test session's embedded Ray (started on first use, shared by every in-process test
    that needs Ray; started again should a test have shut it down): the ``ray`` module."""
    import ray

    if not ray.is_initialized():
        _start_session_ray()
    return ray


@pytest.fixture
def ray_session():
    """``session_ray()`` as a fixture."""
    yield session_ray()


BROWSER_WIDTH = 1366
"""The headless Chromium window's width: a laptop's (pages must not scroll sideways in it)."""


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through selenium and chromedriver, a window ``BROWSER_WIDTH``
    wide, logging the console (``get_log("browser")``); one per test module."""
    import shutil

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("this test opens a page in headless Chromium, and chromium / chromedriver are not on PATH: "
                    "`make test` installs them (Debian packages chromium and chromium-driver)", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[test]' (make test does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", f"--window-size={BROWSER_WIDTH},900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _tree_status() -> str | None:
    """``git status --porcelain`` of the checkout (``None`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        session.config.stash[_STATUS] = _tree_status()


def pytest_sessionfinish(session: pytest.Session) -> None:
    import sys as _sys

    if "ray" in _sys.modules:
        from raybench.ray_utils import stop_ray

        stop_ray()
    before = session.config.stash.get(_STATUS, None)
    after = _tree_status() if before is not None else None
    if before is not None and after != before:
        # No test writes into the source tree: a change here is a test's doing.
        session.config.get_terminal_writer().line(
            "the test session changed the source tree (git status before / after):\n" + before + "---\n" + after,
            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_STATUS = pytest.StashKey[str | None]()


# -- the CLI in process -----------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    """``raybench ARGS`` run in this process through ``raybench.cli.main`` (for usage errors and
    ``--check``: milliseconds instead of a new interpreter), as a ``CompletedProcess``. Ray, if
    the command starts it, stays up for the session."""
    import contextlib
    import io

    from raybench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["raybench", *args], code, out.getvalue(), err.getvalue())


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``proc``, once it is known to have exited 0 (else its stderr's end is the failure)."""
    assert proc.returncode == 0, f"{' '.join(map(str, proc.args))} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc
