#!/usr/bin/env bash
# The GPU suite: install the gpu extra, check TensorFlow and onnxruntime really use the GPU, train the
# CamVid full-supervision recipe for ~6 minutes, evaluate on val and test, time predict (CUDA vs CPU
# vs Keras). Results: bench/results/gpu-*.json, copied to $OUT when it is set. See bench/gpu_suite.py.
#
#   bash bench/gpu_suite.sh --stage-data   # here, beside ../shared: copy CamVid into .gpu-data/camvid
#   bash bench/gpu_suite.sh                # on the GPU machine, from the repository root
#   bash bench/gpu_suite.sh --dry-run      # (or DRY_RUN=1) CPU, current environment, tiny, results in a temp dir
#
# Environment: PYTHON (interpreter for the venv, default python3.11 or python3), GPU_SUITE_VENV (default
# .gpu-venv), TRAIN_SECONDS (default 360), GPU_SUITE_DATA (default .gpu-data/camvid), TENSORRT=1 to also
# time onnxruntime's TensorRT provider, PIP_ARGS (extra pip install arguments, e.g. --no-index --find-links DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
[[ "${DRY_RUN:-0}" == 1 ]] && mode="--dry-run"
data="${GPU_SUITE_DATA:-.gpu-data/camvid}"

if [[ "$mode" == "--stage-data" ]]; then
    source="${2:-../shared/data/camvid}"
    [[ -f "$source/classes.json" ]] || { echo "no dataset at $source" >&2; exit 1; }
    rm -rf "$data" && mkdir -p "$(dirname "$data")"
    cp -r "$source" "$data"
    bytes=$(du -sb "$data" | cut -f1)
    echo "staged $source -> $data: $((bytes / 1048576)) MiB ($(ls "$data/images" | wc -l) images)"
    # what travels to a lent GPU machine is limited to 64 MiB: name .gpu-data in its carry
    if (( bytes > 55 * 1048576 )); then echo "too large to travel (limit ~55 MiB)" >&2; exit 1; fi
    exit 0
fi

if [[ "$mode" == "--dry-run" ]]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-suite-dry.XXXXXX")"
    [[ -f "$data/classes.json" ]] || data="builtin:shapes"
    echo "dry run: current environment ($(command -v python)), data $data, work and results in $work"
    exec python bench/gpu_suite.py --dry-run --data "$data" --work "$work" --results "$work/results"
fi
[[ -z "$mode" ]] || { echo "unknown option $mode (use --stage-data or --dry-run)" >&2; exit 2; }

[[ -f "$data/classes.json" ]] || {
    echo "no CamVid at $data: run 'bash bench/gpu_suite.sh --stage-data' beside ../shared first" >&2; exit 1; }
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "semiseg-tf needs Python 3.11 (requires-python); $python is $("$python" --version 2>&1). Set PYTHON=..." >&2
    exit 1
fi
venv="${GPU_SUITE_VENV:-.gpu-venv}"
started=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
# ${PIP_ARGS} unquoted on purpose: several arguments
# shellcheck disable=SC2086
if ! pip install -q --timeout 30 ${PIP_ARGS:-} -e ".[gpu,test]"; then
    echo "pip install -e '.[gpu,test]' failed: this machine must reach a package registry (or set" \
         "PIP_ARGS='--no-index --find-links WHEELS')" >&2
    exit 1
fi
install_seconds=$(( $(date +%s) - started ))
echo "installed .[gpu,test] in ${install_seconds} s"
mkdir -p runs
exec python bench/gpu_suite.py --data "$data" --work runs/gpu-suite --train-seconds "${TRAIN_SECONDS:-360}" \
    --install-seconds "$install_seconds" ${TENSORRT:+--tensorrt}
