#!/usr/bin/env bash
# Installs what the tests need, then runs them. Extra arguments go to pytest.
#   bash scripts/run_tests.sh                 # everything
#   bash scripts/run_tests.sh tests/losses    # one folder
# .venv/ gets the package with its test extras (scripts/install.sh test); .venv-monailabel/ gets MONAI Label for the
# real-server test (scripts/install_monailabel.sh), unless MEDDISSEG_SKIP_MONAILABEL=1.
# Tests that need ../shared/data skip when it is absent, unless MEDDISSEG_REQUIRE_DATA=1 (then they fail).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" test
if [[ "${MEDDISSEG_SKIP_MONAILABEL:-0}" == "0" ]]; then
    bash "$root/scripts/install_monailabel.sh"
fi
cd "$root"
exec "${MEDDISSEG_VENV:-$root/.venv}/bin/python" -m pytest "$@"
