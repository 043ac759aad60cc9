"""fine-tune model: teach MicrographCleaner a grid from the micrographs a user corrected.

The user reviews a few micrographs of one or more screen runs in the correction window (the
viewer's :mod:`..viewers.correction_window`), which keeps them in each run's corrections folder
as a label source (:data:`contract.CORRECTIONS_SOURCE`). This protocol takes a snapshot of those
corrections, holds a share out, and runs ``micrographcleaner train`` in the engine's environment as
one step (a GPU step when asked): fine-tuning within a time budget, one log line per epoch with
the held-out figures, a checkpoint that a continued run resumes from, the calibration fitted on the
held-out micrographs, and the fine-tuned model kept only if it beats the starting model there. The
output is a :class:`..objects.MicrographCleanerModel` that the screen protocol's *Model* selects.
"""
import json
import os
import shlex
import shutil

from pwem.protocols import EMProtocol
from pyworkflow import BETA
from pyworkflow.protocol import params

from ..constants import contract
from ..objects import MicrographCleanerModel

OUTPUT_MODEL = "outputModel"
STARTING_BUNDLED, STARTING_FINE_TUNED, STARTING_FILE = 0, 1, 2
TRAINING_FOLDER = "fine-tuned-%d"  # under extra/, by the run's id: it names the model everywhere it is used


def reviewedMicrographs(screen):
    """A screen run's corrections (its label source as the correction window wrote it) and the stems
    of the micrographs reviewed there, whose label maps are on disk; ({}, []) when none."""
    folder = screen.correctionsFolder()
    path = os.path.join(folder, contract.CORRECTIONS_SOURCE)
    if not os.path.isfile(path):
        return {}, []
    with open(path) as stream:
        source = json.load(stream)
    stems = [stem for stem in sorted(source.get("micrographs") or {})
             if os.path.isfile(os.path.join(folder, stem + contract.CORRECTION_SUFFIX + ".png"))]
    return source, stems


def heldOut(items, share):
    """``round(share * n)`` items spread evenly over the list, at least one and never all of them."""
    count = min(max(1, int(round(share * len(items)))), len(items) - 1)
    return {items[int((index + 0.5) * len(items) / count)] for index in range(count)}


