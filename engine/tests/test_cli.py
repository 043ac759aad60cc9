"""End to end through the command lines, on micrographs with a known dark disc."""
import json
import os
import subprocess
import sys
import weakref

import mrcfile
import numpy as np
import pytest
from PIL import Image

from conftest import BOX, DISC
from micrographcleaner.cli import main
from micrographcleaner.coordinates import read_coordinates
from micrographcleaner.legacy_cli import main as clean_mics
from micrographcleaner.preprocessing import WORKING_SIDE
from micrographcleaner.testing import disc_micrograph, write_mrc

INSIDE = [(200, 300), (230, 280)]  # on the disc
OUTSIDE = [(520, 120), (560, 560)]  # far from it


def write_pos(path, points):
    rows = "\n".join(f"{x} {y}" for x, y in points)
    path.write_text(f"# XMIPP_STAR_1 *\n#\ndata_particles\nloop_\n _xcoor\n _ycoor\n{rows}\n")
    return path


def run(*args):
    return main([str(a) for a in args])


def test_predict_writes_small_mask_and_json(disc_mrc, model_path, tmp_path):
    out = tmp_path / "out"
    assert run("predict", disc_mrc, "--box-size", BOX, "--output-dir", out, "--model", model_path,
               "--gpus", "cpu", "--quiet") == 0
    with mrcfile.open(out / "disc_mask.mrc") as mrc:
        mask = mrc.data.copy()
        assert mask.shape == (320, 320) and mask.dtype == np.float32
        assert mrc.voxel_size.x == pytest.approx(640 * 1.5 / 320)  # extent = the micrograph's
    x, y, _ = DISC
    assert mask[int(y / 2), int(x / 2)] > 0.9 and mask[60, 260] < 0.5
    summary = json.loads((out / "disc.json").read_text())
    assert summary["downsampling_factor"] == 2.0 and summary["model"] == "discs"
    assert summary["flagged_fraction"] == pytest.approx(np.pi * 90 ** 2 / 640 ** 2, abs=0.01)
    assert set(summary["timings"]) == {"read", "preprocess", "checksum", "network", "hole_geometry", "write", "score"}
    assert not summary["mostly_bad"]


def test_a_model_with_a_working_range_sets_each_micrographs_scale(disc_mrc, model_path, tmp_path, capsys):
    from dataclasses import replace

    from micrographcleaner.model_files import load_model, save_model

    model, card = load_model(model_path)
    ranged = save_model(model, tmp_path / "ranged.keras", replace(card, working_side=[400, 800]))
    assert ranged.working_side == [400, 800]
    out = tmp_path / "out"
    # box 64 alone would give 160 working px: the range brings the 640 px micrograph to 400
    assert run("predict", disc_mrc, "--box-size", 64, "--output-dir", out, "--model", tmp_path / "ranged.keras",
               "--quiet") == 0
    summary = json.loads((out / "disc.json").read_text())
    assert summary["working_shape"] == [400, 400] and summary["downsampling_factor"] == pytest.approx(1.6)
    assert summary["flagged_fraction"] == pytest.approx(np.pi * 90 ** 2 / 640 ** 2, abs=0.02)
    # box 8 would enlarge it to 800 px: within the range already, it is screened at its own size
    assert run("predict", disc_mrc, "--box-size", 8, "--output-dir", tmp_path / "small", "--model",
               tmp_path / "ranged.keras", "--quiet") == 0
    summary = json.loads((tmp_path / "small" / "disc.json").read_text())
    assert summary["working_shape"] == [640, 640] and summary["downsampling_factor"] == 1.0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "score"])
