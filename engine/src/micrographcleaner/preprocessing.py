"""Turning a micrograph into the network's working image.

The recipe is the original MicrographCleaner's: downsample so that a particle box becomes about
16 px, normalise robustly (median, 10-90 inter-percentile range) and squash with a sigmoid.

The original also normalised the full-size micrograph (median, IQR 25-75) before downsampling.
Downsampling is linear and the second normalisation removes any offset and scale, so that first
step cannot change the result; it is skipped here, which saves two percentile passes over a
full-size micrograph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

PARTICLE_PIXELS = 16
"""Size in working pixels that a particle box is scaled to."""

Method = Literal["area", "legacy"]


@dataclass(frozen=True)
class Geometry:
    """How micrograph pixels map onto working pixels (each working pixel covers scale_y x scale_x)."""

    micrograph_shape: tuple[int, int]
    working_shape: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Micrograph pixels per working pixel, (y, x)."""
        return (self.micrograph_shape[0] / self.working_shape[0],
                self.micrograph_shape[1] / self.working_shape[1])

    def to_working(self, xy: np.ndarray) -> np.ndarray:
        """Micrograph (x, y) pixel positions to continuous working-image positions (x, y)."""
        scale_y, scale_x = self.scale
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        # pixel centres: micrograph pixel i has centre i, working pixel j covers [j*s, (j+1)*s) - 0.5
        return np.stack([(xy[:, 0] + 0.5) / scale_x - 0.5, (xy[:, 1] + 0.5) / scale_y - 0.5], axis=1)


def downsampling_factor(box_size: float, extra: float = 1.0, particle_pixels: float = PARTICLE_PIXELS) -> float:
    """Factor that brings a particle box of ``box_size`` px down to ``particle_pixels`` (~16) px."""
    if box_size <= 0:
        raise ValueError(f"box size must be positive, got {box_size}")
    return box_size / particle_pixels * extra


def geometry_for(shape: tuple[int, int], factor: float) -> Geometry:
    working = tuple(max(1, int(side / factor)) for side in shape)
    return Geometry((int(shape[0]), int(shape[1])), working)  # type: ignore[arg-type]


def area_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Exact area averaging to ``shape`` (any real factor >= 1); a fast, alias-free box filter."""
    image = np.asarray(image, dtype=np.float32)
    rows = _area_average_last_axis(image, shape[1])
    return _area_average_last_axis(np.ascontiguousarray(rows.T), shape[0]).T


def _area_average_last_axis(image: np.ndarray, n_out: int, chunk_rows: int = 256) -> np.ndarray:
    n_in = image.shape[1]
    edges = np.linspace(0.0, n_in, n_out + 1)
    left = np.minimum(np.floor(edges).astype(np.int64), n_in - 1)
    fraction = (edges - left).astype(np.float64)
    out = np.empty((image.shape[0], n_out), dtype=np.float32)
    for start in range(0, image.shape[0], chunk_rows):
        block = image[start:start + chunk_rows].astype(np.float64)
        cumulative = np.zeros((block.shape[0], n_in + 1))
        np.cumsum(block, axis=1, out=cumulative[:, 1:])
        # the integral of the piecewise-constant row from 0 to each (fractional) edge
        integral = cumulative[:, left] + fraction * block[:, left]
        out[start:start + chunk_rows] = np.diff(integral, axis=1) / (n_in / n_out)
    return out


def normalise_and_squash(image: np.ndarray) -> np.ndarray:
    """Median / IQR(10..90) normalisation followed by a sigmoid, as the network was trained."""
    low, median, high = np.percentile(image, (10, 50, 90))
    spread = high - low
    if spread == 0:
        spread = float(image.max() - image.min()) + 1e-12
    normalised = (image - median) / spread
    return (1.0 / (1.0 + np.exp(-normalised))).astype(np.float32)


def preprocess(image: np.ndarray, factor: float, method: Method = "area") -> tuple[np.ndarray, Geometry]:
    """Working image in (0, 1) and the geometry that maps it back onto the micrograph.

    ``method="legacy"`` reproduces the original's scikit-image Gaussian resize, for its model.
    """
    geometry = geometry_for(image.shape, factor)
    if method == "legacy" or factor < 1:
        from skimage.transform import resize

        small = resize(image.astype(np.float64), geometry.working_shape, preserve_range=True,
                       anti_aliasing=factor > 1, mode="reflect")
    else:
        small = area_resize(image, geometry.working_shape)
    return normalise_and_squash(small), geometry
