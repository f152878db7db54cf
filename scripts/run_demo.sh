#!/usr/bin/env bash
# The main job, end to end on a fresh clone: install, then train Med-DisSeg from scratch on real Kvasir-SEG images with
# the 2D bundle's own workflows (Stage I -> Stage II -> evaluate -> inference, each `python -m monai.bundle run`),
# score it on the 120 official test images beside the untrained network, and draw a learning curve and a contact
# sheet (python -m meddisseg_monai.demo; its --help lists every setting).
#
#   bash scripts/run_demo.sh
#
# Without Kvasir-SEG under ../shared/data (or $MEDDISSEG_DATA_ROOT) it runs on synthetic images instead.
# Environment (all optional):
#   MEDDISSEG_DEMO_DIR      output folder (default: <repo>/demo_output; it is replaced)
#   MEDDISSEG_DEMO_SOURCE   auto | kvasir | synthetic (default auto)
#   MEDDISSEG_DEMO_SIZE     network input size (default: the demo's, see python -m meddisseg_monai.demo --help)
#   MEDDISSEG_DEMO_EPOCHS   Stage II epochs (default: the demo's)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=$(date +%s)

bash "$root/scripts/install.sh"
python="${MEDDISSEG_VENV:-$root/.venv}/bin/python"
# idle OpenMP threads sleep instead of spinning (much faster on a busy or shared CPU)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

args=(--output_dir "${MEDDISSEG_DEMO_DIR:-$root/demo_output}" --source "${MEDDISSEG_DEMO_SOURCE:-auto}")
[ -z "${MEDDISSEG_DEMO_SIZE:-}" ] || args+=(--image_size "$MEDDISSEG_DEMO_SIZE")
[ -z "${MEDDISSEG_DEMO_EPOCHS:-}" ] || args+=(--stage2_epochs "$MEDDISSEG_DEMO_EPOCHS")
"$python" -m meddisseg_monai.demo "${args[@]}"
echo "[demo] total time, install included: $(( $(date +%s) - start )) s"
