"""Turning a micrograph into the network's working image.

The recipe is the original MicrographCleaner's: downsample so that a particle box becomes about
16 px, normalise robustly (median, 10-90 inter-percentile range) and squash with a sigmoid.

The original also normalised the full-size micrograph (median, IQR 25-75) before downsampling.
Downsampling is linear and the second normalisation removes any offset and scale, so that first
step cannot change the result; it is skipped here, which saves two percentile passes over a
full-size micrograph.

Both resamplings (ours, an exact area average, and the original's, scikit-image's Gaussian
resize) are separable linear maps: one sparse matrix per axis, built once per shape, so a K3
micrograph is read once, in float32, in a few ms.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

PARTICLE_PIXELS = 16
"""Size in working pixels that a particle box is scaled to."""

WORKING_SIDE = (320, 640)
"""Range of the working image's longer side (px) that our models keep to, whatever the box.

Holes, carbon and ice have physical sizes, and a micrograph's field of view varies far less than
the boxes users give: on the real frames the model judges best when the working image is about
300 to 700 px across, and a box half or twice the right one puts a frame outside that range.
An octave centred on where a right box puts a typical micrograph (~450 px) leaves the box rule
untouched in ordinary use and stops it only at the extremes."""

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


def working_factor(shape: tuple[int, ...], box_size: float, extra: float = 1.0,
                   particle_pixels: float = PARTICLE_PIXELS,
                   working_side: tuple[float, float] | None = None) -> float:
    """Micrograph pixels per working pixel for a micrograph of ``shape``: the box rule, brought into
    ``working_side`` (see ``WORKING_SIDE``) when the model keeps to one, and never below 1 then: a
    micrograph already small enough is seen at its own size, never enlarged (a small box on a
    binned micrograph is still screened); then ``extra``. Without ``working_side`` it is the
    original's box rule."""
    factor = downsampling_factor(box_size, particle_pixels=particle_pixels)
    if working_side is not None:
        longest = max(shape)
        low, high = working_side
        factor = max(min(max(factor, longest / high), longest / low), 1.0)
    return factor * extra


COMPANION_RATIO = 1.6
"""How much finer or coarser the companion scale is than the working scale (see ``companion_factor``)."""
MIN_COMPANION_RATIO = 1.25
"""A companion scale closer than this to the working scale would see nothing new: none is used."""


def companion_factor(shape: tuple[int, ...], factor: float, working_side: tuple[float, float] | None) -> float | None:
    """The factor of a second, companion view of the micrograph: ``COMPANION_RATIO`` finer or
    coarser than ``factor``, whichever the working range leaves farther from it (never enlarging).

    The network's answer on faint film depends on the scale it sees it at (on real frames one box
    can score well where half or twice that box does not), and two views a scale apart, put
    together (``prediction.Predictor.predict``), are steadier than either. None without a working range (the original's models) or where the
    range leaves no scale far enough from this one."""
    if working_side is None:
        return None
    longest = max(shape)
    low, high = working_side
    finer = max(factor / COMPANION_RATIO, longest / high, 1.0)
    coarser = min(factor * COMPANION_RATIO, longest / low)
    best = max((finer, coarser), key=lambda other: abs(np.log(other / factor)))
    return best if abs(np.log(best / factor)) >= np.log(MIN_COMPANION_RATIO) else None


def geometry_for(shape: tuple[int, int], factor: float) -> Geometry:
    working = tuple(max(1, int(side / factor)) for side in shape)
    return Geometry((int(shape[0]), int(shape[1])), working)  # type: ignore[arg-type]


def area_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Exact area averaging to ``shape`` (any real factor): each output pixel is the mean of the input
    area it covers, a fast, alias-free box filter."""
    return _resample(image, _area_weights(image.shape[0], shape[0]), _area_weights(image.shape[1], shape[1]))


def legacy_resize(image: np.ndarray, shape: tuple[int, int], anti_aliasing: bool) -> np.ndarray:
    """scikit-image's ``resize(image, shape, preserve_range=True, anti_aliasing=..., mode="reflect")``,
    the original's preprocessing, to float32 rounding: its Gaussian filter and linear interpolation
    are both separable, so each axis is one small linear map and only the pixels that are sampled are filtered."""
    return _resample(image, _legacy_weights(image.shape[0], shape[0], anti_aliasing),
                     _legacy_weights(image.shape[1], shape[1], anti_aliasing))


def _resample(image: np.ndarray, rows, columns) -> np.ndarray:
    """``rows @ image @ columns.T`` for per-axis sparse linear maps, rows first: only that product reads
    the full-size image, once. scipy's sparse product runs in one thread, at a few ms per K3 micrograph,
    and so leaves the cores to the network (BLAS threads would fight it for them)."""
    return np.asarray(columns @ np.ascontiguousarray((rows @ image).T), dtype=np.float32).T


def _sparse(columns: np.ndarray, weights: np.ndarray, n_in: int) -> "csr_matrix":
    """The (n_out, n_in) float32 map from each output's input indices and weights; repeated indices add up."""
    from scipy.sparse import csr_matrix

    rows = np.repeat(np.arange(len(columns)), columns.shape[1])
    return csr_matrix((weights.ravel().astype(np.float32), (rows, columns.ravel())), shape=(len(columns), n_in))


@lru_cache(maxsize=16)
def _area_weights(n_in: int, n_out: int) -> "csr_matrix":
    """Each input pixel's overlap with each output pixel's span, over the span's length."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    first = np.floor(edges[:-1]).astype(np.int64)
    columns = first[:, None] + np.arange(int(np.ceil(n_in / n_out)) + 1)
    overlap = np.minimum(columns + 1, edges[1:, None]) - np.maximum(columns, edges[:-1, None])
    return _sparse(np.minimum(columns, n_in - 1), np.clip(overlap, 0, None) / (n_in / n_out), n_in)


@lru_cache(maxsize=16)
def _legacy_weights(n_in: int, n_out: int, anti_aliasing: bool) -> "csr_matrix":
    """scipy's ``gaussian_filter1d`` (sigma (factor - 1) / 2, as scikit-image sets it) then its
    ``zoom`` (order 1, grid mode), both in mode "mirror" (scikit-image's "reflect")."""
    scale = n_in / n_out
    sigma = max(0.0, (scale - 1) / 2) if anti_aliasing else 0.0
    radius = int(4.0 * sigma + 0.5)  # scipy's truncation at 4 sigma
    offsets = np.arange(-radius, radius + 1)
    gaussian = np.exp(-0.5 * (offsets / sigma) ** 2) if sigma > 0 else np.ones(1)
    position = (np.arange(n_out) + 0.5) * scale - 0.5
    left = np.floor(position).astype(np.int64)
    fraction = position - left
    centres = _mirror(np.stack([left, left + 1], axis=1), n_in)  # (n_out, 2) linear interpolation taps
    columns = _mirror(centres[:, :, None] + offsets, n_in).reshape(n_out, -1)
    weights = (np.stack([1 - fraction, fraction], axis=1)[:, :, None] * gaussian / gaussian.sum()).reshape(n_out, -1)
    return _sparse(columns, weights, n_in)


def _mirror(index: np.ndarray, n: int) -> np.ndarray:
    """Indices folded into [0, n) by scipy.ndimage's "mirror" mode (d c b | a b c d | c b a)."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.mod(index, period)
    return np.where(index < n, index, period - index)


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
        small = legacy_resize(image, geometry.working_shape, anti_aliasing=factor > 1)
    else:
        small = area_resize(image, geometry.working_shape)
    return normalise_and_squash(small), geometry
