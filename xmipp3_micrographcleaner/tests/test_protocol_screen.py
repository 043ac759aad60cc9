"""The deep micrograph cleaner protocol in real Scipion projects, against known bad regions.

Micrographs (dark discs on noise) and picks on and off the discs are generated, imported with
pwem's import protocols and screened with the engine running in the plugin's own environment.
"""
import contextlib
import glob
import json
import os
import shutil
import signal
import sqlite3
import time

import psutil
from pwem.objects import Coordinate, SetOfCoordinates, SetOfMicrographs
from pwem.protocols import ProtCreateStreamData, ProtImportCoordinates, ProtImportMicrographs
from pyworkflow.tests import BaseTest, setupTestProject

from .. import Plugin
from ..attributes import (ACCEPTED_COUNT, DISTANCE_TO_BAD, ERROR, FLAGGED_FRACTION, GOODNESS, ICINESS, MASK_FILE,
                          REASON, REJECTED_COUNT, THUMBNAIL, classFractionAttribute)
from ..constants import MODEL_BUNDLED, MODEL_FILE, contract
from ..protocols import ProtDeepMicrographScreen
from ..protocols.engine_client import Answer, EngineWorker
from ..protocols.screen_outputs import OUTPUT_ACCEPTED, OUTPUT_MICROGRAPHS, OUTPUT_MICROGRAPHS_REJECTED, OUTPUT_REJECTED
from . import scenes


