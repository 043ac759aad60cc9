import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import tifffile
from micrographcleaner.testing import disc_micrograph, write_mrc

from micrographcleaner.classes import CLASSES, IGNORE, code_channels
from micrographcleaner.cli import main
from micrographcleaner.held_out import HeldOutFigures
from micrographcleaner.model_files import load_model, update_card
from micrographcleaner.recipes import FINE_TUNING
from micrographcleaner.simulation import simulate
from micrographcleaner.training import augment, ignore_boundaries, segmentation_loss

TINY = ["--filters", "4", "8", "--steps-per-epoch", "2", "--batch-size", "2", "--tile", "64"]


def log_rows(folder):
    return list(csv.DictReader((folder / "training_log.csv").open()))


def test_train_writes_model_card_log_and_curves_then_resumes(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(out), "--epochs", "2", *TINY]) == 0
    rows = log_rows(out)
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert all(0 <= float(row["val_iou"]) <= 1 for row in rows)
    assert (out / "training_curves.png").stat().st_size > 1000
    model, card = load_model(out / "model.keras")
    assert card.classes == ["bad", *CLASSES] and model.output_shape[-1] == 1 + len(CLASSES)
    assert card.training.startswith("micrographcleaner train ") and card.sha256
    # a third epoch continues the same run: the log grows by one row, earlier rows unchanged
    assert main(["train", str(out), "--epochs", "3", "--resume", *TINY]) == 0
    resumed = log_rows(out)
    assert [row["epoch"] for row in resumed] == ["0", "1", "2"] and resumed[:2] == rows
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 3


def run_train(arguments, terminal):
    """``micrographcleaner train`` in a child process, its stderr a terminal (as a user runs it) or a
    pipe (as in a log file); returns (exit status, stdout, stderr)."""
    import fcntl
    import pty
    import struct
    import termios

    environment = {name: value for name, value in os.environ.items() if not name.startswith("TF_CPP")}
    command = [sys.executable, "-m", "micrographcleaner", "train", *arguments]
    if not terminal:
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
        return run.returncode, run.stdout, run.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal 120 columns wide
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, text=True, env=environment)
    os.close(follower)
    stderr = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        stderr += chunk
    stdout = child.stdout.read()
    os.close(leader)
    return child.wait(timeout=300), stdout, stderr.decode()


def test_train_is_quiet_with_one_progress_bar_and_a_summary(tmp_path):
    """In a terminal: no TensorFlow lines, no Keras bar per epoch; one bar on stderr, one line at the end."""
    status, stdout, stderr = run_train([str(tmp_path / "run"), "--epochs", "2", *TINY], terminal=True)
    assert status == 0, stderr
    bars = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert bars and all("step" in line and "|" in line for line in bars), bars
    assert "epoch 2: loss" in bars[-1] and "4/4" in bars[-1] and "min left" in bars[-1]
    [summary] = stdout.splitlines()
    assert summary.startswith("epoch 2: loss ") and "validation IoU" in summary
    assert f"model written to {tmp_path / 'run' / 'model.keras'}" in summary


def test_train_in_a_log_file_writes_a_line_per_epoch(tmp_path):
    """As the fine-tune protocol's log gets it: one line per epoch with the minutes left, no bar."""
    status, stdout, stderr = run_train([str(tmp_path / "run"), "--epochs", "2", *TINY], terminal=False)
    assert status == 0, stderr
    assert "|" not in stderr and "\r" not in stderr, stderr
    first, second, summary = stdout.splitlines()
    assert first.startswith("epoch 1: loss ") and first.endswith("min left") and second.startswith("epoch 2: loss ")
    assert summary.startswith("epoch 2: loss ") and "model written to" in summary


