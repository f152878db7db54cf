#!/usr/bin/env bash
# The main job, end to end on a fresh clone: install, then Stage I -> Stage II -> evaluate -> inference with
# `python -m monai.bundle run` on a small default, and print where the metrics and overlays are.
#
#   bash scripts/run_demo.sh
#
# Data: the first 24 / 8 / 8 (train / validation / test) real Kvasir-SEG images when ../shared/data (or
# $MEDDISSEG_DATA_ROOT) holds Kvasir-SEG, else synthetic images made with MONAI's create_test_image_2d.
# Environment (all optional):
#   MEDDISSEG_DEMO_DIR      output folder (default: <repo>/demo_output; it is replaced)
#   MEDDISSEG_DEMO_SOURCE   auto | kvasir | synthetic (default auto)
#   MEDDISSEG_DEMO_SIZE     network input size (default 64)
#   MEDDISSEG_DEMO_EPOCHS   epochs of each stage (default 8)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=$(date +%s)

bash "$root/scripts/install.sh"
python="${MEDDISSEG_VENV:-$root/.venv}/bin/python"
# idle OpenMP threads sleep instead of spinning (much faster on a busy or shared CPU)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

out="${MEDDISSEG_DEMO_DIR:-$root/demo_output}"
size="${MEDDISSEG_DEMO_SIZE:-64}"
epochs="${MEDDISSEG_DEMO_EPOCHS:-8}"
rm -rf "$out"
mkdir -p "$out"
read -r dataset_dir datalist < <("$python" -m meddisseg_monai.data.demo --output_dir "$out" --source "${MEDDISSEG_DEMO_SOURCE:-auto}")
echo "[demo] data: $dataset_dir (datalist $datalist), ${size}x${size}, $epochs epochs per stage"

bundle="$root/bundle/meddisseg_2d_segmentation"
common=(--bundle_root "$bundle" --dataset_dir "$dataset_dir" --datalist "$datalist" --output_dir "$out"
        --image_size "$size" --batch_size 4 --num_workers 0 --device cpu)
run() {  # run <step name> <config files> [overrides...]
    local name=$1 configs=$2
    shift 2
    local t0=$(date +%s)
    echo "[demo] $name ..."
    "$python" -m monai.bundle run --config_file "$configs" "${common[@]}" "$@" > "$out/$name.log" 2>&1 || { tail -n 40 "$out/$name.log"; echo "[demo] $name failed: $out/$name.log"; exit 1; }
    echo "[demo] $name done in $(( $(date +%s) - t0 )) s (log: $out/$name.log)"
}
cfg="$bundle/configs"
run stage1 "['$cfg/train.json','$cfg/train_stage1.json']" --epochs "$epochs" --checkpoint_interval "$epochs" --progress_bar false
run stage2 "['$cfg/train.json']" --epochs "$epochs" --checkpoint_interval "$epochs" --progress_bar false --encoder_learning_rate 1e-4
run evaluate "['$cfg/train.json','$cfg/evaluate.json']" --save_masks true
run inference "['$cfg/inference.json']" --save_probabilities true

"$python" - "$out" <<'PY'
import json, sys
summary = json.load(open(f"{sys.argv[1]}/eval/metrics_summary.json"))["per_image"]
row = lambda k: f"{summary[k]['mean']:.3f}" if summary[k]["mean"] is not None else "n/a"
print(f"[demo] test images: mDSC {row('dice')}, mIoU {row('iou')} (network size); "
      f"Dice {row('dice_source_size')}, HD95 {row('hd95_source_size')} px (original size)")
PY
echo "[demo] metrics:  $out/eval/metrics_summary.json, $out/eval/metrics_per_image.csv"
echo "[demo] masks:    $out/inference/masks/   overlays: $out/inference/overlays/"
echo "[demo] models:   $out/models/model.pt (Stage II), $out/models/model_stage1.pt (Stage I); logs: $out/logs/"
echo "[demo] total time: $(( $(date +%s) - start )) s"
