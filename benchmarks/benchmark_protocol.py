"""Protocol against engine: micrographs screened through the Scipion protocol in batches, and by
the engine alone on the same micrographs in one call; with ``--queue``, the protocol also through
Scipion's queue on a one-node SLURM (``scripts/slurm.sh``, ``scripts/hosts-slurm.conf``).

The protocol should cost at most 1.3x the engine alone: it starts one engine worker per run, so
its extra cost is Scipion's (sets, steps, registration), not TensorFlow's start-up per batch; sent
to the queue, at most 1.2x the same protocol run locally. Run it with this checkout's Scipion
(after ``source scripts/env.sh``; ``--queue`` needs root, for SLURM's daemons)::

    $SCIPION_PYTHON benchmarks/benchmark_protocol.py [--micrographs 100] [--batch 10] [--size 4096|k3] [--queue]

Both timings are wall-clock and include the engine's start-up (TensorFlow and the model) once.
The micrographs (the engine's simulator at box 200, 200 random picks each) are drawn once per
distinct image, in the engine's environment, and linked under the other names, so the run does not
need 6 GB of disk; every micrograph is still read, preprocessed and predicted. Imports are not timed.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = "MicrographCleanerBenchmark"
PIXEL_SIZE = 1.0  # Å
BOX = 200  # px
DISTINCT = 10  # distinct images, linked under the other names
SIZES = {"4096": (4096, 4096), "k3": (4092, 5760)}  # rows, columns
ROOT = Path(__file__).resolve().parents[1]
PARTITION = "scipion"  # scripts/slurm.sh's partition, a QUEUES key of scripts/hosts-slurm.conf


def drawMicrographs(folder, count, shape):
    """The first ``count`` distinct micrographs ``mic_NNN.mrc``: simulated scenes 0, 1, ... of
    ``shape`` (rows, columns) at box ``BOX``, drawn by the engine's simulator in its own environment."""
    from xmipp3_micrographcleaner import Plugin

    code = ("from micrographcleaner.testing import simulated_micrograph, write_mrc\n"
            "for index in range(%d):\n"
            "    micrograph = simulated_micrograph(index, (%d, %d), %r)\n"
            "    write_mrc(%r %% index, micrograph.image, %r)\n"
            % (count, shape[0], shape[1], BOX, os.path.join(folder, "mic_%03d.mrc"), PIXEL_SIZE))
    result = Plugin.runPython(code, check=False)
    if result.returncode:
        raise SystemExit("drawing the micrographs failed:\n%s" % result.stderr[-3000:])


def writeMicrographs(folder, count, shape, seed=0):
    """``count`` micrographs ``mic_NNN.mrc`` and their picks {name: [(x, y)]}."""
    os.makedirs(folder, exist_ok=True)
    drawMicrographs(folder, min(count, DISTINCT), shape)
    rng = np.random.default_rng(seed)
    picks = {}
    for index in range(count):
        name = "mic_%03d" % index
        path = os.path.join(folder, name + ".mrc")
        if index >= DISTINCT and not os.path.exists(path):
            os.symlink(os.path.basename(os.path.join(folder, "mic_%03d.mrc" % (index % DISTINCT))), path)
        picks[name] = [tuple(p) for p in rng.uniform((BOX, BOX), (shape[1] - BOX, shape[0] - BOX), (200, 2))
                       .astype(int).tolist()]
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


def importInputs(project, folder, picks):
    """The micrographs and their picks, imported: the coordinates protocol."""
    from pwem.protocols import ProtImportCoordinates, ProtImportMicrographs

    from xmipp3_micrographcleaner.demo import run
    from xmipp3_micrographcleaner.tests.scenes import write_coordinates_sqlite

    mics = project.newProtocol(ProtImportMicrographs, filesPath=folder, filesPattern="mic_*.mrc",
                               samplingRate=PIXEL_SIZE, voltage=300, sphericalAberration=2.7, amplitudeContrast=0.1)
    run(project, mics)
    truth = {name: [(x, y, "good") for x, y in xy] for name, xy in picks.items()}
    sqlite = write_coordinates_sqlite(os.path.join(folder, "coordinates.sqlite"), mics.outputMicrographs, truth)
    coords = project.newProtocol(ProtImportCoordinates, importFrom=ProtImportCoordinates.IMPORT_FROM_SCIPION,
                                 filesPath=sqlite, inputMicrographs=mics.outputMicrographs, boxSize=BOX)
    run(project, coords)
    return coords


