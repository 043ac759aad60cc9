"""Calibrating a model's badness on labelled real micrographs (Platt scaling of its logits).

A network trained mostly on simulation can be over- or under-confident on real micrographs: a
faint "haze" of badness 0.3-0.5 is not flagged (below 0.5) yet pulls the goodness of the particles
under it below the threshold, so the picture and the decision disagree. One scale and shift of the
logit, fitted on held-out real frames, makes 0.5 mean "as likely bad as good" there; the same
mapping is applied to every output channel, so the class maps stay consistent with channel 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """badness -> sigmoid(scale * logit(badness) + shift); the identity is (1, 0)."""

    scale: float = 1.0
    shift: float = 0.0

    @classmethod
    def from_card(cls, content: dict | None) -> "Calibration":
        content = content or {}
        return cls(float(content.get("scale", 1.0)), float(content.get("shift", 0.0)))

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.shift == 0.0

    def apply(self, badness: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return badness
        return (1.0 / (1.0 + np.exp(-(self.scale * logit(badness) + self.shift)))).astype(np.float32)


def logit(badness: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept a hair inside (0, 1)."""
    p = np.clip(badness, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def fit(badness: np.ndarray, truth: np.ndarray) -> Calibration:
    """The scale and shift that minimise the mean cross-entropy of ``badness`` against boolean
    ``truth`` (flat arrays of the labelled pixels): calibrated, 0.7 then means bad 70% of the time."""
    from scipy.optimize import minimize

    logits = logit(np.asarray(badness, dtype=np.float64))
    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        raise ValueError("calibration needs both good and bad labelled pixels")

    def loss(parameters: np.ndarray) -> float:
        z = parameters[0] * logits + parameters[1]
        # -log sigmoid(z) for bad pixels, -log sigmoid(-z) for good ones, computed stably
        return float(np.mean(np.logaddexp(0.0, np.where(truth, -z, z))))

    result = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-9})
    scale, shift = (float(value) for value in result.x)
    return Calibration(max(scale, 1e-3), shift)