class ProtFineTuneModel(EMProtocol):
    """Fine-tunes a MicrographCleaner model on micrographs corrected in the correction window of one
    or more screen runs, within a time budget, and keeps it only if it does better than the starting
    model on the corrected micrographs held out of training."""

    _label = "fine-tune model"  # Scipion shows it as "MicrographCleaner - fine-tune model"
    _devStatus = BETA
    _possibleOutputs = {OUTPUT_MODEL: MicrographCleanerModel}

    # ------------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputScreens", params.MultiPointerParam, pointerClass="ProtDeepMicrographScreen",
                      important=True, label="Screen runs with corrections",
                      help="Deep micrograph screen runs whose micrographs you corrected in their viewer "
                           "(Analyze results > Correct masks). A micrograph saved there without edits counts "
                           "as reviewed and right. Corrections are read when this run starts.")
        form.addParam("startingModel", params.EnumParam, default=STARTING_BUNDLED,
                      choices=["bundled default", "a fine-tuned model", "another model file"],
                      label="Starting model",
                      help="The model to fine-tune: the bundled one, the output of an earlier fine-tune run "
                           "(to go on teaching it), or a .keras model of this plugin with its .json card.")
        form.addParam("fineTunedModel", params.PointerParam, pointerClass="MicrographCleanerModel",
                      condition="startingModel==%d" % STARTING_FINE_TUNED, label="Fine-tuned model")
        form.addParam("modelFile", params.PathParam, condition="startingModel==%d" % STARTING_FILE,
                      label="Model file", help="A .keras model of this plugin, with its .json card beside it.")
        form.addParam("minutes", params.FloatParam, default=20, validators=[params.GT(0)],
                      label="Time budget (minutes)",
                      help="Training stops when it is spent (the learning rate decays over it). About 20 on "
                           "a CPU; a GPU needs far less for the same training.")
        form.addParam("heldOutShare", params.FloatParam, default=0.2, validators=[params.Range(0, 1)],
                      label="Share held out",
                      help="Share of the reviewed micrographs kept out of training (at least one): they judge "
                           "every epoch, calibrate the model and decide whether it beats the starting model.")
        form.addParam("simulatedShare", params.FloatParam, allowsNull=True,
                      expertLevel=params.LEVEL_ADVANCED, label="Simulated share",
                      help="Share of the training samples drawn from the simulator, which keeps what the "
                           "model knows of other grids while it learns yours. Empty: the engine's "
                           "fine-tuning recipe (micrographcleaner train --help).")
        form.addParam("learningRate", params.FloatParam, allowsNull=True,
                      expertLevel=params.LEVEL_ADVANCED, label="Learning rate",
                      help="Empty: the engine's fine-tuning recipe (micrographcleaner train --help).")
        form.addParam("tile", params.IntParam, default=256, validators=[params.GE(32)],
                      expertLevel=params.LEVEL_ADVANCED, label="Training tile (px)",
                      help="Side of the working-scale crops trained on.")
        form.addParam("batchSize", params.IntParam, default=8, validators=[params.GE(1)],
                      expertLevel=params.LEVEL_ADVANCED, label="Training batch size")
        form.addHidden(params.USE_GPU, params.BooleanParam, default=True, label="Use GPU",
                       help="No: train on the CPU. Yes on a machine without a GPU also trains on the CPU.")
        form.addHidden(params.GPU_LIST, params.StringParam, default="0", label="GPU ids",
                       help="GPUs to train on, e.g. '0' or '0,1'.")

    # ------------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.snapshotStep)
        self._insertFunctionStep(self.trainStep, needsGPU=self.useGpu.get())
        self._insertFunctionStep(self.createOutputStep)

    def trainingFolder(self):
        return self._getExtraPath(TRAINING_FOLDER % self.getObjId())

    def snapshotStep(self):
        """Copies every reviewed label map (corrections may go on while this runs) and writes the
        training and held-out label sources; says which micrographs went where."""
        reviewed = [(screen.getObjId(), stem) for screen in self._screens() for stem in reviewedMicrographs(screen)[1]]
        held = heldOut(reviewed, self.heldOutShare.get())
        for screen in self._screens():
            source, stems = reviewedMicrographs(screen)
            folder = self._getExtraPath("corrections", "run%d" % screen.getObjId())
            os.makedirs(folder, exist_ok=True)
            for stem in stems:
                name = stem + contract.CORRECTION_SUFFIX + ".png"
                shutil.copy2(os.path.join(screen.correctionsFolder(), name), os.path.join(folder, name))
            micrographs = {stem: os.path.abspath(os.path.join(screen.correctionsFolder(), source["micrographs"][stem]))
                           for stem in stems}
            snapshot = dict(source, micrographs=micrographs, labels=os.path.abspath(folder), include=["*"],
                            exclude=[], name="%s (run %d)" % (screen.getRunName(), screen.getObjId()))
            for kind, chosen in (("train", [s for s in stems if (screen.getObjId(), s) not in held]),
                                 ("held_out", [s for s in stems if (screen.getObjId(), s) in held])):
                if chosen:
                    with open(self._sourcePath(kind, screen), "w") as stream:
                        json.dump(dict(snapshot, include=chosen), stream, indent=1)
                    self.info("%s, from run %s: %s" % ("held out" if kind == "held_out" else "trained on",
                                                       screen.getRunName(),
                                                       ", ".join(os.path.basename(micrographs[s]) for s in chosen)))

    def _sourcePath(self, kind, screen):
        return self._getExtraPath("corrections", "%s_run%d.json" % (kind, screen.getObjId()))

    def _sources(self, kind):
        return [path for path in (self._sourcePath(kind, screen) for screen in self._screens()) if os.path.exists(path)]

    def trainStep(self):
        from .. import Plugin

        folder = self.trainingFolder()
        arguments = ([folder, "--initial-model", self._startingModelPath(), "--labelled"] + self._sources("train")
                     + ["--held-out"] + self._sources("held_out")
                     + ["--minutes", "%g" % self.minutes.get(), "--tile", str(self.tile.get()),
                        "--batch-size", str(self.batchSize.get()), "--gpus", "all" if self.useGpu.get() else "cpu"])
        for flag, value in (("--learning-rate", self.learningRate), ("--simulated-fraction", self.simulatedShare)):
            if value.hasValue():  # else the engine's recipe
                arguments += [flag, "%g" % value.get()]
        if os.path.exists(os.path.join(folder, "state.json")):  # killed mid-way: go on from the checkpoint
            arguments.append("--resume")
        environ = Plugin.getEnviron()
        if self.useGpu.get() and not self.useQueue():  # a queue job's GPUs are the scheduler's
            environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in self.getGpuList())
        self.runJob(Plugin.getProgram(), " ".join(shlex.quote(str(argument)) for argument in ["train"] + arguments),
                    env=environ, numberOfThreads=1)

    def createOutputStep(self):
        model = MicrographCleanerModel(filename=os.path.join(self.trainingFolder(), "model.keras"))
        model.readCard(self.getRunName())
        self._defineOutputs(**{OUTPUT_MODEL: model})

    # ------------------------------------------------------------------ helpers
    def _screens(self):
        return [pointer.get() for pointer in self.inputScreens]

    def _startingModelPath(self):
        choice = self.startingModel.get()
        if choice == STARTING_FINE_TUNED:
            return os.path.abspath(self.fineTunedModel.get().getFileName())
        if choice == STARTING_FILE:
            return os.path.abspath(self.modelFile.get())
        return "bundled"

    # ------------------------------------------------------------------ info
    def _validate(self):
        errors = []
        reviewed = sum(len(reviewedMicrographs(screen)[1]) for screen in self._screens())
        if reviewed < 2:
            errors.append("%s reviewed in the screen runs given; at least 2 are needed (one to train on, one "
                          "held out). Open a screen run's results, Correct masks, and save a few micrographs."
                          % contract.plural(reviewed, "micrograph"))
        if self.startingModel.get() == STARTING_FILE and not os.path.isfile(self.modelFile.get() or ""):
            errors.append("Model file not found: %r." % self.modelFile.get())
        if self.startingModel.get() == STARTING_FINE_TUNED and not self.fineTunedModel.hasValue():
            errors.append("Choose the fine-tuned model to start from.")
        if not 0 < self.heldOutShare.get() < 1:
            errors.append("The share held out must be between 0 and 1 (at least one micrograph is held out).")
        if self.simulatedShare.hasValue() and not 0 <= self.simulatedShare.get() <= 0.95:
            errors.append("The simulated share must be between 0 and 0.95 (or empty: the engine's recipe).")
        if self.learningRate.hasValue() and not self.learningRate.get() > 0:
            errors.append("The learning rate must be positive (or empty: the engine's recipe).")
        return errors

    def _summary(self):
        if not hasattr(self, OUTPUT_MODEL):
            return ["Not finished yet: the log shows each epoch's held-out figures and the minutes left."]
        model = getattr(self, OUTPUT_MODEL)
        card = self._card(model)
        tuning = card.get("fine_tuning") or {}
        trained = tuning.get("trained_on", [])
        lines = ["Model %s: fine-tuned for %s min on %s of %s; held out: %s." % (
            model.getModelName(), tuning.get("minutes", "?"), contract.plural(len(trained), "corrected micrograph"),
            ", ".join(screen.getRunName() for screen in self._screens()), ", ".join(tuning.get("held_out", [])))]
        before, after = model.getHeldOut()
        if after is not None:
            lines.append("Held-out bad-region IoU: %.2f with the starting model, %.2f fine-tuned." % (before, after))
        if model.getKept() == "starting model":
            lines.append("Fine-tuning did not do better on the held-out micrographs: the output is the starting "
                         "model (recalibrated on them); the fine-tuned one is kept aside as not_kept.keras.")
        return lines

    def _card(self, model):
        with open(model.cardPath()) as stream:
            return json.load(stream)

    def _methods(self):
        if not hasattr(self, OUTPUT_MODEL):
            return []
        model = getattr(self, OUTPUT_MODEL)
        before, after = model.getHeldOut()
        return ["The MicrographCleaner network [SanchezGarcia2020] was fine-tuned for %g minutes on micrographs "
                "of this data set whose bad regions were corrected by hand; on corrected micrographs held out of "
                "training its bad-region IoU went from %.2f to %.2f%s." % (
                    self.minutes.get(), before or 0, after or 0,
                    "" if model.getKept() != "starting model" else " (not better: the starting model was kept)")]

    def _citations(self):
        return ["SanchezGarcia2020"]

