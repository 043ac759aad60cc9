"""Scoring particle coordinates against a badness map.

goodness = 1 - mean badness over the particle's disc (diameter = box size unless given), measured
at the working resolution; distance = from the coordinate to the nearest bad pixel (badness >= 0.5).
With a model that has classes, each bad pixel belongs to its most likely class (the label map):
per-class distances and fractions follow it, so the classes share out the bad area exactly.
Every coordinate gets a decision and a reason, so nothing is dropped without a trace.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .contract import (ACCEPTED, ANY_CLASS, CRYSTALLINE_ICE, LOW_GOODNESS, MOSTLY_BAD, OUTSIDE_MICROGRAPH,
                       UNCERTAIN_BADNESS, near, unreadable_row)
from .preprocessing import Geometry

BAD_LEVEL = 0.5
"""A working pixel with badness at or above this is a bad pixel."""

MOSTLY_BAD_FRACTION = 0.8
"""Above this flagged fraction a micrograph is reported as mostly bad where no maximum is set (the
original's sizeThr)."""


@dataclass
class ScoringRule:
    """How coordinates are judged: goodness threshold and minimum distances (per class or 'any')."""

    threshold: float | None = None  # keep goodness >= threshold; None keeps all (score only)
    min_distance: dict[str, float] = field(default_factory=dict)  # class name or 'any' -> distance


@dataclass
class MicrographRule:
    """When a whole micrograph is rejected, with every coordinate on it: too much of it flagged bad,
    or crystalline ice. None: no such rule."""

    max_flagged: float | None = None  # flagged fraction, 0..1
    max_iciness: float | None = None

    @property
    def mostly_bad_fraction(self) -> float:
        """The flagged fraction above which a micrograph is called mostly bad: the maximum when set."""
        return MOSTLY_BAD_FRACTION if self.max_flagged is None else self.max_flagged

    def rejection(self, flagged_fraction: float, iciness: float | None) -> str | None:
        """The micrograph's rejection reason, or None when it is kept (an iciness not measured passes)."""
        if self.max_flagged is not None and flagged_fraction > self.max_flagged:
            return MOSTLY_BAD
        if self.max_iciness is not None and iciness is not None and iciness > self.max_iciness:
            return CRYSTALLINE_ICE
        return None


@dataclass
class CoordinateScores:
    goodness: np.ndarray  # (N,) in 0..1
    distance: np.ndarray  # (N,) to the nearest bad pixel of any class (inf when there is none)
    class_distance: dict[str, np.ndarray]  # per class, when the model has classes
    accepted: np.ndarray  # (N,) bool
    reason: list[str]  # one of the contract's reasons per coordinate

    def __len__(self) -> int:
        return len(self.goodness)

    def rejected_as(self, reason: str) -> "CoordinateScores":
        """Every coordinate rejected for ``reason`` (its micrograph's), scores kept; one that could not
        be scored keeps why (outside, unreadable row)."""
        scored = np.isfinite(self.goodness)
        return CoordinateScores(self.goodness, self.distance, self.class_distance, np.zeros(len(self), bool),
                                [reason if ok else why for ok, why in zip(scored, self.reason)])


def class_labels(badness: np.ndarray) -> np.ndarray:
    """uint8 label map: 0 for a good pixel, else 1 + its most likely class (1 for a one-class model)."""
    bad = badness[..., 0] >= BAD_LEVEL
    if badness.shape[-1] == 1:
        return bad.astype(np.uint8)
    return np.where(bad, 1 + np.argmax(badness[..., 1:], axis=-1), 0).astype(np.uint8)


def uncertain_fraction(badness: np.ndarray) -> float:
    """Share of pixels neither clearly good nor clearly bad (:data:`~.contract.UNCERTAIN_BADNESS`)."""
    low, high = UNCERTAIN_BADNESS
    return float(((badness > low) & (badness < high)).mean())


def flagged_fractions(badness: np.ndarray, class_names: list[str]) -> dict[str, float]:
    """Fraction of the micrograph flagged bad overall ('any') and per class (by the label map)."""
    labels = class_labels(badness)
    fractions = {ANY_CLASS: float((labels > 0).mean())}
    for label, name in enumerate(class_names[1:], start=1):
        fractions[name] = float((labels == label).mean())
    return fractions


def disc_mean(values: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    """Mean of ``values`` (H, W) over discs at continuous (x, y) ``centres``; off-image pixels ignored.

    Pixels whose centres lie within ``radius`` count; the pixel nearest to the centre always counts.
    """
    height, width = values.shape
    reach = int(np.ceil(radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    nearest = np.rint(centres).astype(np.int64)  # (N, 2) x, y
    xs = nearest[:, 0, None, None] + offsets[None, None, :]
    ys = nearest[:, 1, None, None] + offsets[None, :, None]
    distance2 = (xs - centres[:, 0, None, None]) ** 2 + (ys - centres[:, 1, None, None]) ** 2
    inside_disc = (distance2 <= radius ** 2) | ((xs == nearest[:, 0, None, None]) & (ys == nearest[:, 1, None, None]))
    on_image = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    counted = inside_disc & on_image
    gathered = values[np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)]
    count = counted.sum(axis=(1, 2))
    total = np.where(counted, gathered, 0.0).sum(axis=(1, 2))
    return np.where(count > 0, total / np.maximum(count, 1), 1.0)


def distance_to_bad(bad: np.ndarray, centres: np.ndarray, unit_per_pixel: float) -> np.ndarray:
    """Distance from each centre's nearest working pixel to the nearest bad pixel, in output units."""
    if not bad.any():
        return np.full(len(centres), np.inf)
    distances = ndimage.distance_transform_edt(~bad)
    height, width = bad.shape
    xs = np.clip(np.rint(centres[:, 0]).astype(np.int64), 0, width - 1)
    ys = np.clip(np.rint(centres[:, 1]).astype(np.int64), 0, height - 1)
    return distances[ys, xs] * unit_per_pixel


def score_coordinates(badness: np.ndarray, geometry: Geometry, xy: np.ndarray, diameter: float,
                      class_names: list[str], rule: ScoringRule,
                      pixel_size: float | None = None) -> CoordinateScores:
    """Score micrograph-pixel coordinates ``xy`` (N, 2) against ``badness`` (H, W, channels).

    Distances are in Angstrom when ``pixel_size`` is known, in micrograph pixels otherwise. A centre
    is on the micrograph when 0 <= x < width and 0 <= y < height (511.99 is on a 512 px micrograph).
    A row with a NaN centre (unreadable in its file) is rejected as "unreadable row N" (1-based).
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    readable = np.isfinite(xy).all(axis=1)
    xy = np.where(readable[:, None], xy, 0.0)
    centres = np.clip(geometry.to_working(xy), -1e6, 1e6)  # far-off picks are "outside"; keep ints in range
    scale = float(np.mean(geometry.scale))
    goodness = 1.0 - disc_mean(badness[..., 0], centres, diameter / 2.0 / scale)
    unit = scale * (pixel_size or 1.0)
    distance = distance_to_bad(badness[..., 0] >= BAD_LEVEL, centres, unit)
    labels = class_labels(badness) if len(class_names) > 1 else None
    class_distance = {name: distance_to_bad(labels == label, centres, unit)
                      for label, name in enumerate(class_names[1:], start=1)}

    height, width = geometry.micrograph_shape
    outside = (xy[:, 0] < 0) | (xy[:, 0] >= width) | (xy[:, 1] < 0) | (xy[:, 1] >= height)  # inside: [0, size)
    reasons = np.full(len(xy), ACCEPTED, dtype=object)
    for name, limit in rule.min_distance.items():
        measured = distance if name == ANY_CLASS else class_distance.get(name)
        if measured is None:
            raise ValueError(f"minimum distance given for class {name!r}, but the model's classes are "
                             f"{class_names[1:] or 'none'}")
        reasons[(reasons == ACCEPTED) & (measured < limit)] = near(name)
    if rule.threshold is not None:
        reasons[goodness < rule.threshold] = LOW_GOODNESS
    reasons[outside] = OUTSIDE_MICROGRAPH
    for index in np.flatnonzero(~readable):
        reasons[index] = unreadable_row(index + 1)
    goodness[~readable] = np.nan
    distance[~readable] = np.nan
    for values in class_distance.values():
        values[~readable] = np.nan
    return CoordinateScores(goodness=goodness, distance=distance, class_distance=class_distance,
                            accepted=reasons == ACCEPTED, reason=list(reasons))


def failed_scores(count: int, reason: str) -> CoordinateScores:
    """Scores for the coordinates of a micrograph that could not be processed: all rejected."""
    return CoordinateScores(goodness=np.full(count, np.nan), distance=np.full(count, np.nan), class_distance={},
                            accepted=np.zeros(count, dtype=bool), reason=[reason] * count)
