#!/usr/bin/env bash
# Installs (into .venv/) what the tests need, then runs them. Extra arguments go to pytest.
#   bash scripts/run_tests.sh                 # everything
#   bash scripts/run_tests.sh tests/losses    # one folder
# Tests that need ../shared/data skip when it is absent, unless MEDDISSEG_REQUIRE_DATA=1 (then they fail).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" test
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"
