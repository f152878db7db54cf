#!/usr/bin/env bash
# Entrypoint of the meddisseg-monai images (docker/Dockerfile.cpu, docker/Dockerfile.cuda). It also runs from a
# checkout (`bash docker/entrypoint.sh help`), with the environments that scripts/install.sh and
# scripts/install_monailabel.sh made. `help` (or no argument) prints the usage below.
#
# Environment:
#   MEDDISSEG_VENV              the environment of scripts/install.sh (default <repo>/.venv; /opt/venv in the images)
#   MEDDISSEG_MONAILABEL_VENV   the environment of scripts/install_monailabel.sh (default <repo>/.venv-monailabel)
#   MEDDISSEG_BUNDLE            2d (default) or ct: the bundle of train / evaluate / inference when --bundle is absent
#   MEDDISSEG_DRY_RUN=1         print each command instead of running it (one line each, shell-quoted)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEDDISSEG_VENV:-$root/.venv}"
monailabel_venv="${MEDDISSEG_MONAILABEL_VENV:-$root/.venv-monailabel}"
dry_run="${MEDDISSEG_DRY_RUN:-0}"

usage() {
    cat <<EOF
usage: entrypoint.sh SUBCOMMAND [OPTIONS] [OVERRIDES...]
       entrypoint.sh COMMAND [ARGS...]

Subcommands (OVERRIDES go to \`python -m monai.bundle run\`, e.g. --dataset_dir /data/Kvasir-SEG --output_dir out):
  demo                  the README's main job (scripts/run_demo.sh): Stage I -> Stage II -> evaluate -> inference
                        on a small default; output in \$MEDDISSEG_DEMO_DIR (default ./demo_output)
  train-stage1          Stage I of the 2D bundle (configs/train.json + configs/train_stage1.json)
  train                 training (configs/train.json; 2D: Stage II)
  evaluate              evaluation (configs/train.json + configs/evaluate.json)
  inference             inference (configs/inference.json), e.g. --input /data/images
  monailabel            MONAI Label server with the CT bundle, offline (needs the MONAI Label environment: build
                        the image with --build-arg WITH_MONAILABEL=1). Options: --studies DIR (default ./studies),
                        --port N (8000), --host H (0.0.0.0), --model FILE (weights to serve, copied to the bundle's
                        models/model.pt); other arguments go to \`monailabel.main start_server\`
  tests                 the test suite (scripts/run_tests.sh; arguments go to pytest)
  help                  this message

Options of train-stage1, train, evaluate, inference:
  --bundle 2d|ct        the bundle (default \$MEDDISSEG_BUNDLE, else 2d): bundle/meddisseg_2d_segmentation or
                        bundle/meddisseg_ct_segmentation
  --nproc N             N processes through torchrun (one per GPU; train and evaluate), adding the bundle's
                        configs/multi_gpu_train.json or configs/multi_gpu_evaluate.json

Any other COMMAND runs as is (from the environment, else from PATH): python, torchrun, meddisseg-datalist, bash, ...
MEDDISSEG_DRY_RUN=1 prints the commands instead of running them.
EOF
}

die() {
    echo "entrypoint.sh: $*" >&2
    exit 2
}

# One shell word, readable: bare when safe, else single- or double-quoted when that needs no escapes, else printf %q.
quote() {
    if [[ "$1" =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
        printf '%s' "$1"
    elif [[ "$1" != *\'* ]]; then
        printf "'%s'" "$1"
    elif [[ "$1" != *[\"\$\`\\]* ]]; then
        printf '"%s"' "$1"
    else
        printf '%q' "$1"
    fi
}

print_command() {
    local line="" word
    for word in "$@"; do
        line+="${line:+ }$(quote "$word")"
    done
    echo "$line"
}

# Runs a preparation step (or prints it in a dry run).
run_step() {
    if [ "$dry_run" = "1" ]; then
        print_command "$@"
    else
        "$@"
    fi
}

# Replaces this shell with the final command (or prints it in a dry run).
run_final() {
    if [ "$dry_run" = "1" ]; then
        print_command "$@"
        exit 0
    fi
    exec "$@"
}

# Checks hold in a dry run too: it only runs nothing.
require_python() {  # require_python PYTHON HINT
    [ -x "$1" ] || die "no Python at $1 ($2)"
}

# Parses --bundle and --nproc out of the arguments; the rest stays in `overrides`.
bundle_name="${MEDDISSEG_BUNDLE:-2d}"
nproc=""
overrides=()
parse_options() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --bundle) [ $# -ge 2 ] || die "--bundle needs a value (2d or ct)"; bundle_name="$2"; shift 2 ;;
            --bundle=*) bundle_name="${1#--bundle=}"; shift ;;
            --nproc) [ $# -ge 2 ] || die "--nproc needs a number"; nproc="$2"; shift 2 ;;
            --nproc=*) nproc="${1#--nproc=}"; shift ;;
            *) overrides+=("$1"); shift ;;
        esac
    done
    case "$bundle_name" in
        2d | meddisseg_2d_segmentation) bundle_name=2d ;;
        ct | meddisseg_ct_segmentation) bundle_name=ct ;;
        *) die "unknown bundle '$bundle_name' (2d or ct)" ;;
    esac
    if [ -n "$nproc" ] && ! [[ "$nproc" =~ ^[1-9][0-9]*$ ]]; then
        die "--nproc needs a positive number, got '$nproc'"
    fi
}

bundle_dir() {
    if [ "$bundle_name" = "ct" ]; then
        echo "$root/bundle/meddisseg_ct_segmentation"
    else
        echo "$root/bundle/meddisseg_2d_segmentation"
    fi
}

# bundle_run SUBCOMMAND CONFIG... : `python -m monai.bundle run` (or torchrun with --nproc) of the configs, in order.
bundle_run() {
    local subcommand=$1 multi_gpu_config="" dir config list=""
    shift
    dir="$(bundle_dir)"
    local configs=("$@")
    if [ -n "$nproc" ]; then
        case "$subcommand" in
            train | train-stage1) multi_gpu_config=multi_gpu_train.json ;;
            evaluate) multi_gpu_config=multi_gpu_evaluate.json ;;
            *) die "--nproc is for train, train-stage1 and evaluate, not $subcommand" ;;
        esac
        configs+=("$multi_gpu_config")
    fi
    for config in "${configs[@]}"; do
        [ -f "$dir/configs/$config" ] || die "the $bundle_name bundle has no configs/$config (for $subcommand${nproc:+ --nproc})"
        list+="${list:+,}'$dir/configs/$config'"
    done
    local run_args=(-m monai.bundle run --bundle_root "$dir" --config_file "[$list]" "${overrides[@]}")
    require_python "$venv/bin/python" "run scripts/install.sh"
    if [ -n "$nproc" ]; then
        run_final "$venv/bin/torchrun" --standalone --nnodes=1 --nproc_per_node="$nproc" "${run_args[@]}"
    fi
    run_final "$venv/bin/python" "${run_args[@]}"
}

monailabel_server() {
    local studies="$PWD/studies" port=8000 host=0.0.0.0 model="" server_args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --studies | --port | --host | --model) [ $# -ge 2 ] || die "$1 needs a value" ;;&
            --studies) studies="$2"; shift 2 ;;
            --port) port="$2"; shift 2 ;;
            --host) host="$2"; shift 2 ;;
            --model) model="$2"; shift 2 ;;
            --bundle | --bundle=*) die "monailabel serves the CT bundle only (MONAI Label's monaibundle app is 3D)" ;;
            *) server_args+=("$1"); shift ;;
        esac
    done
    local python="$monailabel_venv/bin/python"
    require_python "$python" "the MONAI Label environment: build the image with --build-arg WITH_MONAILABEL=1, \
or run scripts/install_monailabel.sh"
    [ -z "$model" ] || [ -f "$model" ] || die "--model: no file $model"
    # Everything the server writes (the app, its copy of the bundle, logs, the datastore) lives under the working
    # directory (/workspace in the images), never in the repository.
    local apps="${MEDDISSEG_MONAILABEL_APPS:-$PWD/monailabel-apps}"
    local app="$apps/monaibundle" model_dir="$apps/monaibundle/model/meddisseg_ct"
    if [ ! -d "$app" ]; then  # copies the sample app out of the installed package; offline
        run_step "$python" -m monailabel.main apps --download --name monaibundle --output "$apps"
    fi
    if [ ! -d "$model_dir" ]; then
        run_step cp -r "$root/bundle/meddisseg_ct_segmentation" "$model_dir"
    fi
    if [ -n "$model" ]; then
        run_step cp "$model" "$model_dir/models/model.pt"
    fi
    [ -d "$studies" ] || run_step mkdir -p "$studies"
    # zoo_source github and sam2 false: otherwise the app downloads model_info.json and SAM2 weights (docs/monailabel.md)
    run_final "$python" -m monailabel.main start_server --app "$app" --studies "$studies" \
        --conf models meddisseg_ct --conf zoo_source github --conf sam2 false --host "$host" --port "$port" \
        "${server_args[@]}"
}

subcommand="${1:-help}"
[ $# -eq 0 ] || shift
case "$subcommand" in
    help | -h | --help)
        usage
        ;;
    demo)
        [ $# -eq 0 ] || die "demo takes no arguments (its settings are the MEDDISSEG_DEMO_* variables of scripts/run_demo.sh)"
        run_final env "MEDDISSEG_DEMO_DIR=${MEDDISSEG_DEMO_DIR:-$PWD/demo_output}" bash "$root/scripts/run_demo.sh"
        ;;
    train-stage1)
        parse_options "$@"
        [ "$bundle_name" = "2d" ] || die "train-stage1 is a stage of the 2D bundle; the CT bundle trains with 'train'"
        bundle_run "$subcommand" train.json train_stage1.json
        ;;
    train)
        parse_options "$@"
        bundle_run "$subcommand" train.json
        ;;
    evaluate)
        parse_options "$@"
        bundle_run "$subcommand" train.json evaluate.json
        ;;
    inference)
        parse_options "$@"
        bundle_run "$subcommand" inference.json
        ;;
    monailabel)
        monailabel_server "$@"
        ;;
    tests)
        # the MONAI Label server test needs its environment: installed in the image or not, never installed here
        skip_monailabel="${MEDDISSEG_SKIP_MONAILABEL:-$([ -x "$monailabel_venv/bin/python" ] && echo 0 || echo 1)}"
        run_final env "MEDDISSEG_SKIP_MONAILABEL=$skip_monailabel" bash "$root/scripts/run_tests.sh" "$@"
        ;;
    *)
        # the environment's own commands first (python, torchrun, meddisseg-datalist), then PATH
        if [[ "$subcommand" != */* ]] && [ -x "$venv/bin/$subcommand" ]; then
            run_final "$venv/bin/$subcommand" "$@"
        fi
        if [[ "$subcommand" != -* ]] && command -v "$subcommand" > /dev/null; then
            run_final "$subcommand" "$@"
        fi
        usage >&2
        die "unknown subcommand or command '$subcommand'"
        ;;
esac
