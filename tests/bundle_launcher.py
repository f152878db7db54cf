"""``python -m monai.bundle ...`` for the tests, without paying the interpreter's start-up for every run.

Importing torch, Ignite and MONAI takes ~9 s of one core on the 2-core CI machines, and the suite starts a bundle
workflow some 30 times. :class:`BundleLauncher` keeps one process per test worker that has imported them (nothing
else: not this package, no tensor work, no threads started) and forks it for each run. The child is an ordinary
process with its own pid, working directory, environment, argv and stdout / stderr files; it runs ``monai.bundle`` as
``__main__`` exactly as ``python -m`` does (``runpy``), and exits like an interpreter: the exit code of
``SystemExit``, 1 with ``sys.excepthook``'s report on stderr for an uncaught exception, non-daemon threads joined
and ``atexit`` handlers run first.

A run falls back to a fresh interpreter when its environment differs from the launcher's in a variable that is read
while those modules load (OpenMP, MKL, oneDNN, torch, MONAI, Python settings), so such settings always take effect.
``MEDDISSEG_TEST_FORK_LAUNCHER=0`` makes every run a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["BundleLauncher", "run_python_module"]

# variables read while torch / MONAI load (or by the interpreter at start): a run that changes one needs a fresh one
IMPORT_TIME_PREFIXES = (
    *("OMP_", "KMP_", "GOMP_", "MKL", "DNNL_", "ONEDNN_"),
    *("TORCH", "PYTORCH", "MONAI", "PYTHON", "LD_"),
)

_LAUNCHER_CODE = r"""
import atexit, json, os, runpy, sys, threading, traceback
import torch, ignite, monai, monai.bundle  # the expensive imports, done once
sys.stdout.write(json.dumps({"ready": os.getpid()}) + "\n"); sys.stdout.flush()
control_out = sys.stdout
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setpgid(0, 0)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
                target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(target, fd)
                os.close(target)
            sys.stdin = open(0, closefd=False)
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            sys.path[0] = request["cwd"]  # what `python -m` puts first
            sys.argv = [request["module"], *request["args"]]
            try:
                runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as stop:
                if stop.code is None:
                    code = 0
                elif isinstance(stop.code, int):
                    code = stop.code
                else:
                    print(stop.code, file=sys.stderr)
                    code = 1
            except BaseException:
                sys.excepthook(*sys.exc_info())  # as the interpreter reports an uncaught exception
                code = 1
            threading._shutdown()
            atexit._run_exitfuncs()
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code & 0xFF)
    control_out.write(json.dumps({"pid": pid}) + "\n"); control_out.flush()
    _, status = os.waitpid(pid, 0)
    control_out.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n"); control_out.flush()
"""


def _import_time_settings(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}


class BundleLauncher:
    """One forking launcher process (started on first use, for the interpreter ``python``); thread-safe, one run at
    a time."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._process: subprocess.Popen | None = None
        self._env: dict | None = None
        self._lock = threading.Lock()

    def _start(self, env: dict) -> None:
        self._process = subprocess.Popen(
            [self.python, "-c", _LAUNCHER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        ready = self._process.stdout.readline()
        if not ready.startswith('{"ready"'):
            raise RuntimeError(f"the bundle launcher did not start (it said {ready!r})")
        self._env = dict(env)

    def can_run(self, env: dict) -> bool:
        if os.environ.get("MEDDISSEG_TEST_FORK_LAUNCHER", "1") == "0" or not hasattr(os, "fork"):
            return False
        return self._env is None or _import_time_settings(env) == _import_time_settings(self._env)

    def run(self, module: str, args: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
        """``python -m <module> <args>`` in ``cwd`` with ``env``: a fork of the launcher (see the module docstring).
        Raises ``subprocess.TimeoutExpired`` (after killing the run) as ``subprocess.run`` does."""
        command = [self.python, "-m", module, *args]
        with self._lock, tempfile.TemporaryDirectory(prefix="meddisseg-run-") as tmp:
            if self._process is None or self._process.poll() is not None:
                self._start(env)
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"module": module, "args": list(args), "cwd": str(cwd), "env": env}
            request.update(stdout=str(out), stderr=str(err))
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            pid = json.loads(self._process.stdout.readline())["pid"]
            answer: dict = {}
            reader = threading.Thread(target=lambda: answer.update(json.loads(self._process.stdout.readline())))
            reader.start()
            reader.join(timeout)
            if reader.is_alive():
                try:
                    os.killpg(pid, 9)  # the run and whatever it started (it leads its own process group)
                except ProcessLookupError:
                    os.kill(pid, 9)
                reader.join()
                raise subprocess.TimeoutExpired(command, timeout, out.read_text(), err.read_text())
            return subprocess.CompletedProcess(command, answer["returncode"], out.read_text(), err.read_text())

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=30)


_LAUNCHER = BundleLauncher()


def run_python_module(
    module: str, args: list[str], cwd: Path, env: dict, timeout: float
) -> subprocess.CompletedProcess:
    """``python -m <module> <args>``: a fork of the warm launcher where its imports match (:class:`BundleLauncher`),
    else a fresh interpreter; the same ``CompletedProcess`` either way (text output captured)."""
    if _LAUNCHER.can_run(env):
        return _LAUNCHER.run(module, args, cwd, env, timeout)
    command = [sys.executable, "-m", module, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