def test_a_time_budget_stops_the_run_and_a_resumed_run_spends_only_what_is_left(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(out), "--minutes", "0.05", "--quiet", *TINY]) == 0  # 3 s, epochs unbounded
    state = json.loads((out / "state.json").read_text())
    assert 3 <= state["seconds_done"] < 30 and state["epochs_done"] == len(log_rows(out)) >= 1
    assert load_model(out / "model.keras")[1].sha256
    assert main(["train", str(out), "--minutes", "0.05", "--resume", "--quiet", *TINY]) == 0  # already spent
    assert json.loads((out / "state.json").read_text()) == state
    more = f"{(state['seconds_done'] + 3) / 60:.4f}"  # 3 s more than the first run spent (its epoch may pass 6 s)
    assert main(["train", str(out), "--minutes", more, "--resume", "--quiet", *TINY]) == 0
    resumed = json.loads((out / "state.json").read_text())
    assert resumed["epochs_done"] > state["epochs_done"] and 6 <= resumed["seconds_done"] < state["seconds_done"] + 30
    assert main(["train", str(out), "--minutes", "0"]) == 2


def disc_source(folder, seeds, invert=False):
    """A label source of dark-disc micrographs (the disc bad, or with ``invert`` the rest)."""
    folder.mkdir()
    for seed in seeds:
        image, truth = disc_micrograph((160, 160), [(80.0, 80.0, 35.0)], seed=seed)
        write_mrc(folder / f"m{seed}.mrc", image)
        write_mrc(folder / f"m{seed}_mask.mrc", (truth != invert).astype(np.float32))
    (folder / "source.json").write_text(json.dumps({"images": ".", "box_size": 32, "positive": "carbon"}))
    return folder / "source.json"


def test_held_out_micrographs_judge_each_epoch_calibrate_and_choose_the_model(tmp_path, capsys):
    """Training with held-out micrographs: their IoU in every epoch's log line, the calibration fitted on
    them, and a fine-tuned model kept only when it beats its starting model, as that model is (the card
    and the summary say which, and a model not kept stays beside for a look)."""
    labelled, held_out = disc_source(tmp_path / "mine", [1, 2], invert=True), disc_source(tmp_path / "held", [3])
    base = tmp_path / "base"
    assert main(["train", str(base), "--epochs", "1", "--working-side", "40", "80", "--held-out", str(held_out),
                 "--quiet", *TINY]) == 0
    calibration = load_model(base / "model.keras")[1].calibration
    assert "held-out micrographs at [0.5, 1.0, 2.0]" in calibration["fitted_on"]
    out = tmp_path / "tuned"
    assert main(["train", str(out), "--epochs", "2", "--initial-model", str(base / "model.keras"),
                 "--labelled", str(labelled), "--held-out", str(held_out), "--learning-rate", "3e-3", *TINY]) == 0
    printed = capsys.readouterr().out
    rows = log_rows(out)
    assert all(0 <= float(row["held_out_iou"]) <= 1 and 0 <= float(row["held_out_carbon_iou"]) <= 1 for row in rows)
    card = load_model(out / "model.keras")[1]
    record = card.fine_tuning
    assert record["held_out"] == ["m3"] and record["initial_model"] == str(base / "model.keras")
    better = HeldOutFigures(**record["after"]).score > HeldOutFigures(**record["before"]).score
    assert record["kept"] == ("fine-tuned" if better else "starting model")
    assert (out / "not_kept.keras").is_file() != better
    assert f"before  bad-region IoU {record['before']['bad_iou']:.2f}" in printed
    assert ("kept the fine-tuned model" if better else "kept the starting model") in printed
    tuned_card = card if better else load_model(out / "not_kept.keras")[1]
    assert tuned_card.training_data == [{"source": "simulated scenes", "share": 0.5},
                                        {"source": "source", "micrographs": ["m1", "m2"], "share": 0.5}]
    # the fine-tuned network refitted on the held-out frame; a starting model kept is as it was
    assert "held-out micrographs" in tuned_card.calibration["fitted_on"] and tuned_card.calibration != calibration
    assert better or card.calibration == calibration


