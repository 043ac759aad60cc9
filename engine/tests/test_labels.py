"""Labelled real micrographs: every label format to class codes, sources, and the tiles cut from them."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from micrographcleaner.testing import write_mrc
from PIL import Image

from micrographcleaner import contract
from micrographcleaner.classes import BAD, CLASS_CODES, CLASSES, IGNORE
from micrographcleaner.labels import LabelError, LabelSource, code_targets, read_labels

CARBON, CONTAMINATION = CLASS_CODES["carbon"], CLASS_CODES["contamination"]


def half_mask(shape=(40, 60)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[:, : shape[1] // 2] = True  # left half bad
    return mask


def test_binary_masks_in_every_format_give_the_same_codes(tmp_path):
    mask = half_mask()
    write_mrc(tmp_path / "a.mrc", mask.astype(np.float32))
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.where(mask, 250, 3).astype(np.uint8)).save(tmp_path / "c.jpg", quality=90)
    tifffile.imwrite(tmp_path / "d.tif", np.where(mask, 2, 1).astype(np.uint8))  # Warp: 2 = artefact
    for name in ("a.mrc", "b.png", "c.jpg", "d.tif"):
        codes = read_labels(tmp_path / name, positive="carbon")
        assert (codes == np.where(mask, CARBON, 0)).all(), name
    assert (read_labels(tmp_path / "b.png") == np.where(mask, BAD, 0)).all()  # class unknown


def test_rgb_and_indexed_label_maps_follow_their_legend(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :10] = (0, 255, 0)  # carbon
    rgb[:, 10:20] = (0, 0, 255)  # ice
    rgb[:5, 20:] = (255, 255, 0)  # contamination; the rest black, which the legend does not name
    Image.fromarray(rgb).save(tmp_path / "map.png")
    codes = read_labels(tmp_path / "map.png", {"0,255,0": "carbon", "0,0,255": "good", "255,255,0": "contamination"})
    assert (codes[:, :10] == CARBON).all() and (codes[:, 10:20] == 0).all()
    assert (codes[:5, 20:] == CONTAMINATION).all() and (codes[5:, 20:] == IGNORE).all()
    indexed = Image.fromarray(np.repeat(np.arange(3, dtype=np.uint8), 10)[None].repeat(4, 0), mode="P")
    indexed.putpalette([0, 0, 0, 255, 255, 255, 9, 9, 9])
    indexed.save(tmp_path / "indexed.png")
    codes = read_labels(tmp_path / "indexed.png", {"0": "good", "1": "aggregate", "2": "ignore"})
    assert (codes[:, 10:20] == CLASS_CODES["aggregate"]).all() and (codes[:, 20:] == IGNORE).all()
    with pytest.raises(LabelError, match="R,G,B"):
        read_labels(tmp_path / "map.png", {"3": "carbon"})


def test_targets_mark_unknown_classes_and_ignored_pixels():
    codes = np.array([[0, CARBON, BAD, IGNORE]], np.uint8)
    targets = code_targets(codes, weight=2.0)
    assert targets.shape == (1, 4, 2 + len(CLASSES))
    assert targets[0, :, 0].tolist() == [0, 1, 1, 0]  # any bad
    assert targets[0, :, 1].tolist() == [0, 1, -1, -1]  # carbon: unknown under a plain bad mask
    assert targets[0, :, -1].tolist() == [2, 2, 2, 0]  # the source's weight; 0 where ignored


def write_source(tmp_path, names, uniform=()):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for name in names:
        picture = np.random.default_rng(len(name)).integers(0, 255, (64, 64)).astype(np.uint8)
        Image.fromarray(picture).save(images / f"{name}.jpg")
        mask = np.zeros((64, 64), np.uint8) if name in uniform else np.where(half_mask((64, 64)), 255, 0)
        Image.fromarray(mask.astype(np.uint8)).save(masks / f"{name}_mask.png")
    description = {"images": "images", "labels": "masks", "box_size": 32, "positive": "carbon",
                   "ignore_border": 4, "skip_uniform": True, "exclude": ["*_h2_*"]}
    (tmp_path / "source.json").write_text(json.dumps(description))
    return tmp_path / "source.json"


def test_a_source_holds_out_by_pattern_skips_uniform_labels_and_ignores_its_border(tmp_path):
    path = write_source(tmp_path, ["sq_h1_a", "sq_h1_b", "sq_h2_a"], uniform=["sq_h1_b"])
    source = LabelSource.from_json(path)
    assert [image.stem for image, _ in source.pairs()] == ["sq_h1_a", "sq_h1_b"]  # h2 held out
    items = source.items()
    assert [image.stem for image, _, _ in items] == ["sq_h1_a"]  # the all-black mask is skipped
    _, image, codes = items[0]
    assert image.shape == codes.shape == (64, 64)
    assert (codes[:4] == IGNORE).all() and (codes[4:-4, 4:30] == CARBON).all() and (codes[4:-4, 34:-4] == 0).all()


def test_the_correction_legend_is_the_engines_class_codes():
    assert {int(code): CLASS_CODES[name] for code, name in contract.CORRECTION_LEGEND.items()} == {
        code: code for code in CLASS_CODES.values()}


def test_corrections_drawn_at_the_working_size_name_micrographs_kept_elsewhere(tmp_path):
    """The plugin's corrections folder: label maps at the working size, micrographs where the project keeps them."""
    elsewhere, corrections = tmp_path / "Runs" / "import", tmp_path / "Runs" / "screen" / contract.CORRECTIONS_FOLDER
    elsewhere.mkdir(parents=True), corrections.mkdir(parents=True)
    for stem in ("mic_1", "mic_2", "mic_3"):
        write_mrc(elsewhere / f"{stem}.mrc", np.random.default_rng(0).normal(size=(300, 400)).astype(np.float32))
    codes = np.zeros((45, 60), np.uint8)  # 400 x 300 px screened at a factor of 6.67
    codes[:, :20], codes[:5] = CARBON, IGNORE  # film on the left; the top rows marked unsure
    for stem in ("mic_1", "mic_3"):  # mic_2 not reviewed yet
        Image.fromarray(codes).save(corrections / f"{stem}{contract.CORRECTION_SUFFIX}.png")
    description = {"micrographs": {stem: f"../../import/{stem}.mrc" for stem in ("mic_1", "mic_2", "mic_3")},
                   "labels": ".", "label_suffix": contract.CORRECTION_SUFFIX, "legend": contract.CORRECTION_LEGEND,
                   "box_size": 40, "exclude": ["mic_3"], "reviews": {"mic_1": {"edited": True}}}
    (corrections / contract.CORRECTIONS_SOURCE).write_text(json.dumps(description))
    source = LabelSource.from_json(corrections / contract.CORRECTIONS_SOURCE)
    [(image, image_data, full)] = source.items()  # mic_3 held out, mic_2 without labels
    assert image.name == "mic_1.mrc" and image_data.shape == full.shape == (300, 400)
    assert (full[40:, :130] == CARBON).all() and (full[40:, 140:] == 0).all() and (full[:30] == IGNORE).all()
    (corrections / f"mic_1{contract.CORRECTION_SUFFIX}.png").unlink()
    Image.fromarray(np.zeros((45, 30), np.uint8)).save(corrections / f"mic_1{contract.CORRECTION_SUFFIX}.png")
    with pytest.raises(LabelError, match="labels are 30x45 px"):  # not the micrograph's shape at any scale
        source.items()


