#!/usr/bin/env bash
# Installs meddisseg-monai (editable) into a virtual environment; the one install path of the README set-up, .ci/run
# and the Dockerfiles in docker/.
#
#   bash scripts/install.sh            # runtime dependencies
#   bash scripts/install.sh test       # plus extras of setup.cfg (comma-separated: test,benchmark)
#
# Environment:
#   MEDDISSEG_VENV           the environment (default: <repo>/.venv)
#   MEDDISSEG_TORCH_VERSION  the torch pin (default 2.13.0), in the constraints file named by PIP_CONSTRAINT: no
#                            dependency (nor a package's build environment) can pull another torch
#   MEDDISSEG_TORCH_INDEX    optional extra index for torch (e.g. https://download.pytorch.org/whl/cpu)
#   PYTHON                   the interpreter that creates the environment (default python3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEDDISSEG_VENV:-$root/.venv}"
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
torch="torch==${MEDDISSEG_TORCH_VERSION:-2.13.0}"
export PIP_CONSTRAINT="$venv/meddisseg-constraints.txt"
echo "$torch" > "$PIP_CONSTRAINT"
[ -z "${MEDDISSEG_TORCH_INDEX:-}" ] || export PIP_EXTRA_INDEX_URL="$MEDDISSEG_TORCH_INDEX"

# A re-run is quick: nothing to do while setup.cfg and the pin are those of the last install, and it had the extras.
hash="$(cat "$root/setup.cfg" "$PIP_CONSTRAINT" | sha256sum | cut -d' ' -f1)"
read -r done_hash done_extras 2>/dev/null < "$venv/.meddisseg-install-stamp" || done_hash=""
if [ "$done_hash" = "$hash" ] && [[ ",${done_extras:-}," == *",${1:-}${1:+,}"* ]] \
    && "$venv/bin/python" -c "import meddisseg_monai" 2>/dev/null; then
    echo "[install] $venv is up to date${done_extras:+ (extras: $done_extras)}"
    exit 0
fi
"$venv/bin/python" -m pip install --quiet --no-compile "$torch"
# The editable install writes meddisseg_monai.egg-info/ into the repository: one at a time (scripts/run_tests.sh runs
# this script beside install_monailabel.sh, which takes the same lock).
flock "$root/.meddisseg-install.lock" "$venv/bin/python" -m pip install --quiet --no-compile -e "$root${1:+[$1]}"
# pip installs without byte-compiling (--no-compile: compiling every module of torch and the rest took about 40 % of the
# install); importing what the bundle workflows import writes the bytecode of just those modules, even where
# PYTHONDONTWRITEBYTECODE is set, so that each `python -m monai.bundle run` does not compile them again.
env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -c '
import monai, torch, ignite, monai.bundle, nibabel, SimpleITK, skimage.measure, matplotlib.pyplot
import meddisseg_monai, meddisseg_monai.networks, meddisseg_monai.losses, meddisseg_monai.engines
import meddisseg_monai.handlers, meddisseg_monai.transforms, meddisseg_monai.data, meddisseg_monai.metrics
import meddisseg_monai.inferers, meddisseg_monai.visualize, meddisseg_monai.demo
print(f"[install] done: torch {torch.__version__}, monai {monai.__version__}")'
echo "$hash ${1:-}" > "$venv/.meddisseg-install-stamp"
