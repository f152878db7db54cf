#!/usr/bin/env bash
# Installs what the tests need, then runs them. Extra arguments go to pytest.
#   bash scripts/run_tests.sh                 # everything
#   bash scripts/run_tests.sh tests/losses    # one folder
# .venv/ gets the package with its test extras (scripts/install.sh test); .venv-monailabel/ gets MONAI Label for the
# real-server test (scripts/install_monailabel.sh), unless MEDDISSEG_SKIP_MONAILABEL=1.
# Tests that need ../shared/data skip when it is absent, unless MEDDISSEG_REQUIRE_DATA=1 (then they fail).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=$(date +%s)
# The MONAI Label environment installs in the background while the tests run (its pip mostly keeps one core busy);
# the tests that need it wait for it (tests/monailabel_utils.py waits while the marker names a live install).
ml_venv="${MEDDISSEG_MONAILABEL_VENV:-$root/.venv-monailabel}"
ml_marker="$ml_venv.installing"
ml_log="$ml_venv.install.log"
ml_pid=""
if [[ "${MEDDISSEG_SKIP_MONAILABEL:-0}" == "0" ]]; then
    : > "$ml_marker"
    (
        status=0
        bash "$root/scripts/install_monailabel.sh" > "$ml_log" 2>&1 || status=$?
        echo "[tests] MONAI Label environment ready after $(( $(date +%s) - start )) s (exit $status)" >> "$ml_log"
        rm -f "$ml_marker"
        exit "$status"
    ) &
    ml_pid="$!"
    echo "$ml_pid" > "$ml_marker"
    echo "[tests] installing the MONAI Label environment $ml_venv in the background (log: $ml_log)"
    trap 'kill "$ml_pid" 2>/dev/null || true; rm -f "$ml_marker"' EXIT
fi
bash "$root/scripts/install.sh" test
echo "[tests] .venv ready after $(( $(date +%s) - start )) s"
cd "$root"
# The installs do not byte-compile everything (scripts/install.sh): what only the tests import (inductor, onnx, the
# MONAI Label server, ...) is compiled on its first import and kept, not again in every test subprocess.
unset PYTHONDONTWRITEBYTECODE
# Two pytest workers (pytest-xdist; one file per worker, so a file's class fixtures are built once), each with one
# torch thread: much of the suite is single-threaded work (bundle subprocesses starting, MONAI Label servers, ONNX
# tracing) that the other worker overlaps. Files start in the order of tests/conftest.py (slowest first, then those
# that need the MONAI Label environment, then the rest), not xdist's (most tests first). MEDDISSEG_TEST_WORKERS=0 runs in one process (then torch picks its threads).
workers="${MEDDISSEG_TEST_WORKERS:-2}"
parallel=()
if [[ "$workers" != "0" ]]; then
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
    parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)
fi
status=0
"${MEDDISSEG_VENV:-$root/.venv}/bin/python" -m pytest "${parallel[@]}" "$@" || status=$?
if [[ -n "$ml_pid" ]]; then
    if wait "$ml_pid"; then
        tail -n 1 "$ml_log"
    else
        echo "[tests] the MONAI Label environment did not install ($ml_log):" >&2
        tail -n 20 "$ml_log" >&2
        status=1
    fi
    trap - EXIT
    rm -f "$ml_marker"
fi
echo "[tests] $(( $(date +%s) - start )) s in all, installs included (exit $status)"
exit "$status"
