"""Crystalline ice per micrograph, from physics: Xmipp's "iciness".

Hexagonal and cubic ice diffract at 3.4-3.9 Å; vitreous ice does not. The iciness is the mean
power of the micrograph in the 3.5-3.9 Å band over that in the 30-80 Å band: below 1.0 for
vitreous ice (the CTF envelope damps high frequencies), above it when crystalline ice rings
stand out. It needs Nyquist finer than 3.5 Å (pixel size under 1.75 Å); otherwise it is None.

It is computed on the full-resolution micrograph the cleaner reads anyway (the network sees a
downsampled one), from a few tiles' power spectra, while the previous micrograph is predicted.
"""
from __future__ import annotations

import numpy as np

ICE_BAND = (3.5, 3.9)  # Å
REFERENCE_BAND = (30.0, 80.0)  # Å
TILE = 512  # px: 1/512 cycles per pixel per radial bin
MAX_TILES = 16


def radial_power(image: np.ndarray, tile: int = TILE, max_tiles: int = MAX_TILES) -> np.ndarray:
    """Mean power spectrum of up to ``max_tiles`` tiles spread over ``image``, radially averaged:
    entry i is the power at i / tile cycles per pixel (i up to tile / 2; smaller images, smaller tiles)."""
    tile = min(tile, *image.shape) // 2 * 2
    rows = np.linspace(0, image.shape[0] - tile, max(1, int(np.sqrt(max_tiles)))).astype(int)
    cols = np.linspace(0, image.shape[1] - tile, max(1, int(np.sqrt(max_tiles)))).astype(int)
    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    power = np.zeros((tile, tile // 2 + 1))
    for row in np.unique(rows):
        for col in np.unique(cols):
            piece = np.asarray(image[row:row + tile, col:col + tile], dtype=np.float32)
            power += np.abs(np.fft.rfft2((piece - piece.mean()) * window)) ** 2
    fy = np.fft.fftfreq(tile)[:, None]
    fx = np.fft.rfftfreq(tile)[None, :]
    radius = np.rint(np.hypot(fy, fx) * tile).astype(int)
    counts = np.bincount(radius.ravel(), minlength=tile // 2 + 2)[: tile // 2 + 1]
    sums = np.bincount(radius.ravel(), weights=power.ravel(), minlength=tile // 2 + 2)[: tile // 2 + 1]
    return sums / np.maximum(counts, 1)


def iciness(profile: np.ndarray, pixel_size: float | None) -> float | None:
    """Power in the ice band over power in the reference band; None when the pixel size is unknown
    or too coarse for the ice band."""
    if not pixel_size or 2 * pixel_size >= ICE_BAND[0]:
        return None
    size = 2 * (len(profile) - 1)  # the tile side
    frequency = np.arange(len(profile)) / size / pixel_size  # 1/Å

    def band(low_resolution: float, high_resolution: float) -> float:
        inside = (frequency >= 1 / high_resolution) & (frequency <= 1 / low_resolution)
        return float(profile[inside].mean()) if inside.any() else float("nan")

    reference = band(*REFERENCE_BAND)
    ratio = band(*ICE_BAND) / reference if reference > 0 else float("nan")
    return ratio if np.isfinite(ratio) else None


def measure_iciness(image: np.ndarray, pixel_size: float | None) -> float | None:
    """The iciness of a full-resolution micrograph (a cleaner's measure: see ``pipeline.Cleaner``)."""
    return iciness(radial_power(image), pixel_size) if pixel_size and 2 * pixel_size < ICE_BAND[0] else None
