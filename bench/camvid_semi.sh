#!/usr/bin/env bash
# The semi-supervised comparison on CamVid: each method at 1/8 of the masks first (the issue's
# required column), then 1/16 and 1/4, on the foundation's schedule (same model, 240x320 images,
# 192x256 crops, 1500 optimisation steps, seed 0) and the supervised-only runs they are judged against.
# Each run resumes where it stopped and is skipped once its bench/results file exists, so the whole
# schedule can be run piecewise: `bench/camvid_semi.sh fixmatch meanteacher` runs only those methods.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/logs
methods=("${@:-fixmatch meanteacher uda unimatch cps equivariance}")
read -r -a methods <<< "${methods[*]}"
for fraction in 0.125 0.0625 0.25; do
  for method in supervised "${methods[@]}"; do
    name="camvid-deeplabv3plus-${method}-f${fraction}-s0"
    [[ -f "bench/results/${name}.json" ]] && continue
    python bench/camvid_train.py --method "$method" --labeled-fraction "$fraction" --seed 0 \
      > "bench/logs/${name}.log" 2>&1
  done
done