def test_results_are_released_as_they_stream(command, disc_mrc, model_path, tmp_path, monkeypatch):
    """At most two results are alive at once (the one being consumed and the one being made): a run
    that kept its results would hold every badness map to its end, growing with the micrographs."""
    from micrographcleaner.cleaner import Cleaner

    alive, most, finish = [], [0], Cleaner._finish

    def tracked(self, job, prepared):
        result = finish(self, job, prepared)
        alive[:] = [ref for ref in alive if ref() is not None] + [weakref.ref(result.badness)]
        most[0] = max(most[0], len(alive))
        return result

    monkeypatch.setattr(Cleaner, "_finish", tracked)
    folder, picks = tmp_path / "mics", tmp_path / "picks"
    folder.mkdir(), picks.mkdir()
    for index in range(6):
        (folder / f"mic{index}.mrc").write_bytes(disc_mrc.read_bytes())
        write_pos(picks / f"mic{index}.pos", INSIDE + OUTSIDE)
    coordinates = ["--coords", picks] if command == "score" else []
    assert run(command, folder, *coordinates, "--box-size", BOX, "--output-dir", tmp_path / "out", "--model",
               model_path, "--gpus", "cpu", "--quiet") == 0
    assert len(list((tmp_path / "out").glob("mic*_mask.mrc"))) == 6 and most[0] == 2


def test_score_accepts_clean_rejects_disc_and_keeps_everything(disc_mrc, model_path, tmp_path):
    coords = write_pos(tmp_path / "disc.pos", INSIDE + OUTSIDE + [(700, 10)])
    out = tmp_path / "out"
    assert run("score", disc_mrc, "--coords", coords, "--box-size", BOX, "--output-dir", out, "--model",
               model_path, "--threshold", 0.7, "--thumbnails", "--gpus", "cpu", "--quiet") == 0
    accepted = read_coordinates(out / "disc.pos")
    rejected = read_coordinates(out / "rejected" / "disc.pos")
    assert sorted(map(tuple, accepted.xy)) == sorted(OUTSIDE)
    assert sorted(map(tuple, rejected.xy)) == sorted(INSIDE + [(700, 10)])  # 700 is off the micrograph
    text = (out / "disc.pos").read_text()
    assert text.startswith("# XMIPP_STAR_1 *") and "_goodRegionScore" in text and "_distanceToBad" in text
    summary = json.loads((out / "disc.json").read_text())
    assert summary["coordinates"] == {"total": 5, "accepted": 2, "rejected": 3, "outside": 1}
    picture = Image.open(out / "disc.png")
    assert min(picture.size) >= 512 and np.asarray(picture).std() > 10


def test_bad_micrographs_fail_alone(disc_mrc, model_path, tmp_path, capsys):
    broken = {"nan.mrc": np.where(np.eye(64) > 0, np.nan, 1).astype(np.float32),
              "flat.mrc": np.ones((64, 64), np.float32)}
    for name, data in broken.items():
        write_mrc(tmp_path / name, data)
    (tmp_path / "junk.mrc").write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    status = run("predict", tmp_path / "nan.mrc", tmp_path / "flat.mrc", tmp_path / "junk.mrc", disc_mrc,
                 tmp_path / "missing.mrc", "--box-size", BOX, "--output-dir", out, "--model", model_path,
                 "--gpus", "cpu", "--quiet")
    errors = capsys.readouterr().err
    assert status == 3
    assert (out / "disc_mask.mrc").is_file() and (out / "disc.json").is_file()
    for name, reason in [("nan.mrc", "NaN"), ("flat.mrc", "constant"), ("junk.mrc", "not a readable MRC"),
                         ("missing.mrc", "file not found")]:
        assert f"{tmp_path / name}: " in errors and reason in errors
    assert "4 of 5 micrographs failed" in errors


def test_rerun_reuses_masks(disc_mrc, model_path, tmp_path):
    out = tmp_path / "out"
    args = ["predict", disc_mrc, "--box-size", BOX, "--output-dir", out, "--model", model_path, "--quiet",
            "--gpus", "cpu"]
    assert run(*args) == 0
    before = os.stat(out / "disc_mask.mrc").st_mtime_ns
    assert run(*args) == 0
    assert os.stat(out / "disc_mask.mrc").st_mtime_ns == before
    assert json.loads((out / "disc.json").read_text())["mask_reused"] is True
    assert run(*args[:-2], "--box-size", 40) == 0  # another scale: predicted again
    assert os.stat(out / "disc_mask.mrc").st_mtime_ns != before


