"""Fit a model's calibration on held-out labelled real micrographs and store it in its card.

    python engine/scripts/calibrate_model.py --model M [--labelled SOURCE.json ...] [--scales 0.5 1 2]

Each source's micrographs are predicted, uncalibrated, at boxes of half, once and twice the right
one (``--scales``); the logit
scale and shift that fit the labels best (calibration.py) go into the card. Prints the flagged
share and the IoU before and after.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from micrographcleaner.calibration import fit
from micrographcleaner.classes import IGNORE
from micrographcleaner.evaluation import iou
from micrographcleaner.labels import LabelSource, at_working_scale, labelled_bad
from micrographcleaner.model_files import load_model, update_card
from micrographcleaner.prediction import Predictor

VALIDATION = Path(__file__).resolve().parents[1] / "training_data" / "em_hole_finder_validation.json"


def labelled_pixels(predictor: Predictor, source: LabelSource, scales: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Channel-0 badness and truth of every labelled working pixel, over all frames and boxes."""
    badness, truth = [], []
    for _, image, codes in source.items():
        for scale in scales:
            working, _ = predictor.working_image(image, source.box_size * scale)
            predicted = predictor.predict(working)[..., 0]
            known = ~at_working_scale(codes == IGNORE, predicted.shape)  # as benchmark_real counts them
            bad = at_working_scale(labelled_bad(codes), predicted.shape)
            badness.append(predicted[known])
            truth.append(bad[known])
    return np.concatenate(badness), np.concatenate(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--labelled", type=Path, nargs="+", default=[VALIDATION])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                        help="boxes as multiples of each source's right box")
    args = parser.parse_args()
    model, card = load_model(args.model)
    predictor = Predictor(model, replace(card, calibration={}))
    pairs = [labelled_pixels(predictor, LabelSource.from_json(path), args.scales) for path in args.labelled]
    badness, truth = (np.concatenate(parts) for parts in zip(*pairs))
    calibration = fit(badness, truth)
    after = calibration.apply(badness)
    for name, values in (("before", badness), ("after", after)):
        print(f"{name:<7} flagged {np.mean(values >= 0.5):.3f} (truth {truth.mean():.3f}), "
              f"IoU {iou(truth, values >= 0.5) or 0:.3f}, mean badness on good pixels {values[~truth].mean():.3f}")
    sources = ", ".join(path.name for path in args.labelled)
    update_card(args.model, lambda c: setattr(c, "calibration", {
        **asdict(calibration), "fitted_on": f"{sources} at {args.scales} x the right box, {truth.size} working px"}))
    print(f"calibration scale {calibration.scale:.3f} shift {calibration.shift:.3f} written to the card of {args.model}")


if __name__ == "__main__":
    main()
