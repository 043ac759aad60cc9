import numpy as np
import pytest
from skimage.transform import resize

from micrographcleaner.preprocessing import (area_resize, downsampling_factor, geometry_for,
                                             normalise_and_squash, preprocess)


def test_factor_brings_box_to_16_pixels():
    assert downsampling_factor(200) == 12.5
    assert downsampling_factor(46, extra=2) == pytest.approx(46 / 8)
    with pytest.raises(ValueError):
        downsampling_factor(0)


def test_area_resize_is_block_mean_for_integer_factors():
    image = np.random.default_rng(0).normal(size=(12, 18)).astype(np.float32)
    expected = image.reshape(4, 3, 6, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(area_resize(image, (4, 6)), expected, atol=1e-5)


def test_area_resize_keeps_the_mean_for_fractional_factors():
    image = np.random.default_rng(1).normal(size=(4092, 577)).astype(np.float32) + 5
    small = area_resize(image, (327, 46))
    assert small.shape == (327, 46)
    assert small.mean() == pytest.approx(image.mean(), rel=1e-4)
    assert small.std() < image.std() / 5  # averaging ~150 pixels each removes most noise


def test_matches_the_original_recipe():
    """Ours (one normalisation, area filter) against the original (two normalisations, Gaussian resize)."""
    rng = np.random.default_rng(2)
    image = rng.normal(size=(500, 400)).astype(np.float32)
    image[100:300, 50:250] -= 2.0
    ours, geometry = preprocess(image, 4.0)
    first = (image - np.median(image)) / np.subtract(*np.percentile(image, (75, 25)))
    small = resize(first, geometry.working_shape, preserve_range=True, anti_aliasing=True, mode="reflect")
    original = normalise_and_squash(small)
    assert ours.shape == original.shape == (125, 100)
    assert np.corrcoef(ours.ravel(), original.ravel())[0, 1] > 0.97
    legacy, _ = preprocess(image, 4.0, method="legacy")
    np.testing.assert_allclose(legacy, original, atol=1e-4)


def test_working_image_is_squashed_into_0_1():
    image = np.random.default_rng(3).normal(size=(64, 64)) * 1000 + 1e4
    working, _ = preprocess(image, 2.0)
    assert working.dtype == np.float32 and 0 < working.min() and working.max() < 1
    assert abs(np.median(working) - 0.5) < 0.01


def test_small_boxes_upsample():
    working, geometry = preprocess(np.random.default_rng(4).normal(size=(20, 30)), 0.5)
    assert working.shape == (40, 60) == geometry.working_shape


def test_geometry_maps_pixel_centres():
    geometry = geometry_for((4092, 5760), 12.5)
    assert geometry.working_shape == (327, 460)
    scale_y, scale_x = geometry.scale
    corners = geometry.to_working(np.array([[-0.5, -0.5], [5759.5, 4091.5]]))
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [459.5, 326.5]])
    assert scale_x == pytest.approx(5760 / 460)