def test_bad_source_descriptions_name_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(LabelError, match="broken.json"):
        LabelSource.from_json(path)
    path.write_text(json.dumps({"images": ".", "box_size": 32, "positive": "ice"}))
    with pytest.raises(LabelError, match="unknown class"):
        LabelSource.from_json(path)
    path.write_text(json.dumps({"images": "elsewhere", "box_size": 32}))
    with pytest.raises(LabelError, match="elsewhere not found"):
        LabelSource.from_json(path)
    path.write_text(json.dumps({"micrographs": {"a": "a.mrc"}, "box_size": 32}))
    with pytest.raises(LabelError, match="needs a 'labels' folder"):
        LabelSource.from_json(path)


def test_labelled_tiles_come_at_every_box_from_half_to_twice_the_right_one(tmp_path):
    from micrographcleaner.training import LabelledMicrographs

    source = LabelSource.from_json(write_source(tmp_path, ["sq_h1_a"]))
    tiles = LabelledMicrographs([source])
    rng = np.random.default_rng(0)
    carbon_widths = set()
    for _ in range(30):
        raw, target = tiles.sample(rng, 48)
        assert raw.shape == (48, 48) and target.shape == (48, 48, 2 + len(CLASSES))
        known = target[..., -1] > 0
        carbon_widths.add(int(((target[..., 1] == 1) & known).any(axis=0).sum()))
    # the 64 px frame at box 32 is 32 working px wide; boxes 16..64 make it 64..16: carbon widths vary
    assert max(carbon_widths) >= 2 * min(carbon_widths)


