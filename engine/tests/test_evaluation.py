import json
import shutil

import numpy as np

from micrographcleaner.classes import CLASSES
from micrographcleaner.cli import main
from micrographcleaner.evaluation import (
    evaluate_micrograph,
    find_labelled,
    iou,
    summarise,
    truth_channels,
)
from micrographcleaner.model_files import ModelCard, load_model
from micrographcleaner.prediction import Predictor
from micrographcleaner.simulation import draw_scene, write_simulated


class TruthPredictor(Predictor):
    """Predicts the ground truth itself, so every figure must come out perfect (no network: only
    the preprocessing is the real predictor's)."""

    def __init__(self, labels_by_shape: dict):
        self.card = ModelCard(name="truth", classes=["bad", *CLASSES])
        self.labels_by_shape = labels_by_shape
        self.companion = False  # one view: the truth at the working scale

    def predict(self, image, companion=None):
        labels = self.labels_by_shape[image.shape]
        return truth_channels(labels, image.shape, len(CLASSES)).astype(np.float32)


def simulated_folder(tmp_path, seeds, box_size=None):
    for seed in seeds:
        write_simulated(tmp_path, seed, (96, 128), box_size)
    return tmp_path


def test_iou_and_truth_channels():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert iou(a, b) is None
    a[:2], b[1:3] = True, True
    assert iou(a, b) == 4 / 12
    labels = np.zeros((8, 8), np.uint8)
    labels[:4, :4] = 2
    channels = truth_channels(labels, (4, 4), len(CLASSES))
    assert channels.shape == (4, 4, 5) and channels[..., 0].sum() == 4 and channels[..., 2].sum() == 4


def test_perfect_masks_give_perfect_figures(tmp_path):
    seeds = [s for s in range(60) if draw_scene(s)["carbon"]][:3] + [s for s in range(60) if not any(
        draw_scene(s)[k] for k in CLASSES)][:1]
    folder = simulated_folder(tmp_path, seeds, box_size=32)
    items = find_labelled(folder)
    assert len(items) == 4 and all(item.box_size == 32 for item in items)
    # box 32: the 192x256 micrographs are seen at the 96x128 working scale
    results = [evaluate_micrograph(TruthPredictor({(96, 128): item.labels}), item, threshold=0.8) for item in items]
    summary = summarise(results, 0.8)
    assert summary["bad_regions"]["miou"] == 1.0 and summary["bad_regions"]["failures"] == 0
    assert summary["carbon_subset"]["n"] == 3 and summary["per_class"]["carbon"]["miou"] == 1.0
    assert summary["clean_micrographs"]["n"] == 1 and summary["clean_micrographs"]["max_flagged"] == 0
    particles = summary["particles"]
    assert particles["good"] > 0 and particles["good_kept"] == 1.0
    assert particles["bad"] > 0 and particles["bad_rejected"] == 1.0


def test_evaluate_command_reports_figures(tmp_path, model_path, capsys):
    folder = simulated_folder(tmp_path / "set", range(3))
    report = tmp_path / "report.json"
    model = tmp_path / "model.keras"
    shutil.copy(model_path, model)
    shutil.copy(model_path.with_suffix(".json"), model.with_suffix(".json"))
    assert main(["evaluate", str(folder), "--model", str(model), "--report", str(report), "--quiet",
                 "--record", "synthetic"]) == 0
    printed = capsys.readouterr().out
    assert "particles at threshold 0.8" in printed
    content = json.loads(report.read_text())
    assert content["summary"]["micrographs"] == 3 and len(content["micrographs"]) == 3
    _, card = load_model(model)  # the card holds the figures and still matches the model file
    assert card.metrics["synthetic"] == content["summary"]
    assert main(["evaluate", str(tmp_path / "nothing"), "--model", str(model_path)]) == 2
