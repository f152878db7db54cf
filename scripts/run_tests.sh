#!/usr/bin/env bash
# Installs what the tests need, then runs them. Extra arguments go to pytest.
#   bash scripts/run_tests.sh                 # everything
#   bash scripts/run_tests.sh tests/losses    # one folder
# .venv/ gets the package with its test extras (scripts/install.sh test); .venv-monailabel/ gets MONAI Label for the
# real-server test (scripts/install_monailabel.sh), unless MEDDISSEG_SKIP_MONAILABEL=1.
# Tests that need ../shared/data skip when it is absent, unless MEDDISSEG_REQUIRE_DATA=1 (then they fail).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The two environments install side by side (each pip mostly waits on one core; ~3 minutes saved on a fresh machine).
bash "$root/scripts/install.sh" test &
installs=("$!")
if [[ "${MEDDISSEG_SKIP_MONAILABEL:-0}" == "0" ]]; then
    bash "$root/scripts/install_monailabel.sh" &
    installs+=("$!")
fi
trap 'kill "${installs[@]}" 2>/dev/null || true' EXIT
for pid in "${installs[@]}"; do
    wait "$pid"  # a failed install stops here (set -e), naming its own error above
done
trap - EXIT
cd "$root"
# The installs do not byte-compile everything (scripts/install.sh): what only the tests import (inductor, onnx, the
# MONAI Label server, ...) is compiled on its first import and kept, not again in every test subprocess.
unset PYTHONDONTWRITEBYTECODE
# Two pytest workers (pytest-xdist; one file per worker, so a file's class fixtures are built once), each with one
# torch thread: much of the suite is single-threaded work (bundle subprocesses starting, MONAI Label servers, ONNX
# tracing) that the other worker overlaps. MEDDISSEG_TEST_WORKERS=0 runs in one process (then torch picks its threads).
workers="${MEDDISSEG_TEST_WORKERS:-2}"
parallel=()
if [[ "$workers" != "0" ]]; then
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
    parallel=(-n "$workers" --dist loadfile)
fi
exec "${MEDDISSEG_VENV:-$root/.venv}/bin/python" -m pytest "${parallel[@]}" "$@"
