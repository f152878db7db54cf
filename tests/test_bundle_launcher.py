"""The tests' forking launcher (tests/bundle_launcher.py) behaves as a fresh ``python -m`` would: the same exit code,
output and last line of an error, the run's own environment, working directory and argv, non-daemon threads and
``atexit`` handlers finished, a timeout that kills the run, and a fresh interpreter when an import-time setting
differs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.bundle_launcher import BundleLauncher

MODULES = {
    "succeeds": """
        import os, sys
        print("argv", sys.argv[1:], "cwd", os.path.basename(os.getcwd()), "env", os.environ.get("MEDDISSEG_PROBE"))
    """,
    "exits_with_3": """
        import sys
        print("leaving")
        sys.exit(3)
    """,
    "raises": """
        def inner():
            raise ValueError("the root cause")
        try:
            inner()
        except ValueError as error:
            raise RuntimeError("wrapped") from error
    """,
    "reports_through_its_excepthook": """
        import sys
        sys.excepthook = lambda kind, value, tb: print(f"hook: {kind.__name__}: {value}", file=sys.stderr)
        raise ValueError("reported by the hook")
    """,
    "finishes_threads_and_atexit": """
        import atexit, threading, time
        atexit.register(lambda: print("atexit ran", flush=True))
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
    """,
}


@pytest.fixture(scope="module")
def launcher():
    launcher = BundleLauncher()
    yield launcher
    launcher.close()


def _write(tmp_path, name):
    (tmp_path / f"probe_{name}.py").write_text(textwrap.dedent(MODULES[name]))
    return f"probe_{name}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_same_as_a_fresh_interpreter(launcher, tmp_path, name):
    module = _write(tmp_path, name)
    env = {**os.environ, "MEDDISSEG_PROBE": "set for this run"}
    forked = launcher.run(module, ["--flag", "1"], cwd=tmp_path, env=env, timeout=60)
    fresh = subprocess.run(
        [sys.executable, "-m", module, "--flag", "1"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert forked.returncode == fresh.returncode
    assert forked.stdout == fresh.stdout
    assert forked.stderr.strip().splitlines()[-1:] == fresh.stderr.strip().splitlines()[-1:]
    if name == "succeeds":
        assert "['--flag', '1']" in forked.stdout and "set for this run" in forked.stdout


def test_timeout_kills_the_run(launcher, tmp_path):
    (tmp_path / "probe_sleeps.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        launcher.run("probe_sleeps", [], cwd=tmp_path, env=dict(os.environ), timeout=2)
    again = launcher.run(_write(tmp_path, "succeeds"), [], cwd=tmp_path, env=dict(os.environ), timeout=60)
    assert again.returncode == 0  # the launcher still serves


def test_an_import_time_setting_needs_a_fresh_interpreter(launcher, tmp_path):
    launcher.run(_write(tmp_path, "succeeds"), [], cwd=tmp_path, env=dict(os.environ), timeout=60)
    assert launcher.can_run({**os.environ, "MEDDISSEG_PROBE": "x"})
    assert not launcher.can_run({**os.environ, "OMP_NUM_THREADS": "7"})
