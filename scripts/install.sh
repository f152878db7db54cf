#!/usr/bin/env bash
# Installs meddisseg-monai into a virtual environment (default: .venv/ at the repository root).
#
# The one install path of the project: the README set-up, .ci/run and the Dockerfiles in docker/ all call it.
#
#   bash scripts/install.sh            # runtime dependencies
#   bash scripts/install.sh test       # plus the test extras
#
# Environment:
#   MEDDISSEG_VENV           where the virtual environment lives (default: <repo>/.venv)
#   MEDDISSEG_TORCH_VERSION  the torch pin (default 2.13.0); it goes into a constraints file named by PIP_CONSTRAINT,
#                            so no dependency (nor a package's build environment) can pull a different torch.
#   MEDDISSEG_TORCH_INDEX    optional extra index for torch (e.g. https://download.pytorch.org/whl/cpu in a CPU image)
#   PYTHON                   the interpreter that creates the environment (default python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEDDISSEG_VENV:-$root/.venv}"
extras="${1:-}"
torch_version="${MEDDISSEG_TORCH_VERSION:-2.13.0}"

if [ ! -x "$venv/bin/python" ]; then
    echo "[install] creating virtual environment at $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi

constraints="$venv/meddisseg-constraints.txt"
echo "torch==$torch_version" > "$constraints"
export PIP_CONSTRAINT="$constraints"

# Skip the (slow) resolver when nothing changed since the last successful install. The stamp holds a fingerprint and
# the extras installed (comma-separated); an install that has every extra asked for is up to date (pip never removes
# the packages of an extra), so `install.sh` after `install.sh test` (the demo after the tests, or in an image built
# with the test extras) does nothing.
stamp="$venv/.meddisseg-install-stamp"
fingerprint="$(cat "$root/setup.cfg" "$root/scripts/install.sh" | sha256sum | cut -d' ' -f1)-$torch_version"
stamp_fingerprint=""
installed_extras=""
if [ -f "$stamp" ]; then
    read -r stamp_fingerprint installed_extras < "$stamp" || true
fi
has_extras() {  # has_extras WANTED INSTALLED: every extra of the comma-separated list WANTED is in INSTALLED
    local extra
    for extra in ${1//,/ }; do
        [[ ",$2," == *",$extra,"* ]] || return 1
    done
}
if [ "$stamp_fingerprint" = "$fingerprint" ]; then
    if has_extras "$extras" "$installed_extras" && "$venv/bin/python" -c "import meddisseg_monai" 2>/dev/null; then
        echo "[install] $venv is up to date${installed_extras:+ (extras: $installed_extras)}"
        exit 0
    fi
    # only extras are missing: install them together with those already there
    for extra in ${installed_extras//,/ }; do
        has_extras "$extra" "$extras" || extras="${extras:+$extras,}$extra"
    done
fi

index_args=()
if [ -n "${MEDDISSEG_TORCH_INDEX:-}" ]; then
    index_args=(--extra-index-url "$MEDDISSEG_TORCH_INDEX")
fi
echo "[install] torch==$torch_version"
"$venv/bin/python" -m pip install --quiet "${index_args[@]}" "torch==$torch_version"
target="$root"
if [ -n "$extras" ]; then
    target="$root[$extras]"
fi
echo "[install] meddisseg-monai ${extras:+[$extras]} (editable) and its dependencies"
# An editable install writes meddisseg_monai.egg-info/ into the repository: one at a time (scripts/run_tests.sh runs
# this script beside install_monailabel.sh, which takes the same lock).
flock "$root/.meddisseg-install.lock" "$venv/bin/python" -m pip install --quiet "${index_args[@]}" -e "$target"
echo "$fingerprint $extras" > "$stamp"
echo "[install] done: $("$venv/bin/python" -c 'import torch, monai; print(f"torch {torch.__version__}, monai {monai.__version__}")')"
