"""Thumbnails: the contract's colours, and a key below the micrograph that covers nothing of it."""
import numpy as np
from PIL import ImageColor

from micrographcleaner import contract, thumbnails
from micrographcleaner.thumbnails import KEY_BACKGROUND, MIN_SIDE, render

SIDE = 32  # working pixels: the picture is enlarged 16 times, to MIN_SIDE
ZOOM = MIN_SIDE // SIDE
CLASSES = ["bad", "carbon", "contamination", "crystalline_ice", "aggregate"]


def colour(hex_colour):
    return ImageColor.getrgb(hex_colour)


def bright_top_left():
    """A ramp, brightest (white once stretched) at the top-left corner, where the old legend sat."""
    ys, xs = np.mgrid[:SIDE, :SIDE]
    return -(xs + ys).astype(np.float64)


def carbon_on_the_right(channels=len(CLASSES)):
    """Badness with the right quarter flagged carbon (or bad, for a one-class model)."""
    badness = np.zeros((SIDE, SIDE, channels), np.float32)
    badness[:, 3 * SIDE // 4:, 0] = 0.9
    if channels > 1:
        badness[:, 3 * SIDE // 4:, 1] = 0.9
    return badness


def pixels(picture, box=None):
    """The set of RGB colours in ``picture`` (or in its ``box``: left, top, right, bottom)."""
    array = np.asarray(picture.crop(box) if box else picture).reshape(-1, 3)
    return {tuple(int(v) for v in row) for row in np.unique(array, axis=0)}


def strip(picture):
    return (0, MIN_SIDE, picture.width, picture.height)


def test_key_is_below_the_micrograph():
    picture = render(bright_top_left(), carbon_on_the_right(), CLASSES)
    assert picture.width == MIN_SIDE and picture.height > MIN_SIDE
    array = np.asarray(picture)
    assert (array[:ZOOM, :ZOOM] == 255).all()  # the corner is the micrograph's white, not a dark box
    assert tuple(array[-1, 0]) == KEY_BACKGROUND


def test_key_covers_nothing_of_the_micrograph(monkeypatch):
    image, badness, centres = bright_top_left(), carbon_on_the_right(), np.array([[5.0, 5.0], [28.0, 28.0]])
    keyed = render(image, badness, CLASSES, centres, np.array([True, False]), 3.0)
    monkeypatch.setattr(thumbnails, "_with_key", lambda picture, entries: picture)
    bare = render(image, badness, CLASSES, centres, np.array([True, False]), 3.0)
    assert bare.size == (MIN_SIDE, MIN_SIDE)
    assert np.array_equal(np.asarray(keyed)[:MIN_SIDE], np.asarray(bare))


def test_pick_in_the_top_left_corner_stays_visible():
    radius = 3.0
    picture = render(bright_top_left(), carbon_on_the_right(), CLASSES, np.array([[5.0, 5.0]]), np.array([True]),
                     radius)
    # the ring crosses the row through its (zoomed) centre radius * ZOOM to either side
    centre = round(5 * ZOOM + ZOOM / 2)
    row = np.asarray(picture)[centre]
    green = colour(contract.ACCEPTED_COLOUR)
    for edge in (centre - radius * ZOOM, centre + radius * ZOOM):
        near = row[round(edge) - 3:round(edge) + 2]
        assert any(tuple(pixel) == green for pixel in near)


def test_key_lists_only_the_classes_present():
    picture = render(bright_top_left(), carbon_on_the_right(), CLASSES)
    key = pixels(picture, strip(picture))
    assert colour(contract.class_colour("carbon")) in key
    for absent in CLASSES[2:]:
        assert colour(contract.class_colour(absent)) not in key
    assert colour(contract.ACCEPTED_COLOUR) not in key and colour(contract.REJECTED_COLOUR) not in key


def test_bad_pixels_are_tinted_in_the_class_colour():
    image = np.zeros((SIDE, SIDE))
    image[0, 0] = 1.0  # black everywhere else once stretched: the tint is the class colour times TINT
    picture = np.asarray(render(image, carbon_on_the_right(), CLASSES))
    tint = picture[MIN_SIDE // 2, MIN_SIDE - 1].astype(float)
    expected = np.array(colour(contract.class_colour("carbon")), float)
    assert np.allclose(tint / tint.max(), expected / expected.max(), atol=0.02)


def test_one_class_model_uses_the_bad_colour():
    picture = render(bright_top_left(), carbon_on_the_right(channels=1), ["bad"])
    key = pixels(picture, strip(picture))
    assert colour(contract.class_colour("bad")) in key
    assert colour(contract.class_colour("carbon")) not in key


def test_picks_add_accepted_and_rejected_swatches():
    centres = np.array([[5.0, 5.0], [10.0, 20.0], [28.0, 16.0]])
    picture = render(bright_top_left(), carbon_on_the_right(), CLASSES, centres, np.array([True, True, False]), 2.0)
    key = pixels(picture, strip(picture))
    assert colour(contract.ACCEPTED_COLOUR) in key and colour(contract.REJECTED_COLOUR) in key
    other_count = render(bright_top_left(), carbon_on_the_right(), CLASSES, centres, np.array([True, False, False]),
                         2.0)
    assert not np.array_equal(np.asarray(picture)[MIN_SIDE:], np.asarray(other_count)[MIN_SIDE:])  # the numbers


def test_clean_micrograph_without_picks_has_a_key_without_swatches():
    picture = render(bright_top_left(), np.zeros((SIDE, SIDE, len(CLASSES)), np.float32), CLASSES)
    assert picture.height > MIN_SIDE
    key = np.asarray(picture)[MIN_SIDE:].reshape(-1, 3)
    assert (key != KEY_BACKGROUND).any()  # "no bad region" is written
    # text is white on grey: no colour but grey levels in the strip
    assert (key.max(axis=1) - key.min(axis=1) <= 2).all()


def test_entries_wrap_onto_more_lines():
    bands = np.zeros((SIDE, SIDE, len(CLASSES)), np.float32)
    bands[..., 0] = 0.9
    for label in range(1, len(CLASSES)):  # one band of rows per class
        bands[(label - 1) * SIDE // 4:label * SIDE // 4, :, label] = 0.9
    one = bands.copy()
    one[..., 1] = 0.9  # everything carbon
    many = render(bright_top_left(), bands, CLASSES, np.array([[5.0, 5.0]]), None, 2.0)
    single = render(bright_top_left(), one, CLASSES)
    assert many.width == single.width == MIN_SIDE
    assert many.height - MIN_SIDE > 1.5 * (single.height - MIN_SIDE)  # two lines or more against one
    key = pixels(many, strip(many))
    for name in CLASSES[1:]:
        assert colour(contract.class_colour(name)) in key
