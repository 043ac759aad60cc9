"""``python -m xmipp3_micrographcleaner.demo``: the protocol on real micrographs, in a real project.

Three real micrographs ship with the plugin (``demo_data/``, each source with its licence): the Ucsf
micrograph of the original MicrographCleaner's tests with its RELION autopicks, and two EMPIAR-10017
frames (beta-galactosidase) with an expert's particles as picks (``scripts/demo_picks.py``). Each
source is imported with pwem's import protocols at its own pixel size and box and screened with
the bundled model; the demo prints what is in each micrograph beside what the screen made of it, so
that the thumbnails can be checked by eye. Tests that need a truth per pick use simulated scenes.
"""
import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from . import Plugin
from .constants import MODEL_BUNDLED, MODEL_FILE

PROJECT = "MicrographCleanerDemo"
DATA = Path(__file__).resolve().parent / "demo_data"
STAR_COLUMNS = ("_rlnCoordinateX", "_rlnCoordinateY")
SETTINGS = ("SCIPION_HOME", "SCIPION_USER_DATA", "SCIPION_DOMAIN")  # what pyworkflow needs to find the project
CHECKOUT = Path(__file__).resolve().parent.parent
GUI_SCRIPT = CHECKOUT / "scripts" / "gui.sh"


@dataclass(frozen=True)
class Source:
    """One source of the demo's micrographs: its files, how to import them and what is in them."""
    name: str
    folder: str  # under demo_data/
    pixelSize: float  # A/px
    boxSize: int  # px
    picks: str  # what the picks are
    picksSuffix: str  # a micrograph's picks are in <stem><suffix>, a STAR file
    credit: str
    seen: dict  # micrograph file stem: what is in it, as seen by eye


SOURCES = (
    Source("Ucsf", "ucsf", 4.0, 46, "RELION autopicks", "_autopick.star",
           "the test data of the original MicrographCleaner (micrograph-cleaner-em 1.0.2, Apache-2.0); its header "
           "has no pixel size: 4 A/px is nominal and only scales distances in A",
           {"Ucsf_stack_1142_DW": "a large ice ball at the top right, a few small contaminants, clean ice "
                                  "elsewhere; the autopicker's highest-scoring picks are on the ice ball"}),
    Source("EMPIAR-10017", "empiar10017", 1.77, 140, "an expert's particles", "_picks.star",
           "EMPIAR-10017 (beta-galactosidase, Falcon II) as denoised by CryoSegNet's authors, with their expert "
           "particle masks (MIT)",
           {"Falcon_2012_06_12-14_57_34_0": "clean ice throughout; noisy bands along the borders are the "
                                            "source's processing artefacts",
            "Falcon_2012_06_12-15_30_21_0": "the hole's edge runs across the top left corner, carbon beyond it "
                                            "(the expert picked some particles there too); noisy bands along "
                                            "the borders, as in the other frame"}),
)


def readStar(path):
    """The rows of a one-table STAR file (one row per line), as {column: text}."""
    header, rows = [], []
    with open(path) as stream:
        for line in stream:
            words = line.split()
            if words and words[0].startswith("_"):
                header.append(words[0])
            elif header and len(words) == len(header):
                rows.append(dict(zip(header, words)))
    return rows


def readPicks(path):
    """[(x, y)] from a STAR file of picks."""
    x, y = STAR_COLUMNS
    return [(float(row[x]), float(row[y])) for row in readStar(path)]


def micrographFiles(source, folder):
    """The source's micrographs as MRC files in ``folder`` (8-bit JPGs converted: the engine reads MRC
    and TIFF); the shipped MRC files are linked, never copied or written to."""
    import mrcfile
    import numpy as np
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    for stem in source.seen:
        shipped = DATA / source.folder / stem
        target = os.path.join(folder, stem + ".mrc")
        if os.path.lexists(target):
            continue
        if shipped.with_suffix(".mrc").exists():
            os.symlink(shipped.with_suffix(".mrc"), target)
        else:
            pixels = np.asarray(Image.open(shipped.with_suffix(".jpg")).convert("L"), dtype=np.float32)
            with mrcfile.new(target) as mrc:
                mrc.set_data(pixels)
                mrc.voxel_size = source.pixelSize
    return folder


