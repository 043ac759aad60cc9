"""``python -m xmipp3_micrographcleaner.demo``: the protocol on a bundled example, in a real project.

The engine's simulator writes micrographs with carbon, contamination, crystalline ice and
aggregates, and picks (true particles and picker false positives) with the true class under each;
they are imported with pwem's import protocols, screened with the bundled model, and the outputs
are compared with the truth.
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys

from . import Plugin
from .constants import MODEL_BUNDLED, MODEL_FILE

PROJECT = "MicrographCleanerDemo"
STAR_COLUMNS = ("_rlnCoordinateX", "_rlnCoordinateY", "_mcTrueClass")
SETTINGS = ("SCIPION_HOME", "SCIPION_USER_DATA", "SCIPION_DOMAIN")  # what pyworkflow needs to find the project


def simulate(folder, count, boxSize, firstSeed=0):
    """Runs ``micrographcleaner simulate`` in the plugin's environment; returns the pixel size."""
    command = "%s simulate %s --count %d --shape 256 256 --box-size %g --first-seed %d --quiet" % (
        Plugin.getProgram(), shlex.quote(folder), count, boxSize, firstSeed)
    subprocess.run(command, shell=True, check=True, env=Plugin.getEnviron())
    with open(os.path.join(folder, "sim_%06d.json" % firstSeed)) as stream:
        return json.load(stream)["pixel_size"]


def readParticles(path):
    """[(x, y, trueClass)] from a simulator's ``_particles.star`` (one table, one row per line)."""
    header, rows = [], []
    with open(path) as stream:
        for line in stream:
            words = line.split()
            if words and words[0].startswith("_"):
                header.append(words[0])
            elif header and len(words) == len(header):
                rows.append(dict(zip(header, words)))
    x, y, label = STAR_COLUMNS
    return [(float(r[x]), float(r[y]), int(r[label])) for r in rows]


def writeCoordinates(path, micrographs, folder):
    """A Scipion coordinates file of the simulated picks; returns {(micId, x, y): trueClass}."""
    from pwem.objects import Coordinate, SetOfCoordinates

    truth = {}
    coordinates = SetOfCoordinates(filename=path)
    for mic in micrographs:
        stem = os.path.basename(mic.getFileName())[:-len(".mrc")]
        for x, y, label in readParticles(os.path.join(folder, stem + "_particles.star")):
            coordinate = Coordinate()
            coordinate.setPosition(int(round(x)), int(round(y)))
            coordinate.setMicId(mic.getObjId())
            coordinates.append(coordinate)
            truth[(mic.getObjId(), coordinate.getX(), coordinate.getY())] = label
    coordinates.write()
    coordinates.close()
    return truth


def importExample(project, folder, count, boxSize, firstSeed=0):
    """Simulated micrographs and picks imported into ``project``; returns (coordinates protocol, truth)."""
    from pwem.protocols import ProtImportCoordinates, ProtImportMicrographs

    os.makedirs(folder, exist_ok=True)
    pixelSize = simulate(folder, count, boxSize, firstSeed)
    mics = project.newProtocol(ProtImportMicrographs, objLabel="simulated micrographs", filesPath=folder,
                               filesPattern="sim_??????.mrc", samplingRate=pixelSize, voltage=300,
                               sphericalAberration=2.7, amplitudeContrast=0.1)
    run(project, mics)
    sqlite = os.path.join(folder, "coordinates.sqlite")
    if os.path.exists(sqlite):
        os.remove(sqlite)
    truth = writeCoordinates(sqlite, mics.outputMicrographs, folder)
    coords = project.newProtocol(ProtImportCoordinates, objLabel="simulated picks",
                                 importFrom=ProtImportCoordinates.IMPORT_FROM_SCIPION, filesPath=sqlite,
                                 inputMicrographs=mics.outputMicrographs, boxSize=int(boxSize))
    run(project, coords)
    return coords, truth


def run(project, protocol):
    project.launchProtocol(protocol, wait=True)
    if not protocol.isFinished():
        log = protocol.getLogPaths()[1] if protocol.getLogPaths() else "?"
        raise SystemExit("%s failed: %s (log: %s)" % (protocol.getRunName(), protocol.getErrorMessage(), log))


def decisions(protocol):
    """{(micId, x, y): accepted} over both coordinate outputs."""
    decided = {}
    for name, accepted in (("outputCoordinates", True), ("outputCoordinatesRejected", False)):
        for coord in getattr(protocol, name):
            decided[(coord.getMicId(), coord.getX(), coord.getY())] = accepted
    return decided


def agreement(decided, truth):
    """Share of true particles on clean ice accepted, and of picks on bad regions rejected."""
    good = [decided[key] for key, label in truth.items() if label == 0]
    bad = [not decided[key] for key, label in truth.items() if label != 0]
    return sum(good) / max(len(good), 1), sum(bad) / max(len(bad), 1)