def test_on_clean_held_out_frames_the_model_flagging_less_scores_higher():
    """Bad-region IoU is 0 on clean frames whatever is flagged; the good region's IoU tells the models apart."""
    few, many = HeldOutFigures(0.0, None, 0.01, 0.0, good_iou=0.99), HeldOutFigures(0.0, None, 0.3, 0.0, good_iou=0.7)
    assert few.score > many.score
    assert HeldOutFigures(0.5, None, 0.1, 0.1).score == 0.5  # a card written before good_iou was measured


def test_fine_tuning_keeps_the_starting_calibration_and_the_frozen_layers(tmp_path):
    """Without flags fine-tuning takes the recipe; a fine-tuned model keeps its start's calibration where
    no held-out frame can refit it (none held out; one without bad pixels); --freeze encoder leaves the
    down blocks and every normalisation as they were."""
    base = tmp_path / "base"
    assert main(["train", str(base), "--epochs", "1", "--working-side", "40", "80", "--quiet", *TINY]) == 0
    calibration = {"scale": 1.4, "shift": -2.0, "fitted_on": "somewhere"}
    update_card(base / "model.keras", lambda card: setattr(card, "calibration", calibration))
    labelled = disc_source(tmp_path / "mine", [1, 2])
    clean = tmp_path / "clean"  # one held-out frame, all good
    clean.mkdir()
    write_mrc(clean / "c.mrc", disc_micrograph((160, 160), [], seed=5)[0])
    write_mrc(clean / "c_mask.mrc", np.zeros((160, 160), np.float32))
    (clean / "source.json").write_text(json.dumps({"images": ".", "box_size": 32, "positive": "carbon"}))
    frozen = ["--freeze", "encoder", "--learning-rate", "1e-2", "--held-out", str(clean / "source.json")]
    for name, extra in (("recipe", []), ("frozen", frozen)):
        out = tmp_path / name
        assert main(["train", str(out), "--epochs", "1", "--initial-model", str(base / "model.keras"),
                     "--labelled", str(labelled), "--quiet", *extra, *TINY]) == 0
        assert load_model(out / "model.keras")[1].calibration == calibration
    config = json.loads((tmp_path / "recipe" / "training_config.json").read_text())
    assert {key: config[key] for key in FINE_TUNING if key != "steps_per_epoch"} == {
        key: value for key, value in FINE_TUNING.items() if key != "steps_per_epoch"}  # TINY sets the steps
    tuned = tmp_path / "frozen" / "not_kept.keras"  # where the clean frame prefers the start
    tuned = load_model(tuned if tuned.is_file() else tuned.with_name("model.keras"))[0]
    start = load_model(base / "model.keras")[0]
    for layer in start.layers:
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights()))
        assert same == (layer.name.startswith("down") or not layer.trainable_weights
                        or (isinstance(layer, keras.layers.BatchNormalization))), layer.name


def test_labelled_boundaries_are_ignored_within_the_band_only():
    codes = np.zeros((20, 20), np.uint8)
    codes[:, 10:] = 1
    codes[:, :3] = IGNORE  # unlabelled next to labelled: no boundary there
    band = ignore_boundaries(codes, 2)
    assert (band[:, 8:12] == IGNORE).all() and (band[:, 3:8] == 0).all() and (band[:, 12:] == 1).all()
    assert (band[:, :3] == IGNORE).all() and np.array_equal(ignore_boundaries(codes, 0.5)[:, 9:11] == IGNORE,
                                                              np.ones((20, 2), bool))


def test_the_better_of_two_models_is_kept_and_the_other_left_beside(model_path, tmp_path):
    from micrographcleaner.held_out import keep_the_better

    def copy(name):
        (tmp_path / f"{name}.keras").write_bytes(model_path.read_bytes())
        (tmp_path / f"{name}.json").write_text(model_path.with_suffix(".json").read_text())
        return tmp_path / f"{name}.keras"

    worse, better = HeldOutFigures(0.5, None, 0.1, 0.1), HeldOutFigures(0.6, None, 0.1, 0.1)
    tuned, start = copy("tuned"), copy("start")
    assert keep_the_better(tuned, start, before=worse, after=better, record={}) == "fine-tuned"
    assert not (tmp_path / "not_kept.keras").exists()
    tuned.write_bytes(b"weights of the fine-tuned model")
    assert keep_the_better(tuned, start, before=better, after=better, record={}) == "starting model"  # a tie
    assert (tmp_path / "not_kept.keras").read_bytes() == b"weights of the fine-tuned model"
    model, card = load_model(tuned)  # the starting model's weights, checksum and calibration
    assert tuned.read_bytes() == start.read_bytes() and card.name == tmp_path.name
    assert card.calibration == load_model(start)[1].calibration
    assert card.fine_tuning["kept"] == "starting model" and card.fine_tuning["after"]["bad_iou"] == 0.6


