"""The deep micrograph cleaner protocol in real Scipion projects, against known bad regions.

Micrographs (dark discs on noise) and picks on and off the discs are generated, imported with
pwem's import protocols and screened with the engine running in the plugin's own environment.
"""
import glob
import os
import shutil
import sqlite3
import time

from pwem.objects import SetOfMicrographs
from pwem.protocols import ProtCreateStreamData, ProtImportCoordinates, ProtImportMicrographs
from pyworkflow.tests import BaseTest, setupTestProject

from .. import Plugin, demo
from ..constants import MICS_OTHER, MODEL_BUNDLED, MODEL_FILE
from ..protocols import ProtMicrographCleanerScreen
from ..protocols.protocol_screen import OUTPUT_ACCEPTED, OUTPUT_MICROGRAPHS, OUTPUT_REJECTED
from . import scenes

FAILED = "micrograph failed"


class ScreenTestBase(BaseTest):
    @classmethod
    def setUpClass(cls):
        problems = Plugin.validateInstallation()
        if problems:
            raise RuntimeError("\n".join(problems))
        setupTestProject(cls)
        cls.data = os.path.join(cls.proj.getPath(), "data")
        shutil.rmtree(cls.data, ignore_errors=True)
        cls.model = scenes.tiny_model(os.path.join(os.environ["SCIPION_USER_DATA"], "test-models"))

    @classmethod
    def importScenes(cls, subfolder, names, seed, downsample=1):
        """Writes and imports micrographs and their picks; returns (mics protocol, coords protocol, truth)."""
        folder = os.path.join(cls.data, subfolder)
        truth = scenes.write_scenes(folder, names, seed, downsample)
        mics = cls.newProtocol(ProtImportMicrographs, filesPath=folder, filesPattern="*.mrc",
                               samplingRate=scenes.PIXEL_SIZE * downsample, voltage=300,
                               sphericalAberration=2.7, amplitudeContrast=0.1)
        cls.launchProtocol(mics)
        scenes.restore_file_names(mics.outputMicrographs, names)
        sqlite = scenes.write_coordinates_sqlite(os.path.join(folder, "coordinates.sqlite"),
                                                 mics.outputMicrographs, truth)
        coords = cls.newProtocol(ProtImportCoordinates, importFrom=ProtImportCoordinates.IMPORT_FROM_SCIPION,
                                 filesPath=sqlite, inputMicrographs=mics.outputMicrographs,
                                 boxSize=scenes.BOX // downsample)
        cls.launchProtocol(coords)
        return mics, coords, truth

    @classmethod
    def screen(cls, coordinates, launch=True, **kwargs):
        kwargs.setdefault("modelChoice", MODEL_FILE)
        if kwargs["modelChoice"] == MODEL_FILE:
            kwargs.setdefault("modelFile", cls.model)
        kwargs.setdefault("useGpu", False)
        kwargs.setdefault("streamingSleepOnWait", 2)
        protocol = cls.newProtocol(ProtMicrographCleanerScreen, inputCoordinates=coordinates, **kwargs)
        if launch:
            cls.launchProtocol(protocol)
        return protocol

    def waitFor(self, condition, what, timeout=300):
        deadline = time.time() + timeout
        while not condition():
            if time.time() > deadline:
                self.fail("timed out waiting for %s" % what)
            time.sleep(0.5)

    def refreshed(self, protocol):
        """The protocol with the latest state of its own database."""
        self.proj._updateProtocol(protocol)
        return protocol

    def finished(self, protocol):
        protocol = self.refreshed(protocol)
        if protocol.isFailed() or protocol.isAborted():
            self.fail("protocol stopped: %s" % protocol.getErrorMessage())
        return protocol.isFinished()

    @staticmethod
    def registeredMicrographs(protocol):
        """Ids in the micrograph output file of a running protocol."""
        path = protocol._getPath("%s.sqlite" % OUTPUT_MICROGRAPHS)
        if not os.path.exists(path):  # opening a set would create the file
            return set()
        try:
            output = SetOfMicrographs(filename=path)
            ids = set(output.getIdSet())
            output.close()
        except sqlite3.OperationalError:  # not written yet, or its first items are being written
            return set()
        return ids

    def outputCoordinates(self, protocol):
        """{(micId, x, y): coordinate clone} of both outputs, checking that no id appears twice."""
        found, ids = {}, []
        for name, accepted in ((OUTPUT_ACCEPTED, True), (OUTPUT_REJECTED, False)):
            for coord in getattr(protocol, name):
                found[(coord.getMicId(), coord.getX(), coord.getY())] = (accepted, coord.clone())
                ids.append(coord.getObjId())
        self.assertEqual(len(ids), len(set(ids)), "a coordinate was registered twice")
        return found

    def assertMatchesTruth(self, protocol, micrographs, truth, scale=1):
        expected = scenes.truth_by_position(micrographs, truth, scale)
        found = self.outputCoordinates(protocol)
        self.assertEqual(set(found), set(expected), "accepted + rejected must be exactly the input")
        for key, label in expected.items():
            accepted, coord = found[key]
            score = coord._xmipp_goodRegionScore.get()
            self.assertTrue(0 <= score <= 1, "score %s out of range" % score)
            self.assertEqual(accepted, label == "good", "%s pick %s scored %.3f (%s)"
                             % (label, key, score, coord._mcReason.get()))
            self.assertEqual(coord._mcReason.get() == "accepted", accepted)
            if label == "good":
                self.assertGreater(coord._mcDistanceToBad.get(), 0)

    def assertMicrographOutputs(self, protocol, count, flagged=(0, 0.5)):
        """Every micrograph registered once, with a mask, a thumbnail and a flagged fraction in
        ``flagged`` (exclusive: the disc scenes always have some bad area, never most of it)."""
        micrographs = list(m.clone() for m in getattr(protocol, OUTPUT_MICROGRAPHS))
        self.assertEqual(len(micrographs), count)
        self.assertTrue(getattr(protocol, OUTPUT_MICROGRAPHS).isStreamClosed())
        for mic in micrographs:
            if mic._mcError.get():
                continue
            self.assertTrue(flagged[0] < mic._mcFlaggedFraction.get() < flagged[1], mic._mcFlaggedFraction.get())
            for attribute in ("_mcMaskFile", "_mcThumbnail"):
                path = os.path.join(self.proj.getPath(), getattr(mic, attribute).get())
                self.assertTrue(os.path.isfile(path), "%s %s missing" % (attribute, path))
        return micrographs


class TestScreen(ScreenTestBase):
    """The main job, a broken micrograph, a hostile file name and another sampling."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.names = ["mic_a", "mic_b", "mic 1; touch pwned", "mic_c"]
        cls.mics, cls.coords, cls.truth = cls.importScenes("clean", cls.names, seed=1)

    def test_picks_on_bad_regions_are_rejected(self):
        protocol = self.screen(self.coords.outputCoordinates, streamingBatchSize=3)
        self.assertMatchesTruth(protocol, self.mics.outputMicrographs, self.truth)
        micrographs = self.assertMicrographOutputs(protocol, len(self.truth))
        self.assertFalse(glob.glob(os.path.join(self.proj.getPath(), "**", "pwned*"), recursive=True)
                         or os.path.exists("pwned.mrc"), "a file name ran as a shell command")
        for mic in micrographs:
            self.assertEqual(mic._mcAccepted.get() + mic._mcRejected.get(),
                             len(list(self.coords.outputCoordinates.iterCoordinates(mic.getObjId()))))
        summary = "\n".join(protocol.summary())
        self.assertIn("%d micrographs" % len(self.truth), summary)
        self.assertIn("SanchezGarcia2020", "".join(protocol.methods()))

    def test_score_only_keeps_every_coordinate(self):
        protocol = self.screen(self.coords.outputCoordinates, threshold=-1, streamingBatchSize=10,
                               saveThumbnails=False)
        self.assertEqual(getattr(protocol, OUTPUT_REJECTED).getSize(), 0)
        self.assertEqual(getattr(protocol, OUTPUT_ACCEPTED).getSize(), self.coords.outputCoordinates.getSize())

    def test_broken_micrograph_is_reported_and_its_picks_rejected(self):
        """A constant micrograph alone in the first batch, with a two-class model: reported, its
        picks rejected with the reason, and the others still get every per-class attribute."""
        mics, coords, truth = self.importScenes("broken", ["aa_broken", "ok_1", "ok_2"], seed=2)
        scenes.write_mrc(os.path.join(self.data, "broken", "aa_broken.mrc"), [[5.0] * 64] * 64)
        model = scenes.tiny_model(os.path.join(os.environ["SCIPION_USER_DATA"], "test-models"), outputs=2)
        protocol = self.screen(coords.outputCoordinates, streamingBatchSize=1, modelFile=model,
                               classDistances="class1=10")
        del truth["aa_broken"]
        expected = scenes.truth_by_position(mics.outputMicrographs, truth)
        brokenId = min(mic.getObjId() for mic in mics.outputMicrographs)
        found = self.outputCoordinates(protocol)
        self.assertEqual(len(found), coords.outputCoordinates.getSize())
        for (micId, x, y), (accepted, coord) in found.items():
            if micId == brokenId:
                self.assertFalse(accepted)
                self.assertTrue(coord._mcReason.get().startswith(FAILED), coord._mcReason.get())
                self.assertIn("constant image", coord._mcReason.get())
                self.assertIsNone(coord._xmipp_goodRegionScore.get())
            else:
                self.assertEqual(accepted, expected[(micId, x, y)] == "good", coord._mcReason.get())
        for mic in self.assertMicrographOutputs(protocol, 3):
            if mic.getObjId() != brokenId:
                self.assertGreater(mic._mcFlaggedFraction_class1.get(), 0)
        summary = "\n".join(protocol.summary())
        self.assertIn("1 micrographs failed", summary)
        self.assertIn("aa_broken.mrc", summary)

    def test_unusable_model_fails_naming_the_file(self):
        garbage = os.path.join(self.data, "notamodel.keras")
        with open(garbage, "w") as stream:
            stream.write("not a model")
        protocol = self.screen(self.coords.outputCoordinates, launch=False, modelFile=garbage)
        self.proj.launchProtocol(protocol, wait=True)
        self.assertTrue(protocol.isFailed())
        self.assertIn("notamodel.keras", protocol.getErrorMessage())
        self.assertIn("micrographcleaner batch: error:", protocol.getErrorMessage())

    def test_coordinates_at_another_sampling(self):
        """Picks made on 2x binned micrographs (same names, so same ids), screened on the full-size ones."""
        binned, binnedCoords, binnedTruth = self.importScenes("binned", self.names, seed=1, downsample=2)
        protocol = self.screen(binnedCoords.outputCoordinates, micsSource=MICS_OTHER,
                               inputMicrographs=self.mics.outputMicrographs, streamingBatchSize=4)
        self.assertMatchesTruth(protocol, binned.outputMicrographs, binnedTruth)
        self.assertEqual(protocol.outputMicrographs.getSamplingRate(), scenes.PIXEL_SIZE)


class TestStreaming(ScreenTestBase):
    """Micrographs and coordinates arrive one at a time; outputs grow, stay open, then close."""

    def test_streaming(self):
        mics, coords, truth = self.importScenes("stream", ["s1", "s2", "s3", "s4", "s5"], seed=3)
        # copies of the micrographs with the same ids (1..5, in order), arriving after their coordinates
        micFeeder = self.newProtocol(ProtCreateStreamData, setof=1, inputMics=mics.outputMicrographs,
                                     nDim=5, creationInterval=5)
        coordFeeder = self.newProtocol(ProtCreateStreamData, setof=4, inputCoordinates=coords.outputCoordinates,
                                       nDim=5, creationInterval=3)
        for feeder, output in ((micFeeder, "outputMicrographs"), (coordFeeder, "outputCoordinates")):
            self.proj.launchProtocol(feeder, wait=False)
            self.waitFor(lambda: self.refreshed(feeder).hasAttribute(output), "the first streamed item")
        protocol = self.screen(None, launch=False, streamingBatchSize=1, micsSource=MICS_OTHER)
        protocol.inputCoordinates.set(coordFeeder)
        protocol.inputCoordinates.setExtended("outputCoordinates")
        protocol.inputMicrographs.set(micFeeder)
        protocol.inputMicrographs.setExtended("outputMicrographs")
        self.proj.launchProtocol(protocol, wait=False)
        self.waitFor(lambda: self.refreshed(protocol).hasAttribute(OUTPUT_MICROGRAPHS), "the first output")
        grown = getattr(protocol, OUTPUT_MICROGRAPHS)
        self.assertLess(grown.getSize(), 5, "outputs should appear before all input has arrived")
        self.assertFalse(grown.isStreamClosed())
        self.waitFor(lambda: self.finished(protocol), "the protocol to finish", timeout=600)
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        self.assertMicrographOutputs(protocol, 5)
        for name in (OUTPUT_ACCEPTED, OUTPUT_REJECTED):
            self.assertTrue(getattr(protocol, name).isStreamClosed())


class TestKillAndContinue(ScreenTestBase):
    def test_kill_and_continue(self):
        """A run killed mid-way and continued redoes no micrograph and loses or repeats no pick."""
        mics, coords, truth = self.importScenes("resume", ["r%d" % i for i in range(6)], seed=4)
        protocol = self.screen(coords.outputCoordinates, launch=False, streamingBatchSize=1)
        self.proj.launchProtocol(protocol, wait=False)
        self.waitFor(lambda: len(self.registeredMicrographs(protocol)) >= 2, "two registered micrographs")
        self.proj.stopProtocol(protocol)
        protocol = self.refreshed(protocol)
        done = self.registeredMicrographs(protocol)
        self.assertLess(len(done), 6, "the run finished before it could be killed")
        masks = {micId: os.stat(protocol._getExtraPath("micrographs", "mic%06d_mask.mrc" % micId)).st_mtime_ns
                 for micId in done}
        self.proj.launchProtocol(protocol, wait=True)
        protocol = self.refreshed(protocol)
        self.assertTrue(protocol.isFinished(), protocol.getErrorMessage())
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        self.assertMicrographOutputs(protocol, 6)
        for micId, mtime in masks.items():
            path = protocol._getExtraPath("micrographs", "mic%06d_mask.mrc" % micId)
            self.assertEqual(os.stat(path).st_mtime_ns, mtime, "micrograph %d was predicted again" % micId)


class TestBundledModel(ScreenTestBase):
    def test_bundled_model_on_simulated_micrographs(self):
        """The bundled model on the engine's simulator (carbon, contamination, ice, aggregates)."""
        if not scenes.bundled_model_installed():
            self.skipTest("the engine in the plugin environment has no bundled model")
        folder = os.path.join(self.data, "simulated")
        coords, truth = demo.importExample(self.proj, folder, 4, 64, firstSeed=700)
        protocol = self.screen(coords.outputCoordinates, modelChoice=MODEL_BUNDLED, streamingBatchSize=4)
        decided = demo.decisions(protocol)
        keptGood, rejectedBad = demo.agreement(decided, truth)
        self.assertEqual(len(decided), len(truth))
        worst = demo.worstMicrographs(self.proj, protocol, decided, truth, folder, count=2)
        self.assertEqual(len(worst), 2)
        for line in worst:  # the demo's list of micrographs to look at: numbers and an existing thumbnail
            self.assertRegex(line, r"sim_\d+\.mrc: bad area [\d.]+% true, [\d.]+% flagged; \d+ of \d+ picks")
            self.assertTrue(os.path.isfile(line.rsplit("\n    ", 1)[1]), line)
        self.assertGreater(keptGood, 0.8, "true particles on clean ice kept")
        self.assertGreater(rejectedBad, 0.6, "picks on bad regions rejected")
        self.assertMicrographOutputs(protocol, 4, flagged=(-0.01, 1.01))
