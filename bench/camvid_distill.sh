#!/usr/bin/env bash
# Data distillation on CamVid (one round of self-training): the finished run TEACHER (a name under
# runs/bench/, e.g. camvid-deeplabv3plus-supervised-f0.125-s0) labels the train images it did not
# have masks for with a flip x 3-scale ensemble (pixels below 0.9 confidence ignored; with
# CLASS_BALANCE=P, each class also keeps its most confident fraction P, as in CBST), then a
# student trains on the same labeled masks plus these pseudo-labels with the supervised step,
# on the comparison schedule. Usage: bench/camvid_distill.sh TEACHER FRACTION [CLASS_BALANCE]
# (SEED=N for the student's seed, default 0: use the teacher's, so both share the labeled subset;
# SHARE=S to draw a fixed share S of every batch from the pseudo-labels, the rest from the masks).
set -euo pipefail
cd "$(dirname "$0")/.."
teacher="$1"; fraction="$2"; balance="${3:-}"
labels="runs/bench/pseudo-labels-${teacher}${balance:+-cbst${balance}}"
if [[ ! -f "${labels}/pseudo_labels.json" ]]; then
  semiseg-tf pseudo-label --model "runs/bench/${teacher}" --images ../shared/data/camvid/images \
    --stems "runs/bench/${teacher}/unlabeled.txt" --transforms flip,scales=0.75,1,1.25 --threshold 0.9 \
    ${balance:+--class-balance "$balance"} --out "$labels"
fi
python bench/pseudo_label_quality.py --labels "$labels"
variant="${balance:+cbst${balance}}"
if [[ -n "${SHARE:-}" ]]; then variant="${variant:+${variant}-}share${SHARE}"; fi
python bench/camvid_train.py --labeled-fraction "$fraction" --seed "${SEED:-0}" --extra-labels "$labels" --teacher "$teacher" \
  ${SHARE:+--extra-labels-share "$SHARE"} ${variant:+--variant "$variant"}
