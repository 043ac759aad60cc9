#!/usr/bin/env bash
# The recipe of the bundled model (engine/src/micrographcleaner/models/default.keras), end to end:
# stages 1-3 train on simulated scenes (model 1.1: a U-Net with the whole-image context); stage 4
# (model 2) fine-tunes it on simulated scenes mixed half and half with the hand-labelled real
# em_hole_finder frames of four holes, at boxes from half to twice the right one; its calibration
# is fitted on a fifth hole; it is then measured on the fixed synthetic test set (seeds 0-199,
# never trained on) and on the real frames held out (benchmark_real.py).
# About 4.5 hours on 2 CPU cores; interrupted stages continue with the same command (--resume).
# Stage 4 needs ../shared/data/real (see engine/training_data/*.json).
#
#   bash engine/scripts/train_default_model.sh [OUT_DIR] [--gpus 0]
set -euo pipefail
OUT="${1:-runs/default}"
shift || true
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="$HERE/../training_data"

micrographcleaner train "$OUT/stage1" --resume --epochs 16 --steps-per-epoch 200 --batch-size 8 --tile 256 "$@"
micrographcleaner train "$OUT/stage2" --resume --initial-model "$OUT/stage1/model.keras" \
    --epochs 4 --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 3e-4 "$@"
micrographcleaner train "$OUT/stage3" --resume --initial-model "$OUT/stage2/model.keras" --global-context \
    --epochs 16 --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 4e-4 "$@"
micrographcleaner train "$OUT/stage4" --resume --initial-model "$OUT/stage3/model.keras" \
    --labelled "$DATA/em_hole_finder_train.json" --simulated-fraction 0.5 \
    --epochs 20 --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 2e-4 "$@"
python "$HERE/calibrate_model.py" --model "$OUT/stage4/model.keras" --labelled "$DATA/em_hole_finder_validation.json"
[ -d "$OUT/testset" ] || micrographcleaner simulate "$OUT/testset" --count 200 --first-seed 0 --shape 320 448
micrographcleaner evaluate "$OUT/testset" --model "$OUT/stage4/model.keras" \
    --report "$OUT/testset_report.json" --record synthetic_test
python "$HERE/../benchmarks/benchmark_real.py" --model "$OUT/stage4/model.keras" \
    --json "$OUT/real.json" --png "$OUT/real.png" --record real
