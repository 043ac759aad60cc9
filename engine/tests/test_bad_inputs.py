"""Bad inputs and faults through the command lines: nothing lost, nothing overwritten, one clear line each.

Every case checks the promise of the engine: the exit status (0 done, 2 usage error before any work,
3 some inputs failed), no traceback and a line naming the file (or option) and the problem, inputs
byte for byte unchanged, and every input coordinate in exactly one output (accepted or rejected).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import BOX
from micrographcleaner.cli import main
from micrographcleaner.coordinates import read_coordinates
from micrographcleaner.images import read_micrograph
from micrographcleaner.legacy_cli import main as clean_mics
from micrographcleaner.testing import disc_micrograph, write_mrc

SIDE = 192  # micrograph side in pixels: 96 working pixels at BOX


@dataclass
class Case:
    argv: list  # starts with 'cleanMics' for the legacy command line
    status: int
    says: str  # expected on stderr: the file or option, and the problem
    coords: list[Path] = field(default_factory=list)  # coordinate files whose every row must come out
    out: Path | None = None  # where the scored coordinates go


CASES: dict[str, Callable[[Path, Path], Case]] = {}


def case(function: Callable[[Path, Path], Case]) -> Callable[[Path, Path], Case]:
    CASES[function.__name__] = function
    return function


def _mic(path: Path, seed: int = 0, voxel: float = 1.5) -> Path:
    image, _ = disc_micrograph((SIDE, SIDE), [(60.0, 60.0, 30.0)], seed=seed)
    return write_mrc(path, image, pixel_size=voxel)


def _pos(path: Path, rows: list[str]) -> Path:
    path.write_text("# XMIPP_STAR_1 *\n#\ndata_particles\nloop_\n _xcoor\n _ycoor\n" + "".join(r + "\n" for r in rows))
    return path


def _inputs(d: Path) -> None:
    """mics/a.mrc, mics/b.mrc; picks/a.pos (4 picks, 2 on the disc), picks/b.star (3 picks)."""
    (d / "mics").mkdir()
    (d / "picks").mkdir()
    _mic(d / "mics" / "a.mrc", 1)
    _mic(d / "mics" / "b.mrc", 2)
    _pos(d / "picks" / "a.pos", ["60 60", "70 55", "150 150", "170 30"])
    (d / "picks" / "b.star").write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
                                        "60 60\n150 150\n30 170\n")


def _score(d: Path, model: Path, *extra, mics=None, coords=None, out=None) -> list:
    return ["score", *(mics or [d / "mics"]), "--coords", *(coords or [d / "picks"]), "--box-size", BOX,
            "--output-dir", out or d / "out", "--model", model, "--gpus", "cpu", "--quiet", *extra]


def _predict(d: Path, model: Path, *extra, mics=None, out=None) -> list:
    return ["predict", *(mics or [d / "mics"]), "--box-size", BOX, "--output-dir", out or d / "out",
            "--model", model, "--gpus", "cpu", "--quiet", *extra]


def _scored(d: Path, model: Path, status: int, says: str, *extra, **kwargs) -> Case:
    argv = _score(d, model, *extra, **kwargs)
    return Case(argv, status, says, sorted((d / "picks").iterdir()), kwargs.get("out") or d / "out")


def _option(flag: str, value: str, says: str | None = None) -> Callable[[Path, Path], Case]:
    def make(d: Path, model: Path) -> Case:
        return _scored(d, model, 2, says or flag, flag, value)
    return make


# --- outputs that would overwrite inputs, unusable output folders ---------------------------------------

@case
def output_dir_is_the_coordinates_folder(d, model):
    return _scored(d, model, 2, "would replace an input", out=d / "picks")


@case
def predict_output_dir_is_a_file(d, model):
    (d / "out").write_text("not a folder")
    return Case(_predict(d, model), 2, "is not a folder")


@case
def output_dir_cannot_be_made(d, model):
    (d / "file").write_text("")
    return Case(_predict(d, model, out=d / "file" / "out"), 2, "cannot write there")


@case
def same_names_from_different_folders(d, model):
    (d / "other").mkdir()
    _mic(d / "other" / "a.mrc", 3)
    return Case(_predict(d, model, mics=[d / "mics" / "a.mrc", d / "other" / "a.mrc"]), 2, "have the same name")


@case
def same_coordinate_names_from_different_folders(d, model):
    (d / "more").mkdir()
    _pos(d / "more" / "a.pos", ["10 10"])
    return _scored(d, model, 2, "have the same name", coords=[d / "picks", d / "more"])


@case
def clean_mics_masks_into_the_micrograph_folder(d, model):
    return Case(["cleanMics", "-i", d / "mics", "-c", d / "picks", "-o", d / "out", "-b", BOX, "-p", d / "mics",
                 "-d", model, "-g", "-1"], 2, "would replace an input", out=d / "out")


@case
def clean_mics_output_is_the_input_coordinates(d, model):
    return Case(["cleanMics", "-i", d / "mics", "-c", d / "picks", "-o", d / "picks", "-b", BOX, "-d", model,
                 "-g", "-1"], 2, "would replace an input")


# --- options out of range -----------------------------------------------------------------------------

for _flag, _values in {"--box-size": ["nan", "inf", "1e9", "0", "-3"],
                       "--extra-downsampling": ["-1", "0", "nan"], "--particle-diameter": ["-5", "inf"],
                       "--pixel-size": ["-1", "nan"], "--min-distance": ["nan", "-1"], "--threshold": ["1.5", "nan"],
                       "--threads": ["-3", "0"], "--batch-size": ["0"]}.items():
    for _value in _values:
        CASES[f"option {_flag} {_value}"] = _option(_flag, _value)
CASES["option --min-distance foo=5"] = _option("--min-distance", "foo=5", "class foo")
CASES["option --min-distance text"] = _option("--min-distance", "far", "--min-distance expects")
CASES["option --gpus text"] = _option("--gpus", "xyz", "--gpus expects")
CASES["option --box-size 8"] = _option("--box-size", "8", "box size 8 with extra downsampling 1 would enlarge")
CASES["option --box-size 1e-9"] = _option("--box-size", "1e-9", "--box-size must be a finite number at least 1")


@case
def clean_mics_zero_coordinate_scale(d, model):
    return Case(["cleanMics", "-i", d / "mics", "-c", d / "picks", "-o", d / "out", "-b", BOX, "-s", "0",
                 "-d", model, "-g", "-1"], 2, "--downFactorCoords")


@case
def missing_mapping_file(d, model):
    return _scored(d, model, 2, "map.txt: file not found", "--mapping", d / "map.txt")


# --- model files ---------------------------------------------------------------------------------------

def _copied_model(d: Path, model: Path) -> Path:
    copy = d / "model" / model.name
    copy.parent.mkdir()
    shutil.copy(model, copy)
    shutil.copy(model.with_suffix(".json"), copy.with_suffix(".json"))
    return copy


@case
def model_missing(d, model):
    return _scored(d, d / "none.keras", 2, "none.keras: model file not found")


@case
def model_junk(d, model):
    (d / "junk.keras").write_bytes(b"junk" * 100)
    return _scored(d, d / "junk.keras", 2, "junk.keras: cannot be loaded as a Keras model (not a zip archive")


@case
def model_bytes_tampered(d, model):
    copy = _copied_model(d, model)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    return _scored(d, copy, 2, "checksum does not match")


@case
def model_bytes_tampered_size_and_time_kept(d, model):
    """The checksum is computed at every load: no cache keyed on size and times can be fooled."""
    copy = _copied_model(d, model)
    os.utime(copy, (1e9, 1e9))  # long unchanged, as a model is
    assert main([str(a) for a in _score(d, copy, out=d / "first")]) == 0
    shutil.rmtree(d / "first")
    before = copy.stat()
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    return _scored(d, copy, 2, "checksum does not match")


def _card_changed(d: Path, model: Path, change: Callable[[dict], None], says: str) -> Case:
    """A copy of the model whose card was edited by ``change``."""
    copy = _copied_model(d, model)
    card = json.loads(copy.with_suffix(".json").read_text())
    change(card)
    copy.with_suffix(".json").write_text(json.dumps(card))
    return _scored(d, copy, 2, says.format(card=copy.with_suffix(".json")))


CASES["model card with empty checksum"] = lambda d, model: _card_changed(
    d, model, lambda card: card.update(sha256=""), "{card}: has no sha256 checksum")
CASES["model card without checksum"] = lambda d, model: _card_changed(
    d, model, lambda card: card.pop("sha256"), "{card}: has no sha256 checksum")
CASES["model card tampered"] = lambda d, model: _card_changed(
    d, model, lambda card: card.update(sha256="0" * 64), "checksum does not match")


@case
def model_card_not_json(d, model):
    copy = _copied_model(d, model)
    copy.with_suffix(".json").write_text("{not json")
    return _scored(d, copy, 2, f"{copy.with_suffix('.json')}: not a valid model card")


@case
def model_with_lambda_layer(d, model):
    import keras

    inputs = keras.Input((None, None, 1))
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 0.5)(inputs))
    lambda_model.save(d / "lambda.keras")
    return _scored(d, d / "lambda.keras", 2, "lambda.keras: cannot be loaded")


# --- micrographs that fail alone -----------------------------------------------------------------------

def _damaged(d: Path, model: Path, damage: Callable[[bytearray], bytes], says: str) -> Case:
    path = d / "mics" / "b.mrc"
    path.write_bytes(damage(bytearray(path.read_bytes())))
    return _scored(d, model, 3, f"b.mrc: not a readable MRC file ({says}")


@case
def mrc_truncated(d, model):
    return _damaged(d, model, lambda data: bytes(data[:3000]), "shorter than its header says")


@case
def mrc_header_claims_huge_size(d, model):
    return _damaged(d, model, lambda data: bytes(struct.pack("<ii", 100000, 100000) + data[8:]),
                    "shorter than its header says: 100000x100000")


@case
def mrc_huge_header_on_a_sparse_file(d, model):
    """A header of 100000 x 100000 float32 pixels on a file that long (sparse: it costs no disk) is refused
    unread; read whole, it would take 40 GB of memory."""
    path = d / "mics" / "b.mrc"
    path.write_bytes(struct.pack("<iii", 100000, 100000, 1) + path.read_bytes()[12:1024])
    os.truncate(path, 1024 + 100000 * 100000 * 4)
    return _scored(d, model, 3, "b.mrc: too large to read (100000 x 100000 pixels")


@case
def mrc_float32_header_over_float64_data(d, model):
    path = d / "mics" / "b.mrc"
    header = path.read_bytes()[:1024]
    path.write_bytes(header + read_micrograph(path).data.astype(np.float64).tobytes())
    return _scored(d, model, 3, "b.mrc: not a readable MRC file (longer than its header says")


@case
def lzw_compressed_tiff(d, model):
    import tifffile

    path = d / "mics" / "b.mrc"
    tifffile.imwrite(d / "mics" / "b.tif", read_micrograph(path).data, compression="lzw")
    path.unlink()
    return _scored(d, model, 0, "")


@case
def mrc_unknown_mode(d, model):
    return _damaged(d, model, lambda data: bytes(data[:12] + struct.pack("<i", 99) + data[16:]),
                    "unknown data mode 99")


@case
def micrograph_with_nan(d, model):
    write_mrc(d / "mics" / "b.mrc", np.full((SIDE, SIDE), np.nan, np.float32))
    return _scored(d, model, 3, "b.mrc: contains NaN")


@case
def micrograph_constant(d, model):
    write_mrc(d / "mics" / "b.mrc", np.ones((SIDE, SIDE), np.float32))
    return _scored(d, model, 3, "b.mrc: constant image")


@case
def micrograph_missing_from_list(d, model):
    return _scored(d, model, 3, "c.mrc: file not found", mics=[d / "mics" / "a.mrc", d / "mics" / "c.mrc"])


@case
def box_larger_than_the_micrograph(d, model):
    return _scored(d, model, 3, "working px at box size 5000", "--box-size", "5000")


@case
def box_more_than_half_the_micrograph(d, model):
    return _scored(d, model, 0, f"WARNING box size 120 px is more than half the micrograph ({SIDE} x {SIDE} px)",
                   "--box-size", "120")


@case
def clean_mics_failed_micrograph_keeps_its_picks(d, model):
    write_mrc(d / "mics" / "b.mrc", np.ones((SIDE, SIDE), np.float32))
    return Case(["cleanMics", "-i", d / "mics", "-c", d / "picks", "-o", d / "out", "-b", BOX, "-d", model,
                 "--deepThr", "0.5", "-g", "-1"], 3, "b.mrc: constant image", sorted((d / "picks").iterdir()),
                d / "out")


# --- coordinate files ------------------------------------------------------------------------------------

@case
def coordinates_match_no_micrograph(d, model):
    _pos(d / "picks" / "zzz.pos", ["10 10", "20 20"])
    return _scored(d, model, 3, "zzz.pos: no micrograph matches")


@case
def coordinate_file_without_coordinate_columns(d, model):
    (d / "picks" / "b.star").write_text("data_\nloop_\n_rlnAngleRot #1\n10\n")
    case = _scored(d, model, 3, "b.star: no coordinate columns _rlnCoordinateX and _rlnCoordinateY, so none of "
                                "its 1 row can be scored")
    case.coords.remove(d / "picks" / "b.star")
    return case


@case
def coordinate_file_not_text(d, model):
    (d / "picks" / "b.txt").write_bytes(bytes(range(256)) * 4)
    (d / "picks" / "b.star").unlink()
    case = _scored(d, model, 3, "b.txt: not a text file")
    case.coords.remove(d / "picks" / "b.txt")
    return case


@case
def clean_mics_one_bad_coordinate_file(d, model):
    (d / "picks" / "b.star").write_text("data_\nloop_\n_rlnAngleRot #1\n10\n")
    return Case(["cleanMics", "-i", d / "mics", "-c", d / "picks", "-o", d / "out", "-b", BOX, "-d", model,
                 "-g", "-1"], 3, "b.star: no coordinate columns", [d / "picks" / "a.pos"], d / "out")


def _rows(name: str, text: str, says: str = "1 unreadable row rejected: row 2") -> Callable[[Path, Path], Case]:
    def make(d: Path, model: Path) -> Case:
        for old in (d / "picks").iterdir():
            if old.stem == "b":
                old.unlink()
        (d / "picks" / name).write_text(text)
        return _scored(d, model, 0, f"{name}: {says}")
    return make


_STAR_HEAD = "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
CASES["row with NaN in .pos"] = lambda d, model: (
    _pos(d / "picks" / "a.pos", ["60 60", "nan 55", "150 150"]),
    _scored(d, model, 0, "a.pos: 1 unreadable row rejected: row 2"))[1]
CASES["row with text in .star"] = _rows("b.star", _STAR_HEAD + "60 60\nsixty 60\n150 150\n")
CASES["short row in .star"] = _rows("b.star", _STAR_HEAD + "60 60\n70\n150 150\n",
                                    "1 unreadable row rejected: row 2 (1 value, expected 2)")
CASES["row with a value too many in .star"] = _rows("b.star", _STAR_HEAD + "60 60\n256 256 extra\n150 150\n",
                                                    "1 unreadable row rejected: row 2 (3 values, expected 2)")
CASES["no y column in .star"] = _rows("b.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnAutopickFigureOfMerit #2\n"
                                                "60 1\n70 1\n150 1\n",
                                      "3 unreadable rows rejected: row 1 (no _rlnCoordinateY column)")
CASES["second coordinate table in .star"] = _rows(
    "b.star", _STAR_HEAD + "60 60\n150 150\n\ndata_more\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n30 30\n",
    "3 unreadable rows rejected: row 1 (one of several tables with coordinates (data_, data_more))")
CASES["text in a number of a .txt"] = _rows("b.txt", "x y\n60 60\n70 five\n150 150\n")
CASES["ragged .txt"] = _rows("b.txt", "60 60 1\n70 55\n150 150 3\n")
CASES["ragged .csv"] = _rows("b.csv", "x,y,score\n60,60,1\n70,55,2,9\n150,150,3\n")
CASES["text in a .box"] = _rows("b.box", "40 40 32 32\nabc 40 32 32\n130 130 32 32\n")


@case
def empty_star_file(d, model):
    (d / "picks" / "b.star").write_text("")
    return _scored(d, model, 0, "")


@case
def infinite_voxel_size(d, model):
    _mic(d / "mics" / "b.mrc", 2, voxel=float("inf"))
    return _scored(d, model, 0, "")


@case
def picks_off_the_micrograph(d, model):
    _pos(d / "picks" / "a.pos", ["-50 60", "1e30 55", "150 150"])
    return _scored(d, model, 0, "")


# --- batch manifests -------------------------------------------------------------------------------------

def _manifest(d: Path, model: Path, status: int, says: str, **changes) -> Case:
    entries = [{"id": 1, "path": str(d / "mics" / "a.mrc"), "key": "one",
                "coordinates": {"id": [1, 2], "x": [60.0, 150.0], "y": [60.0, 150.0]}},
               {"id": 2, "path": str(d / "mics" / "b.mrc"), "key": "two"}]
    for index, entry in changes.pop("entries", {}).items():
        entries[index].update(entry)
    manifest = {"output_dir": str(d / "out"), "box_size": BOX, "model": str(model), "gpus": "cpu",
                "micrographs": entries, **changes}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return Case(["batch", d / "manifest.json", "--result", d / "result.json", "--quiet"], status, says)


CASES["batch key leaves output_dir"] = lambda d, model: _manifest(d, model, 2, "key '../../x' must be a plain",
                                                                  entries={0: {"key": "../../x"}})
CASES["batch duplicate keys"] = lambda d, model: _manifest(
    d, model, 2, "micrographs 1 and 2 share the output name 'one'", entries={1: {"key": "one"}})
CASES["batch duplicate micrograph ids"] = lambda d, model: _manifest(
    d, model, 2, "micrographs 1 and 2 share the id 1", entries={1: {"id": 1}})
CASES["batch duplicate coordinate ids"] = lambda d, model: _manifest(
    d, model, 2, "micrograph 1 share the coordinate id 2",
    entries={0: {"coordinates": {"id": [2, 2], "x": [60.0, 150.0], "y": [60.0, 150.0]}}})
CASES["batch coordinate id on two micrographs"] = lambda d, model: _manifest(  # each micrograph's own ids
    d, model, 0, "", entries={1: {"coordinates": {"id": [1], "x": [60.0], "y": [60.0]}}})
CASES["batch max_flagged above 1"] = lambda d, model: _manifest(d, model, 2, "max_flagged must be a finite number",
                                                                max_flagged=1.5)
CASES["batch fewer ids than x/y"] = lambda d, model: _manifest(
    d, model, 2, "2 x, 2 y and 1 ids", entries={0: {"coordinates": {"id": [1], "x": [1.0, 2.0], "y": [1.0, 2.0]}}})
CASES["batch box size nan"] = lambda d, model: _manifest(d, model, 2, "box_size must be a finite", box_size="nan")
CASES["batch box size text"] = lambda d, model: _manifest(d, model, 2, "box_size must be a finite number, got 'big'",
                                                          box_size="big")
CASES["batch min distance text"] = lambda d, model: _manifest(d, model, 2, "any must be a finite number",
                                                              min_distance={"any": "far"})
CASES["batch negative threads"] = lambda d, model: _manifest(d, model, 2, "threads must be", threads=-3)
CASES["batch output_dir is a file"] = lambda d, model: (
    (d / "file").write_text(""), _manifest(d, model, 2, "is not a folder", output_dir=str(d / "file")))[1]
CASES["batch missing micrograph"] = lambda d, model: _manifest(d, model, 3, "c.mrc: file not found",
                                                               entries={1: {"path": str(d / "mics" / "c.mrc")}})


# --- the checks --------------------------------------------------------------------------------------------

def _snapshot(d: Path) -> dict[str, str]:
    """Each input's checksum; for a file too large to read (a sparse one), its size and modification time."""
    def state(path: Path) -> str:
        info = path.stat()
        if info.st_size > 1 << 26:
            return f"{info.st_size} {info.st_mtime_ns}"
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return {str(p.relative_to(d)): state(p)
            for folder in ("mics", "picks") for p in sorted((d / folder).rglob("*")) if p.is_file()}


