"""Fitting a model's calibration (:mod:`.calibration`) on labelled real micrographs, into its card.

Each source's micrographs are predicted uncalibrated at boxes of several multiples of the right
one (half, once and twice by default, as users pick boxes loosely); the logit scale and shift that
fit the labels best are written to the model's card, with what they were fitted on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .calibration import Calibration, fit
from .evaluation import iou
from .held_out import HeldOutMicrographs
from .labels import LabelSource
from .model_files import load_model, update_card


@dataclass
class PixelFigures:
    """What a calibration changes, over the labelled working pixels."""

    flagged: float  # share of pixels at badness >= 0.5
    truth: float  # share labelled bad
    iou: float  # of the flagged and the labelled bad pixels
    good_badness: float  # mean badness on pixels labelled good

    @classmethod
    def of(cls, badness: np.ndarray, truth: np.ndarray) -> "PixelFigures":
        return cls(float(np.mean(badness >= 0.5)), float(truth.mean()), float(iou(truth, badness >= 0.5) or 0.0),
                   float(badness[~truth].mean()))


def calibrate(model_path: Path, sources: list[LabelSource], scales: list[float]
              ) -> tuple[Calibration, PixelFigures, PixelFigures]:
    """Fits the calibration of the model at ``model_path`` on ``sources`` and writes it to its card;
    returns it with the figures before and after."""
    model, card = load_model(model_path)
    frames = HeldOutMicrographs(sources, card, tuple(scales))
    badness, truth = frames.pixels(frames.predictions(model, replace(card, calibration={})))
    calibration = fit(badness, truth)
    names = ", ".join(source.name for source in sources)
    update_card(model_path, lambda c: setattr(c, "calibration", {
        **asdict(calibration), "fitted_on": f"{names} at {scales} x the right box, {truth.size} working px"}))
    return calibration, PixelFigures.of(badness, truth), PixelFigures.of(calibration.apply(badness), truth)
