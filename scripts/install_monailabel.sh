#!/usr/bin/env bash
# Installs MONAI Label 0.8.5 next to meddisseg-monai, in its own virtual environment
# (default: <repo>/.venv-monailabel), with the pins it needs to work (scripts/monailabel-constraints.txt, and the
# exact tested versions of scripts/monailabel-lock.txt). Idempotent: does nothing when the environment is up to date.
#
#   bash scripts/install_monailabel.sh                      # install (or check) the environment
#   bash scripts/install_monailabel.sh wheelhouse DIR       # build every wheel the install needs into DIR
#   MEDDISSEG_MONAILABEL_WHEELHOUSE=DIR bash scripts/install_monailabel.sh   # install from DIR only, no network
#
# Then, from any shell (no activation needed):
#   .venv-monailabel/bin/python -m monailabel.main start_server --app APP --studies DIR --conf models NAME \
#       --conf zoo_source github --conf sam2 false --host 127.0.0.1 --port PORT
#
# Why a separate environment: MONAI Label 0.8.5 needs monai 1.5.x (not 1.6), numpy<2, pydicom<3 and jsonschema<4,
# and pulls torchvision, sam2, mlflow, itk (3.7 GB in all); the project's own .venv (scripts/install.sh) stays free
# of that. docs/monailabel.md has the why of every pin and the traps of running the server.
#
# Environment:
#   MEDDISSEG_MONAILABEL_VENV        where the environment lives (default: <repo>/.venv-monailabel)
#   MEDDISSEG_TORCH_VERSION          the torch pin (default 2.13.0); the torchvision pin of the constraints matches it
#   MEDDISSEG_TORCH_INDEX            optional extra index for torch (e.g. https://download.pytorch.org/whl/cpu)
#   MEDDISSEG_MONAILABEL_LOCK        1 (default): constrain every package to the tested versions (monailabel-lock.txt);
#                                    0: resolve freely within monailabel-constraints.txt (to refresh the lock)
#   MEDDISSEG_MONAILABEL_WHEELHOUSE  install from this folder of wheels only (pip --no-index --find-links)
#   PYTHON                           the interpreter that creates the environment (default python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEDDISSEG_MONAILABEL_VENV:-$root/.venv-monailabel}"
torch_version="${MEDDISSEG_TORCH_VERSION:-2.13.0}"
use_lock="${MEDDISSEG_MONAILABEL_LOCK:-1}"
wheelhouse="${MEDDISSEG_MONAILABEL_WHEELHOUSE:-}"
pins="$root/scripts/monailabel-constraints.txt"
lock="$root/scripts/monailabel-lock.txt"
fix="$root/scripts/torchvision_cpu_import_fix.py"
log() { echo "[install-monailabel] ${SECONDS}s: $*"; }

# One constraints file for everything pip installs, the build environments of sdists included (PIP_CONSTRAINT is
# inherited by the pip that fills them: sam2's build needs torch and must get the same CPU torch, not a CUDA one).
write_constraints() {
    {
        echo "torch==$torch_version"
        grep -v '^\s*#' "$pins" | sed '/^\s*$/d'
        if [ "$use_lock" = "1" ]; then
            grep -v '^\s*#' "$lock" | sed '/^\s*$/d'
        fi
    } > "$1"
    export PIP_CONSTRAINT="$1"
}
# sam2 (a dependency of monailabel; unused with `--conf sam2 false`) is an sdist whose build tries to compile a CUDA
# extension; there is no CUDA here, so don't try (it would fail and fall back to pure Python anyway).
export SAM2_BUILD_CUDA=0

index_args=()
if [ -n "${MEDDISSEG_TORCH_INDEX:-}" ]; then
    index_args+=(--extra-index-url "$MEDDISSEG_TORCH_INDEX")
fi

if [ "${1:-}" = "wheelhouse" ]; then
    out="${2:?usage: install_monailabel.sh wheelhouse DIR}"
    mkdir -p "$out"
    write_constraints "$out/.constraints.txt"
    log "building the wheels of torch==$torch_version, monailabel==0.8.5, meddisseg-monai's dependencies into $out"
    # setuptools and wheel: the build backend of the editable install of this project (pyproject.toml).
    "${PYTHON:-python3}" -m pip wheel --quiet "${index_args[@]}" -w "$out" "torch==$torch_version" "monailabel==0.8.5" "$root" \
        "setuptools>=61" wheel
    rm -f "$out"/meddisseg_monai-*.whl "$out/.constraints.txt"
    log "done: $(ls "$out"/*.whl | wc -l) wheels, $(du -sh "$out" | cut -f1)"
    exit 0
fi
if [ -n "$wheelhouse" ]; then
    index_args=(--no-index --find-links "$wheelhouse")
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating virtual environment at $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
write_constraints "$venv/meddisseg-monailabel-constraints.txt"

# Skip the (slow) resolver when nothing changed since the last successful install.
stamp="$venv/.meddisseg-monailabel-install-stamp"
fingerprint="$(cat "$root/setup.cfg" "${BASH_SOURCE[0]}" "$pins" "$lock" "$fix" | sha256sum | cut -d' ' -f1)"
fingerprint="$fingerprint-$torch_version-$use_lock"
check='import monailabel, monai, torch, torchvision, meddisseg_monai.networks'
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    log "$venv is up to date"
    exit 0
fi

log "torch==$torch_version"
"$venv/bin/python" -m pip install --quiet --no-compile "${index_args[@]}" "torch==$torch_version"
log "monailabel==0.8.5 and its dependencies"
"$venv/bin/python" -m pip install --quiet --no-compile "${index_args[@]}" "monailabel==0.8.5"
# The editable install writes meddisseg_monai.egg-info/ into the repository: one at a time (install.sh takes the same
# lock; scripts/run_tests.sh runs the two scripts side by side). Every version is still held by the constraints.
log "meddisseg-monai (editable) and what it adds"
flock "$root/.meddisseg-install.lock" "$venv/bin/python" -m pip install --quiet --no-compile "${index_args[@]}" -e "$root"

# PyPI's torchvision is a CUDA build: against the CPU torch its compiled ops don't load, and two unguarded
# registrations then break `import torchvision`, which MONAI Label needs; the script adds the missing guard.
"$venv/bin/python" "$fix"

# The environment must be consistent and importable the way MONAI Label uses it. pip installs without byte-compiling
# (--no-compile: compiling all 3.7 GB took most of the install); this check writes the bytecode of what the server
# imports, even where PYTHONDONTWRITEBYTECODE is set, so that each server start does not compile it again.
"$venv/bin/python" -m pip check
env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" - <<'EOF'
import monai, numpy, pydicom, torch, torchvision
import monailabel.app  # the server app: pydicom-seg (pydicom<3), numpy<2
from monailabel.tasks.infer.bundle import BundleInferTask  # imports torchvision.utils via monailabel.transform.post
from monailabel.tasks.train.bundle import BundleTrainTask
import meddisseg_monai.networks
assert monai.__version__.startswith("1.5."), f"MONAI Label 0.8.5 needs monai 1.5.x, got {monai.__version__}"
print(f"torch {torch.__version__}, torchvision {torchvision.__version__} (compiled ops: "
      f"{torchvision.extension._has_ops()}), monai {monai.__version__}, numpy {numpy.__version__}, "
      f"pydicom {pydicom.__version__}, monailabel {monailabel.__version__}")
EOF
echo "$fingerprint" > "$stamp"
log "done: $venv"
