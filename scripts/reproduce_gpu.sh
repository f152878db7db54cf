#!/usr/bin/env bash
# The paper's recipe at 256^2 on one GPU: Med-DisSeg Stage I then Stage II on Kvasir-SEG's 880 official training images,
# the 120 official test images validated after every epoch (mDSC printed per epoch), within about 10 minutes of wall
# time. It runs benchmarks/kvasir_equal_epochs.py (the bundle's own train.json) and writes the same JSON and PNG.
#
#   bash scripts/reproduce_gpu.sh prepare   # here, on the CPU machine: builds .device-data/ (ignored by git)
#   bash scripts/reproduce_gpu.sh run       # on the GPU machine, in the repository root
#
# prepare: Kvasir-SEG pre-resized by 1/2 (every image and mask, so the coarse-dropout holes stay the reference's 32^2
# source pixels as 16^2 at half size: --dropout_source_size 16) into .device-data/Kvasir-SEG (about 20 MB), and the
# pure-Python wheels the GPU image lacks (MONAI, pytorch-ignite, fire) into .device-data/wheels. The GPU image's own
# python3 holds PyTorch with CUDA; nothing is downloaded there.
# run: installs those wheels into /tmp/site and trains. With this workplace's device tool:
#   run(command="bash scripts/reproduce_gpu.sh run", carry=[".device-data"], timeout_s=600)
# Results: benchmarks/results/kvasir_equal_epochs_256px_<epochs>ep.json / .png (or $MEDDISSEG_GPU_RESULTS/), copied
# to $OUT when it is set.
#
# Environment (all optional): MEDDISSEG_GPU_STAGE1_EPOCHS (default 6), MEDDISSEG_GPU_EPOCHS (default 12),
# MEDDISSEG_GPU_MINUTES (time limit of the training, default 8.5), MEDDISSEG_DATA_ROOT (for prepare);
# MEDDISSEG_GPU_DEVICE, MEDDISSEG_GPU_SIZE, MEDDISSEG_GPU_TRAIN_IMAGES, MEDDISSEG_GPU_PYTHON (defaults cuda, 256, 880,
# python3) only for a dry run of the wiring on a CPU, e.g.
#   MEDDISSEG_GPU_DEVICE=cpu MEDDISSEG_GPU_SIZE=32 MEDDISSEG_GPU_TRAIN_IMAGES=16 MEDDISSEG_GPU_STAGE1_EPOCHS=1 \
#   MEDDISSEG_GPU_EPOCHS=1 MEDDISSEG_GPU_PYTHON=.venv/bin/python bash scripts/reproduce_gpu.sh run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$root/.device-data"
cd "$root"

case "${1:-}" in
prepare)
    python="${MEDDISSEG_VENV:-$root/.venv}/bin/python"
    source_dir="${MEDDISSEG_DATA_ROOT:-$root/../shared/data}/Kvasir-SEG"
    mkdir -p "$data"
    "$python" - "$source_dir" "$data/Kvasir-SEG" <<'PY'
import shutil, sys
from pathlib import Path
from PIL import Image

source, target = Path(sys.argv[1]), Path(sys.argv[2])
ids = (source / "train.txt").read_text().split() + (source / "val.txt").read_text().split()
for folder in ("images", "masks"):
    (target / folder).mkdir(parents=True, exist_ok=True)
for name in ("train.txt", "val.txt"):
    shutil.copy(source / name, target / name)
for i in ids:
    for folder, resample in (("images", Image.Resampling.BILINEAR), ("masks", Image.Resampling.NEAREST)):
        image = Image.open(source / folder / f"{i}.jpg")
        half = image.resize((max(1, image.width // 2), max(1, image.height // 2)), resample, reducing_gap=None if folder == "masks" else 2.0)
        half.save(target / folder / f"{i}.jpg", quality=92)
print(f"{len(ids)} images and masks at half size in {target}")
PY
    rm -rf "$data/wheels"
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 -d "$data/wheels" \
        "monai==$("$python" -c 'import monai; print(monai.__version__)')" \
        "pytorch-ignite==$("$python" -c 'import ignite; print(ignite.__version__)')" fire termcolor
    du -sh "$data"
    ;;
run)
    [ -d "$data/Kvasir-SEG" ] && [ -d "$data/wheels" ] || { echo "no $data: run 'bash scripts/reproduce_gpu.sh prepare' first (and carry .device-data)" >&2; exit 2; }
    python="${MEDDISSEG_GPU_PYTHON:-python3}"
    device="${MEDDISSEG_GPU_DEVICE:-cuda}"
    size="${MEDDISSEG_GPU_SIZE:-256}"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$data"/wheels/*.whl
    export PYTHONPATH="/tmp/site:$root" PYTHONUNBUFFERED=1
    if [ "$device" = cuda ]; then
        "$python" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__)'
    fi
    set -o pipefail
    "$python" benchmarks/kvasir_equal_epochs.py --device "$device" --autocast auto --num_workers 8 --threads 8 \
        --dataset_dir "$data/Kvasir-SEG" --dropout_source_size 16 --image_size "$size" \
        --train_images "${MEDDISSEG_GPU_TRAIN_IMAGES:-880}" --output "${MEDDISSEG_GPU_RESULTS:-$root/benchmarks/results}" \
        --stage1_epochs "${MEDDISSEG_GPU_STAGE1_EPOCHS:-6}" --epochs "${MEDDISSEG_GPU_EPOCHS:-12}" \
        --learning_rate 1e-4 --arms meddisseg --work_dir /tmp/meddisseg_gpu \
        --time_limit_minutes "${MEDDISSEG_GPU_MINUTES:-8.5}" 2>&1 | grep --line-buffered -v "Loading dataset" | tee "${OUT:-/tmp}/reproduce_gpu.log"
    if [ -n "${OUT:-}" ]; then
        cp "${MEDDISSEG_GPU_RESULTS:-$root/benchmarks/results}"/kvasir_equal_epochs_"$size"px_*ep.{json,png} "$OUT"/
    fi
    ;;
*)
    echo "usage: bash scripts/reproduce_gpu.sh prepare|run" >&2
    exit 2
    ;;
esac