def pickFile(source, stem):
    return DATA / source.folder / (stem + source.picksSuffix)


def writeCoordinates(path, picks):
    """A Scipion coordinates file (what pwem's import reads) of ``picks``, {micId: [(x, y)]}, rounded to
    whole pixels."""
    from pwem.objects import Coordinate, SetOfCoordinates

    if os.path.exists(path):
        os.remove(path)  # a set opened on an old file would append to it
    coordinates = SetOfCoordinates(filename=str(path))
    for micId, positions in picks.items():
        for x, y in positions:
            coordinate = Coordinate()
            coordinate.setPosition(int(round(x)), int(round(y)))
            coordinate.setMicId(micId)
            coordinates.append(coordinate)
    coordinates.write()
    coordinates.close()
    return path


def importSource(project, source, folder):
    """The source's micrographs and picks imported into ``project``; returns the coordinates protocol."""
    from pwem.protocols import ProtImportCoordinates, ProtImportMicrographs

    mics = newRun(project, ProtImportMicrographs, "%s micrographs" % source.name,
                  filesPath=micrographFiles(source, folder), filesPattern="*.mrc", samplingRate=source.pixelSize,
                  voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1)
    run(project, mics)
    picks = {mic.getObjId(): readPicks(pickFile(source, os.path.basename(mic.getFileName())[:-len(".mrc")]))
             for mic in mics.outputMicrographs}
    sqlite = writeCoordinates(os.path.join(folder, "picks.sqlite"), picks)
    coords = newRun(project, ProtImportCoordinates, "%s picks" % source.name,
                    importFrom=ProtImportCoordinates.IMPORT_FROM_SCIPION, filesPath=sqlite,
                    inputMicrographs=mics.outputMicrographs, boxSize=source.boxSize)
    run(project, coords)
    return coords


def newRun(project, protocolClass, label, **params):
    """A new run with a label of its own (newProtocol gives every run the class's label)."""
    protocol = project.newProtocol(protocolClass, **params)
    protocol.setObjLabel(label)
    return protocol


def run(project, protocol):
    project.launchProtocol(protocol, wait=True)
    if not protocol.isFinished():
        log = protocol.getLogPaths()[1] if protocol.getLogPaths() else "?"
        raise SystemExit("%s failed: %s (log: %s)" % (protocol.getRunName(), protocol.getErrorMessage(), log))


def report(project, protocol, source):
    """Lines on one screen: per micrograph, what is in it beside what the screen made of it."""
    from .viewers.results import loadResults

    lines = ["", "%s: %s; picks: %s" % (protocol.getRunName(), source.credit, source.picks)]
    lines += ["  " + line for line in protocol.summary()]
    for record in loadResults(protocol, project.getPath()).micrographs:
        classes = ", ".join("%s %.1f%%" % (name, 100 * value) for name, value in record.classFractions.items()
                            if value >= 0.0005)
        screened = record.error or "flagged %.1f%% (%s); picks kept %d, rejected %d" % (
            100 * record.flagged, classes or "no class", record.accepted, record.rejected)
        lines += ["  %s" % record.name, "    there: %s" % source.seen.get(record.name[:-len(".mrc")], "?"),
                  "    screen: %s" % screened, "    look: %s" % (record.thumbnail or record.mask)]
    return lines


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


