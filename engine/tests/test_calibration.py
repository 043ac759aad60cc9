"""Calibration: the fit recovers a known miscalibration, and the predictor applies the card's."""
from dataclasses import replace

import numpy as np
import pytest

from micrographcleaner.calibration import Calibration, fit
from micrographcleaner.model_files import load_model, update_card
from micrographcleaner.prediction import Predictor
from micrographcleaner.preprocessing import preprocess
from micrographcleaner.testing import disc_micrograph
from conftest import DISC


def test_fit_undoes_a_known_overconfidence():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 2, 200_000)
    truth = rng.random(true_logit.size) < 1 / (1 + np.exp(-true_logit))
    # a model twice too confident and biased towards "bad"
    reported = 1 / (1 + np.exp(-(2 * true_logit + 1)))
    calibration = fit(reported, truth)
    assert calibration.scale == pytest.approx(0.5, abs=0.03) and calibration.shift == pytest.approx(-0.5, abs=0.05)
    np.testing.assert_allclose(calibration.apply(reported.astype(np.float32)), 1 / (1 + np.exp(-true_logit)), atol=0.02)
    assert Calibration().apply(reported) is reported  # identity: untouched
    with pytest.raises(ValueError, match="both good and bad"):
        fit(reported, np.zeros(reported.size, bool))


def test_predictor_applies_the_calibration_in_the_card(model_path, tmp_path):
    working_image = preprocess(disc_micrograph((600, 500), [DISC], seed=3)[0], 2.0)[0]
    model, card = load_model(model_path)
    raw = Predictor(model, card).predict(working_image)
    sharper = Predictor(model, replace(card, calibration={"scale": 3.0, "shift": 0.0})).predict(working_image)
    assert np.abs(sharper - Calibration(3.0, 0.0).apply(raw)).max() < 1e-5
    assert ((sharper >= 0.5) == (raw >= 0.5)).mean() > 0.999  # a pure temperature keeps the flagged area
    copy = tmp_path / "copy.keras"
    copy.write_bytes(model_path.read_bytes())
    (tmp_path / "copy.json").write_text(model_path.with_suffix(".json").read_text())
    update_card(copy, lambda c: setattr(c, "calibration", {"scale": 2.0, "shift": -1.0}))
    assert load_model(copy)[1].calibration == {"scale": 2.0, "shift": -1.0}  # the checksum still matches


def test_calibrate_command_writes_the_fit_to_the_card(model_path, tmp_path, capsys):
    """``micrographcleaner calibrate`` on a plain labelled folder: the card gets a calibration that
    records what it was fitted on, and the figures before and after are printed."""
    from micrographcleaner.cli import main
    from micrographcleaner.testing import write_mrc

    copy = tmp_path / "copy.keras"
    copy.write_bytes(model_path.read_bytes())
    (tmp_path / "copy.json").write_text(model_path.with_suffix(".json").read_text())
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    for seed in range(2):
        image, truth = disc_micrograph((320, 320), [(160.0, 160.0, 60.0)], seed=seed)
        write_mrc(labelled / f"m{seed}.mrc", image)
        write_mrc(labelled / f"m{seed}_mask.mrc", truth.astype(np.float32))
    assert main(["calibrate", str(copy), "--labelled", str(labelled), "--labelled-box-size", "32",
                 "--scales", "1", "2"]) == 0
    printed = capsys.readouterr().out
    assert "before" in printed and "after" in printed and "written to the card" in printed
    calibration = load_model(copy)[1].calibration
    assert set(calibration) >= {"scale", "shift", "fitted_on"}
    assert "[1.0, 2.0] x the right box" in calibration["fitted_on"]
    assert main(["calibrate", str(tmp_path / "missing.keras"), "--labelled", str(labelled)]) == 2