def stored(item, name):
    """The value of an attribute the screen stores on its output items (an error when it is missing)."""
    return getattr(item, name).get()


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
    def importScenes(cls, subfolder, names, seed, downsample=1, clean=()):
        """Writes and imports micrographs and their picks; returns (mics protocol, coords protocol, truth)."""
        folder = os.path.join(cls.data, subfolder)
        truth = scenes.write_scenes(folder, names, seed, downsample, clean)
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
        if coordinates is not None:
            kwargs["inputCoordinates"] = coordinates
        protocol = cls.newProtocol(ProtDeepMicrographScreen, **kwargs)
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

    def engineWorkers(self):
        """Engine worker processes started from this test's project."""
        found = []
        for process in psutil.process_iter(["cmdline", "cwd"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if "micrographcleaner worker" in cmdline and process.info["cwd"] == self.proj.getPath():
                found.append(process)
        return found

    @staticmethod
    def streamOpen(output):
        """Whether a set that another protocol writes is still open (read from its file)."""
        items = output.__class__(filename=output.getFileName())
        items.loadAllProperties()
        isOpen = not items.isStreamClosed()
        items.close()
        return isOpen

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
            score = stored(coord, GOODNESS)
            self.assertTrue(0 <= score <= 1, "score %s out of range" % score)
            self.assertEqual(accepted, label == "good", "%s pick %s scored %.3f (%s)"
                             % (label, key, score, stored(coord, REASON)))
            self.assertEqual(stored(coord, REASON) == contract.ACCEPTED, accepted)
            if label == "good":
                self.assertGreater(stored(coord, DISTANCE_TO_BAD), 0)

    def assertMicrographOutputs(self, protocol, count, flagged=(0, 0.5)):
        """Every micrograph registered once (accepted or rejected), with a mask, a thumbnail and a
        flagged fraction in ``flagged`` (exclusive: the disc scenes always have some bad area, never
        most of it)."""
        micrographs = [m.clone() for name in (OUTPUT_MICROGRAPHS, OUTPUT_MICROGRAPHS_REJECTED)
                       for m in getattr(protocol, name)]
        self.assertEqual(len(micrographs), count)
        self.assertEqual(len({m.getObjId() for m in micrographs}), count)
        for name in (OUTPUT_MICROGRAPHS, OUTPUT_MICROGRAPHS_REJECTED):
            self.assertTrue(getattr(protocol, name).isStreamClosed())
        for mic in micrographs:
            if stored(mic, ERROR):
                continue
            self.assertTrue(flagged[0] < stored(mic, FLAGGED_FRACTION) < flagged[1], stored(mic, FLAGGED_FRACTION))
            for attribute in (MASK_FILE, THUMBNAIL):
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
            self.assertEqual(stored(mic, ACCEPTED_COUNT) + stored(mic, REJECTED_COUNT),
                             len(list(self.coords.outputCoordinates.iterCoordinates(mic.getObjId()))))
        summary = "\n".join(protocol.summary())
        self.assertIn("%d micrographs" % len(self.truth), summary)
        self.assertIn("SanchezGarcia2020", "".join(protocol.methods()))

    def test_score_only_keeps_every_coordinate(self):
        """Also: the hole diameter reaches the engine, whose summaries and the methods say so."""
        protocol = self.screen(self.coords.outputCoordinates, threshold=-1, streamingBatchSize=10,
                               saveThumbnails=False, holeDiameter=1.2)
        self.assertEqual(getattr(protocol, OUTPUT_REJECTED).getSize(), 0)
        self.assertEqual(getattr(protocol, OUTPUT_ACCEPTED).getSize(), self.coords.outputCoordinates.getSize())
        summaries = []
        for path in glob.glob(os.path.join(protocol._getExtraPath("micrographs"), "*.json")):
            with open(path) as stream:
                summaries.append(json.load(stream))
        self.assertEqual(len(summaries), len(self.truth))
        for summary in summaries:
            self.assertEqual(summary["hole_geometry"], {"used": True, "diameter_um": 1.2})
        self.assertIn("hole diameter 1.2 µm", "".join(protocol.methods()))
        errors = " ".join(self.screen(self.coords.outputCoordinates, launch=False, holeDiameter=1200.0).validate())
        self.assertIn("The hole diameter is in µm", errors)

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
                self.assertTrue(stored(coord, REASON).startswith(contract.MICROGRAPH_FAILED), stored(coord, REASON))
                self.assertIn("constant image", stored(coord, REASON))
                self.assertIsNone(stored(coord, GOODNESS))
            else:
                self.assertEqual(accepted, expected[(micId, x, y)] == "good", stored(coord, REASON))
        for mic in self.assertMicrographOutputs(protocol, 3):
            if mic.getObjId() != brokenId:
                self.assertGreater(stored(mic, classFractionAttribute("class1")), 0)
        summary = "\n".join(protocol.summary())
        self.assertIn("1 micrograph failed", summary)
        self.assertIn("aa_broken.mrc", summary)

    def test_unusable_model_fails_naming_the_file(self):
        garbage = os.path.join(self.data, "notamodel.keras")
        with open(garbage, "w") as stream:
            stream.write("not a model")
        protocol = self.screen(self.coords.outputCoordinates, launch=False, modelFile=garbage)
        self.proj.launchProtocol(protocol, wait=True)
        self.assertTrue(protocol.isFailed())
        self.assertIn("notamodel.keras", protocol.getErrorMessage())
        self.assertIn("failed (status %d)" % contract.EXIT_USAGE, protocol.getErrorMessage())

    def test_coordinates_at_another_sampling(self):
        """Picks made on 2x binned micrographs (same names, so same ids), screened on the full-size ones."""
        binned, binnedCoords, binnedTruth = self.importScenes("binned", self.names, seed=1, downsample=2)
        protocol = self.screen(binnedCoords.outputCoordinates, inputMicrographs=self.mics.outputMicrographs,
                               streamingBatchSize=4)
        self.assertMatchesTruth(protocol, binned.outputMicrographs, binnedTruth)
        self.assertEqual(protocol.outputMicrographs.getSamplingRate(), scenes.PIXEL_SIZE)


class TestStreaming(ScreenTestBase):
    """Micrographs and coordinates arrive one at a time; outputs grow, stay open, then close."""

    def test_streaming_with_default_settings(self):
        """Default threads and sleep: a batch is registered while the coordinates still stream in."""
        names = ["s%d" % i for i in range(6)]
        mics, coords, truth = self.importScenes("stream", names, seed=3)
        # copies of the micrographs with the same ids (in order), the coordinates arriving slower
        micFeeder = self.newProtocol(ProtCreateStreamData, setof=1, inputMics=mics.outputMicrographs,
                                     nDim=len(names), creationInterval=3)
        coordFeeder = self.newProtocol(ProtCreateStreamData, setof=4, inputCoordinates=coords.outputCoordinates,
                                       nDim=len(names), creationInterval=8)
        for feeder, output in ((micFeeder, "outputMicrographs"), (coordFeeder, "outputCoordinates")):
            self.proj.launchProtocol(feeder, wait=False)
            self.waitFor(lambda: self.refreshed(feeder).hasAttribute(output), "the first streamed item")
        protocol = self.screen(None, launch=False, streamingBatchSize=2)
        protocol.inputCoordinates.set(coordFeeder)
        protocol.inputCoordinates.setExtended("outputCoordinates")
        protocol.inputMicrographs.set(micFeeder)
        protocol.inputMicrographs.setExtended("outputMicrographs")
        self.proj.launchProtocol(protocol, wait=False)
        self.waitFor(lambda: self.registeredMicrographs(protocol), "the first batch", timeout=120)
        self.assertTrue(self.streamOpen(coordFeeder.outputCoordinates),
                        "a batch should be registered while the input is still open")
        run = psutil.Process(self.refreshed(protocol).getPid())
        before, started = sum(run.cpu_times()[:2]), time.time()
        time.sleep(6)
        self.assertLess((sum(run.cpu_times()[:2]) - before) / (time.time() - started), 0.5,
                        "the run's process should sleep while it waits for input, not poll")
        self.assertFalse(self.refreshed(protocol).isFinished())
        self.assertFalse(getattr(protocol, OUTPUT_MICROGRAPHS).isStreamClosed())
        self.waitFor(lambda: self.finished(protocol), "the protocol to finish", timeout=600)
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        self.assertMicrographOutputs(protocol, len(names))
        self.assertFalse(self.engineWorkers(), "the engine worker outlived the run")
        for name in (OUTPUT_ACCEPTED, OUTPUT_REJECTED):
            self.assertTrue(getattr(protocol, name).isStreamClosed())


class TestMicrographScreening(ScreenTestBase):
    """Mostly bad micrographs (here: any disc, with a low maximum flagged fraction) are rejected."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.names = ["mb_clean", "mb_disc1", "mb_disc2"]
        cls.mics, cls.coords, cls.truth = cls.importScenes("mostlybad", cls.names, seed=7, clean=["mb_clean"])
        cls.cleanId = [m.getObjId() for m in cls.mics.outputMicrographs if "mb_clean" in m.getFileName()]

    def decisions(self, protocol):
        return {name: sorted(m.getObjId() for m in getattr(protocol, name))
                for name in (OUTPUT_MICROGRAPHS, OUTPUT_MICROGRAPHS_REJECTED)}

    def test_mostly_bad_micrograph_rejected_with_its_coordinates(self):
        protocol = self.screen(self.coords.outputCoordinates, maxFlagged=0.02)
        self.assertEqual(self.decisions(protocol)[OUTPUT_MICROGRAPHS], self.cleanId)
        found = self.outputCoordinates(protocol)
        self.assertEqual(len(found), self.coords.outputCoordinates.getSize())
        for (micId, x, y), (accepted, coord) in found.items():
            if micId in self.cleanId:
                self.assertTrue(accepted, stored(coord, REASON))
            else:
                self.assertFalse(accepted)
                self.assertEqual(stored(coord, REASON), contract.MOSTLY_BAD)
        for mic in self.assertMicrographOutputs(protocol, 3, flagged=(-0.01, 0.5)):
            # the engine's summary (and the thumbnail drawn from the same decisions) agrees with the outputs
            with open(os.path.join(self.proj.getPath(), stored(mic, THUMBNAIL))[:-len(".png")] + ".json") as stream:
                summary = json.load(stream)
            self.assertEqual(summary["coordinates"]["accepted"], stored(mic, ACCEPTED_COUNT))
            self.assertEqual(summary["coordinates"]["rejected"], stored(mic, REJECTED_COUNT))
            self.assertEqual(summary["rejection"], None if mic.getObjId() in self.cleanId else contract.MOSTLY_BAD)
        self.assertIn("2 rejected", "\n".join(protocol.summary()))

    def test_iciness_rule(self):
        """Every micrograph gets its iciness (1.5 Å/px resolves the ice band); the clean one, white
        noise (iciness about 1), is over a maximum of 0.5 and rejected with its coordinates."""
        protocol = self.screen(self.coords.outputCoordinates, maxIciness=0.5)
        micrographs = self.assertMicrographOutputs(protocol, 3, flagged=(-0.01, 0.5))
        rejected = self.decisions(protocol)[OUTPUT_MICROGRAPHS_REJECTED]
        for mic in micrographs:
            self.assertEqual(mic.getObjId() in rejected, stored(mic, ICINESS) > 0.5, stored(mic, ICINESS))
        clean, = [mic for mic in micrographs if mic.getObjId() in self.cleanId]
        self.assertTrue(0.8 < stored(clean, ICINESS) < 1.2, stored(clean, ICINESS))
        reasons = {stored(coord, REASON) for (micId, _, _), (_, coord) in self.outputCoordinates(protocol).items()
                   if micId in self.cleanId}
        self.assertEqual(reasons, {contract.CRYSTALLINE_ICE})
        self.assertIn("Iciness", "\n".join(protocol.summary()))

    def test_micrographs_only_then_coordinates_reusing_the_masks(self):
        """No coordinates: micrographs screened (masks, flagged fractions), no coordinate output; a
        later run with the coordinates reuses those masks."""
        protocol = self.screen(None, inputMicrographs=self.mics.outputMicrographs, boxSize=scenes.BOX,
                               maxFlagged=0.02, streamingBatchSize=2)
        decisions = self.decisions(protocol)
        self.assertEqual(decisions[OUTPUT_MICROGRAPHS], self.cleanId)
        self.assertEqual(len(decisions[OUTPUT_MICROGRAPHS_REJECTED]), 2)
        self.assertFalse(hasattr(protocol, OUTPUT_ACCEPTED) or hasattr(protocol, OUTPUT_REJECTED))
        masks = {}
        for mic in self.assertMicrographOutputs(protocol, 3, flagged=(-0.01, 0.5)):
            self.assertEqual(stored(mic, ACCEPTED_COUNT) + stored(mic, REJECTED_COUNT), 0)
            masks[mic.getObjId()] = os.stat(os.path.join(self.proj.getPath(), stored(mic, MASK_FILE))).st_mtime_ns

        later = self.screen(self.coords.outputCoordinates, maskRun=protocol)
        self.assertMatchesTruth(later, self.mics.outputMicrographs, self.truth)
        for mic in self.assertMicrographOutputs(later, 3, flagged=(-0.01, 0.5)):
            path = os.path.join(self.proj.getPath(), stored(mic, MASK_FILE))
            self.assertEqual(os.stat(path).st_mtime_ns, masks[mic.getObjId()], "predicted again: %s" % path)


class TestLatePicks(ScreenTestBase):
    def test_picks_arriving_after_their_micrograph_was_done(self):
        """One micrograph's picks come in three commits, before and after its batch: none is lost."""
        names = ["late_a", "late_b", "late_c"]
        mics, coords, truth = self.importScenes("late", names, seed=5)
        micIds = {os.path.basename(m.getFileName())[:-4]: m.getObjId() for m in mics.outputMicrographs}
        # the input starts with the first two picks of late_a and all of late_b, and stays open
        laterA, lateC = truth["late_a"][2:], truth["late_c"]
        rows = sorted((c.getObjId(), c.getMicId()) for c in coords.outputCoordinates)
        firstA = [coordId for coordId, micId in rows if micId == micIds["late_a"]][:2]
        self.reopenInput(coords.outputCoordinates, [coordId for coordId, micId in rows if micId != micIds["late_b"]
                                                    and coordId not in firstA])
        protocol = self.screen(coords.outputCoordinates, launch=False, streamingBatchSize=1, streamingSleepOnWait=2)
        self.proj.launchProtocol(protocol, wait=False)
        self.waitFor(lambda: micIds["late_a"] in self.registeredMicrographs(protocol), "late_a's first batch")
        self.appendInput(coords.outputCoordinates, [(micIds["late_a"], x, y) for x, y, _ in laterA[:1]])
        time.sleep(5)  # a second commit, probably in a batch of its own
        self.appendInput(coords.outputCoordinates, [(micIds["late_a"], x, y) for x, y, _ in laterA[1:]]
                         + [(micIds["late_c"], x, y) for x, y, _ in lateC], close=True)
        self.waitFor(lambda: self.finished(protocol), "the protocol to finish")
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        micrographs = {m.getObjId(): m.clone() for m in getattr(protocol, OUTPUT_MICROGRAPHS)}
        self.assertEqual(len(micrographs), 3)
        lateA = micrographs[micIds["late_a"]]
        self.assertEqual(stored(lateA, ACCEPTED_COUNT) + stored(lateA, REJECTED_COUNT), len(truth["late_a"]))
        with open(protocol._getExtraPath("micrographs", "mic%06d.json" % micIds["late_a"])) as stream:
            drawn = json.load(stream)["coordinates"]["total"]
        self.assertEqual(drawn, len(truth["late_a"]), "the last batch's thumbnail should show every pick")

    @staticmethod
    def reopenInput(coordinates, dropped):
        """Removes coordinates from an imported set and reopens its stream, as if still picking."""
        with contextlib.closing(sqlite3.connect(coordinates.getFileName())) as db:
            db.executemany("DELETE FROM Objects WHERE id=?", [(i,) for i in dropped])
            db.execute("UPDATE Properties SET value=? WHERE key='_streamState'", (str(SetOfCoordinates.STREAM_OPEN),))
            db.commit()

    @staticmethod
    def appendInput(coordinates, picks, close=False):
        """Appends picks (micId, x, y) to a streaming set as a picking protocol would."""
        items = SetOfCoordinates(filename=coordinates.getFileName())
        items.loadAllProperties()
        items.enableAppend()
        for micId, x, y in picks:
            coordinate = Coordinate()
            coordinate.setPosition(x, y)
            coordinate.setMicId(micId)
            items.append(coordinate)
        items.setStreamState(SetOfCoordinates.STREAM_CLOSED if close else SetOfCoordinates.STREAM_OPEN)
        items.write()
        items.close()


class TestKillAndContinue(ScreenTestBase):
    def test_sigkill_and_continue(self):
        """A run whose process is killed (SIGKILL) mid-way leaves no engine behind, and continued
        redoes no micrograph and loses or repeats no pick."""
        mics, coords, truth = self.importScenes("resume", ["r%d" % i for i in range(6)], seed=4)
        protocol = self.screen(coords.outputCoordinates, launch=False, streamingBatchSize=1)
        self.proj.launchProtocol(protocol, wait=False)
        self.waitFor(lambda: len(self.registeredMicrographs(protocol)) >= 2, "two registered micrographs")
        os.kill(self.refreshed(protocol).getPid(), signal.SIGKILL)
        self.waitFor(lambda: not self.engineWorkers(), "the engine worker to end with the run", timeout=30)
        with contextlib.suppress(psutil.NoSuchProcess):
            self.proj.stopProtocol(protocol)  # marks it aborted, as the GUI does for a vanished run
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
        self.assertFalse(self.engineWorkers(), "the engine worker outlived the run")


class TestEngineWorker(ScreenTestBase):
    def test_worker_restarts_after_the_engine_dies(self):
        """The worker is started once for many batches, and replaced when its process dies."""
        folder = os.path.join(self.data, "worker")
        truth = scenes.write_scenes(folder, ["w0", "w1", "w2"], seed=6)
        worker = EngineWorker(os.path.join(folder, "engine.log"))
        self.addCleanup(worker.stop)
        pids = []
        for number, name in enumerate(truth):
            manifest = {"output_dir": os.path.join(folder, "out"), "box_size": scenes.BOX, "model": self.model,
                        "gpus": "cpu", "micrographs": [{"id": number, "key": name, "pixel_size": scenes.PIXEL_SIZE,
                                                        "path": os.path.join(folder, name + ".mrc")}]}
            paths = [os.path.join(folder, "%s.%s.json" % (name, kind)) for kind in ("manifest", "result")]
            with open(paths[0], "w") as stream:
                json.dump(manifest, stream)
            self.assertEqual(worker.run(*paths), Answer(contract.EXIT_OK, None))
            with open(paths[1]) as stream:
                self.assertTrue(json.load(stream)["micrographs"][0]["ok"])
            pids.append(worker.pid)
            if number == 1:
                os.kill(worker.pid, signal.SIGKILL)
        self.assertEqual(pids[0], pids[1], "the worker should serve several batches")
        self.assertNotEqual(pids[1], pids[2], "a dead worker should be replaced")
        worker.stop()
        self.assertFalse(psutil.pid_exists(pids[2]) and psutil.Process(pids[2]).status() != psutil.STATUS_ZOMBIE)


class TestBundledModel(ScreenTestBase):
    def test_bundled_model_on_simulated_micrographs(self):
        """The bundled model on the engine's simulator (carbon, contamination, ice, aggregates)."""
        if not scenes.bundled_model_installed():
            self.skipTest("the engine in the plugin environment has no bundled model")
        folder = os.path.join(self.data, "simulated")
        coords, truth = scenes.import_simulated(self.proj, folder, 4, 64, first_seed=700)
        protocol = self.screen(coords.outputCoordinates, modelChoice=MODEL_BUNDLED, streamingBatchSize=4)
        decided = scenes.decisions(protocol)
        keptGood, rejectedBad = scenes.agreement(decided, truth)
        self.assertEqual(len(decided), len(truth))
        self.assertGreater(keptGood, 0.8, "true particles on clean ice kept")
        self.assertGreater(rejectedBad, 0.6, "picks on bad regions rejected")
        self.assertMicrographOutputs(protocol, 4, flagged=(-0.01, 1.01))
