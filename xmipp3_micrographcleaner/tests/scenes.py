"""Micrographs with known bad regions (dark discs on noise) and picks on and off them, for tests.

Each scene is written as a real MRC file; its picks carry their ground truth ("good" on clean
ice, "bad" on a disc), so the protocol's decisions can be checked against it. The tiny disc
model used with them is trained by the engine's own test helper, inside the plugin's environment.
"""
import os
import re
from pathlib import Path

import mrcfile
import numpy as np

from .. import Plugin

SHAPE = (512, 512)
BOX = 32  # particle box (px): the network works at half the micrograph's size
PIXEL_SIZE = 1.5
ENGINE_TESTS = Path(__file__).resolve().parents[2] / "engine" / "tests"


def write_mrc(path, data, pixel_size=PIXEL_SIZE):
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(np.asarray(data, dtype=np.float32))
        mrc.voxel_size = pixel_size
    return path


def scene(seed, clean=False):
    """Noise with one or two dark discs (none if ``clean``); returns the image and picks [(x, y, 'good'|'bad')]."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=SHAPE).astype(np.float32)
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    discs = [(rng.uniform(130, 380), rng.uniform(130, 380), rng.uniform(60, 85))]
    if rng.random() < 0.5:
        discs.append((rng.choice([70.0, 440.0]), rng.choice([70.0, 440.0]), 45.0))
    if clean:
        discs = []
    for x, y, radius in discs:
        image[(cols - x) ** 2 + (rows - y) ** 2 <= radius ** 2] -= 3.0
    picks = []
    for x, y, radius in discs[:1]:  # bad picks well inside the main disc
        for angle in rng.uniform(0, 2 * np.pi, 3):
            reach = rng.uniform(0, radius - 25)
            picks.append((int(x + reach * np.cos(angle)), int(y + reach * np.sin(angle)), "bad"))
    while sum(label == "good" for *_, label in picks) < 6:  # good picks far from every disc
        x, y = rng.uniform(24, SHAPE[1] - 24), rng.uniform(24, SHAPE[0] - 24)
        if all(np.hypot(x - dx, y - dy) > radius + 45 for dx, dy, radius in discs):
            picks.append((int(x), int(y), "good"))
    return image, picks


def write_scenes(folder, names, seed=0, downsample=1, clean=()):
    """One scene per name (``<name>.mrc``; without discs for names in ``clean``), optionally binned;
    picks are in the written pixels."""
    os.makedirs(folder, exist_ok=True)
    truth = {}
    for index, name in enumerate(names):
        image, picks = scene(seed * 100 + index, name in clean)
        if downsample > 1:
            image = image.reshape(SHAPE[0] // downsample, downsample, SHAPE[1] // downsample, downsample).mean((1, 3))
            picks = [(x // downsample, y // downsample, label) for x, y, label in picks]
        write_mrc(os.path.join(folder, name + ".mrc"), image, PIXEL_SIZE * downsample)
        truth[name] = picks
    return truth


def plain(name):
    return re.sub(r"[^A-Za-z0-9_.]", "", name)


def restore_file_names(micrographs, names):
    """Gives imported micrographs back the raw names that pwem's import strips of spaces and
    brackets, as a set made by other software may carry them (links are renamed in place)."""
    from pwem.objects import SetOfMicrographs

    raw = {plain(name + ".mrc"): name + ".mrc" for name in names}
    items = SetOfMicrographs(filename=micrographs.getFileName())
    items.enableAppend()
    for mic in [m.clone() for m in items]:
        old = mic.getFileName()
        new = os.path.join(os.path.dirname(old), raw[plain(os.path.basename(old))])
        if new != old:
            os.rename(old, new)
            mic.setFileName(new)
            items.update(mic)
    items.write()
    items.close()


def write_coordinates_sqlite(path, micrographs, truth):
    """A Scipion coordinates file (pwem's own import format) for the imported ``micrographs``."""
    from pwem.objects import Coordinate, SetOfCoordinates

    ids = {Path(mic.getFileName()).name[:-len(".mrc")]: mic.getObjId() for mic in micrographs}
    if os.path.exists(path):
        os.remove(path)  # a set opened on an old file would append to it
    coordinates = SetOfCoordinates(filename=str(path))
    for name, picks in truth.items():
        for x, y, _ in picks:
            coordinate = Coordinate()
            coordinate.setPosition(x, y)
            coordinate.setMicId(ids[name])
            coordinates.append(coordinate)
    coordinates.write()
    coordinates.close()
    return path


def truth_by_position(micrographs, truth, scale=1):
    """{(micId, x, y): label} for looking up the truth of an output coordinate."""
    ids = {Path(mic.getFileName()).name[:-len(".mrc")]: mic.getObjId() for mic in micrographs}
    return {(ids[name], x * scale, y * scale): label for name, picks in truth.items() for x, y, label in picks}


def tiny_model(folder, outputs=1):
    """The engine's tiny dark-disc U-Net, trained (~15 s) in the plugin's environment and cached.
    With 2 outputs its classes are 'bad' and 'class1' (both trained on the discs)."""
    path = Path(folder) / ("discs%d.keras" % outputs)
    if not path.exists():
        os.makedirs(folder, exist_ok=True)
        code = ("import sys; from pathlib import Path; sys.path.insert(0, %r); from synthetic import "
                "train_disc_model; train_disc_model(Path(%r), n_outputs=%d)" % (str(ENGINE_TESTS), str(path), outputs))
        result = Plugin.runPython(code, check=False)
        if result.returncode:
            raise RuntimeError("training the tiny model failed:\n%s" % result.stderr[-3000:])
    return str(path)


def bundled_model_installed():
    """Whether the engine in the plugin's environment ships its trained default model."""
    code = ("import sys; from micrographcleaner.model_files import bundled_model_path; "
            "sys.exit(bundled_model_path() is None)")
    return Plugin.runPython(code, check=False).returncode == 0
