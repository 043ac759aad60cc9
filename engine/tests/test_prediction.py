import numpy as np
import pytest

from conftest import DISC
from micrographcleaner.model_files import ModelFileError, load_model, save_model, ModelCard
from micrographcleaner.prediction import Predictor, ScaleError, blending_window, tile_starts
from micrographcleaner.preprocessing import area_resize, companion_factor, preprocess
from micrographcleaner.testing import disc_micrograph


@pytest.fixture(scope="module")
def loaded(model_path):
    return load_model(model_path)


@pytest.fixture(scope="module")
def working_image():
    image, _ = disc_micrograph((900, 700), [DISC, (600, 700, 60)], seed=11)
    return preprocess(image, 2.0)[0]  # 450 x 350


def test_tiles_cover_the_axis_flush_with_both_ends():
    assert tile_starts(100, 128, 32) == [0]
    starts = tile_starts(450, 128, 32)
    assert starts[0] == 0 and starts[-1] == 450 - 128
    assert all(b - a <= 96 for a, b in zip(starts, starts[1:]))


def test_blending_window_is_smooth_and_positive():
    window = blending_window(128, 32)
    assert window.min() > 0 and window[64] == 1
    assert window[:8].max() < 1e-5  # the outer quarter of the overlap lacks context: ignored
    assert np.abs(np.diff(window)).max() < 0.11


def test_tiled_and_untiled_agree_everywhere(loaded, working_image):
    model, card = loaded
    whole = Predictor(model, card).predict(working_image)
    tiled = Predictor(model, card, max_pixels=1, tile_size=128, overlap=64).predict(working_image)
    assert whole.shape == tiled.shape == working_image.shape + (1,)
    assert np.abs(whole - tiled).max() < 0.02


def test_dark_disc_is_bad_with_every_augmentation(loaded, working_image):
    model, card = loaded
    x, y, _ = DISC
    results = {tta: Predictor(model, card, tta, batch_size=3).predict(working_image)[..., 0]
               for tta in ("none", "flips", "d8")}
    for tta, badness in results.items():
        assert badness[int(y / 2), int(x / 2)] > 0.9, tta
        assert np.median(badness) < 0.3, tta
    assert np.abs(results["d8"] - results["none"]).mean() < 0.05


def test_d8_is_exactly_equivariant(loaded, working_image):
    """The dihedral average is the same whichever way round the micrograph is given."""
    model, card = loaded
    predictor = Predictor(model, card, "d8")
    image = working_image[:320, :320]
    rotated = predictor.predict(np.rot90(image).copy())
    np.testing.assert_allclose(np.rot90(predictor.predict(image)), rotated, atol=1e-4)


def test_a_card_with_a_working_range_keeps_every_box_inside_it(loaded):
    from dataclasses import replace

    model, card = loaded
    micrograph = np.zeros((700, 900), np.float32)
    ranged = Predictor(model, replace(card, working_side=[320, 640]))
    plain = Predictor(model, card)
    for box in (10, 16, 30, 45, 90):
        working, _ = ranged.working_image(micrograph, box)
        assert 320 <= max(working.shape) <= 640
    assert max(plain.working_image(micrograph, 20)[0].shape) == 720  # the box rule alone: 900 / (20 / 16)
    with pytest.raises(ScaleError, match="900x700 px would be enlarged at box size 10"):
        plain.working_image(micrograph, 10)  # 1440 px: the box rule alone would enlarge it
    assert ranged.working_image(micrograph, 30)[0].shape == plain.working_image(micrograph, 30)[0].shape


def test_the_companion_scale_is_a_step_away_inside_the_range_and_never_enlarges():
    shape = (512, 512)
    assert companion_factor(shape, 1.6, (320, 640)) == pytest.approx(1.0)  # 320 px seen at 512 too
    assert companion_factor(shape, 1.0, (320, 640)) == pytest.approx(1.6)  # 512 px seen at 320 too
    assert companion_factor((4092, 5760), 12.5, (320, 640)) == pytest.approx(18.0)  # K3 at box 200: 461 px, and 320
    assert companion_factor((300, 300), 1.0, (320, 640)) is None  # already small: neither enlarged nor shrunk past 320
    assert companion_factor(shape, 1.6, None) is None  # the original's box rule: one view


def test_two_views_are_averaged_at_the_working_shape(loaded):
    from dataclasses import replace

    model, card = loaded
    micrograph, _ = disc_micrograph((700, 900), [DISC], seed=3)
    predictor = Predictor(model, replace(card, working_side=[320, 640]))
    working, _ = predictor.working_image(micrograph, 30)  # 480 px: its companion is 320 px (x 1.5)
    companion = predictor.companion_image(micrograph, 30)
    assert max(companion.shape) == 320
    both = predictor.predict(working, companion)
    alone = predictor.predict(working)
    assert both.shape == alone.shape
    other = area_resize(predictor.predict(companion)[..., 0], alone.shape[:2])
    assert np.abs(both - alone).max() > 0  # the second view counts...
    assert both.max() <= max(alone.max(), other.max()) + 1e-6  # ...as a mean, never beyond either...
    doubt = (other > alone[..., 0]) & (other < 0.5)
    assert doubt.any()
    np.testing.assert_allclose(both[..., 0][doubt], alone[..., 0][doubt])  # ...and adds no doubt of its own
    assert Predictor(model, card, companion=False).companion_image(micrograph, 30) is None


def test_unknown_augmentation(loaded):
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        Predictor(*loaded, augmentation="rot30")


def test_legacy_model_contract_and_padding(legacy_model_path):
    model, card = load_model(legacy_model_path)
    assert card.preprocessing == "legacy" and card.tile_size == 256
    small = np.random.default_rng(0).random((100, 180)).astype(np.float32)  # smaller than a tile: padded
    badness = Predictor(model, card).predict(small)
    assert badness.shape == (100, 180, 1) and 0 <= badness.min() and badness.max() <= 1
    large = np.random.default_rng(1).random((300, 520)).astype(np.float32)
    assert Predictor(model, card).predict(large).shape == (300, 520, 1)


def test_model_checksum_and_card_are_checked(tmp_path, loaded):
    model, card = loaded
    path = tmp_path / "copy.keras"
    saved = save_model(model, path, ModelCard(name="copy"))
    assert len(saved.sha256) == 64
    assert load_model(path)[1].name == "copy"
    with open(path, "ab") as stream:
        stream.write(b"tampered")
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_uncarded_model_of_another_contract_is_refused(tmp_path):
    from micrographcleaner.network import UNetConfig, build_unet

    path = tmp_path / "other.h5"
    build_unet(UNetConfig(filters=(4,), tile_size=64)).save(path)
    with pytest.raises(ModelFileError, match="not the original MicrographCleaner contract"):
        load_model(path)
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model(tmp_path / "missing.keras")


def test_paper_preset_shape():
    from micrographcleaner.network import PRESETS, build_unet

    model = build_unet(PRESETS["paper"])
    assert [layer.filters for layer in model.layers if layer.name.endswith("down0_conv0") or
            layer.name.endswith("down4_conv0")] == [32, 512]
    assert model.output_shape == (None, None, None, 1)