def test_full_size_mask(disc_mrc, model_path, tmp_path):
    out = tmp_path / "out"
    assert run("predict", disc_mrc, "--box-size", BOX, "--output-dir", out, "--model", model_path,
               "--full-size", "--quiet", "--gpus", "cpu") == 0
    with mrcfile.open(out / "disc_mask.mrc") as mrc:
        assert mrc.data.shape == (640, 640) and mrc.voxel_size.x == pytest.approx(1.5)


def test_matching_by_suffix_and_mapping(disc_mrc, model_path, tmp_path):
    star = tmp_path / "coords" / "disc_autopick.star"
    star.parent.mkdir()
    star.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n200 300\n520 120\n")
    out = tmp_path / "out"
    assert run("score", disc_mrc, "--coords", star.parent, "--box-size", BOX, "--output-dir", out,
               "--model", model_path, "--threshold", 0.7, "--quiet", "--gpus", "cpu") == 0
    assert read_coordinates(out / "disc_autopick.star").xy.tolist() == [[520, 120]]
    renamed = tmp_path / "picks_17.txt"
    renamed.write_text("200 300\n520 120\n")
    mapping = tmp_path / "mapping.txt"
    mapping.write_text(f"{renamed.name} {disc_mrc.name}\n")
    assert run("score", disc_mrc, "--coords", renamed, "--mapping", mapping, "--box-size", BOX,
               "--output-dir", out, "--model", model_path, "--threshold", 0.7, "--quiet", "--gpus", "cpu") == 0
    assert read_coordinates(out / "rejected" / "picks_17.txt").xy.tolist() == [[200, 300]]


def test_usage_errors(disc_mrc, tmp_path, capsys):
    assert run("predict", disc_mrc, "--box-size", BOX, "--output-dir", tmp_path, "--model",
               tmp_path / "none.keras") == 2
    assert "none.keras: model file not found" in capsys.readouterr().err
    assert run("predict", disc_mrc, "--box-size", 0, "--output-dir", tmp_path) == 2
    with pytest.raises(SystemExit) as caught:
        run("predict", disc_mrc, "--output-dir", tmp_path)
    assert caught.value.code == 2