def _rows_in(path: Path) -> int:
    return len(read_coordinates(path).xy) if path.exists() else 0


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, model_path, capsys):
    _inputs(tmp_path)
    made = CASES[name](tmp_path, model_path)
    before = _snapshot(tmp_path)
    argv = [str(item) for item in made.argv]
    status = clean_mics(argv[1:]) if argv[0] == "cleanMics" else main(argv)
    errors = capsys.readouterr().err
    assert status == made.status, errors
    assert "Traceback" not in errors
    assert made.says in errors
    assert _snapshot(tmp_path) == before, "an input was changed"
    if status == 2:
        assert len(errors.strip().splitlines()) == 1, errors
        out = tmp_path / "out"
        assert not (out.is_dir() and any(p.is_file() for p in out.rglob("*"))), "work was done before the error"
    for path in made.coords if status != 2 else []:  # a usage error leaves every pick in its untouched input
        written = _rows_in(made.out / path.name) + _rows_in(made.out / "rejected" / path.name)
        assert written == len(read_coordinates(path).xy), f"{path.name}: rows lost or doubled"


# --- faults that need more than one run ------------------------------------------------------------------

def test_replaced_micrograph_is_predicted_again(tmp_path, model_path):
    """A mask is reused only for the same pixels: a new micrograph of the same name and size is predicted."""
    _inputs(tmp_path)
    assert main([str(a) for a in _predict(tmp_path, model_path)]) == 0
    assert main([str(a) for a in _predict(tmp_path, model_path)]) == 0
    assert json.loads((tmp_path / "out" / "a.json").read_text())["mask_reused"]
    _mic(tmp_path / "mics" / "a.mrc", seed=9)
    assert main([str(a) for a in _predict(tmp_path, model_path)]) == 0
    assert not json.loads((tmp_path / "out" / "a.json").read_text())["mask_reused"]


