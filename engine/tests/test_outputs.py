"""What runs leave in an output folder: masks reused only when intact, one run at a time, no
half-written files, and a rejected micrograph's decision in every output that shows it."""
import errno
import json
import shutil

import numpy as np
from PIL import Image, ImageColor

from conftest import BOX
from micrographcleaner.cli import main
from micrographcleaner.contract import ACCEPTED_COLOUR, MOSTLY_BAD
from micrographcleaner.coordinates import read_coordinates
from micrographcleaner.images import read_mask
from micrographcleaner.folder_lock import holding_output_dir
from micrographcleaner.options import CleaningOptions
from micrographcleaner.thumbnails import MIN_SIDE
from test_bad_inputs import _inputs, _predict, _score


def _run(argv) -> int:
    return main([str(item) for item in argv])


def _summary(folder, stem) -> dict:
    return json.loads((folder / f"{stem}.json").read_text())


def test_damaged_mask_is_predicted_again(tmp_path, model_path, capsys):
    _inputs(tmp_path)
    out = tmp_path / "out"
    assert _run(_predict(tmp_path, model_path)) == 0
    mask = out / "a_mask.mrc"
    intact = read_mask(mask)
    mask.write_bytes(mask.read_bytes()[:mask.stat().st_size // 2])
    assert _run(_predict(tmp_path, model_path)) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert not _summary(out, "a")["mask_reused"]
    assert _summary(out, "b")["mask_reused"]
    assert np.allclose(read_mask(mask), intact, atol=1e-4)  # the same model on the same pixels: the same mask


def test_masks_of_a_recalibrated_model_are_predicted_again(tmp_path, model_path):
    """A new calibration changes the masks though the model file stays the same: nothing is reused."""
    from micrographcleaner.model_files import update_card

    _inputs(tmp_path)
    model = tmp_path / "model.keras"
    shutil.copy(model_path, model), shutil.copy(model_path.with_suffix(".json"), model.with_suffix(".json"))
    assert _run(_predict(tmp_path, model)) == 0
    update_card(model, lambda card: setattr(card, "calibration", {"scale": 0.5, "shift": 1.0}))
    assert _run(_predict(tmp_path, model)) == 0
    assert not _summary(tmp_path / "out", "a")["mask_reused"]
    assert _summary(tmp_path / "out", "a")["calibration"] == {"scale": 0.5, "shift": 1.0}
    assert _run(_predict(tmp_path, model)) == 0
    assert _summary(tmp_path / "out", "a")["mask_reused"]


def test_mask_copied_from_another_micrograph_is_not_reused(tmp_path, model_path):
    _inputs(tmp_path)
    out = tmp_path / "out"
    assert _run(_predict(tmp_path, model_path)) == 0
    shutil.copy(out / "b_mask.mrc", out / "a_mask.mrc")
    assert _run(_predict(tmp_path, model_path)) == 0
    assert not _summary(out, "a")["mask_reused"]
    assert _summary(out, "a")["masks_sha256"]["mask"] != _summary(out, "b")["masks_sha256"]["mask"]


def test_second_run_into_a_held_output_folder_is_refused(tmp_path, model_path, capsys):
    import os

    _inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with holding_output_dir(out, "--output-dir"):
        assert _run(_score(tmp_path, model_path)) == 2
    errors = capsys.readouterr().err
    assert f"another run is writing there (process {os.getpid()})" in errors
    assert len(errors.strip().splitlines()) == 1, errors
    assert not (out / "a.pos").exists()
    assert _run(_score(tmp_path, model_path)) == 0  # once released, the folder is free again


def test_processes_of_one_run_share_the_folder_and_no_other_run_gets_in(tmp_path):
    """The plugin's workers (one per GPU) write batches of one run at once; another run is refused,
    and the lock file goes with the last of them."""
    import pytest

    from micrographcleaner.contract import OUTPUT_LOCK
    from micrographcleaner.options import UsageError

    (tmp_path / ".a.png.partial-x1.png").write_bytes(b"half")
    with holding_output_dir(tmp_path, "output_dir", run_id="run 7"):
        assert not (tmp_path / ".a.png.partial-x1.png").exists()
        (tmp_path / ".b.png.partial-x2.png").write_bytes(b"being written by the first worker")
        with holding_output_dir(tmp_path, "output_dir", run_id="run 7"):
            assert (tmp_path / ".b.png.partial-x2.png").exists(), "a joining worker removed a file being written"
            for other in ("run 8", None):
                with pytest.raises(UsageError, match="another run is writing there"):
                    with holding_output_dir(tmp_path, "output_dir", run_id=other):
                        pass
        assert (tmp_path / OUTPUT_LOCK).exists(), "the lock went while the run still held the folder"
    assert not (tmp_path / OUTPUT_LOCK).exists()
    with holding_output_dir(tmp_path, "output_dir", run_id="run 8"):
        pass


def test_partial_files_of_a_killed_run_are_removed(tmp_path, model_path):
    _inputs(tmp_path)
    out = tmp_path / "out"
    (out / "rejected").mkdir(parents=True)
    left = [out / ".a.png.partial-k9x2.png", out / "rejected" / ".a.pos.partial-3j7q.pos"]
    for path in left:
        path.write_bytes(b"half")
    keep = out / ".notes"
    keep.write_text("a user's own hidden file")
    assert _run(_score(tmp_path, model_path, "--thumbnails")) == 0
    assert not any(path.exists() for path in left)
    assert keep.exists()
    assert not list(out.rglob("*.partial-*"))


def test_micrographs_and_picks_in_one_folder(tmp_path, model_path):
    """The ordinary layout: score DIR --coords DIR reads the picks and leaves the micrographs alone."""
    _inputs(tmp_path)
    for path in (tmp_path / "picks").iterdir():
        shutil.copy(path, tmp_path / "mics")
    (tmp_path / "mics" / "notes.json").write_text("{}")
    out = tmp_path / "out"
    assert _run(_score(tmp_path, model_path, coords=[tmp_path / "mics"])) == 0
    for name in ("a.pos", "b.star"):
        rows = len(read_coordinates(tmp_path / "mics" / name).xy)
        assert len(read_coordinates(out / name).xy) + len(read_coordinates(out / "rejected" / name).xy) == rows


def _batch(tmp_path, model_path, **settings) -> dict:
    tmp_path.mkdir()
    _inputs(tmp_path)
    entries = [{"id": 1, "path": str(tmp_path / "mics" / "a.mrc"),
                "coordinates": {"id": [1, 2, 3], "x": [60.0, 150.0, 170.0], "y": [60.0, 150.0, 30.0]}}]
    manifest = {"output_dir": str(tmp_path / "out"), "box_size": BOX, "model": str(model_path), "gpus": "cpu",
                "thumbnails": True, "micrographs": entries, **settings}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert _run(["batch", tmp_path / "manifest.json", "--result", tmp_path / "result.json", "--quiet"]) == 0
    return json.loads((tmp_path / "result.json").read_text())["micrographs"][0]


def _green_pixels(entry) -> int:
    """Accepted-green pixels on the micrograph part of the thumbnail (the key below it has a green swatch)."""
    height, width = entry["summary"]["working_shape"]
    rows = round(height * max(1.0, MIN_SIDE / max(height, width)))
    picture = np.asarray(Image.open(entry["thumbnail"]).convert("RGB")).astype(int)[:rows]
    return int((np.abs(picture - ImageColor.getrgb(ACCEPTED_COLOUR)).sum(axis=-1) < 30).sum())


def test_rejected_micrograph_shows_no_accepted_pick(tmp_path, model_path):
    """A micrograph over the maximum flagged fraction: every output says its picks are rejected."""
    kept = _batch(tmp_path / "kept", model_path, threshold=0.5)
    assert kept["summary"]["rejection"] is None and any(kept["coordinates"]["accepted"])
    assert _green_pixels(kept) > 0

    rejected = _batch(tmp_path / "rejected", model_path, threshold=0.5, max_flagged=0.0)
    summary = rejected["summary"]
    assert summary["flagged_fraction"] > 0 and summary["rejection"] == MOSTLY_BAD
    assert not any(rejected["coordinates"]["accepted"])
    assert set(rejected["coordinates"]["reason"]) == {MOSTLY_BAD}
    assert rejected["coordinates"]["goodness"] == kept["coordinates"]["goodness"]  # scores kept
    on_disk = _summary(tmp_path / "rejected" / "out", "a")
    assert on_disk["coordinates"]["accepted"] == 0 and on_disk["coordinates"]["rejected"] == 3
    assert _green_pixels(rejected) == 0


def test_full_disk_names_the_output_folder(tmp_path, model_path, capsys, monkeypatch):
    from micrographcleaner import cleaner

    def full(path, content):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a failed write() reports it: no file name

    _inputs(tmp_path)
    monkeypatch.setattr(cleaner, "write_json", full)
    assert _run(_predict(tmp_path, model_path)) == 3
    errors = capsys.readouterr().err
    assert f"cannot write its outputs (No space left on device: {tmp_path / 'out'})" in errors
    assert "None" not in errors and "Traceback" not in errors


def test_implausible_box_sizes_are_named(tmp_path):
    def warnings(box, shape=(4096, 4096)):
        return CleaningOptions(box_size=box, output_dir=tmp_path).box_warnings(shape)

    assert warnings(200) == []
    assert "smaller than any particle's box" in warnings(5)[0]
    assert "more than half the micrograph (4096 x 4096 px)" in warnings(2100)[0]
    assert "(1024 x 512 px)" in warnings(300, (512, 1024))[0]
