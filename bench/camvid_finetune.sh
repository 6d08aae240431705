#!/usr/bin/env bash
# Semi-supervised fine-tuning on CamVid: each method continues the supervised-only 1/8 run
# (`--init-from`) for 500 steps (STEPS) at learning rate 5e-4, next to a supervised control that does the
# same 500 steps on the masks alone. From scratch every method lost to supervised-only (confident
# wrong pseudo-labels on thin classes early in training); starting from the supervised model is the
# schedule where they stopped losing. Runs are skipped once their bench/results file exists and
# resume from their checkpoint if interrupted: `bench/camvid_finetune.sh uda cps` runs only those.
# SEED=1 repeats the schedule on another labeled subset (it trains the seed's supervised run first).
# BASE_VARIANT=r2 repeats it from a second supervised run of the same seed (named by that variant):
# the same command is not bit-reproducible across CPUs, so a replicate measures run-to-run noise.
# FRACTION=0.0625 runs the schedule at another label budget (default 1/8).
# STEPS=1000 fine-tunes longer (default 500; runs are named ft<STEPS>, and the report pairs each with
# the control of its own length).
# Recipes with a suffix are a method with options (the suffix names the run's variant):
# `equivariance-hflip` is equivariance with horizontal flips only (street scenes never show rotations),
# `equivariance` with flips and quarter turns (the method's default before it became hflip),
# `equivariance-hflipshrink` with flips and half-size views (scale=0.5), `equivariance-hflipzoom` with
# flips and 1.5x views; `copypaste-hflip` is copy-paste plus the flip-only equivariance term.
# A file bench/logs/PAUSE holds the queue between runs (to measure speed on an idle machine).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/logs
seed="${SEED:-0}"
fraction="${FRACTION:-0.125}"
steps="${STEPS:-500}"
methods=("${@:-fixmatch unimatch uda meanteacher cps equivariance}")
read -r -a methods <<< "${methods[*]}"
tag="${BASE_VARIANT:+${BASE_VARIANT}-}"
declare -A OPTIONS=([equivariance]=equivariance_transforms=hflip,rot90,rot180,rot270
  [equivariance-hflip]=equivariance_transforms=hflip [equivariance-hflipshrink]=equivariance_transforms=hflip,scale=0.5
  [equivariance-hflipzoom]=equivariance_transforms=hflip,scale=1.5
  [copypaste-hflip]="equivariance_weight=1 equivariance_transforms=hflip")
for recipe in "${methods[@]}"; do  # a typo stops here, before hours of training
  if [[ "$recipe" == *-* && -z "${OPTIONS[$recipe]:-}" ]]; then
    echo "unknown recipe '$recipe'; with a suffix, one of: ${!OPTIONS[*]}" >&2; exit 2
  fi
done
base="camvid-deeplabv3plus-supervised-${tag}pbn-f${fraction}-s${seed}"  # camvid_train.py names PreciseBN runs -pbn
if [[ ! -f "bench/results/${base}.json" ]]; then
  python bench/camvid_train.py --labeled-fraction "$fraction" --seed "$seed" ${BASE_VARIANT:+--variant "$BASE_VARIANT"} \
    > "bench/logs/${base}.log" 2>&1
fi
for recipe in supervised "${methods[@]}"; do
  method="${recipe%%-*}"
  args=(--method "$method")
  for option in ${OPTIONS[$recipe]:-}; do args+=(--method-option "$option"); done
  suffix="${recipe#"$method"}"; suffix="${suffix#-}"; variant="${tag}${suffix}${suffix:+-}ft${steps}"
  name="camvid-deeplabv3plus-${method}-${variant}-pbn-f${fraction}-s${seed}"
  [[ -f "bench/results/${name}.json" ]] && continue
  while [[ -f bench/logs/PAUSE ]]; do sleep 10; done
  python bench/camvid_train.py "${args[@]}" --labeled-fraction "$fraction" --seed "$seed" \
    --init-from "$base" --steps "$steps" --learning-rate 5e-4 --variant "$variant" > "bench/logs/${name}.log" 2>&1
done
