"""Micrographs with known bad regions (dark discs on noise, or the engine's simulator) and picks on
and off them, for tests.

Each scene is written as a real MRC file; its picks carry their ground truth ("good" on clean
ice, "bad" on a disc), so the protocol's decisions can be checked against it. Scenes, MRC files
and the tiny disc model used with them come from the engine's own test helpers
(``micrographcleaner.testing``), run in the plugin's engine environment: these tests need no checkout.
"""
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np

from .. import Plugin, demo
from ..protocols.screen_outputs import OUTPUT_ACCEPTED, OUTPUT_REJECTED

BOX = 32  # particle box (px): the network works at half the micrograph's size
PIXEL_SIZE = 1.5


def engine_python(code, what):
    """Runs ``code`` in the engine's environment; returns its stdout (raises, with its stderr, if it fails)."""
    result = Plugin.runPython(code, check=False)
    if result.returncode:
        raise RuntimeError("%s failed:\n%s" % (what, result.stderr[-3000:]))
    return result.stdout


def write_mrc(path, data, pixel_size=PIXEL_SIZE):
    """Writes ``data`` (float32) with the engine's MRC writer; the pixels travel in a .npy file beside it."""
    pixels = "%s.npy" % path
    np.save(pixels, np.asarray(data, dtype=np.float32))
    try:
        engine_python("import numpy; from micrographcleaner.testing import write_mrc; write_mrc(%r, numpy.load(%r), %r)"
                      % (str(path), pixels, pixel_size), "writing %s" % path)
    finally:
        os.remove(pixels)
    return path


def write_scenes(folder, names, seed=0, downsample=1, clean=()):
    """One scene per name (``<name>.mrc``; without discs for names in ``clean``), optionally binned;
    returns {name: [(x, y, 'good'|'bad')]}, in the written pixels. One engine call writes them all
    and prints the picks as JSON on its last line."""
    code = ("import json; from micrographcleaner.testing import write_scenes; "
            "print(json.dumps(write_scenes(%r, %r, %r, %r, %r, %r)))"
            % (str(folder), list(names), seed, downsample, list(clean), PIXEL_SIZE))
    truth = json.loads(engine_python(code, "writing the scenes").splitlines()[-1])
    return {name: [tuple(pick) for pick in picks] for name, picks in truth.items()}


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
    ids = {Path(mic.getFileName()).name[:-len(".mrc")]: mic.getObjId() for mic in micrographs}
    return demo.writeCoordinates(path, {ids[name]: [(x, y) for x, y, _ in picks] for name, picks in truth.items()})


def import_simulated(project, folder, count, box_size, first_seed=0):
    """The engine's simulated micrographs (carbon, contamination, crystalline ice, aggregates) and their
    picks, true particles and picker false positives, imported into ``project``; returns the
    coordinates protocol and the truth, {(micId, x, y): class code under the pick, 0 = good}."""
    from pwem.protocols import ProtImportCoordinates, ProtImportMicrographs

    os.makedirs(folder, exist_ok=True)
    command = "%s simulate %s --count %d --shape 256 256 --box-size %g --first-seed %d --quiet" % (
        Plugin.getProgram(), shlex.quote(folder), count, box_size, first_seed)
    subprocess.run(command, shell=True, check=True, env=Plugin.getEnviron())
    with open(os.path.join(folder, "sim_%06d.json" % first_seed)) as stream:
        pixel_size = json.load(stream)["pixel_size"]
    mics = demo.newRun(project, ProtImportMicrographs, "simulated micrographs", filesPath=folder,
                       filesPattern="sim_??????.mrc", samplingRate=pixel_size, voltage=300, sphericalAberration=2.7,
                       amplitudeContrast=0.1)
    demo.run(project, mics)
    truth, (x, y) = {}, demo.STAR_COLUMNS
    for mic in mics.outputMicrographs:
        rows = demo.readStar(os.path.join(folder, Path(mic.getFileName()).name[:-len(".mrc")] + "_particles.star"))
        truth.update({(mic.getObjId(), round(float(row[x])), round(float(row[y]))): int(row["_mcTrueClass"])
                      for row in rows})
    picks = {}
    for micId, x, y in truth:
        picks.setdefault(micId, []).append((x, y))
    sqlite = demo.writeCoordinates(os.path.join(folder, "coordinates.sqlite"), picks)
    coords = demo.newRun(project, ProtImportCoordinates, "simulated picks",
                         importFrom=ProtImportCoordinates.IMPORT_FROM_SCIPION, filesPath=sqlite,
                         inputMicrographs=mics.outputMicrographs, boxSize=int(box_size))
    demo.run(project, coords)
    return coords, truth


def decisions(protocol):
    """{(micId, x, y): accepted} over both coordinate outputs."""
    decided = {}
    for name, accepted in ((OUTPUT_ACCEPTED, True), (OUTPUT_REJECTED, False)):
        for coord in getattr(protocol, name):
            decided[(coord.getMicId(), coord.getX(), coord.getY())] = accepted
    return decided


def agreement(decided, truth):
    """Share of true particles on clean ice accepted, and of picks on bad regions rejected."""
    good = [decided[key] for key, label in truth.items() if label == 0]
    bad = [not decided[key] for key, label in truth.items() if label != 0]
    return sum(good) / max(len(good), 1), sum(bad) / max(len(bad), 1)


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
        engine_python("from micrographcleaner.testing import train_disc_model; train_disc_model(%r, n_outputs=%d)"
                      % (str(path), outputs), "training the tiny model")
    return str(path)


def bundled_model_installed():
    """Whether the engine in the plugin's environment ships its trained default model."""
    code = ("import sys; from micrographcleaner.model_files import bundled_model_path; "
            "sys.exit(bundled_model_path() is None)")
    return Plugin.runPython(code, check=False).returncode == 0
