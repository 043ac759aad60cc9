"""Which model ships: candidate models side by side on the validation frames only.

The frames that ``benchmark_real.py`` reports (em_hole_finder holes 3 and 8, the EMPIAR-10017 and
Ucsf frames) never choose a model. These do, each with the hole edges drawn as users get them:

* em_hole_finder hole 5 (``engine/training_data/em_hole_finder_validation.json``, never trained on,
  the calibration's frames): carbon mIoU at boxes 16, 32 and 64;
* the square's hole-only frames (``em_hole_finder_hole_only.json``, checked by eye): the share
  flagged at box 32, and the share hazy (badness >= 0.2, where a particle would be rejected at a
  goodness threshold of 0.8);
* simulated validation scenes, seeds 10000-10159 (training draws from 1,000,000; the test set is
  0-199), 320 x 448 working px: bad-region mIoU, the clean scenes' flagged share (mean, max), and
  the particles kept on good ice and rejected on bad regions at threshold 0.8.

The score is the mean of hole 5's three mIoUs and the simulated bad-region mIoU; a model whose
hole-only frames or simulated clean scenes are more than 1% flagged (mean) is not eligible. The
first model is the baseline; the eligible one with the highest score is chosen.

    python engine/benchmarks/choose_model.py MODEL[:single] [MODEL[:single] ...] [--real DIR] [--cache DIR]
        [--json OUT]

``:single`` measures a model on its working scale's view alone, without the companion view
(``micrographcleaner.preprocessing.companion_factor``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmark_real import (HAZE_THRESHOLD, HOLE_FINDER_BOXES, HOLE_ONLY, REAL, flagged_share, hole_finder,
                            hole_finder_source, source_items)
from micrographcleaner.evaluation import evaluate_folder
from micrographcleaner.model_files import load_model
from micrographcleaner.prediction import Predictor
from micrographcleaner.simulation import write_simulated

HERE = Path(__file__).resolve().parent
VALIDATION = HERE.parent / "training_data" / "em_hole_finder_validation.json"
SIMULATED_SEEDS = range(10000, 10160)
SIMULATED_SHAPE = (320, 448)
RIGHT_BOX = 32
MAX_CLEAN_FLAGGED = 0.01


def simulated_validation(cache: Path) -> Path:
    """The simulated validation scenes, written once per simulator (delete the folder after changing it)."""
    folder = cache / f"validation_{SIMULATED_SEEDS.start}_{SIMULATED_SEEDS.stop - 1}"
    if not (folder / "complete").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for seed in SIMULATED_SEEDS:
            write_simulated(folder, seed, SIMULATED_SHAPE)
        (folder / "complete").write_text("")
    return folder


def validate(candidate: str, real: Path, simulated: Path) -> dict:
    path, _, view = candidate.partition(":")
    model, card = load_model(None if path == "bundled" else path)
    predictor = Predictor(model, card, companion=view != "single")
    hole5 = hole_finder(predictor, real, VALIDATION)
    figures = {f"hole5_box{box}_miou": hole5[f"box{box}_carbon_miou"] for box in HOLE_FINDER_BOXES}
    hole_only = hole_finder_source(HOLE_ONLY, real)
    figures["hole_only_flagged"] = flagged_share(predictor, hole_only, RIGHT_BOX)
    figures["hole_only_hazy"] = flagged_share(predictor, hole_only, RIGHT_BOX, 1 - HAZE_THRESHOLD)
    _, summary = evaluate_folder(simulated, predictor)
    figures["simulated_miou"] = summary["bad_regions"]["miou"]
    figures["simulated_carbon_miou"] = summary["carbon_subset"]["miou"]
    figures["simulated_clean_flagged"] = summary["clean_micrographs"]["mean_flagged"]
    figures["simulated_clean_flagged_max"] = summary["clean_micrographs"]["max_flagged"]
    figures["simulated_good_kept"] = summary["particles"]["good_kept"]
    figures["simulated_bad_rejected"] = summary["particles"]["bad_rejected"]
    figures["score"] = float(np.mean([figures[f"hole5_box{box}_miou"] for box in HOLE_FINDER_BOXES]
                                     + [figures["simulated_miou"]]))
    figures["eligible"] = bool(figures["hole_only_flagged"] <= MAX_CLEAN_FLAGGED
                               and figures["simulated_clean_flagged"] <= MAX_CLEAN_FLAGGED)
    return figures


def label(candidate: str) -> str:
    path, _, view = candidate.partition(":")
    name = path if path == "bundled" else Path(path).parent.name
    return f"{name}:{view}" if view else name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model files ('bundled': the shipped one), each with ':single' "
                        "for the working scale's view alone; the first is the baseline")
    parser.add_argument("--real", type=Path, default=REAL, required=REAL is None)
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "choose_model")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if not (args.real / "em_hole_finder").is_dir():
        print(f"{args.real / 'em_hole_finder'}: not found; nothing to measure", file=sys.stderr)
        return 2
    if not source_items(VALIDATION, args.real):
        print(f"{VALIDATION}: no frames under {args.real}", file=sys.stderr)
        return 2
    simulated = simulated_validation(args.cache)
    results = {name: validate(name, args.real, simulated) for name in args.models}
    keys = [key for key in next(iter(results.values())) if key != "eligible"]
    print(f"{'':<30}" + "".join(f"{label(name):>14}" for name in results))
    for key in keys:
        print(f"{key:<30}" + "".join(f"{figures[key]:>14.3f}" for figures in results.values()))
    print(f"{'eligible':<30}" + "".join(f"{'yes' if f['eligible'] else 'no':>14}" for f in results.values()))
    eligible = {name: figures for name, figures in results.items() if figures["eligible"]}
    chosen = max(eligible, key=lambda name: eligible[name]["score"]) if eligible else args.models[0]
    print(f"chosen: {chosen}")
    if args.json:
        args.json.write_text(json.dumps({"models": results, "chosen": chosen}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
