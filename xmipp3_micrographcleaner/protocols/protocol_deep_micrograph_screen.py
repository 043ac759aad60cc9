"""deepMicrographScreen: flag bad regions of micrographs and sort particle coordinates by them.

This module is the protocol's form, checks and reports, and its steps, which schedule the
streaming work: the inputs are read by :mod:`.screen_inputs`, batches go to the engine workers of
the run, one per device (:mod:`.engine_client`), and the outputs are registered by
:mod:`.screen_outputs`.

Micrographs whose flagged area (or iciness) exceeds a maximum are rejected
(``outputMicrographsRejected``) with their coordinates, as the engine decides them, so that its
thumbnails and summaries agree with the outputs; without coordinates the protocol screens
micrographs only. Coordinates are scheduled one by one as they arrive, grouped in batches by
micrograph, each batch on the first idle device's worker (in a queue job, on the GPUs the
scheduler gave the job, not the form's ids, which may be another job's): picks that arrive for a
micrograph already done go to a later batch, which reuses its mask. Every input coordinate ends in
``outputCoordinates`` (accepted) or ``outputCoordinatesRejected``, with its score, distance to the
nearest bad region and reason; the outputs are closed only once that is checked. Registration
skips what the outputs already hold, and the engine reuses masks already written, so a continued
run neither redoes nor duplicates work. The whole protocol may be sent to a queue (one job); its
steps cannot be sent one by one, since they run inside Scipion's own process.
"""
import hashlib
import json
import os
import shutil
import time

from pwem.objects import SetOfCoordinates, SetOfMicrographs
from pwem.protocols import EMProtocol
from pyworkflow import BETA
from pyworkflow.constants import QUEUE_FOR_JOBS
from pyworkflow.object import String
from pyworkflow.protocol import ProtStreamingBase, STEPS_PARALLEL
from pyworkflow.protocol import params
from pyworkflow.utils import Message

from .. import attributes
from .engine_client import EngineWorkers
from .screen_inputs import availableMicrographIds, loadCoordinates, loadMicrographs, unscheduledCoordinates
from .screen_outputs import (COORDINATE_OUTPUTS, MICROGRAPH_OUTPUTS, OUTPUT_ACCEPTED, OUTPUT_MICROGRAPHS,
                             OUTPUT_MICROGRAPHS_REJECTED, OUTPUT_REJECTED, ScreenOutputs)
from ..constants import MISSING_MICROGRAPH, MODEL_BUNDLED, MODEL_FINE_TUNED, contract, enginePackageDir

MIN_THREADS = 3  # one for the main loop, one for the input watcher, one (or one per GPU) for the batches
MIN_SLEEP = 1  # seconds between looks at the inputs: never a busy wait


def micrographKey(micId):
    """File stem of a micrograph's mask and thumbnail: its id, never its (arbitrary) file name."""
    return "mic%06d" % micId


def parseClassDistances(text):
    """``carbon=50 contamination=100`` (spaces or commas) -> {"carbon": 50.0, ...}."""
    limits = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError("expected CLASS=DISTANCE, got %r" % item)
        limits[name] = float(value)
    return limits