def test_labelled_tiles_keep_to_the_working_range_as_prediction_does(tmp_path):
    from micrographcleaner.training import LabelledMicrographs

    source = LabelSource.from_json(write_source(tmp_path, ["sq_h1_a"]))
    tiles = LabelledMicrographs([source], working_side=(40, 48))  # the 64 px frame stays 40..48 px wide
    rng = np.random.default_rng(0)
    widths = set()
    for _ in range(30):
        raw, target = tiles.sample(rng, 64)  # the tile is larger than the frame: the rest is ignored margin
        widths.add(int((target[..., -1] > 0).any(axis=0).sum()))
    # known columns: the frame less its 4 px border on each side, 56/64 of its working width
    assert 40 * 56 / 64 - 1 <= min(widths) and max(widths) <= 48 * 56 / 64 + 1 and len(widths) > 1


TRAINING_DATA = Path(__file__).resolve().parents[1] / "training_data"


def test_the_shipped_training_sources_never_hold_a_measured_frame(shared_real):
    """What the bundled model trains on and what the real benchmark reports must not meet."""
    sys.path.insert(0, str(TRAINING_DATA.parent / "benchmarks"))
    import benchmark_real

    def stems(name: str) -> set[str]:
        return {image.stem for image, _ in LabelSource.from_json(TRAINING_DATA / name).pairs()}

    trained = stems("em_hole_finder_train.json") | stems("em_hole_finder_hole_only.json")
    trained |= stems("empiar10017_edge.json") | stems("empiar10017_edge_stage6.json")
    measured = stems("em_hole_finder_test.json") | set(benchmark_real.EMPIAR_FRAMES)
    assert len(stems("em_hole_finder_hole_only.json")) == 11 and stems("empiar10017_edge.json")
    assert not trained & (measured | stems("em_hole_finder_validation.json"))


def test_the_traced_edge_labels_are_what_the_script_draws(shared_real):
    sys.path.insert(0, str(TRAINING_DATA.parent / "scripts"))
    import trace_edge_labels

    source = LabelSource.from_json(TRAINING_DATA / "empiar10017_edge.json")
    (image, label), = source.pairs()
    _, codes = source.read(image, label)
    drawn = trace_edge_labels.edge_labels(codes.shape, trace_edge_labels.TRACES[image.stem])
    expected = np.select([drawn == trace_edge_labels.CARBON, drawn == trace_edge_labels.IGNORE], [CARBON, IGNORE], 0)
    assert (codes == expected).all()
    assert 0.05 < (codes == CARBON).mean() < 0.15 and (codes[:100] == IGNORE).all()
    beyond = trace_edge_labels.distance_beyond_edge(codes.shape, trace_edge_labels.TRACES[image.stem])
    inside_borders = np.zeros(codes.shape, bool)
    inside_borders[200:-200, 200:-200] = True
    rim = inside_borders & (beyond > 0) & (beyond < 40)  # the bright rim just beyond the trace
    assert rim.any() and (codes[rim] == CARBON).all()
