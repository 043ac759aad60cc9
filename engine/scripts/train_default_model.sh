#!/usr/bin/env bash
# The recipe of the bundled model (engine/src/micrographcleaner/models/default.keras), end to end:
# train on simulated scenes, fine-tune on a later version of the simulator, add the whole-image
# context to the bottleneck and fine-tune again, then measure on the fixed synthetic test set
# (seeds 0-199, never trained on) and on the shared real micrographs.
# About 3 hours on 2 CPU cores; interrupted stages continue with the same command (--resume).
#
#   bash engine/scripts/train_default_model.sh [OUT_DIR] [--gpus 0]
set -euo pipefail
OUT="${1:-runs/default}"
shift || true
HERE="$(cd "$(dirname "$0")" && pwd)"

micrographcleaner train "$OUT/stage1" --resume --epochs 16 --steps-per-epoch 200 --batch-size 8 --tile 256 "$@"
micrographcleaner train "$OUT/stage2" --resume --initial-model "$OUT/stage1/model.keras" \
    --epochs 4 --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 3e-4 "$@"
micrographcleaner train "$OUT/stage3" --resume --initial-model "$OUT/stage2/model.keras" --global-context \
    --epochs 16 --steps-per-epoch 200 --batch-size 8 --tile 256 --learning-rate 4e-4 "$@"
[ -d "$OUT/testset" ] || micrographcleaner simulate "$OUT/testset" --count 200 --first-seed 0 --shape 320 448
micrographcleaner evaluate "$OUT/testset" --model "$OUT/stage3/model.keras" \
    --report "$OUT/testset_report.json" --record synthetic_test
python "$HERE/../benchmarks/benchmark_real.py" --model "$OUT/stage3/model.keras" \
    --json "$OUT/real.json" --png "$OUT/real.png" --record real || echo "no real micrographs here: skipped"
