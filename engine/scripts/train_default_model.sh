#!/usr/bin/env bash
# The recipe of the bundled model (engine/src/micrographcleaner/models/default.keras), end to end:
# stages 1-3 train on simulated scenes (model 1.1: a U-Net with the whole-image context); stage 4
# (model 2) fine-tunes it on simulated scenes mixed half and half with the hand-labelled real
# em_hole_finder frames of four holes, at boxes from half to twice the right one; stage 5 adds the
# hole-only frames of those holes (checked by eye) and a denoised EMPIAR-10017 frame with a traced
# hole edge (scripts/trace_edge_labels.py); stage 6 (model 2.1) draws boxes from 0.4 to 2.5 times the
# right one, so that half and twice it are inside the range, not at its ends, and draws the EMPIAR
# frame three times as often; stage 7 (model 2.2) keeps the working image 320-640 px across whatever
# the box (--working-side), as the model then predicts; stage 8 (model 2.3) draws simulated films with
# the bright band denoised frames show along their edge and counts the EMPIAR frame's rim as film, as
# human labels do. The calibration is fitted on a fifth hole; the
# model is then measured on the fixed synthetic test set (seeds 0-199, never trained on) and on the
# real frames held out (benchmark_real.py).
# About 7.5 hours on 2 CPU cores; interrupted stages continue with the same command (--resume).
# Stages 4-8 need ../shared/data/real (see engine/training_data/*.json).
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
micrographcleaner train "$OUT/stage5" --resume --initial-model "$OUT/stage4/model.keras" \
    --labelled "$DATA/em_hole_finder_train.json" "$DATA/em_hole_finder_hole_only.json" "$DATA/empiar10017_edge.json" \
    --simulated-fraction 0.5 --epochs 18 --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 1.5e-4 "$@"
# stages 6-8 share the real sources, their boxes (0.4-2.5x the right one) and the learning rate
LATE_STAGES=(--labelled "$DATA/em_hole_finder_train.json" "$DATA/em_hole_finder_hole_only.json"
             "$DATA/empiar10017_edge_stage6.json" --simulated-fraction 0.5 --labelled-scale 0.4 2.5
             --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 1e-4)
micrographcleaner train "$OUT/stage6" --resume --initial-model "$OUT/stage5/model.keras" "${LATE_STAGES[@]}" \
    --epochs 10 "$@"
micrographcleaner train "$OUT/stage7" --resume --initial-model "$OUT/stage6/model.keras" "${LATE_STAGES[@]}" \
    --working-side 320 640 --epochs 16 "$@"
micrographcleaner train "$OUT/stage8" --resume --initial-model "$OUT/stage7/model.keras" "${LATE_STAGES[@]}" \
    --working-side 320 640 --epochs 8 "$@"
MODEL="$OUT/stage8/model.keras"
micrographcleaner calibrate "$MODEL" --labelled "$DATA/em_hole_finder_validation.json"
[ -d "$OUT/testset" ] || micrographcleaner simulate "$OUT/testset" --count 200 --first-seed 0 --shape 320 448
micrographcleaner evaluate "$OUT/testset" --model "$MODEL" --report "$OUT/testset_report.json" --record synthetic_test
python "$HERE/../benchmarks/benchmark_real.py" --model "$MODEL" --json "$OUT/real.json" --png "$OUT/real.png" \
    --record real
