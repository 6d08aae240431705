#!/usr/bin/env bash
# The foundation's comparison schedule: full supervision, then 1/8 and 1/4 of the masks.
# Each run: DeepLabV3+ (compact ResNet encoder), 1500 steps of batch 8, 192x256 crops of
# images scaled to 240x320, evaluation on val at native 360x480. Resumable: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/.."
for fraction in 1.0 0.125 0.25; do
  python bench/camvid_train.py --labeled-fraction "$fraction" --seed 0 "$@"
done
