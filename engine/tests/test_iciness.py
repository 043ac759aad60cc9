"""Iciness: power at 3.5-3.9 Å over power at 30-80 Å, on images with known spectra."""
import numpy as np
from scipy.ndimage import gaussian_filter

from micrographcleaner.iciness import iciness, radial_power

SIDE = 1024


def noise(seed=0):
    return np.random.default_rng(seed).normal(size=(SIDE, SIDE)).astype(np.float32)


def test_white_noise_is_near_one():
    assert 0.8 < iciness(radial_power(noise()), 1.0) < 1.2


def test_vitreous_like_spectrum_falls_below_one():
    damped = gaussian_filter(noise(), 1.5)  # high frequencies damped, as by the CTF envelope
    assert iciness(radial_power(damped), 1.0) < 0.5


def test_ice_rings_raise_it_above_one():
    rows, cols = np.mgrid[:SIDE, :SIDE]
    rings = sum(3 * np.cos(2 * np.pi * (cols * np.cos(a) + rows * np.sin(a)) / 3.7) for a in (0.3, 1.3, 2.4))
    assert iciness(radial_power(gaussian_filter(noise(), 1.5) + rings), 1.0) > 2


def test_coarse_or_unknown_pixel_size_gives_none():
    profile = radial_power(noise())
    assert iciness(profile, 1.75) is None and iciness(profile, None) is None
    assert iciness(profile, 1.7) is not None


def test_small_images_use_smaller_tiles():
    assert len(radial_power(noise()[:300, :200])) == 200 // 2 + 1
