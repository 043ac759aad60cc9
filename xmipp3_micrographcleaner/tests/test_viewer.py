"""The viewer on one finished screen of generated scenes (four good micrographs and a broken one):
every view is drawn headlessly and saved as a PNG whose size, content and figure data are checked
against the scenes' ground truth; one test opens the real Tk windows in Xvfb and takes a screenshot.
"""
import json
import os
import shutil
import subprocess
import sys
import unittest
from types import SimpleNamespace

import mrcfile
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from PIL import Image, ImageColor
from pwem.objects import SetOfMicrographs
from pyworkflow.project import Manager

from ..attributes import DISTANCE_TO_BAD, GOODNESS, REASON
from ..constants import contract
from ..viewers import MicrographCleanerViewer, figures
from ..viewers.viewer_screen import debianPackage, missingQtLibraries
from ..viewers.results import sortedMicrographs
from . import scenes
from .test_protocol_screen import ScreenTestBase, stored

THRESHOLD = 0.5
BROKEN = "zz_broken"
SCREEN = (1600, 1000)


class TestViewer(ScreenTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        names = ["qc_1", "qc_2", "qc_3", "qc_4", BROKEN]
        cls.mics, cls.coords, truth = cls.importScenes("viewer", names, seed=5)
        scenes.write_mrc(os.path.join(cls.data, "viewer", BROKEN + ".mrc"), np.full((64, 64), 5.0))
        cls.protocol = cls.screen(cls.coords.outputCoordinates, threshold=THRESHOLD, streamingBatchSize=5)
        labels = [label for name, picks in truth.items() if name != BROKEN for *_, label in picks]
        cls.good, cls.bad = labels.count("good"), labels.count("bad")
        cls.unscored = len(truth[BROKEN])
        cls.total = cls.good + cls.bad + cls.unscored
        cls.pictures = os.path.join(cls.proj.getPath(), "pictures")
        os.makedirs(cls.pictures, exist_ok=True)

    def setUp(self):
        self.viewer = MicrographCleanerViewer(project=self.proj, protocol=self.protocol)
        self.viewer.setProtocol(self.protocol)  # defines the form's parameters, as "Analyze results" does

    def assertPicture(self, path, size):
        """A PNG of ``size`` (width, height) pixels with real content (not one flat colour)."""
        with Image.open(path) as image:
            self.assertEqual(image.size, size, path)
            pixels = np.asarray(image.convert("RGB"), dtype=float)
        self.assertGreater(pixels.std(), 10, "%s is blank" % path)
        self.assertGreater(len(np.unique(pixels.reshape(-1, 3), axis=0)), 50, "%s is nearly blank" % path)

    def save(self, figure, name):
        path = os.path.join(self.pictures, name + ".png")
        figure.savefig(path, dpi=100)
        width, height = figure.get_size_inches() * 100
        self.assertPicture(path, (round(width), round(height)))
        return path

    def test_histogram(self):
        plotter, = self.viewer._showHistogram()
        figure = plotter.getFigure()
        self.save(figure, "histogram")
        histogram, counts = figure.axes
        accepted, rejected = ([patch.get_height() for patch in bars] for bars in histogram.containers)
        self.assertEqual(sum(accepted), self.good)
        self.assertEqual(sum(rejected), self.bad)  # the broken micrograph's picks have no score
        self.assertEqual(histogram.lines[0].get_xdata()[0], THRESHOLD)
        text = counts.texts[0].get_text()
        for line in ("coordinates: %d" % self.total, "accepted: %d" % self.good,
                     "rejected: %d" % (self.bad + self.unscored), "%s: %d" % (contract.LOW_GOODNESS, self.bad),
                     "%s: %d" % (contract.MICROGRAPH_FAILED, self.unscored), "not scored: %d" % self.unscored):
            self.assertIn(line, text)

    def test_threshold_explorer_registers_what_it_counts(self):
        results = self.viewer.results()
        self.assertEqual(results.kept(THRESHOLD).sum(), self.good)
        thresholds = np.linspace(0, 1, 101)
        curve = results.keptCounts(thresholds)
        self.assertEqual(curve[0], self.good + self.bad)
        self.assertTrue(np.all(np.diff(curve) <= 0), "kept counts must fall as the threshold rises")
        self.assertEqual(list(curve), [results.kept(t).sum() for t in thresholds])

        shown = int(results.kept(0.0).sum())
        figure = Figure(figsize=(8, 5.5))
        figures.keptCurve(figure, thresholds, curve, len(results.scores), 0.0, shown, 0, results.threshold)
        self.save(figure, "explorer")
        self.assertIn("%d of %d kept" % (shown, self.total), figure.axes[0].texts[0].get_text())

        self.viewer.exploreThreshold.set(0.0)
        message, = self.viewer._registerSubset()  # the form's "Register the coordinates kept"
        self.assertIn("outputCoordinates_t000 registered", message.getMessage())
        reloaded = Manager().loadProject(self.proj.getName()).getProtocol(self.protocol.getObjId())
        subset = reloaded.outputCoordinates_t000
        self.assertEqual(subset.getSize(), shown)
        self.assertEqual(subset.getSize(), self.good + self.bad, "threshold 0 keeps every scored pick")
        self.assertEqual(subset.getBoxSize(), self.coords.outputCoordinates.getBoxSize())
        for coord in subset:
            self.assertGreaterEqual(stored(coord, GOODNESS), 0)
            self.assertIsNotNone(stored(coord, DISTANCE_TO_BAD))
            self.assertEqual(stored(coord, REASON), contract.ACCEPTED)

        self.viewer.exploreThreshold.set(THRESHOLD)
        self.viewer.exploreDistance.set(1e6)  # farther than any micrograph: nothing is kept
        self.viewer._registerSubset()
        reloaded = Manager().loadProject(self.proj.getName()).getProtocol(self.protocol.getObjId())
        self.assertEqual(reloaded.outputCoordinates_t050_d1000000.getSize(), 0)

    def test_gallery(self):
        records = sortedMicrographs(self.viewer.results().micrographs, "flagged area, most first")
        self.assertEqual(len(records), 5)
        flagged = [record.flagged for record in records[:4]]
        self.assertEqual(flagged, sorted(flagged, reverse=True))
        self.assertTrue(records[-1].error and records[-1].name == BROKEN + ".mrc", "the failed one comes last")
        figure = Figure(figsize=(12, 8))
        tiles = figures.galleryPage(figure, records, columns=3)
        self.save(figure, "gallery")
        self.assertEqual(len(tiles), 5)
        for axes, record in tiles:
            self.assertEqual(len(axes.images), 0 if record.error else 1, "the thumbnail is drawn")
            self.assertIn("kept %d · rejected %d" % (record.accepted, record.rejected), axes.get_title())
        self.assertEqual(sum(record.accepted for record in records), self.good)
        results = self.viewer.results()
        self.assertEqual([r.name for r in results.onlyMicrographs("rejected micrographs").micrographs],
                         [BROKEN + ".mrc"], "the gallery's filter: the failed micrograph is rejected")
        self.assertEqual(len(results.onlyMicrographs("accepted micrographs").micrographs), 4)

        broken = Figure(figsize=(10, 7))
        figures.micrographDetail(broken, records[-1])
        self.save(broken, "detail_failed")
        self.assertIn("constant image", broken.axes[1].texts[0].get_text())
        detail = Figure(figsize=(10, 7))
        figures.micrographDetail(detail, records[0])
        self.save(detail, "detail")
        self.assertIn("flagged: %.1f%%" % (100 * records[0].flagged), detail.axes[1].texts[0].get_text())
        self.assertIn("iciness: %.2f" % records[0].iciness, detail.axes[1].texts[0].get_text())
        self.assertIn("micrograph REJECTED", broken.axes[1].texts[0].get_text())

    def test_over_time(self):
        plotter, = self.viewer._showOverTime()
        figure = plotter.getFigure()
        self.save(figure, "over_time")
        top, bottom = figure.axes
        records = self.viewer.results().micrographs
        self.assertEqual([record.micId for record in records], sorted(record.micId for record in records))
        np.testing.assert_allclose(top.lines[0].get_ydata(), [100 * record.flagged for record in records])
        failed = [line for line in top.lines if line.get_label() == "failed micrograph"]
        self.assertEqual(len(failed[0].get_xdata()), 1)
        limit, = [line for line in top.lines if line.get_label() == "max. flagged fraction"]
        self.assertEqual(list(limit.get_ydata()), [100 * self.protocol.maxFlagged.get()] * 2)
        rejected = bottom.lines[0].get_ydata()
        self.assertEqual(rejected[-1], 100, "every pick of the broken micrograph is rejected")
        self.assertTrue(np.all((rejected[:-1] > 0) & (rejected[:-1] < 100)))

    def test_masks_open_in_scipion_set_viewer(self):
        views = self.viewer._showMasks()
        self.assertTrue(views and all(hasattr(view, "show") for view in views))
        missing = missingQtLibraries()
        if missing:  # the viewer says what is missing instead of failing silently
            self.assertEqual(len(views), 1)
            self.assertIn(" ".join(map(debianPackage, missing)), views[0]._msg)
        masks = SetOfMicrographs(filename=self.viewer.maskSetPath())
        self.assertEqual(masks.getSize(), 4, "one mask per processed micrograph")
        for mask in masks:
            with mrcfile.open(mask.getFileName()) as mrc:
                # shown on one 0..1 scale: the strip below the mask pins each image's range
                self.assertEqual((mrc.data.min(), mrc.data.max()), (0, 1))
                np.testing.assert_allclose(mrc.data[-1], np.linspace(0, 1, mrc.data.shape[1]), atol=1e-6)
                self.assertAlmostEqual(mask.getSamplingRate(), float(mrc.voxel_size.x), places=4)
        masks.close()

    def test_windows_on_a_display(self):
        if shutil.which("xvfb-run") is None:
            self.skipTest("xvfb-run is not installed (the test command installs xvfb when it runs as root "
                          "with apt-get)")
        shot = os.path.join(self.pictures, "screenshot.png")
        environ = dict(os.environ, MPLBACKEND="TkAgg")
        run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 %dx%dx24" % SCREEN, sys.executable, "-m",
                              "xmipp3_micrographcleaner.tests.viewer_screenshot", self.proj.getName(),
                              str(self.protocol.getObjId()), shot], env=environ, capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertPicture(shot, SCREEN)
        with open(shot[:-len(".png")] + ".json") as stream:
            report = json.load(stream)
        self.assertEqual(report["viewer"], MicrographCleanerViewer.__name__)
        self.assertEqual(report["galleryTiles"], 5)
        self.assertEqual(report["explorerCount"], "%d of %d kept" % (self.good, self.total))
        self.assertEqual(report["details"], ["Micrograph %d: " % report["clicked"] + report["detailName"]])
        with Image.open(shot) as image:
            pixels = np.asarray(image.convert("RGB")).astype(int)
        green = (abs(pixels - ImageColor.getrgb(contract.ACCEPTED_COLOUR)).sum(axis=2) < 60).sum()
        self.assertGreater(green, 200, "the accepted particles' green circles should be on screen")