def throughProtocol(project, coords, count, modelFile, batch, queued=False):
    """Seconds from launching the protocol (inputs imported) to its end, locally or as one SLURM job."""
    from xmipp3_micrographcleaner.constants import MODEL_BUNDLED, MODEL_FILE
    from xmipp3_micrographcleaner.protocols import ProtDeepMicrographScreen

    screen = project.newProtocol(ProtDeepMicrographScreen, inputCoordinates=coords.outputCoordinates,
                                 modelChoice=MODEL_FILE if modelFile else MODEL_BUNDLED, modelFile=modelFile,
                                 useGpu=False, streamingBatchSize=batch)
    if queued:
        screen._useQueue.set(True)
        screen.setQueueParams([PARTITION, {"JOB_MEMORY": "8G", "JOB_HOURS": "2"}])
    started = time.time()
    project.launchProtocol(screen, wait=not queued)
    while queued and not (screen.isFinished() or screen.isFailed() or screen.isAborted()):
        time.sleep(1)
        project._updateProtocol(screen)  # the job's run writes its state to its own database
    elapsed = time.time() - started
    if not screen.isFinished():
        raise SystemExit("%s failed: %s" % (screen.getRunName(), screen.getErrorMessage()))
    screened = screen.outputMicrographs.getSize() + screen.outputMicrographsRejected.getSize()
    if screened != count:
        raise SystemExit("the protocol screened %d of %d micrographs" % (screened, count))
    return elapsed


def startCluster():
    """A one-node SLURM (scripts/slurm.sh) with room for the protocol's job, and Scipion pointed at
    scripts/hosts-slurm.conf; returns whether this call started it (then it should stop it)."""
    import pyworkflow

    from xmipp3_micrographcleaner.protocols.protocol_deep_micrograph_screen import MIN_THREADS

    script = ["bash", str(ROOT / "scripts" / "slurm.sh")]
    environ = dict(os.environ, MC_SLURM_CPUS=str(max(os.cpu_count() or 1, MIN_THREADS)), MC_SLURM_PARTITION=PARTITION)
    running = subprocess.run(script + ["status"], capture_output=True, env=environ).returncode == 0
    started = subprocess.run(script + ["start"], capture_output=True, text=True, env=environ)
    if started.returncode:
        raise SystemExit("--queue: no SLURM: %s" % started.stderr.strip())
    clients = subprocess.run(script + ["env"], capture_output=True, text=True, env=environ).stdout
    os.environ["SLURM_CONF"] = clients.strip().partition("SLURM_CONF=")[2]
    os.environ["SCIPION_HOSTS"] = pyworkflow.Config.SCIPION_HOSTS = str(ROOT / "scripts" / "hosts-slurm.conf")
    return not running


def stopCluster():
    subprocess.run(["bash", str(ROOT / "scripts" / "slurm.sh"), "stop"], check=True)


def main(argv=None):
    from pyworkflow.project import Manager

    from xmipp3_micrographcleaner.demo import openProject

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micrographs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10, help="micrographs per batch in the protocol (default 10)")
    parser.add_argument("--size", choices=sorted(SIZES), default="4096",
                        help="4096 x 4096 px, or k3: 5760 x 4092 px (default 4096)")
    parser.add_argument("--model", help="a model file instead of the bundled model")
    parser.add_argument("--queue", action="store_true", help="also through Scipion's queue on a one-node SLURM")
    args = parser.parse_args(argv)
    modelFile = os.path.abspath(args.model) if args.model else None
    startedCluster = startCluster() if args.queue else False  # before the project: it reads the hosts then
    try:
        project = openProject(Manager(), PROJECT, force=True)
        os.chdir(project.getPath())  # protocols run with paths relative to their project
        folder = project.getPath("data")
        shape = SIZES[args.size]
        picks = writeMicrographs(folder, args.micrographs, shape)
        alone = engineAlone(folder, picks, modelFile)
        coords = importInputs(project, folder, picks)
        local = throughProtocol(project, coords, len(picks), modelFile, args.batch)
        queued = (throughProtocol(project, coords, len(picks), modelFile, args.batch, queued=True)
                  if args.queue else None)
    finally:
        if startedCluster:
            stopCluster()
    print("%d micrographs of %d x %d px, %d picks each, on the CPU:" % (args.micrographs, shape[1], shape[0],
                                                                          len(next(iter(picks.values())))))
    print("  engine alone, one call:          %7.1f s" % alone)
    print("  protocol, batches of %-3d         %7.1f s  (%.2fx the engine alone; target <= 1.3x)"
          % (args.batch, local, local / alone))
    met = local <= 1.3 * alone
    if queued is not None:
        print("  protocol as one SLURM job        %7.1f s  (%.2fx the protocol run locally; target <= 1.2x)"
              % (queued, queued / local))
        met = met and queued <= 1.2 * local
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
