"""The model shipped in the package: present, carded, small, and good at its job.

Figures are measured on full-size simulated micrographs whose seeds lie in the test range (never
trained on), and on the shared real micrographs when they are present. The limits sit below the
bundled model's measured figures (docs/figures.rst) with a margin, so a worse model fails here.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from micrographcleaner.classes import CLASSES
from micrographcleaner.evaluation import evaluate_folder
from micrographcleaner.images import file_sha256
from micrographcleaner.model_files import bundled_model_path, load_model
from micrographcleaner.prediction import Predictor
from micrographcleaner.preprocessing import WORKING_SIDE
from micrographcleaner.simulation import write_simulated

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# measured with model 2.3 and the hole edges (docs/figures.rst): real, at the right box:
# em_hole_finder held-out mIoU 0.814, EMPIAR-10017 15_30_21 carbon IoU 0.797, clean frame 0.0%
# flagged, Ucsf IoU 0.898 with the original and no far autopick rejected; at half and twice the box:
# em_hole_finder 0.768 and 0.814, EMPIAR carbon IoU 0.795 and 0.809, clean frame 0.2% and 0.0%
# flagged; the limits sit below with a margin, so a worse model (or hole fit) fails here
MIN_MIOU, MIN_GOOD_KEPT, MIN_BAD_REJECTED = 0.45, 0.90, 0.75  # measured 0.526, 93.3%, 83.3% (0.421, 89.3%, 62.9% without the edges)
MIN_HOLE_FINDER_MIOU, MIN_EMPIAR_CARBON_IOU, MAX_CLEAN_FLAGGED = 0.72, 0.74, 0.02
MIN_UCSF_IOU, MAX_FAR_AUTOPICKS_REJECTED = 0.85, 3  # two views: 3 border picks (figures.rst)


@pytest.fixture(scope="module")
def predictor():
    model, card = load_model(None)
    return Predictor(model, card)


def test_bundled_model_is_small_carded_and_measured():
    path = bundled_model_path()
    assert path is not None and path.stat().st_size < 25 * 2 ** 20
    _, card = load_model(None)
    assert card.sha256 == file_sha256(path)
    assert card.classes == ["bad", *CLASSES] and card.training.startswith("micrographcleaner train ")
    assert {"synthetic_test", "real"} <= set(card.metrics)
    assert card.working_side == list(WORKING_SIDE)  # the real figures are measured with it


def test_bundled_model_sees_a_small_micrograph_at_its_own_size(predictor):
    """512 x 494 px (a binned micrograph) at half its box lies in the working range already: it is
    screened at its own size, neither refused nor enlarged."""
    image = np.random.default_rng(0).normal(size=(494, 512)).astype(np.float32)
    working, geometry = predictor.working_image(image, 10)
    assert geometry.working_shape == (494, 512)
    assert predictor.predict(working).shape[:2] == (494, 512)


def test_bundled_model_on_full_size_simulated_micrographs(predictor, tmp_path):
    for seed in range(12):  # 720x1008 px micrographs, 240x336 working px: inside the working range
        write_simulated(tmp_path, seed, (240, 336), box_size=48)
    _, summary = evaluate_folder(tmp_path, predictor)
    assert summary["bad_regions"]["miou"] >= MIN_MIOU
    assert summary["particles"]["good_kept"] >= MIN_GOOD_KEPT
    assert summary["particles"]["bad_rejected"] >= MIN_BAD_REJECTED


def test_bundled_model_on_the_shared_real_micrographs(predictor, shared_real):
    sys.path.insert(0, str(BENCHMARKS))
    import benchmark_real

    holes = benchmark_real.hole_finder(predictor, shared_real)
    for box in (16, 32, 64):  # half, once and twice the right box
        assert holes[f"box{box}_carbon_miou"] >= MIN_HOLE_FINDER_MIOU
    empiar, _ = benchmark_real.empiar(predictor, shared_real)
    for box in (18, 36, 72):
        assert empiar[f"15_30_21_box{box}_carbon_iou"] >= MIN_EMPIAR_CARBON_IOU
        assert empiar[f"14_57_34_box{box}_flagged"] <= MAX_CLEAN_FLAGGED
    ucsf, _ = benchmark_real.ucsf(predictor, shared_real)
    assert ucsf["iou_with_original"] >= MIN_UCSF_IOU
    assert ucsf["far_autopicks_rejected"] <= MAX_FAR_AUTOPICKS_REJECTED