def test_a_resumed_run_keeps_its_working_range_without_the_flag(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(out), "--epochs", "1", "--working-side", "40", "80", *TINY]) == 0
    assert main(["train", str(out), "--epochs", "2", "--resume", *TINY]) == 0
    assert load_model(out / "model.keras")[1].working_side == [40, 80]


def test_the_recipe_of_the_bundled_model_is_valid_bash():
    recipe = Path(__file__).resolve().parents[1] / "scripts" / "train_default_model.sh"
    assert subprocess.run(["bash", "-n", str(recipe)], capture_output=True).returncode == 0


def test_fine_tuning_on_labelled_micrographs_with_warp_labels(tmp_path):
    data = tmp_path / "labelled"
    data.mkdir()
    micrograph = simulate(11, (48, 48), box_size=32)  # 96x96 px, box 32
    write_mrc(data / "mine.mrc", micrograph.image)
    tifffile.imwrite(data / "mine_mask.tif", np.where(micrograph.labels > 0, 2, 0).astype(np.uint8))
    base = tmp_path / "base"
    assert main(["train", str(base), "--epochs", "1", "--working-side", "40", "80", *TINY]) == 0
    assert load_model(base / "model.keras")[1].working_side == [40, 80]
    out = tmp_path / "tuned"
    assert main(["train", str(out), "--epochs", "1", "--labelled", str(data), "--labelled-box-size", "32",
                 "--initial-model", str(base / "model.keras"), "--global-context", *TINY]) == 0
    _, card = load_model(out / "model.keras")
    assert card.architecture["global_context"] and card.architecture["filters"] == [4, 8]
    assert card.working_side == [40, 80]  # fine-tuning keeps the initial model's working range
    # resuming that run without repeating the flag still trains and saves the network with the context
    assert main(["train", str(out), "--epochs", "2", "--resume", "--labelled", str(data), "--labelled-box-size", "32",
                 "--initial-model", str(base / "model.keras"), *TINY]) == 0
    assert load_model(out / "model.keras")[1].architecture["global_context"]
    assert main(["train", str(out), "--labelled", str(data)]) == 2  # the box size is required


def test_global_context_starts_as_identity_and_reaches_across_the_image():
    from micrographcleaner.network import UNetConfig, build_unet, copy_matching_weights

    plain = build_unet(UNetConfig(filters=(4, 8), n_outputs=2))
    extended = build_unet(UNetConfig(filters=(4, 8), n_outputs=2, global_context=True))
    assert sorted(copy_matching_weights(plain, extended)) == ["context_hidden", "context_scale", "context_shift"]
    image = np.random.default_rng(0).random((1, 128, 128, 1)).astype(np.float32)
    np.testing.assert_allclose(extended.predict(image, verbose=0), plain.predict(image, verbose=0), atol=1e-6)

    for name in ("context_scale", "context_shift"):  # as after training: the context now matters
        layer = extended.get_layer(name)
        layer.set_weights([np.full(w.shape, 0.5, np.float32) for w in layer.get_weights()])
    changed = image.copy()
    changed[:, :16, :16] += 2.0  # a bright corner, far outside a 2-level network's receptive field
    far_corner = (slice(None), slice(96, None), slice(96, None))
    for model, reaches in ((plain, False), (extended, True)):
        difference = np.abs(model.predict(changed, verbose=0) - model.predict(image, verbose=0))[far_corner]
        assert (difference.max() > 1e-4) == reaches