def test_batch_manifest_keeps_ids_and_every_coordinate(disc_mrc, model_path, tmp_path):
    write_mrc(tmp_path / "flat.mrc", np.ones((64, 64), np.float32))
    points = INSIDE + OUTSIDE
    manifest = {
        "output_dir": str(tmp_path / "out"), "box_size": BOX, "model": str(model_path), "threshold": 0.7,
        "gpus": "cpu", "thumbnails": True,
        "micrographs": [
            {"id": 11, "path": str(disc_mrc), "key": "mic011",
             "coordinates": {"id": [101, 102, 103, 104], "x": [p[0] for p in points], "y": [p[1] for p in points]}},
            {"id": 12, "path": str(tmp_path / "flat.mrc"), "coordinates": {"id": [201], "x": [5.0], "y": [5.0]}},
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    status = run("batch", tmp_path / "manifest.json", "--result", tmp_path / "result.json", "--quiet")
    assert status == 3
    result = json.loads((tmp_path / "result.json").read_text())
    good, bad = result["micrographs"]
    assert good["id"] == 11 and good["ok"] and good["mask"].endswith("mic011_mask.mrc")
    assert os.path.isfile(good["thumbnail"])
    assert good["coordinates"]["id"] == [101, 102, 103, 104]
    assert good["coordinates"]["accepted"] == [False, False, True, True]
    assert all(0 <= g <= 1 for g in good["coordinates"]["goodness"])
    assert bad["id"] == 12 and not bad["ok"] and "constant image" in bad["error"]
    assert bad["coordinates"]["accepted"] == [False]
    assert bad["coordinates"]["reason"][0].startswith("micrograph failed:")


def test_two_class_model_reports_classes(disc_mrc, two_class_model_path, tmp_path):
    out = tmp_path / "out"
    coords = write_pos(tmp_path / "disc.pos", INSIDE + OUTSIDE)
    assert run("score", disc_mrc, "--coords", coords, "--box-size", BOX, "--output-dir", out, "--model",
               two_class_model_path, "--min-distance", "class1=10", "--quiet", "--gpus", "cpu") == 0
    summary = json.loads((out / "disc.json").read_text())
    assert set(summary["class_fractions"]) == {"class1"}
    with mrcfile.open(out / "disc_classes.mrc") as mrc:  # one byte per working pixel: 0 good, 1 class1
        assert mrc.data.shape == (320, 320) and mrc.data.dtype == np.int8 and set(np.unique(mrc.data)) <= {0, 1}
    assert not (out / "disc_class_maps.mrc").exists()  # per-class floats only with --class-maps
    assert "_distanceToClass1" in (out / "disc.pos").read_text()
    assert len(read_coordinates(out / "rejected" / "disc.pos").xy) >= 2


def test_two_class_rerun_reuses_the_label_map_with_the_same_scores(disc_mrc, two_class_model_path, tmp_path):
    out = tmp_path / "out"
    coords = write_pos(tmp_path / "disc.pos", INSIDE + OUTSIDE)
    args = ["score", disc_mrc, "--coords", coords, "--box-size", BOX, "--output-dir", out, "--model",
            two_class_model_path, "--min-distance", "class1=10", "--class-maps", "--quiet", "--gpus", "cpu"]
    assert run(*args) == 0
    first = (out / "disc.pos").read_text(), json.loads((out / "disc.json").read_text())
    with mrcfile.open(out / "disc_class_maps.mrc") as mrc:
        assert mrc.data.shape == (1, 320, 320) and mrc.data.dtype == np.float32
    assert run(*args) == 0
    second = (out / "disc.pos").read_text(), json.loads((out / "disc.json").read_text())
    assert second[1]["mask_reused"] and second[0] == first[0]
    assert second[1]["class_fractions"] == first[1]["class_fractions"]


def test_legacy_model_runs_through_predict(legacy_model_path, tmp_path):
    image, _ = disc_micrograph((300, 400), [(100, 100, 40)], seed=2)
    mic = write_mrc(tmp_path / "small.mrc", image)
    out = tmp_path / "out"
    assert run("predict", mic, "--box-size", 16, "--output-dir", out, "--model", legacy_model_path,
               "--quiet", "--gpus", "cpu") == 0  # 300x400 working pixels: padded, not refused
    assert json.loads((out / "small.json").read_text())["model"] == "defaultModel.h5"


def test_clean_mics_flags_and_outputs(disc_mrc, model_path, tmp_path):
    coords_in, coords_out, masks = tmp_path / "in", tmp_path / "out", tmp_path / "masks"
    coords_in.mkdir()
    write_pos(coords_in / "disc.pos", [(x * 2, y * 2) for x, y in INSIDE + OUTSIDE])  # picked at 2x
    status = clean_mics(["-i", str(disc_mrc), "-c", str(coords_in), "-o", str(coords_out), "-b", str(BOX),
                         "-s", "2", "-p", str(masks), "-d", str(model_path), "--deepThr", "0.3", "-g", "-1"])
    assert status == 0
    with mrcfile.open(masks / "disc.mrc") as mrc:
        assert mrc.data.shape == (640, 640)  # the original's full-size masks
    kept = read_coordinates(coords_out / "disc.pos")
    assert sorted(map(tuple, kept.xy)) == sorted((x * 2, y * 2) for x, y in OUTSIDE)
    assert "_goodRegionScore" in (coords_out / "disc.pos").read_text()
    assert len(read_coordinates(coords_out / "rejected" / "disc.pos").xy) == 2


def test_clean_mics_argument_rules(disc_mrc, tmp_path):
    with pytest.raises(SystemExit) as caught:
        clean_mics(["-i", str(disc_mrc), "-b", "32"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit):
        clean_mics(["-i", str(disc_mrc), "-b", "32", "-c", str(tmp_path)])


def test_real_micrograph_and_relion_picks(shared_real, model_path, tmp_path):
    """Smoke test on a real K2 micrograph and its RELION autopick file: every pick is accounted for."""
    real = shared_real / "micrographcleaner_test"
    out = tmp_path / "out"
    assert run("score", real / "Ucsf_stack_1142_DW.mrc", "--coords", real / "Ucsf_stack_1142_DW_autopick.star",
               "--box-size", 46, "--output-dir", out, "--model", model_path, "--threshold", 0.5,
               "--thumbnails", "--quiet", "--gpus", "cpu") == 0
    kept = read_coordinates(out / "Ucsf_stack_1142_DW_autopick.star").xy
    dropped = read_coordinates(out / "rejected" / "Ucsf_stack_1142_DW_autopick.star").xy
    assert len(kept) + len(dropped) == 45
    assert json.loads((out / "Ucsf_stack_1142_DW.json").read_text())["working_shape"] == [322, 333]


def test_simulate_defaults_lie_inside_the_working_range(tmp_path, capsys):
    """A default simulated micrograph is judged at the scale the bundled model works at, not below it."""
    assert run("simulate", tmp_path, "--count", "1", "--quiet") == 0
    with mrcfile.open(tmp_path / "sim_000000.mrc") as mrc:
        shape = mrc.data.shape
    assert WORKING_SIDE[0] <= max(shape) <= WORKING_SIDE[1]
    assert (tmp_path / "sim_000000_labels.mrc").exists() and (tmp_path / "sim_000000_particles.star").exists()
    assert "1 micrograph written" in capsys.readouterr().out


# --- the command line's manners -------------------------------------------------------------------

def summary(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_score_decides_by_the_protocols_threshold_unless_told_to_score_only(disc_mrc, model_path, tmp_path, capsys):
    coords = write_pos(tmp_path / "disc.pos", INSIDE + OUTSIDE)
    common = ["score", disc_mrc, "--coords", coords, "--box-size", BOX, "--model", model_path, "--gpus", "cpu"]
    assert run(*common, "--output-dir", tmp_path / "default") == 0
    assert sorted(map(tuple, read_coordinates(tmp_path / "default" / "disc.pos").xy)) == sorted(OUTSIDE)
    assert "4 coordinates: 2 accepted, 2 rejected (threshold 0.80)" in summary(capsys)
    assert run(*common, "--output-dir", tmp_path / "all", "--threshold", "none") == 0
    assert len(read_coordinates(tmp_path / "all" / "disc.pos").xy) == 4
    assert "4 coordinates: 4 accepted, 0 rejected (scored only, no threshold)" in summary(capsys)
    assert run(*common, "--output-dir", tmp_path / "near", "--threshold", "none", "--min-distance", 10) == 0
    assert "(no threshold, min. distance 10)" in summary(capsys)
    with pytest.raises(SystemExit) as caught:
        run(*common, "--output-dir", tmp_path / "x", "--threshold", "high")
    assert caught.value.code == 2 and "expects a goodness 0..1 or 'none'" in capsys.readouterr().err


def test_summaries_count_in_the_singular_and_give_the_flagged_fraction(disc_mrc, model_path, tmp_path, capsys):
    assert run("predict", disc_mrc, "--box-size", BOX, "--output-dir", tmp_path / "out", "--model", model_path,
               "--gpus", "cpu") == 0
    assert summary(capsys) == f"1 micrograph done, 0 failed; 6% flagged bad on average; outputs in {tmp_path / 'out'}"
    coords = write_pos(tmp_path / "one.pos", OUTSIDE[:1])
    (tmp_path / "one.mrc").write_bytes(disc_mrc.read_bytes())
    assert run("score", tmp_path / "one.mrc", "--coords", coords, "--box-size", BOX, "--output-dir",
               tmp_path / "out", "--model", model_path, "--gpus", "cpu") == 0
    assert "1 micrograph done, 0 failed; 1 coordinate: 1 accepted, 0 rejected" in summary(capsys)
    assert run("predict", tmp_path / "gone.mrc", "--box-size", BOX, "--output-dir", tmp_path / "out") == 3
    assert "1 of 1 micrograph failed" in capsys.readouterr().err


def help_text(parse, *command):
    with pytest.raises(SystemExit) as caught:
        parse([*command, "--help"])
    assert caught.value.code == 0
    return caught


@pytest.mark.parametrize("command", ["predict", "score", "batch", "worker", "train", "simulate", "evaluate",
                                     "cleanMics"])
def test_every_command_has_a_description_an_example_and_no_markup(command, capsys):
    from micrographcleaner import __version__

    parse = clean_mics if command == "cleanMics" else main
    help_text(parse, *([] if command == "cleanMics" else [command]))
    text = capsys.readouterr().out
    assert "\nexample:\n  " in text and text.split("example:\n  ")[1].startswith(("micrographcleaner", "cleanMics",
                                                                                     "echo"))
    description = text.split("\n\n")[1]
    assert not description.startswith(("positional", "options")) and len(description) > 80
    for markup in ("``", ":doc:", ":class:", ":mod:", ":func:", ".. "):
        assert markup not in text
    with pytest.raises(SystemExit) as caught:
        parse(["--version"])
    assert caught.value.code == 0 and __version__ in capsys.readouterr().out


def test_the_list_of_commands_has_no_markup(capsys):
    help_text(main)
    text = capsys.readouterr().out
    assert "``" not in text and "COMMAND --help" in text and "predict" in text


def as_a_command(*argv):
    """``micrographcleaner ARGV`` in a new process, as a user runs it; the last line of its stdout
    says whether TensorFlow was imported."""
    script = ("import sys\nfrom micrographcleaner.cli import main\n"
              f"sys.argv = ['micrographcleaner', *{[str(arg) for arg in argv]!r}]\ncode = main()\n"
              "print('tensorflow' in sys.modules)\nsys.exit(code)")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_missing_micrographs_fail_before_tensorflow_starts(tmp_path):
    finished = as_a_command("predict", tmp_path / "typo.mrc", "--box-size", 32, "--output-dir", tmp_path / "out")
    assert finished.returncode == 3 and finished.stdout.splitlines()[-1] == "False", finished.stderr
    assert finished.stderr.splitlines() == [f"FAILED {tmp_path / 'typo.mrc'}: file not found",
                                            "1 of 1 micrograph failed"]  # no progress bar either


def test_missing_training_inputs_are_refused_before_tensorflow_starts(tmp_path):
    finished = as_a_command("train", tmp_path / "run", "--initial-model", tmp_path / "none.keras")
    assert finished.returncode == 2 and finished.stdout.splitlines()[-1] == "False", finished.stderr
    assert finished.stderr.strip() == (f"micrographcleaner train: error: --initial-model {tmp_path / 'none.keras'}: "
                                       "not found")


def test_a_missing_micrograph_among_others_fails_alone_with_its_picks_rejected(disc_mrc, model_path, tmp_path):
    picks = tmp_path / "picks"
    picks.mkdir()
    write_pos(picks / "disc.pos", OUTSIDE)
    write_pos(picks / "gone.pos", INSIDE)
    listing = tmp_path / "mics.txt"
    listing.write_text(f"{disc_mrc}\n{tmp_path / 'gone.mrc'}\n")
    out = tmp_path / "out"
    assert run("score", listing, "--coords", picks, "--box-size", BOX, "--output-dir", out, "--model", model_path,
               "--gpus", "cpu", "--quiet") == 3
    assert len(read_coordinates(out / "rejected" / "gone.pos").xy) == 2
    assert len(read_coordinates(out / "disc.pos").xy) == 2


def test_the_progress_bar_starts_once_the_model_is_loaded(disc_mrc, model_path, tmp_path, monkeypatch):
    """Its s/mic is the micrographs' pace, not TensorFlow's start-up spread over them."""
    from micrographcleaner import runner

    events, load, progress = [], runner.load_predictor, runner.progress
    monkeypatch.setattr(runner, "load_predictor", lambda choice: (events.append("model loaded"), load(choice))[1])
    monkeypatch.setattr(runner, "progress", lambda *args: (events.append("bar started"), progress(*args))[1])
    assert run("predict", disc_mrc, "--box-size", BOX, "--output-dir", tmp_path / "out", "--model", model_path,
               "--gpus", "cpu", "--quiet") == 0
    assert events == ["model loaded", "bar started"]


def test_a_gpu_that_is_not_there_is_refused_in_one_line(disc_mrc, model_path, tmp_path, monkeypatch, capsys):
    from micrographcleaner import devices

    monkeypatch.setattr(devices, "list_gpus", lambda: ["0", "1"])
    assert devices.check_gpus("1") == ["1"] and devices.check_gpus("0,1") == ["0", "1"]
    assert devices.check_gpus("cpu") is None and devices.check_gpus("-1") is None
    for command in (["predict", disc_mrc], ["score", disc_mrc, "--coords", tmp_path]):
        assert run(*command, "--box-size", BOX, "--output-dir", tmp_path / "out", "--model", model_path,
                   "--gpus", "1,7") == 2
        assert capsys.readouterr().err.splitlines() == [
            f"micrographcleaner {command[0]}: error: --gpus 1,7: no GPU 7 on this machine (GPUs found: 0, 1); use "
            "--gpus cpu or a GPU that is there"]
    assert clean_mics(["-i", str(disc_mrc), "-b", "32", "-p", str(tmp_path / "masks"), "-g", "7"]) == 2
    assert "--gpus 7: no GPU 7" in capsys.readouterr().err
    monkeypatch.setattr(devices, "list_gpus", lambda: [])
    assert run("train", tmp_path / "run", "--gpus", "0") == 2
    assert "(GPUs found: none)" in capsys.readouterr().err


def test_clean_mics_reads_csv_names_other_files_and_says_it_only_scored(disc_mrc, model_path, tmp_path, capsys):
    picks, out = tmp_path / "picks", tmp_path / "out"
    picks.mkdir()
    (picks / "disc.csv").write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in INSIDE + OUTSIDE))
    (picks / "notes.md").write_text("picked by hand\n")
    assert clean_mics(["-i", str(disc_mrc), "-c", str(picks), "-o", str(out), "-b", str(BOX), "-d", str(model_path),
                       "-g", "-1"]) == 0
    assert len(read_coordinates(out / "disc.csv").xy) == 4
    captured = capsys.readouterr()
    assert f"WARNING {picks / 'notes.md'}: not a coordinate file" in captured.err
    assert captured.out.strip().splitlines()[-1] == (
        f"1 micrograph done, 0 failed; 4 coordinates: 4 accepted, 0 rejected (scored only, no threshold); "
        f"6% flagged bad on average; outputs in {out}")


def test_hole_geometry_is_recorded_and_a_mask_drawn_otherwise_is_predicted_again(disc_mrc, model_path, tmp_path):
    out = tmp_path / "out"
    args = ["predict", disc_mrc, "--box-size", BOX, "--output-dir", out, "--model", model_path, "--quiet",
            "--gpus", "cpu"]
    assert run(*args, "--hole-diameter", 0) == 2  # not in um: refused before any work
    assert not (out / "disc.json").exists()
    assert run(*args, "--no-hole-geometry") == 0
    summary = json.loads((out / "disc.json").read_text())
    assert summary["hole_geometry"] == {"used": False, "diameter_um": None} and summary["hole_edge"] is None
    assert run(*args, "--hole-diameter", 1.2, "--pixel-size", 1.5) == 0
    summary = json.loads((out / "disc.json").read_text())
    assert summary["mask_reused"] is False and summary["hole_geometry"] == {"used": True, "diameter_um": 1.2}
    assert run(*args, "--hole-diameter", 1.2, "--pixel-size", 1.5) == 0
    reused = json.loads((out / "disc.json").read_text())
    assert reused["mask_reused"] is True and reused["hole_edge"] == summary["hole_edge"]  # as the first run drew it


def test_a_mask_drawn_with_another_companion_view_is_predicted_again(disc_mrc, model_path, tmp_path):
    out = tmp_path / "out"
    args = ["predict", disc_mrc, "--box-size", BOX, "--output-dir", out, "--model", model_path, "--quiet",
            "--gpus", "cpu"]
    assert run(*args) == 0
    summary_path = out / "disc.json"
    summary = json.loads(summary_path.read_text())
    assert "companion_factor" in summary
    summary["companion_factor"] = 123.0  # as a run with another second view (or none) recorded it
    summary_path.write_text(json.dumps(summary))
    assert run(*args) == 0
    assert json.loads(summary_path.read_text())["mask_reused"] is False
    assert run(*args) == 0
    assert json.loads(summary_path.read_text())["mask_reused"] is True