def test_predict_into_the_micrograph_folder_skips_its_own_masks(tmp_path, model_path):
    _inputs(tmp_path)
    for _ in range(2):
        assert main([str(a) for a in _predict(tmp_path, model_path, out=tmp_path / "mics")]) == 0
    assert sorted(p.name for p in (tmp_path / "mics").glob("*.mrc")) == ["a.mrc", "a_mask.mrc", "b.mrc", "b_mask.mrc"]


def test_full_output_disk_fails_the_file_not_the_run(tmp_path, model_path, capsys, monkeypatch):
    import errno

    from micrographcleaner import coordinates

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    _inputs(tmp_path)
    monkeypatch.setattr(coordinates, "_write_atomically", full)
    assert main([str(a) for a in _score(tmp_path, model_path)]) == 3
    errors = capsys.readouterr().err
    assert "Traceback" not in errors
    assert "a.pos: cannot write its scored coordinates" in errors and "No space left on device" in errors


def test_clean_mics_json_agrees_with_its_files(tmp_path, model_path):
    _inputs(tmp_path)
    assert clean_mics([str(a) for a in ["-i", tmp_path / "mics", "-c", tmp_path / "picks", "-o", tmp_path / "out",
                                        "-b", BOX, "-p", tmp_path / "masks", "-d", model_path, "--deepThr", "0.5",
                                        "-g", "-1"]]) == 0
    for stem, name in (("a", "a.pos"), ("b", "b.star")):
        counts = json.loads((tmp_path / "masks" / f"{stem}.json").read_text())["coordinates"]
        assert counts["accepted"] == _rows_in(tmp_path / "out" / name)
        assert counts["rejected"] == _rows_in(tmp_path / "out" / "rejected" / name)
    assert json.loads((tmp_path / "masks" / "a.json").read_text())["coordinates"]["rejected"] >= 1