def test_targets_and_augmentation_keep_image_and_labels_aligned():
    labels = np.zeros((32, 32), np.uint8)
    labels[:8, :4] = 1  # a carbon corner
    labels[20:24, 20:30] = 2
    target = code_channels(labels)
    assert target.shape == (32, 32, 1 + len(CLASSES))
    assert target[..., 0].sum() == 32 + 40 and target[..., 1].sum() == 32 and target[..., 2].sum() == 40
    raw = np.where(labels > 0, -5.0, 0.0) + np.random.default_rng(0).normal(0, 0.1, (32, 32))
    for seed in range(8):  # both with and without scale jitter, several dihedral transforms
        image, moved = augment(raw, target, np.random.default_rng(seed))
        assert image.shape == (32, 32) and moved.shape == target.shape and 0 < image.min() and image.max() < 1
        # the dark pixels are still the labelled ones after the random transforms
        assert image[moved[..., 0] > 0].mean() < image[moved[..., 0] == 0].mean() - 0.2


def with_weight(targets, weight=1.0):
    return np.concatenate([targets, np.full(targets.shape[:-1] + (1,), weight, "float32")], axis=-1)


def test_loss_is_lower_for_the_truth_and_ignores_unlabelled_channels_and_pixels():
    rng = np.random.default_rng(1)
    truth = (rng.random((2, 16, 16, 3)) > 0.7).astype("float32")
    right = float(segmentation_loss(with_weight(truth), np.clip(truth, 0.02, 0.98)))
    wrong = float(segmentation_loss(with_weight(truth), np.clip(1 - truth, 0.02, 0.98)))
    assert right < 0.2 < wrong
    unknown = truth.copy()
    unknown[..., 1:] = -1  # per-class channels unlabelled: only channel 0 counts
    flipped = np.concatenate([truth[..., :1], 1 - truth[..., 1:]], axis=-1)
    assert abs(float(segmentation_loss(with_weight(unknown), np.clip(flipped, 0.02, 0.98)))
               - float(segmentation_loss(with_weight(unknown), np.clip(truth, 0.02, 0.98)))) < 1e-6
    # pixels of weight 0 (ignored: borders, unlabelled) do not count, whatever is predicted there
    ignored = with_weight(truth)
    ignored[:, :8, ..., -1] = 0
    half_wrong = np.clip(truth, 0.02, 0.98)
    half_wrong[:, :8] = 1 - half_wrong[:, :8]
    assert abs(float(segmentation_loss(ignored, half_wrong)) - float(segmentation_loss(ignored, np.clip(truth, 0.02, 0.98)))) < 1e-6


def test_held_out_frames_are_judged_as_users_get_them(tmp_path):
    """Both views and the hole edge, as ``predict`` gives them: the choice between a fine-tuned model and
    its start is made on what a user would see."""
    from micrographcleaner.held_out import HeldOutMicrographs
    from micrographcleaner.holes import with_hole_geometry
    from micrographcleaner.labels import LabelSource
    from micrographcleaner.prediction import Predictor

    folder = tmp_path / "held"
    folder.mkdir()
    image, truth = disc_micrograph((480, 640), [(-60.0, 240.0, 300.0)], seed=4)  # film beyond a hole's edge
    write_mrc(folder / "m4.mrc", image)
    write_mrc(folder / "m4_mask.mrc", (~truth).astype(np.float32))
    (folder / "source.json").write_text(json.dumps({"images": ".", "box_size": 32, "positive": "carbon"}))
    model, card = load_model(None)
    frames = HeldOutMicrographs([LabelSource.from_json(folder / "source.json")], card, (1.0,))
    assert frames.companions[0] is not None  # the bundled model's range leaves a second view
    working = frames.frames[0][0]
    predictor = Predictor(model, card)
    badness = predictor.predict(working, predictor.companion_image(image, 32))
    drawn, edge = with_hole_geometry(working, badness, card.classes, None)
    assert edge is not None
    assert frames.judged(model, card) == frames.figures([drawn], card.classes)
