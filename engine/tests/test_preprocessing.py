import numpy as np
import pytest
from skimage.transform import resize

from micrographcleaner.preprocessing import (WORKING_SIDE, area_resize, downsampling_factor, geometry_for,
                                             legacy_resize, normalise_and_squash, preprocess, working_factor)


def test_factor_brings_box_to_16_pixels():
    assert downsampling_factor(200) == 12.5
    assert downsampling_factor(46, extra=2) == pytest.approx(46 / 8)
    with pytest.raises(ValueError):
        downsampling_factor(0)


def test_working_factor_keeps_the_box_rule_inside_the_working_range():
    # a 1024 px frame whose right box is 36: the right box leaves it at 455 px
    assert working_factor((1024, 1024), 36, working_side=WORKING_SIDE) == downsampling_factor(36)
    # half the box would make it 910 px and twice the box 227 px: both are brought to the range's ends
    assert 1024 / working_factor((1024, 1024), 18, working_side=WORKING_SIDE) == pytest.approx(640)
    assert 1024 / working_factor((1024, 1024), 72, working_side=WORKING_SIDE) == pytest.approx(320)
    # the longer side counts (a K3 frame), and extra downsampling applies after the rule
    assert working_factor((4092, 5760), 100, extra=2, working_side=WORKING_SIDE) == pytest.approx(5760 / 640 * 2)
    # without a range it is the original's rule, whatever the size
    assert working_factor((1024, 1024), 18) == downsampling_factor(18)


def test_working_factor_never_enlarges_a_small_micrograph_to_reach_the_range():
    assert working_factor((200, 300), 64, working_side=WORKING_SIDE) == 1.0
    assert working_factor((200, 300), 16, working_side=WORKING_SIDE) == 1.0
    # a binned micrograph already inside the range, at half its box: its own size, not 640 px
    assert working_factor((494, 512), 10, working_side=WORKING_SIDE) == 1.0


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


def reference_area_resize(image, shape):
    """The integral of each row, piecewise constant, between fractional edges, in float64 (the
    implementation before the sparse maps)."""
    def along_last_axis(image, n_out):
        n_in = image.shape[1]
        edges = np.linspace(0.0, n_in, n_out + 1)
        left = np.minimum(np.floor(edges).astype(np.int64), n_in - 1)
        cumulative = np.concatenate([np.zeros((len(image), 1)), np.cumsum(image, axis=1)], axis=1)
        integral = cumulative[:, left] + (edges - left) * image[:, left]
        return np.diff(integral, axis=1) / (n_in / n_out)

    return along_last_axis(along_last_axis(np.asarray(image, dtype=np.float64), shape[1]).T, shape[0]).T


SHAPES = [((4092, 5760), (327, 460)), ((500, 400), (125, 100)), ((301, 299), (24, 23)), ((37, 53), (11, 16)),
          ((100, 7), (58, 4)), ((20, 30), (40, 60)), ((40, 41), (57, 58)), ((50, 50), (50, 50)), ((1, 9), (1, 3))]


@pytest.mark.parametrize("shape, working", SHAPES)
def test_area_resize_is_exact(shape, working):
    image = np.random.default_rng(5).normal(size=shape).astype(np.float32) * 30 + 500
    expected = reference_area_resize(image, working)
    np.testing.assert_allclose(area_resize(image, working), expected, rtol=1e-6, atol=1e-6 * 500)


@pytest.mark.parametrize("shape, working", SHAPES)
def test_legacy_resize_is_scikit_images(shape, working):
    """The original's resize (Gaussian anti-aliasing, linear interpolation, mirrored borders), to float32 rounding."""
    image = np.random.default_rng(6).normal(size=shape).astype(np.float32) * 30 + 500
    for anti_aliasing in (True, False):
        expected = resize(image.astype(np.float64), working, preserve_range=True, anti_aliasing=anti_aliasing,
                          mode="reflect")
        np.testing.assert_allclose(legacy_resize(image, working, anti_aliasing), expected, atol=1e-6 * 500)


def test_k3_working_images_within_1e_4():
    image = np.random.default_rng(7).gamma(2.0, 50.0, size=(4092, 5760)).astype(np.float32)
    area, geometry = preprocess(image, 12.5)
    np.testing.assert_allclose(area, normalise_and_squash(reference_area_resize(image, (327, 460))), atol=1e-4)
    legacy, _ = preprocess(image, 12.5, "legacy")
    expected = resize(image.astype(np.float64), (327, 460), preserve_range=True, anti_aliasing=True, mode="reflect")
    np.testing.assert_allclose(legacy, normalise_and_squash(expected), atol=1e-4)


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
