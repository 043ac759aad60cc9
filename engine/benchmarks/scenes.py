"""Synthetic micrograph scenes for the speed benchmark: noise, particles and dark bad regions.

A scene is described in micrograph pixels (so the same description can be rendered at full size
or directly at the working scale) and holds:

* contamination: a few dark blobs, each the union of 1-3 overlapping discs (bad);
* sometimes a carbon edge: a dark half-plane entering from one side (bad);
* particles: many small, fainter dark discs of about the box size (good: the network must learn
  that size, not darkness alone, makes a region bad).

Pixel noise has standard deviation ``noise`` (about 1) at full size; rendered at a working scale
``factor`` times smaller, it has ``noise / factor``, as area averaging would give. Only numpy is
needed here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Scene:
    """Everything drawn on one micrograph, in micrograph pixels (x = column, y = row)."""

    height: int
    width: int
    contrast: float  # darkening of bad regions, in units of the full-size pixel noise
    noise: float = 1.0  # standard deviation of the full-size pixel noise
    blobs: list[list[tuple[float, float, float]]] = field(default_factory=list)  # discs (x, y, r) per blob
    carbon: tuple[float, float] | None = None  # (angle, offset): bad where x cos + y sin > offset
    particles: list[tuple[float, float, float, float]] = field(default_factory=list)  # (x, y, r, contrast)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def particle_xy(self) -> np.ndarray:
        """Particle centres (N, 2) as x, y micrograph pixels: the coordinates that get scored."""
        return np.array([(x, y) for x, y, _, _ in self.particles], dtype=np.float64).reshape(-1, 2)


def random_scene(height: int, width: int, box_size: float, rng: np.random.Generator) -> Scene:
    """A random scene of ``height`` x ``width`` micrograph pixels for particles of ``box_size``."""
    contrast = float(rng.uniform(0.25, 0.6))
    noise = float(rng.uniform(0.8, 1.25))
    area_in_boxes = height * width / box_size ** 2
    blobs = []
    for _ in range(int(rng.integers(1, 2 + max(1, round(area_in_boxes / 150))))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        radius = min(box_size * rng.uniform(0.8, 3.5), min(height, width) / 6)  # small images stay mostly good
        discs = [(x, y, radius)]
        for _ in range(int(rng.integers(0, 3))):  # lumps that make the blob irregular
            angle = rng.uniform(0, 2 * np.pi)
            lump = radius * rng.uniform(0.4, 0.9)
            discs.append((x + radius * np.cos(angle), y + radius * np.sin(angle), lump))
        blobs.append([tuple(float(v) for v in disc) for disc in discs])
    carbon = None
    if rng.random() < 0.35:
        angle = rng.uniform(0, 2 * np.pi)
        # an offset that leaves the edge somewhere inside the outer part of the image
        reach = abs(width * np.cos(angle)) + abs(height * np.sin(angle))
        centre = width / 2 * np.cos(angle) + height / 2 * np.sin(angle)
        carbon = (float(angle), float(centre + reach * rng.uniform(0.1, 0.4)))
    particles = []
    for _ in range(int(area_in_boxes / 2.5)):
        particles.append((float(rng.uniform(0, width)), float(rng.uniform(0, height)),
                          float(box_size * rng.uniform(0.3, 0.45)), float(contrast * rng.uniform(0.3, 0.6))))
    return Scene(height, width, contrast, noise, blobs, carbon, particles)


def _paint_disc(target: np.ndarray, x: float, y: float, radius: float, value) -> None:
    """Set (bool target) or subtract (float target) ``value`` inside a disc, in target pixels."""
    height, width = target.shape
    top, bottom = max(0, int(y - radius)), min(height, int(y + radius) + 2)
    left, right = max(0, int(x - radius)), min(width, int(x + radius) + 2)
    if top >= bottom or left >= right:
        return
    rows = np.arange(top, bottom, dtype=np.float32)[:, None]
    cols = np.arange(left, right, dtype=np.float32)[None, :]
    inside = (cols - x) ** 2 + (rows - y) ** 2 <= radius ** 2
    if target.dtype == bool:
        target[top:bottom, left:right] |= inside
    else:
        target[top:bottom, left:right] -= value * inside


def render(scene: Scene, factor: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The scene drawn ``factor`` times smaller than the micrograph: (image float32, bad-region truth)."""
    shape = (max(1, int(scene.height / factor)), max(1, int(scene.width / factor)))
    image = rng.standard_normal(shape, dtype=np.float32)
    image *= np.float32(scene.noise / factor)
    truth = np.zeros(shape, dtype=bool)
    for blob in scene.blobs:
        for x, y, radius in blob:
            _paint_disc(truth, x / factor, y / factor, radius / factor, True)
    if scene.carbon is not None:
        angle, offset = scene.carbon
        rows = np.arange(shape[0], dtype=np.float32)[:, None] * factor
        cols = np.arange(shape[1], dtype=np.float32)[None, :] * factor
        truth |= cols * np.float32(np.cos(angle)) + rows * np.float32(np.sin(angle)) > offset
    image -= np.float32(scene.contrast) * truth
    for x, y, radius, contrast in scene.particles:
        _paint_disc(image, x / factor, y / factor, radius / factor, np.float32(contrast))
    return image, truth


def iou(first: np.ndarray, second: np.ndarray) -> float | None:
    """IoU of two boolean masks; None when both are empty (undefined)."""
    union = np.logical_or(first, second).sum()
    return float(np.logical_and(first, second).sum() / union) if union else None