class ProtDeepMicrographScreen(EMProtocol, ProtStreamingBase):
    """Flags carbon, contamination and other bad regions with MicrographCleaner's U-Net, rejects
    micrographs that are mostly bad and scores every coordinate by how clean the area under its
    particle is; low-scoring coordinates, and those too close to bad regions, go to a rejected set,
    so nothing is lost."""

    _label = "deep micrograph screen"  # Scipion shows it after the plugin's name; Xmipp's is "deep micrograph cleaner"
    _devStatus = BETA
    _possibleOutputs = {OUTPUT_ACCEPTED: SetOfCoordinates, OUTPUT_REJECTED: SetOfCoordinates,
                        OUTPUT_MICROGRAPHS: SetOfMicrographs, OUTPUT_MICROGRAPHS_REJECTED: SetOfMicrographs}
    stepsExecutionMode = STEPS_PARALLEL

    def __init__(self, **kwargs):
        EMProtocol.__init__(self, **kwargs)
        self.mcModel = String()  # name and checksum of the model that produced the outputs
        self.mcClasses = String()  # the model's class names, comma separated ("bad" = any class first)
        self._screenOutputs = ScreenOutputs(self)  # the output sets and what they already hold
        self._workers = None  # the engine workers of this process, one per device, started by the batches

    # ------------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label=Message.LABEL_INPUT)
        form.addParam("inputCoordinates", params.PointerParam, pointerClass="SetOfCoordinates",
                      allowsNull=True, important=True, label="Input coordinates",
                      help="Coordinates to score; they may still be growing (streaming). Empty: screen "
                           "micrographs only (e.g. right after motion correction, before picking).")
        form.addParam("inputMicrographs", params.PointerParam, pointerClass="SetOfMicrographs",
                      allowsNull=True, label="Micrographs",
                      help="Empty: the coordinates' micrographs. Another set is useful when the coordinates "
                           "were picked on downsampled, filtered or contrast-inverted micrographs: the network "
                           "expects particles dark on a bright background. Micrographs are matched by id and "
                           "coordinates are rescaled when the sampling differs. Needed without coordinates.")
        form.addParam("maskRun", params.PointerParam, pointerClass="ProtDeepMicrographScreen", allowsNull=True,
                      label="Reuse masks of", expertLevel=params.LEVEL_ADVANCED,
                      help="An earlier run of this protocol on the same micrographs (e.g. a micrographs-only "
                           "run before picking): its masks are used where model, working size and micrograph "
                           "match, instead of predicting again.")
        form.addParam("boxSize", params.IntParam, allowsNull=True, label="Box size (px)",
                      help="Particle box in pixels of the coordinates' micrographs (of the micrographs, "
                           "without coordinates); empty: the coordinates' box size. The network sees "
                           "micrographs downsampled so that this box is 16 px wide (the bundled model "
                           "keeps the downsampled micrograph 320-640 px across whatever the box), and "
                           "scores the disc of this diameter.")
        form.addParam("holeDiameter", params.FloatParam, allowsNull=True, label="Hole diameter (µm)",
                      help="The grid's hole diameter: 1.2 for Quantifoil or UltrAuFoil R1.2/1.3 and C-flat "
                           "1.2/1.3, 2 for R2/1, R2/2 and C-flat 2/2. Film edges are fitted with circles of "
                           "this size (with the micrographs' pixel size), which completes faint film and "
                           "straightens ragged boundaries. Empty: the size is estimated on each micrograph.")
        form.addParam("useHoleGeometry", params.BooleanParam, default=True, label="Fit hole edges",
                      expertLevel=params.LEVEL_ADVANCED,
                      help="Draw the network's badness to the hole edge fitted on each micrograph. No: the "
                           "network's masks as they are (e.g. lacey grids, which have no round holes).")
        form.addParam("maxFlagged", params.FloatParam, default=0.8, label="Max. flagged fraction",
                      validators=[params.Range(0, 1)],
                      help="Micrographs with more of their area flagged bad (0..1) go to "
                           "outputMicrographsRejected, and all their coordinates are rejected "
                           "('%s'). 1: keep every micrograph that could be processed." % contract.MOSTLY_BAD)
        form.addParam("maxIciness", params.FloatParam, allowsNull=True, label="Max. iciness",
                      help="Also reject micrographs whose iciness (power at 3.5-3.9 Å over power at "
                           "30-80 Å, as Xmipp's CTF estimation reports it; vitreous ice stays below 1) is "
                           "above this ('%s'). Measured only when the pixel size is under 1.75 Å. "
                           "Empty: no ice rule (the iciness is still stored)." % contract.CRYSTALLINE_ICE)
        form.addParam("threshold", params.FloatParam, default=contract.DEFAULT_THRESHOLD, label="Goodness threshold",
                      help="Coordinates whose goodness (1 - mean badness under the particle, 0..1) is "
                           "below it are rejected. Use -1 to only score and keep every coordinate. "
                           "0.75-0.9 suits most data.")
        form.addParam("minDistance", params.FloatParam, allowsNull=True, label="Min. distance to bad regions (Å)",
                      help="Also reject coordinates whose centre is closer than this to any bad region. "
                           "Empty: no distance rule.")
        form.addParam("classDistances", params.StringParam, default="", label="Min. distance per class (Å)",
                      help="For models with classes: e.g. 'carbon=50 contamination=200'. Empty: none.")
        form.addParam("modelChoice", params.EnumParam, default=MODEL_BUNDLED,
                      choices=["bundled default", "original defaultModel.h5", "another model file",
                               "a fine-tuned model"],
                      label="Model",
                      help="The bundled model is trained for this plugin; the original tool's "
                           "defaultModel.h5 runs with the original's preprocessing; any .keras model "
                           "of this project (with its .json card beside it) can be used too; a fine-tuned "
                           "model is the output of a 'fine-tune model' run, taught your grid from the "
                           "micrographs you corrected.")
        form.addParam("modelFile", params.PathParam,
                      condition="modelChoice!=%d and modelChoice!=%d" % (MODEL_BUNDLED, MODEL_FINE_TUNED),
                      label="Model file", help="defaultModel.h5, or a .keras model with its card.")
        form.addParam("fineTunedModel", params.PointerParam, pointerClass="MicrographCleanerModel",
                      condition="modelChoice==%d" % MODEL_FINE_TUNED, label="Fine-tuned model",
                      help="The output of a 'fine-tune model' run. Masks belong to their model: none "
                           "predicted by another model is reused.")
        form.addParam("tta", params.EnumParam, default=0, choices=list(contract.AUGMENTATIONS),
                      label="Test-time augmentation",
                      help="none: one pass; flips: 4 passes averaged; d8: 8 passes (flips and "
                           "rotations). More passes give smoother masks at proportional cost.")
        form.addParam("networkBatchSize", params.IntParam, default=8, validators=[params.GE(1)],
                      expertLevel=params.LEVEL_ADVANCED, label="Network batch size",
                      help="Images per network call; lower it if the GPU runs out of memory.")
        form.addParam("saveMasks", params.BooleanParam, default=True, label="Save masks",
                      help="Keep the badness mask of every micrograph (MRC, 0 = good, 1 = bad). "
                           "Needed to resume a run without predicting again.")
        form.addParam("saveThumbnails", params.BooleanParam, default=True, label="Save thumbnails",
                      help="A PNG per micrograph with the mask overlaid and accepted/rejected picks.")
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True, label="Use GPU",
                       help="No: run the network on the CPU.")
        form.addHidden(params.GPU_LIST, params.StringParam, default="0", label="GPU ids",
                       help="GPUs to use, e.g. '0' or '0,1' (one worker per GPU).")
        self._defineStreamingParams(form)
        form.addParallelSection(threads=MIN_THREADS, mpi=0)

    def _defineStreamingParams(self, form):
        """Scipion's streaming fields, with this protocol's meaning and a sleep by default (pwem's
        default, 0, would poll the inputs non-stop)."""
        form.addSection("Streaming")
        form.addParam("streamingBatchSize", params.IntParam, default=10, validators=[params.GE(1)],
                      label="Micrographs per batch",
                      help="Micrographs handed to the engine at once. A batch starts as soon as this many "
                           "micrographs have new coordinates, and with fewer once the input is closed; "
                           "smaller batches give results sooner when streaming.")
        form.addParam("streamingSleepOnWait", params.IntParam, default=10, validators=[params.GE(MIN_SLEEP)],
                      label="Check for new input every (s)",
                      help="Seconds between looks at the inputs while they are open.")

    def getBinThreads(self):
        """The engine uses TensorFlow's own CPU threads: no binary threads field (whose absence
        Scipion's run header would report as an error)."""
        return 0

    def getGpuList(self):
        """No GPU slots (nor their log lines) when the network runs on the CPU."""
        return EMProtocol.getGpuList(self) if self.useGpu.get() else []

    # ------------------------------------------------------------------ steps
    def stepsGeneratorStep(self):
        """Watches the inputs and inserts a cleaning step per batch of micrographs with coordinates
        not yet scheduled; picks arriving later for a micrograph go to a later batch."""
        if not self.mcClasses.get():
            self.mcClasses.set(",".join(self._modelClasses()))
            self._store(self.mcClasses)
        # what is scheduled: coordinate ids, or micrograph ids when screening micrographs only
        scheduled = set(self._screenOutputs.registeredCoordinateIds() if self._withCoordinates()
                        else self._screenOutputs.registeredMicrographIds())
        batchSteps = []
        lastBatch = {}  # micId: step of its latest batch, which a later batch of that micrograph waits for
        size = self.streamingBatchSize.get()
        while True:
            micsClosed, available = availableMicrographIds(self.getInputMicrographs().getFileName())
            if self._withCoordinates():
                inputClosed, waiting = unscheduledCoordinates(self.inputCoordinates.get().getFileName(), scheduled)
            else:
                inputClosed, waiting = micsClosed, {micId: [] for micId in available - scheduled}
            ready = sorted(i for i in waiting if micsClosed or i in available)
            final = inputClosed and len(ready) == len(waiting)
            while len(ready) >= size or (final and ready):
                batch, ready = ready[:size], ready[size:]
                coordIds = sorted(c for micId in batch for c in waiting[micId])
                step = self._insertFunctionStep(self.cleanBatchStep, batch, coordIds, needsGPU=self.useGpu.get(),
                                                prerequisites=sorted({lastBatch[m] for m in batch if m in lastBatch}))
                batchSteps.append(step)
                lastBatch.update(dict.fromkeys(batch, step))
                scheduled.update(coordIds if self._withCoordinates() else batch)
            if final:
                self._insertFunctionStep(self.closeOutputsStep, prerequisites=batchSteps, needsGPU=False)
                return
            time.sleep(max(self.streamingSleepOnWait.get() or 0, MIN_SLEEP))

    def cleanBatchStep(self, micIds, coordIds):
        micrographs = loadMicrographs(self.getInputMicrographs().getFileName(), micIds)
        coordinates = self._batchCoordinates(micIds, coordIds) if self._withCoordinates() else None
        batchDir = self._getExtraPath("batches", "batch_%06d_%s" % (micIds[0], hashlib.sha1(
            (",".join(map(str, micIds)) + ";" + ",".join(map(str, coordIds))).encode()).hexdigest()[:8]))
        os.makedirs(batchDir, exist_ok=True)
        self._adoptMasks(micrographs.keys())
        manifest = self._manifest(micrographs, coordinates)
        entries = self._engineWorkers().runBatch(manifest, batchDir) if manifest["micrographs"] else []
        entries += [self._missingEntry(micId, coordinates[micId] if coordinates else [])
                    for micId in micIds if micId not in micrographs]
        for entry in entries:
            entry["rejection"] = (entry["summary"].get("rejection") if entry["ok"] else contract.MICROGRAPH_FAILED)
        for warning in sorted({text for entry in entries for text in entry["summary"].get("warnings", [])}):
            self.warning("MicrographCleaner: %s" % warning)  # e.g. an implausible box size, once per batch
        with self._lock:
            self._rememberModel(entries)
            self._screenOutputs.register(entries, micrographs, coordinates)

    def closeOutputsStep(self):
        """Closes the outputs once every input item is in exactly one of them."""
        self._engineWorkers().stop()
        with self._lock:
            self._screenOutputs.close()

    # ------------------------------------------------------------------ engine
    def _scale(self):
        """Micrograph pixels per coordinate pixel."""
        if not self._withCoordinates():
            return 1.0
        return self.inputCoordinates.get().getMicrographs().getSamplingRate() / self.getInputMicrographs().getSamplingRate()

    def correctionsFolder(self):
        """Where the correction window keeps this run's corrections (the fine-tune protocol reads them)."""
        return self._getExtraPath(contract.CORRECTIONS_FOLDER)

    def _modelPath(self):
        choice = self.modelChoice.get()
        if choice == MODEL_BUNDLED:
            return None
        return os.path.abspath(self.fineTunedModel.get().getFileName() if choice == MODEL_FINE_TUNED
                               else self.modelFile.get())

    def _minDistances(self):
        limits = parseClassDistances(self.classDistances.get() or "")
        if self.minDistance.get():
            limits[contract.ANY_CLASS] = self.minDistance.get()
        return limits

    def _manifest(self, micrographs, coordinates):
        scale = self._scale()
        pixelSize = self.getInputMicrographs().getSamplingRate()  # the set's: items may not carry one
        boxSize = self.boxSize.get() or self.inputCoordinates.get().getBoxSize()
        threshold = self.threshold.get()
        entries = []
        for micId, mic in micrographs.items():
            entry = {"id": micId, "path": mic.getFileName(), "pixel_size": pixelSize, "key": micrographKey(micId)}
            if coordinates is not None:
                coords = coordinates[micId]
                entry["coordinates"] = {"id": [c.getObjId() for c in coords], "x": [c.getX() * scale for c in coords],
                                        "y": [c.getY() * scale for c in coords]}
            entries.append(entry)
        # the contract's defaults (its version included) for what the form does not set
        return dict(contract.MANIFEST_DEFAULTS, output_dir=self._getExtraPath("micrographs"), box_size=boxSize * scale,
                    model=self._modelPath(), threshold=threshold if threshold >= 0 else None,
                    max_flagged=self.maxFlagged.get(), max_iciness=self.maxIciness.get(),
                    min_distance=self._minDistances(), tta=contract.AUGMENTATIONS[self.tta.get()],
                    batch_size=self.networkBatchSize.get(), thumbnails=self.saveThumbnails.get(),
                    save_masks=self.saveMasks.get(), hole_geometry=self.useHoleGeometry.get(),
                    hole_diameter=self.holeDiameter.get(),
                    micrographs=entries,
                    run_id="%s %d" % (self.getRunName(), os.getpid()))  # this process's workers share the folder

    def _adoptMasks(self, micIds):
        """Copies what the engine needs to reuse the masks of the *Reuse masks of* run (mask, label map,
        JSON with the model and checksums) for these micrographs; the engine still predicts when they
        do not match. Copies, not links: the engine rewrites the JSON."""
        if not self.maskRun.hasValue():
            return
        folder = self._getExtraPath("micrographs")
        os.makedirs(folder, exist_ok=True)
        for micId in micIds:
            outputs = contract.micrograph_outputs(micrographKey(micId))
            for name in (outputs[kind] for kind in contract.REUSABLE_OUTPUTS):
                source = self.maskRun.get()._getExtraPath("micrographs", name)
                if os.path.exists(source) and not os.path.exists(os.path.join(folder, name)):
                    shutil.copy2(source, folder)

    def _engineWorkers(self):
        with self._lock:
            if self._workers is None:
                self._workers = EngineWorkers(self.getLogPaths()[1], self.engineDevices())
            return self._workers

    def engineDevices(self):
        """Where the engine workers run: 'cpu', or one GPU each. In a queue job, the GPUs the scheduler
        gave it (CUDA_VISIBLE_DEVICES as SLURM sets it); otherwise, and where it set none, the form's."""
        if not self.useGpu.get():
            return ["cpu"]
        assigned = os.environ.get("CUDA_VISIBLE_DEVICES", "") if self.useQueue() else ""
        return [gpu.strip() for gpu in assigned.split(",") if gpu.strip()] or [str(gpu) for gpu in self.getGpuList()]

    def _missingEntry(self, micId, coords):
        return {"id": micId, "ok": False, "error": "micrograph %d: %s" % (micId, MISSING_MICROGRAPH),
                "summary": {}, "coordinates": {"id": [c.getObjId() for c in coords]}}

    def _rememberModel(self, entries):
        """The model's name and checksum, from the first micrograph it processed."""
        summaries = [entry["summary"] for entry in entries if entry["ok"]]
        if summaries and not self.mcModel.get():
            self.mcModel.set("%s (sha256 %s)" % (summaries[0]["model"], (summaries[0].get("model_sha256") or "")[:12]))
            self._store(self.mcModel)

    def _modelClasses(self):
        """Class names from the model's card, known before anything is registered so that every
        output micrograph gets the same per-class attributes (a set's columns are fixed by its
        first item). A model without a card (the original's) has one class."""
        if self.modelChoice.get() == MODEL_BUNDLED:  # the environment is installed from this source
            card = enginePackageDir().joinpath(*contract.BUNDLED_CARD)
        else:
            card = os.path.splitext(self._modelPath())[0] + ".json"
        if not os.path.exists(card):
            return ["bad"]
        with open(card) as stream:
            return json.load(stream).get("classes") or ["bad"]

    def getClassNames(self):
        """Per-class names (not 'any'): the same attribute columns on every micrograph."""
        return [name for name in (self.mcClasses.get() or "").split(",")[1:] if name]

    # ------------------------------------------------------------------ inputs
    def _withCoordinates(self):
        return self.inputCoordinates.hasValue()

    def getInputMicrographs(self):
        """The micrographs screened: the input micrographs, else those of the input coordinates."""
        if self.inputMicrographs.hasValue():
            return self.inputMicrographs.get()
        return self.inputCoordinates.get().getMicrographs()

    def _batchCoordinates(self, micIds, coordIds):
        """The batch's coordinates, and those already registered on its micrographs: the engine draws
        them all on the thumbnail it rewrites (registration skips them, counts add only new ones)."""
        with self._lock:
            wanted = set(coordIds) | self._screenOutputs.registeredCoordinateIds()
        return loadCoordinates(self.inputCoordinates.get().getFileName(), micIds, wanted)

    # ------------------------------------------------------------------ info
    def _validate(self):
        """Parameter checks; the environment is checked by Plugin.validateInstallation, which
        Scipion runs before this for every protocol of the plugin."""
        errors = []
        gpus = len(self.getGpuList()) if self.useGpu.get() else 0
        if self.numberOfThreads.get() < max(MIN_THREADS, 2 + gpus):
            errors.append("At least %d threads are needed: one for Scipion, one that watches the inputs "
                          "and one for the batches of each GPU (or of the CPU)." % max(MIN_THREADS, 2 + gpus))
        if self.useQueue() and self.getQueueParams()[1].get(QUEUE_FOR_JOBS) == "Y":
            errors.append("Sending each step to the queue (QUEUE_FOR_JOBS=Y) is not possible with this protocol: "
                          "its steps run inside Scipion's own process, so nothing would reach the queue; "
                          "send the whole protocol to the queue instead (QUEUE_FOR_JOBS=N).")
        if self.modelChoice.get() == MODEL_FINE_TUNED:
            if not self.fineTunedModel.hasValue() or not os.path.isfile(self.fineTunedModel.get().getFileName()):
                errors.append("Choose a fine-tuned model (the output of a 'fine-tune model' run that finished).")
        elif self.modelChoice.get() != MODEL_BUNDLED:
            path = self.modelFile.get()
            if not path or not os.path.isfile(path):
                errors.append("Model file not found: %r. Choose an existing defaultModel.h5 or .keras file."
                              % path)
        threshold = self.threshold.get()
        if threshold is None or not (threshold < 0 or 0 <= threshold <= 1):
            errors.append("The goodness threshold must be within 0..1 (or -1 to keep all), got %s" % threshold)
        try:
            parseClassDistances(self.classDistances.get() or "")
        except ValueError as error:
            errors.append("Min. distance per class: %s" % error)
        if self.maxIciness.get() is not None and self.maxIciness.get() <= 0:
            errors.append("Max. iciness must be positive (or empty: no ice rule), got %s" % self.maxIciness.get())
        if self.holeDiameter.get() is not None and not 0 < self.holeDiameter.get() <= 100:
            errors.append("The hole diameter is in µm (1.2 or 2 for most grids), got %s" % self.holeDiameter.get())
        if not self._withCoordinates() and not self.inputMicrographs.hasValue():
            errors.append("Give coordinates, micrographs, or both.")
        elif not self._withCoordinates() and not self.boxSize.get():
            errors.append("Without coordinates, give the particle box size (px of the micrographs).")
        return errors

    def _counts(self):
        return {name: getattr(self, name).getSize() if hasattr(self, name) else 0
                for name in COORDINATE_OUTPUTS + MICROGRAPH_OUTPUTS}

    def _screenedMicrographs(self):
        """Clones of the accepted and rejected micrographs."""
        return [mic.clone() for name in MICROGRAPH_OUTPUTS if hasattr(self, name) for mic in getattr(self, name)]

    def _summary(self):
        counts = self._counts()
        screened = counts[OUTPUT_MICROGRAPHS] + counts[OUTPUT_MICROGRAPHS_REJECTED]
        if not screened:
            return ["No micrograph processed yet."]
        micrographs = self._screenedMicrographs()
        total = counts[OUTPUT_ACCEPTED] + counts[OUTPUT_REJECTED]
        threshold = self.threshold.get()
        distances = ", ".join("%s %g Å" % (name, value) for name, value in self._minDistances().items())
        lines = ["Model: %s; threshold %s; minimum distance: %s; max. flagged fraction %g." % (
                     self.mcModel.get() or "?", "none (score only)" if threshold < 0 else "%g" % threshold,
                     distances or "none", self.maxFlagged.get()),
                 "%s: %d accepted, %d rejected (mostly bad, crystalline ice or failed)."
                 % (contract.plural(screened, "micrograph"), counts[OUTPUT_MICROGRAPHS],
                    counts[OUTPUT_MICROGRAPHS_REJECTED])]
        if self.modelChoice.get() == MODEL_FINE_TUNED and self.fineTunedModel.hasValue():
            lines.insert(1, "%s, from run '%s'." % (self.fineTunedModel.get(), self.fineTunedModel.get().getMadeBy()))
        if self._withCoordinates():
            lines.append("%s: %d accepted (%.1f%%), %d rejected."
                         % (contract.plural(total, "coordinate"), counts[OUTPUT_ACCEPTED],
                            100.0 * counts[OUTPUT_ACCEPTED] / max(total, 1), counts[OUTPUT_REJECTED]))
        fractions = attributes.values(micrographs, attributes.FLAGGED_FRACTION)
        if fractions:
            lines.append("Flagged bad: %.1f%% of the micrograph area on average, up to %.1f%%."
                         % (100 * sum(fractions) / len(fractions), 100 * max(fractions)))
        ice = attributes.values(micrographs, attributes.ICINESS)
        if ice:
            lines.append("Iciness (vitreous ice < 1): %.2f on average, up to %.2f (%s measured)."
                         % (sum(ice) / len(ice), max(ice), contract.plural(len(ice), "micrograph")))
        failed = [error for error in attributes.values(micrographs, attributes.ERROR) if error]
        if failed:
            lines.append("%s failed (their coordinates are rejected): %s"
                         % (contract.plural(len(failed), "micrograph"), "; ".join(failed)))
        return lines

    def _methods(self):
        counts = self._counts()
        screened = counts[OUTPUT_MICROGRAPHS] + counts[OUTPUT_MICROGRAPHS_REJECTED]
        if not screened:
            return []
        text = ("Bad regions (carbon, contamination, ice) of %s were located with MicrographCleaner "
                "[SanchezGarcia2020] (model %s%s); micrographs with more than %g%% of their area flagged were "
                "discarded (%d)" % (contract.plural(screened, "micrograph"), self.mcModel.get(),
                                    ", fine-tuned on micrographs of this data set corrected by hand"
                                    if self.modelChoice.get() == MODEL_FINE_TUNED else "",
                                    100 * self.maxFlagged.get(), counts[OUTPUT_MICROGRAPHS_REJECTED]))
        if self.useHoleGeometry.get():
            text += ("; the masks were drawn to the circular hole edge fitted on each micrograph (%s)"
                     % ("hole diameter %g µm" % self.holeDiameter.get() if self.holeDiameter.get() is not None
                        else "radius estimated"))
        if self._withCoordinates():
            text += ", and %d of %d particle coordinates lying on clean areas were kept" % (
                counts[OUTPUT_ACCEPTED], counts[OUTPUT_ACCEPTED] + counts[OUTPUT_REJECTED])
        return [text + "."]

    def _citations(self):
        return ["SanchezGarcia2020"]