def worstMicrographs(project, protocol, decided, truth, folder, count=3):
    """The ``count`` micrographs whose flagged area is furthest from the simulator's bad area, as
    lines with both areas, the picks decided against the truth and the thumbnail to look at."""
    import mrcfile

    from .viewers.results import readMicrographs

    lines = []
    for record in readMicrographs(protocol, project.getPath(), []):
        with mrcfile.open(os.path.join(folder, record.name[:-len(".mrc")] + "_labels.mrc"), permissive=True) as labels:
            trueBad = float((labels.data > 0).mean())  # class codes, 0 = good
        picks = [(decided[key], label == 0) for key, label in truth.items() if key[0] == record.micId]
        wrong = sum(accepted != good for accepted, good in picks)
        lines.append((abs(record.flagged - trueBad), "  %s: bad area %.1f%% true, %.1f%% flagged; %d of %d picks "
                      "decided against the truth\n    %s" % (record.name, 100 * trueBad, 100 * record.flagged, wrong,
                                                             len(picks), record.thumbnail or record.error)))
    lines.sort(key=lambda line: (math.isnan(line[0]), -line[0]))  # a failed one (NaN) last: the summary lists it
    return [line for _, line in lines[:count]]


def openProject(manager, name, force):
    """A new project ``name``; an existing one is replaced only with ``force``, otherwise kept and the
    run goes to the first free ``name_N``. Says which happened."""
    if manager.hasProject(name) and force:
        manager.deleteProject(name)
        print("Replaced the existing project %s (--force)." % name)
    elif manager.hasProject(name):
        kept, number = name, 2
        while manager.hasProject("%s_%d" % (kept, number)):
            number += 1
        name = "%s_%d" % (kept, number)
        print("Kept the existing project %s; this run goes to %s (--force replaces %s instead)." % (kept, name, kept))
    return manager.createProject(name)


def drawPictures(project, protocol, folder):
    """The viewer's goodness histogram and its gallery's first page for this run, as PNGs."""
    from matplotlib.figure import Figure

    from .viewers import figures
    from .viewers.results import loadResults, sortedMicrographs

    results = loadResults(protocol, project.getPath())
    os.makedirs(folder, exist_ok=True)
    histogram = Figure(figsize=(10, 4.5))
    figures.scoreHistogram(histogram, results.scores, results.accepted, results.reasons, results.threshold)
    gallery = Figure(figsize=(12, 8))
    records = sortedMicrographs(results.micrographs, "flagged area, most first")[:6]
    figures.galleryPage(gallery, records, columns=3, title="deep micrograph cleaner: the demo's most flagged")
    paths = [os.path.join(folder, name) for name in ("viewer_histogram.png", "viewer_gallery.png")]
    for figure, path in zip((histogram, gallery), paths):
        figure.savefig(path, dpi=100)
    return paths


def main(argv=None):
    from pyworkflow.project import Manager

    from .protocols import ProtDeepMicrographScreen
    from .viewers.results import readMicrographs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micrographs", type=int, default=12, help="how many to simulate (default 12)")
    parser.add_argument("--box-size", type=float, default=64, help="particle box in pixels (default 64)")
    parser.add_argument("--model", help="a model file instead of the bundled model")
    parser.add_argument("--pictures", metavar="DIR", help="also draw the viewer's histogram and gallery there")
    parser.add_argument("--project", default=PROJECT, help="project name (default %s)" % PROJECT)
    parser.add_argument("--force", action="store_true", help="replace an existing project of that name "
                        "(default: keep it and use a new name)")
    args = parser.parse_args(argv)
    model = os.path.abspath(args.model) if args.model else None
    pictures = os.path.abspath(args.pictures) if args.pictures else None
    problems = Plugin.validateInstallation()
    if problems:
        raise SystemExit("\n".join(problems))

    project = openProject(Manager(), args.project, args.force)
    os.chdir(project.getPath())  # protocols run with paths relative to their project
    print("Project: %s" % project.getPath())
    data = project.getPath("data")
    coords, truth = importExample(project, data, args.micrographs, args.box_size)
    screen = project.newProtocol(ProtDeepMicrographScreen, inputCoordinates=coords.outputCoordinates,
                                 modelChoice=MODEL_FILE if model else MODEL_BUNDLED, modelFile=model,
                                 useGpu=False, streamingBatchSize=6)
    run(project, screen)

    decided = decisions(screen)
    keptGood, rejectedBad = agreement(decided, truth)
    print("\n".join(screen.summary()))
    print("Against the simulator's truth: %.0f%% of particles on clean ice kept, %.0f%% of picks on "
          "bad regions rejected (%d picks)." % (100 * keptGood, 100 * rejectedBad, len(decided)))
    print("Micrographs to look at first (flagged area furthest from the truth):")
    print("\n".join(worstMicrographs(project, screen, decided, truth, data)))
    print("Outputs (sqlite): %s" % ", ".join(os.path.abspath(screen._getPath(name + ".sqlite"))
                                             for name in screen._possibleOutputs))
    thumbnails = [record.thumbnail for record in readMicrographs(screen, project.getPath(), []) if record.thumbnail]
    print("Masks and %d thumbnails (PNG): %s" % (len(thumbnails), os.path.abspath(screen._getExtraPath("micrographs"))))
    if pictures:
        print("Viewer pictures: %s" % ", ".join(drawPictures(project, screen, pictures)))
    print("Open the project in Scipion's GUI (a display is needed): %s" % guiCommand(project.getShortName()))
    return 0


def guiCommand(name):
    """The command that opens project ``name`` from this Python and these Scipion settings (a
    checkout's set-up has no 'scipion3' launcher, so that name would not work there)."""
    settings = ["%s=%s" % (var, shlex.quote(os.environ[var])) for var in SETTINGS if os.environ.get(var)]
    return " ".join(settings + [shlex.quote(sys.executable), "-m scipion project", shlex.quote(name)])


if __name__ == "__main__":
    sys.exit(main())