def drawPictures(project, protocols, folder):
    """The viewer's goodness histogram (every screen's picks) and its gallery of every micrograph, as PNGs."""
    import numpy as np
    from matplotlib.figure import Figure

    from .viewers import figures
    from .viewers.results import loadResults, sortedMicrographs

    results = [loadResults(protocol, project.getPath()) for protocol in protocols]
    os.makedirs(folder, exist_ok=True)
    histogram = Figure(figsize=(10, 4.5))
    figures.scoreHistogram(histogram, np.concatenate([r.scores for r in results]),
                           np.concatenate([r.accepted for r in results]), sum((r.reasons for r in results), []),
                           results[0].threshold)
    gallery = Figure(figsize=(12, 5))
    records = sortedMicrographs(sum((r.micrographs for r in results), []), "flagged area, most first")
    figures.galleryPage(gallery, records, columns=3, title="deep micrograph screen: the demo's real micrographs")
    paths = [os.path.join(folder, name) for name in ("viewer_histogram.png", "viewer_gallery.png")]
    for figure, path in zip((histogram, gallery), paths):
        figure.savefig(path, dpi=100)
    return paths


def main(argv=None):
    from pyworkflow import Config
    from pyworkflow.project import Manager

    from .protocols import ProtDeepMicrographScreen

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model file instead of the bundled model")
    parser.add_argument("--pictures", metavar="DIR", help="also draw the viewer's histogram and gallery there")
    parser.add_argument("--project", default=PROJECT, help="project name (default %s)" % PROJECT)
    parser.add_argument("--force", action="store_true", help="replace an existing project of that name "
                        "(default: keep it and use a new name)")
    args = parser.parse_args(argv)
    model = os.path.abspath(args.model) if args.model else None
    pictures = os.path.abspath(args.pictures) if args.pictures else None
    Config.getDomain().getPlugins()  # defines the plugin's variables, which the check reads
    problems = Plugin.validateInstallation()
    if problems:  # before any work: the product's usage status
        print("\n".join(problems), file=sys.stderr)
        return 2

    project = openProject(Manager(), args.project, args.force)
    os.chdir(project.getPath())  # protocols run with paths relative to their project
    print("Project: %s" % project.getPath())
    screens = []
    for source in SOURCES:
        coords = importSource(project, source, project.getPath("data", source.folder))
        screen = newRun(project, ProtDeepMicrographScreen, "screen %s" % source.name,
                        inputCoordinates=coords.outputCoordinates, modelChoice=MODEL_FILE if model else MODEL_BUNDLED,
                        modelFile=model, useGpu=False)
        run(project, screen)
        screens.append(screen)
        print("\n".join(report(project, screen, source)))
    print("\nIn each thumbnail the tint is where the model found bad regions (one colour per class, key below the "
          "picture), green circles are picks kept, red ones rejected: compare the tint with what is there.")
    print("Outputs (%s: one .sqlite file each) in %s" % (", ".join(ProtDeepMicrographScreen._possibleOutputs),
                                                         ", ".join(os.path.abspath(s._getPath()) for s in screens)))
    if pictures:
        print("Viewer pictures: %s" % ", ".join(drawPictures(project, screens, pictures)))
    print("Open the project in Scipion's GUI (a display is needed): %s" % guiCommand(project.getShortName()))
    return 0


def guiCommand(name):
    """A command that opens project ``name`` from a fresh shell. In this checkout's set-up (no 'scipion3'
    launcher) that is scripts/gui.sh; elsewhere this Python with these Scipion settings, SCIPION_PYTHON
    included: Scipion re-launches its GUI with it (a bare 'python3' otherwise)."""
    setUp = CHECKOUT / ".scipion3"  # what scripts/env.sh sets by default
    if GUI_SCRIPT.exists() and (os.environ.get("SCIPION_HOME"), os.environ.get("SCIPION_USER_DATA")) == (
            str(setUp / "home"), str(setUp / "userdata")):
        return "bash %s %s" % (shlex.quote(str(GUI_SCRIPT)), shlex.quote(name))
    settings = ["%s=%s" % (var, shlex.quote(os.environ[var])) for var in SETTINGS if os.environ.get(var)]
    python = shlex.quote(sys.executable)
    return " ".join(settings + ["SCIPION_PYTHON=%s" % python, python, "-m scipion project", shlex.quote(name)])


if __name__ == "__main__":
    sys.exit(main())
