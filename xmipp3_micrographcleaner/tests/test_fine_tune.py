"""The loop a facility user runs, in a real Scipion project: screen, correct a few micrographs (saved
as the correction window saves them), fine-tune, and screen again with the fine-tuned model; and a
fine-tune run stopped during training, then continued."""
import csv
import json
import os

from ..constants import MODEL_FILE, MODEL_FINE_TUNED
from ..protocols import ProtFineTuneModel
from ..protocols.protocol_fine_tune import OUTPUT_MODEL, STARTING_FILE, reviewedMicrographs
from ..viewers.corrections import CODES, CorrectionStore, reviewItems
from ..viewers.results import loadResults
from . import scenes
from .test_protocol_screen import ScreenTestBase

TINY = "--filters 4 8 --steps-per-epoch 2 --batch-size 2 --tile 64 --epochs 1 --quiet"


class TestFineTune(ScreenTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = os.path.join(os.environ["SCIPION_USER_DATA"], "test-models", "tiny_classes")
        cls.start = os.path.join(folder, "model.keras")
        if not os.path.exists(cls.start):  # a network with the bundled model's classes, small enough for seconds
            scenes.engine_python("from micrographcleaner.cli import main; import sys; sys.exit(main(%r.split()))"
                                 % ("train %s %s" % (folder, TINY)), "training the tiny starting model")
        cls.mics, cls.coords, cls.truth = cls.importScenes("tune", ["t%d" % index for index in range(4)], seed=7)
        cls.first = cls.screen(cls.coords.outputCoordinates, modelChoice=MODEL_FILE, modelFile=cls.start)
        cls.correct(cls.first, 3)

    @classmethod
    def correct(cls, screen, count):
        """Saves ``count`` micrographs as a user would: the first unchanged (reviewed and right), the
        others with carbon painted along their left edge."""
        store = CorrectionStore(screen.correctionsFolder(), "corrections of %s" % screen.getRunName())
        items = reviewItems(loadResults(screen, cls.proj.getPath()), cls.proj.getPath())[:count]
        for index, item in enumerate(items):
            codes = item.modelCodes()
            if index:
                codes[:, :codes.shape[1] // 4] = CODES["carbon"]
            store.save(item, codes)

    def fineTune(self, launch=True, **kwargs):
        kwargs = dict(dict(inputScreens=[self.first], startingModel=STARTING_FILE, modelFile=self.start, minutes=0.1,
                           tile=64, batchSize=2, heldOutShare=0.3, useGpu=False), **kwargs)
        protocol = self.newProtocol(ProtFineTuneModel, **kwargs)
        if launch:
            self.launchProtocol(protocol)
        return protocol

    def trainingLog(self, protocol):
        path = os.path.join(protocol.trainingFolder(), "training_log.csv")
        if not os.path.exists(path):
            return []
        with open(path) as stream:
            return list(csv.DictReader(stream))

    def test_screen_correct_fine_tune_and_screen_again(self):
        self.assertEqual(len(reviewedMicrographs(self.first)[1]), 3)
        tune = self.fineTune()
        model = getattr(tune, OUTPUT_MODEL)
        self.assertTrue(os.path.isfile(model.getFileName()))
        with open(model.cardPath()) as stream:
            card = json.load(stream)
        tuning = card["fine_tuning"]
        self.assertEqual(len(tuning["held_out"]), 1)  # 30% of 3, at least one
        self.assertIn(tuning["kept"], ("fine-tuned", "starting model"))
        self.assertEqual(model.getKept(), tuning["kept"])
        for stored, measured in zip(model.getHeldOut(), (tuning["before"]["bad_iou"], tuning["after"]["bad_iou"])):
            self.assertAlmostEqual(stored, measured, places=9)  # Scipion's Float keeps 15 digits
        with open(tune.getLogPaths()[0]) as stream:
            log = stream.read()
        self.assertIn("epoch 1: loss", log)
        self.assertIn("held-out IoU", log)
        self.assertIn("min left", log)
        summary = "\n".join(tune.summary())
        self.assertIn("2 corrected micrographs", summary)
        self.assertIn("Held-out bad-region IoU", summary)
        with open(os.path.join(tune.trainingFolder(), "training_config.json")) as stream:
            command = json.load(stream)["command"]
        for flag in ("--learning-rate", "--simulated-fraction"):  # left empty: the engine's fine-tuning recipe
            self.assertNotIn(flag, command)
        errors = " ".join(self.fineTune(launch=False, learningRate=-1.0, simulatedShare=2.0).validate())
        self.assertIn("learning rate must be positive", errors)
        self.assertIn("simulated share must be between", errors)

        second = self.screen(self.coords.outputCoordinates, modelChoice=MODEL_FINE_TUNED,
                             fineTunedModel=model, maskRun=self.first)
        summary = "\n".join(second.summary())
        self.assertIn("from run '%s'" % tune.getRunName(), summary)
        self.assertIn(card["name"], second.mcModel.get())
        self.assertIn("fine-tuned on micrographs of this data set", "".join(second.methods()))
        folder = second._getExtraPath("micrographs")
        summaries = [json.load(open(os.path.join(folder, name))) for name in sorted(os.listdir(folder))
                     if name.endswith(".json")]
        self.assertEqual(len(summaries), 4)
        for entry in summaries:  # masks belong to their model: none of the first run's is reused
            self.assertFalse(entry["mask_reused"])
            self.assertEqual(entry["model_sha256"], card["sha256"])

    def test_stopped_while_training_then_continued(self):
        tune = self.fineTune(launch=False, minutes=0.75)
        self.proj.launchProtocol(tune, wait=False)
        self.waitFor(lambda: len(self.trainingLog(tune)) >= 2, "two epochs of training", timeout=240)
        self.proj.stopProtocol(tune)  # the GUI's Stop: the run and its training end
        stopped = json.load(open(os.path.join(tune.trainingFolder(), "state.json")))
        self.assertFalse(os.path.exists(os.path.join(tune.trainingFolder(), "model.keras")),
                         "the training finished before it could be stopped")
        self.proj.launchProtocol(tune, wait=True)  # Continue
        tune = self.refreshed(tune)
        self.assertTrue(tune.isFinished(), tune.getErrorMessage())
        epochs = [int(row["epoch"]) for row in self.trainingLog(tune)]
        self.assertEqual(epochs, list(range(len(epochs))))  # resumed: no epoch repeated or lost
        self.assertGreater(len(epochs), stopped["epochs_done"])
        done = json.load(open(os.path.join(tune.trainingFolder(), "state.json")))
        self.assertGreaterEqual(done["seconds_done"], 45)  # the whole budget, over both sessions
        self.assertTrue(os.path.isfile(getattr(tune, OUTPUT_MODEL).getFileName()))