class TestPalette(unittest.TestCase):
    """The plots speak the thumbnails' colours: the contract's, one per class, and one for chosen values."""

    def test_plots_use_the_contract_colours(self):
        classes = ("carbon", "contamination", "crystalline_ice", "aggregate")
        records = [SimpleNamespace(micId=i, flagged=0.3 * i, rejectedFraction=0.2 * i, error=None,
                                   classFractions={name: 0.05 * i for name in classes}, micrographRejected=i == 3)
                   for i in range(1, 4)]
        top, bottom = figures.overTime(Figure(), records, classes, maxFlagged=0.8)
        colours = {line.get_label(): to_hex(line.get_color()) for line in top.lines + bottom.lines}
        for name in classes:
            self.assertEqual(colours[name], contract.class_colour(name))
        self.assertEqual(colours["max. flagged fraction"], contract.THRESHOLD_COLOUR)
        self.assertEqual(colours["rejected micrograph"], contract.REJECTED_COLOUR)
        self.assertEqual(colours["rejected particles"], contract.REJECTED_COLOUR)
        histogram = figures.scoreHistogram(Figure(), [0.9, 0.2], [True, False], [contract.ACCEPTED, "x"], 0.5)
        self.assertEqual(to_hex(histogram.lines[0].get_color()), contract.THRESHOLD_COLOUR)
        accepted, rejected = (to_hex(bars.patches[0].get_facecolor()) for bars in histogram.containers)
        self.assertEqual((accepted, rejected), (contract.ACCEPTED_COLOUR, contract.REJECTED_COLOUR))