def test_summary_line_and_no_tensorflow_chatter(tmp_path, model_path):
    """One process, as a user runs it: TensorFlow's start-up lines stay hidden; a summary ends the run."""
    _inputs(tmp_path)
    argv = [str(a) for a in _score(tmp_path, model_path) if a != "--quiet"]
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TF_CPP")}
    run = subprocess.run([sys.executable, "-m", "micrographcleaner", *argv], capture_output=True, text=True,
                         timeout=300, env=environment)
    assert run.returncode == 0, run.stderr
    noise = [line for line in run.stderr.splitlines() if "mic/s" not in line and "it/s" not in line
             and line.strip() and "%|" not in line]
    assert noise == [], noise
    assert "2 micrographs done, 0 failed; 7 coordinates:" in run.stdout and str(tmp_path / "out") in run.stdout


def test_no_tensorflow_chatter_when_called_from_python(tmp_path, model_path):
    """A Python host calling main(): its stderr is silenced only while TensorFlow is imported."""
    _inputs(tmp_path)
    code = ("import sys; from micrographcleaner.cli import main; "
            f"code = main(['predict', {str(tmp_path / 'mics')!r}, '--box-size', '32', '--output-dir', "
            f"{str(tmp_path / 'out')!r}, '--model', {str(model_path)!r}, '--gpus', 'cpu', '--quiet']); "
            "print('after', file=sys.stderr); sys.exit(code)")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TF_CPP")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environment)
    assert run.returncode == 0 and run.stderr == "after\n", run.stderr


def test_missing_tensorflow_says_how_to_install_it(tmp_path):
    _inputs(tmp_path)
    code = ("import sys; sys.modules['tensorflow'] = None; from micrographcleaner.cli import main; "
            f"sys.exit(main(['predict', {str(tmp_path / 'mics')!r}, '--box-size', '32', '--output-dir', "
            f"{str(tmp_path / 'out')!r}, '--gpus', 'cpu', '--quiet']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "TensorFlow is not installed" in run.stderr and "micrographcleaner[cpu]" in run.stderr
