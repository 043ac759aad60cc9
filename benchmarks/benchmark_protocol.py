"""Protocol against engine: 4k x 4k micrographs screened through the Scipion protocol in batches,
and by the engine alone on the same micrographs in one call.

The protocol should cost at most 1.3x the engine alone: it starts one engine worker per run, so
its extra cost is Scipion's (sets, steps, registration), not TensorFlow's start-up per batch.
Run it with this checkout's Scipion (after ``source scripts/env.sh``)::

    $SCIPION_PYTHON benchmarks/benchmark_protocol.py [--micrographs 100] [--batch 10]

Both timings are wall-clock and include the engine's start-up (TensorFlow and the model) once.
The micrographs (the engine's simulator at box 200, 200 random picks each) are drawn once per
distinct image, in the engine's environment, and linked under the other names, so the run does not need 6 GB of disk; every micrograph is still
read, preprocessed and predicted. Imports are not timed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

PROJECT = "MicrographCleanerBenchmark"
PIXEL_SIZE = 1.0  # Å
BOX = 200  # px
DISTINCT = 10  # distinct images, linked under the other names


def drawMicrographs(folder, count, size):
    """The first ``count`` distinct micrographs ``mic_NNN.mrc``: simulated scenes 0, 1, ... of
    ``size`` x ``size`` px at box ``BOX``, drawn by the engine's simulator in its own environment."""
    from xmipp3_micrographcleaner import Plugin

    code = ("from micrographcleaner.testing import simulated_micrograph, write_mrc\n"
            "for index in range(%d):\n"
            "    micrograph = simulated_micrograph(index, (%d, %d), %r)\n"
            "    write_mrc(%r %% index, micrograph.image, %r)\n"
            % (count, size, size, BOX, os.path.join(folder, "mic_%03d.mrc"), PIXEL_SIZE))
    result = Plugin.runPython(code, check=False)
    if result.returncode:
        raise SystemExit("drawing the micrographs failed:\n%s" % result.stderr[-3000:])


def writeMicrographs(folder, count, size, seed=0):
    """``count`` micrographs ``mic_NNN.mrc`` and their picks {name: [(x, y)]}."""
    os.makedirs(folder, exist_ok=True)
    drawMicrographs(folder, min(count, DISTINCT), size)
    rng = np.random.default_rng(seed)
    picks = {}
    for index in range(count):
        name = "mic_%03d" % index
        path = os.path.join(folder, name + ".mrc")
        if index >= DISTINCT and not os.path.exists(path):
            os.symlink(os.path.basename(os.path.join(folder, "mic_%03d.mrc" % (index % DISTINCT))), path)
        picks[name] = [tuple(p) for p in rng.uniform(BOX, size - BOX, (200, 2)).astype(int).tolist()]
    return picks


def engineAlone(folder, picks, modelFile):
    """Seconds for one ``micrographcleaner batch`` call on every micrograph."""
    from xmipp3_micrographcleaner import Plugin

    manifest = {"output_dir": os.path.join(folder, "engine_alone"), "box_size": BOX, "model": modelFile,
                "gpus": "cpu", "thumbnails": True, "micrographs": [
                    {"id": i + 1, "key": name, "path": os.path.join(folder, name + ".mrc"), "pixel_size": PIXEL_SIZE,
                     "coordinates": {"id": list(range(len(xy))), "x": [x for x, _ in xy], "y": [y for _, y in xy]}}
                    for i, (name, xy) in enumerate(sorted(picks.items()))]}
    manifestPath = os.path.join(folder, "engine_alone.json")
    with open(manifestPath, "w") as stream:
        json.dump(manifest, stream)
    started = time.time()
    subprocess.run("%s && micrographcleaner batch %s --result %s --quiet" % (
        Plugin.getActivationCmd(), manifestPath, os.path.join(folder, "engine_alone_result.json")),
        shell=True, check=True, env=Plugin.getEnviron())
    return time.time() - started


def throughProtocol(project, folder, picks, modelFile, batch):
    """Seconds from launching the protocol (inputs imported) to its end."""
    from pwem.protocols import ProtImportCoordinates, ProtImportMicrographs

    from xmipp3_micrographcleaner.constants import MODEL_BUNDLED, MODEL_FILE
    from xmipp3_micrographcleaner.demo import run
    from xmipp3_micrographcleaner.protocols import ProtDeepMicrographScreen
    from xmipp3_micrographcleaner.tests.scenes import write_coordinates_sqlite

    mics = project.newProtocol(ProtImportMicrographs, filesPath=folder, filesPattern="mic_*.mrc",
                               samplingRate=PIXEL_SIZE, voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1)
    run(project, mics)
    truth = {name: [(x, y, "good") for x, y in xy] for name, xy in picks.items()}
    sqlite = write_coordinates_sqlite(os.path.join(folder, "coordinates.sqlite"), mics.outputMicrographs, truth)
    coords = project.newProtocol(ProtImportCoordinates, importFrom=ProtImportCoordinates.IMPORT_FROM_SCIPION,
                                 filesPath=sqlite, inputMicrographs=mics.outputMicrographs, boxSize=BOX)
    run(project, coords)
    screen = project.newProtocol(ProtDeepMicrographScreen, inputCoordinates=coords.outputCoordinates,
                                 modelChoice=MODEL_FILE if modelFile else MODEL_BUNDLED, modelFile=modelFile,
                                 useGpu=False, streamingBatchSize=batch)
    started = time.time()
    run(project, screen)
    elapsed = time.time() - started
    if screen.outputMicrographs.getSize() + screen.outputMicrographsRejected.getSize() != len(picks):
        raise SystemExit("the protocol screened %d of %d micrographs" % (screen.outputMicrographs.getSize(), len(picks)))
    return elapsed


def main(argv=None):
    from pyworkflow.project import Manager

    from xmipp3_micrographcleaner.demo import openProject

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micrographs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10, help="micrographs per batch in the protocol (default 10)")
    parser.add_argument("--size", type=int, default=4096, help="micrograph side in pixels (default 4096)")
    parser.add_argument("--model", help="a model file instead of the bundled model")
    args = parser.parse_args(argv)
    modelFile = os.path.abspath(args.model) if args.model else None
    project = openProject(Manager(), PROJECT, force=True)
    os.chdir(project.getPath())  # protocols run with paths relative to their project
    folder = project.getPath("data")
    picks = writeMicrographs(folder, args.micrographs, args.size)
    alone = engineAlone(folder, picks, modelFile)
    protocol = throughProtocol(project, folder, picks, modelFile, args.batch)
    print("%d micrographs of %d x %d px, %d picks each, on the CPU:" % (args.micrographs, args.size, args.size,
                                                                          len(next(iter(picks.values())))))
    print("  engine alone, one call:          %7.1f s" % alone)
    print("  protocol, batches of %-3d         %7.1f s  (%.2fx; target <= 1.3x)" % (args.batch, protocol,
                                                                                  protocol / alone))
    return 0 if protocol <= 1.3 * alone else 1


if __name__ == "__main__":
    sys.exit(main())
