"""The correction window and its storage.

Without a display: the labels a review starts from (a label map's classes, a one-class mask), the
proposal order, the micrograph at the working size, the overlay's colours, and the corrections
folder (label maps, the label source with exactly the engine's ``LabelSource`` fields, atomic
writes). On a private Xvfb display: a real screen run's window opened from the viewer's form,
driven by synthetic pointer and key events (a stroke, an outline filled, undo, redo, save, close,
reopen), the warning before unsaved edits are left, zoom and pan, and the engine's ``LabelSource``
reading what was saved. The window's screenshot is kept in the project's ``pictures/``; the user
guide's is made on the demo's real micrographs by :mod:`.correction_screenshot`.
"""
import ast
import json
import os
import shutil
import subprocess
import tempfile
import tkinter as tk
import unittest
from unittest import mock

import mrcfile
import numpy as np
from PIL import Image, ImageColor

from ..constants import contract, enginePackageDir
from ..viewers import MicrographCleanerViewer, correction_window
from ..viewers.correction_window import CorrectionWindow, overlay
from ..viewers.corrections import (BAD, CODES, GOOD, UNSURE, CorrectionStore, ReviewItem, proposalOrder,
                                   uncertainFraction, workingImage)
from . import scenes
from .correction_screenshot import drag, grab
from .test_protocol_screen import ScreenTestBase

SCREEN = (1600, 1000)


def labelSourceFields():
    """The field names of the engine's ``LabelSource``, read from its source (the engine needs TensorFlow)."""
    tree = ast.parse((enginePackageDir() / "labels.py").read_text())
    source, = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "LabelSource"]
    return {node.target.id for node in source.body if isinstance(node, ast.AnnAssign)}


def writeMrc(path, data):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
    return path


class TestCorrectionStorage(unittest.TestCase):
    """What the window reads and writes, on small files of known content."""

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="corrections-test-")
        self.addCleanup(shutil.rmtree, self.folder)
        rng = np.random.default_rng(3)
        self.micrograph = writeMrc(os.path.join(self.folder, "mic.mrc"), rng.normal(size=(40, 60)).astype(np.float32))
        self.badness = np.zeros((20, 30), np.float32)
        self.badness[:, :10] = 0.9  # clearly bad
        self.badness[:, 10:13] = 0.5  # uncertain: 3 of 30 columns
        self.mask = writeMrc(os.path.join(self.folder, "mic000007_mask.mrc"), self.badness)
        self.summary = {"box_size": 24.0, "model": "tiny", "model_sha256": "0123456789abcdef",
                        "working_shape": [20, 30]}
        self.store = CorrectionStore(os.path.join(self.folder, "corrections"), "corrections of run 1")

    def item(self, classes="", summary=None, **numbers):
        numbers = dict(dict(micId=7, flagged=0.4, uncertain=0.1), **numbers)
        return ReviewItem(name="mic.mrc", stem="mic%06d" % numbers["micId"], micrograph=self.micrograph,
                          mask=self.mask, classes=classes, summary=summary or self.summary, **numbers)

    def test_model_labels(self):
        one = self.item().modelCodes()
        np.testing.assert_array_equal(one, np.where(self.badness >= 0.5, BAD, GOOD))
        self.assertEqual(one.dtype, np.uint8)
        labels = np.zeros((20, 30), np.int8)
        labels[0], labels[1], labels[2] = 1, 2, 3
        classes = writeMrc(os.path.join(self.folder, "mic000007_classes.mrc"), labels)
        summary = dict(self.summary, classes=["bad", "carbon", "class1", "aggregate"])
        codes = self.item(classes, summary).modelCodes()
        self.assertEqual(list(codes[:4, 0]), [CODES["carbon"], BAD, CODES["aggregate"], GOOD],
                         "a class code names the model's class; one the legend lacks is bad of no class")

    def test_uncertain_fraction(self):
        self.assertEqual(uncertainFraction({"uncertain_fraction": 0.25}, self.mask), 0.25)
        self.assertAlmostEqual(uncertainFraction({}, self.mask), 3 / 30,
                               msg="counted on the mask when not in the summary")

    def test_proposal_order(self):
        items = [self.item(micId=1, uncertain=0.1, flagged=0.9), self.item(micId=2, uncertain=0.3, flagged=0.1),
                 self.item(micId=3, uncertain=0.1, flagged=0.95), self.item(micId=4, uncertain=float("nan"))]
        self.assertEqual([i.micId for i in proposalOrder(items, "most uncertain first")], [2, 3, 1, 4])
        self.assertEqual([i.micId for i in proposalOrder(items, "most flagged first")][:3], [3, 1, 4])
        self.assertEqual([i.micId for i in proposalOrder(items, "acquisition order (id)")], [1, 2, 3, 4])

    def test_working_image(self):
        with mrcfile.open(self.micrograph) as mrc:
            full = np.asarray(mrc.data, dtype=np.float64)
        image = workingImage(self.micrograph, (20, 30))
        np.testing.assert_allclose(image, full.reshape(20, 2, 30, 2).mean(axis=(1, 3)), atol=1e-5)

    def test_overlay_colours(self):
        grey = np.full((4, 4), 100, np.uint8)
        codes = np.full((4, 4), GOOD, np.uint8)
        codes[0, 0], codes[1] = CODES["carbon"], UNSURE
        rgb = overlay(grey, codes).astype(int)
        self.assertEqual(list(rgb[3, 3]), [100] * 3, "good is transparent")
        carbon = (1 - correction_window.TINT) * 100 + correction_window.TINT * np.array(ImageColor.getrgb(
            contract.class_colour("carbon")))
        np.testing.assert_allclose(rgb[0, 0], carbon, atol=1)
        self.assertEqual(len({tuple(pixel) for pixel in rgb[1]}), 2, "unsure is hatched: dark and light stripes")

    def test_save_and_read_back(self):
        item = self.item()
        self.assertEqual(self.store.reviews(), {})
        np.testing.assert_array_equal(self.store.codes(item), item.modelCodes())
        self.store.save(item, item.modelCodes())
        review = self.store.reviews()[item.stem]
        self.assertFalse(review["edited"], "saved as the model had it: reviewed and right")
        self.assertEqual(review["model"], "tiny (sha256 0123456789ab)")

        codes = item.modelCodes()
        codes[5:8, 20:25] = CODES["contamination"]
        codes[0, :] = UNSURE
        self.store.save(item, codes)
        with Image.open(self.store.labelPath(item.stem)) as picture:
            self.assertEqual((picture.mode, picture.size), ("L", (30, 20)))
            np.testing.assert_array_equal(np.asarray(picture), codes)
        np.testing.assert_array_equal(self.store.codes(item), codes, "a review starts from the saved correction")
        with open(self.store.sourcePath()) as stream:
            source = json.load(stream)
        self.assertLessEqual(set(source), labelSourceFields(), "the engine's LabelSource takes exactly its fields")
        self.assertEqual({key: source[key] for key in ("labels", "label_suffix", "legend", "box_size", "name")},
                         {"labels": ".", "label_suffix": contract.CORRECTION_SUFFIX,
                          "legend": contract.CORRECTION_LEGEND,
                          "box_size": 24.0, "name": "corrections of run 1"})
        self.assertEqual(os.path.realpath(os.path.join(self.store.folder, source["micrographs"][item.stem])),
                         os.path.realpath(self.micrograph))
        self.assertTrue(source["reviews"][item.stem]["edited"])
        self.assertEqual(sorted(os.listdir(self.store.folder)), [contract.CORRECTIONS_SOURCE, "mic000007_labels.png"],
                         "no temporary file is left")

        with self.assertRaises(ValueError):  # not the working size: refused, the saved correction kept
            self.store.save(item, np.zeros((10, 10), np.uint8))
        with mock.patch.object(Image.Image, "save", side_effect=OSError("disk full")), self.assertRaises(OSError):
            self.store.save(item, item.modelCodes())
        np.testing.assert_array_equal(self.store.codes(item), codes, "a failed save leaves the last correction")
        self.assertEqual(len(os.listdir(self.store.folder)), 2)
        with mrcfile.open(self.mask) as mrc:
            np.testing.assert_array_equal(mrc.data, self.badness, "the model's mask is never written")


class TestCorrectionWindow(ScreenTestBase):
    """The window on a real screen run, in a private Xvfb, driven as a user would."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("Xvfb") is None:
            raise unittest.SkipTest("Xvfb is not installed (bash scripts/xvfb.sh installs it when run as root "
                                    "with apt-get)")
        super().setUpClass()
        cls.mics, cls.coords, _ = cls.importScenes("correction", ["cw_1", "cw_2", "cw_3"], seed=7)
        cls.protocol = cls.screen(cls.coords.outputCoordinates, threshold=0.5)
        cls.startDisplay()
        cls.root = tk.Tk()
        cls.root.withdraw()

    @classmethod
    def startDisplay(cls):
        """An Xvfb of our own (the number it picks itself), as DISPLAY for this process's Tk."""
        read, write = os.pipe()
        cls.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "%dx%dx24" % SCREEN,
                                     "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as stream:
            number = stream.readline().strip()
        if not number:
            raise unittest.SkipTest("Xvfb did not start")
        cls.display = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = ":" + number

    @classmethod
    def tearDownClass(cls):
        cls.root.destroy()
        cls.xvfb.terminate()
        cls.xvfb.wait(timeout=30)
        if cls.display is None:
            os.environ.pop("DISPLAY")
        else:
            os.environ["DISPLAY"] = cls.display
        super().tearDownClass()

    def setUp(self):
        self.viewer = MicrographCleanerViewer(project=self.proj, protocol=self.protocol)
        self.viewer.setProtocol(self.protocol)  # the form's parameters, as "Analyze results" defines them
        self.folder = os.path.join(self.proj.getPath(), self.protocol.correctionsFolder())
        shutil.rmtree(self.folder, ignore_errors=True)
        self.windows = []

    def tearDown(self):
        for window in self.windows:
            if window.root.winfo_exists():
                window.root.destroy()

    def open(self):
        """The window as the form's "Open the correction window" opens it."""
        view, = self.viewer._getVisualizeDict()["showCorrections"]()
        self.assertIs(view.windowClass, CorrectionWindow)
        view.master = self.root
        view.show()
        window = view.window
        window.root.geometry("+0+0")  # no window manager in Xvfb
        self.windows.append(window)
        self.update(window)
        return window

    def update(self, window):
        window.root.update()

    def key(self, window, sequence):
        window.canvas.focus_force()
        self.update(window)
        window.canvas.event_generate(sequence)
        self.update(window)

    def labels(self, window):
        return np.asarray(window.labels).copy()

    def saved(self, stem):
        with Image.open(os.path.join(self.folder, stem + contract.CORRECTION_SUFFIX + ".png")) as picture:
            return np.asarray(picture)

    def screenshot(self, window):
        folder = os.path.join(self.proj.getPath(), "pictures")
        os.makedirs(folder, exist_ok=True)
        return grab(window, os.path.join(folder, "correction_window.png"))

    def test_paint_fill_undo_redo_save_reopen(self):
        window = self.open()
        items = window.items
        self.assertEqual(len(items), 3)
        self.assertEqual([item.uncertain for item in items], sorted((item.uncertain for item in items), reverse=True),
                         "the most uncertain micrograph is proposed first")
        self.assertEqual(window.index, 0)
        self.assertEqual([window.tree.set(str(i), "reviewed") for i in range(3)], ["no"] * 3)
        item = items[0]
        with mrcfile.open(item.mask) as mrc:
            model = np.where(mrc.data >= 0.5, BAD, GOOD)
        start = self.labels(window)
        np.testing.assert_array_equal(start, model, "a review starts from the model's labels")
        self.assertLess(window.grey[model == BAD].mean() + 30, window.grey[model == GOOD].mean(),
                        "the micrograph lies under its mask: the discs the model flagged are dark")

        self.key(window, "<Key-1>")  # carbon
        window.brush.set(6)
        drag(window, [(20, 20), (40, 20), (60, 20)])
        stroke = self.labels(window)
        self.assertTrue((stroke[18:23, 20:61] == CODES["carbon"]).all(), "the stroke paints carbon")
        self.assertTrue((stroke[30:] == start[30:]).all(), "and nothing far from it")

        self.key(window, "<Key-f>")  # fill an outline
        self.key(window, "<Key-2>")  # contamination
        drag(window, [(100, 100), (160, 100), (160, 160), (100, 160)])
        filled = self.labels(window)
        self.assertTrue((filled[102:159, 102:159] == CODES["contamination"]).all(), "the outline is filled")
        outside = np.ones(filled.shape, bool)
        outside[98:163, 98:163] = False
        np.testing.assert_array_equal(filled[outside], stroke[outside])

        self.key(window, "<Key-u>")  # unsure, with the brush
        self.key(window, "<Key-b>")
        window.brush.set(12)
        drag(window, [(200, 40), (240, 60)])
        unsure = self.labels(window)
        self.assertTrue((unsure[48:53, 218:223] == UNSURE).all())
        self.key(window, "<Key-G>")  # whole good
        self.assertTrue((self.labels(window) == GOOD).all())

        self.key(window, "<Control-z>")
        np.testing.assert_array_equal(self.labels(window), unsure)
        for _ in range(2):
            self.key(window, "<Control-z>")
        np.testing.assert_array_equal(self.labels(window), stroke, "undo goes back edit by edit")
        self.key(window, "<Control-y>")
        np.testing.assert_array_equal(self.labels(window), filled)
        self.key(window, "<Control-y>")
        np.testing.assert_array_equal(self.labels(window), unsure, "redo goes forward again")
        self.assertIn("unsaved edits", window.status.cget("text"))

        shot = self.screenshot(window)
        with Image.open(shot) as picture:
            canvas = window.canvas
            x, y = canvas.winfo_rootx() - window.root.winfo_rootx(), canvas.winfo_rooty() - window.root.winfo_rooty()
            size = min(canvas.winfo_width(), round(unsure.shape[1] * window.zoom)), \
                min(canvas.winfo_height(), round(unsure.shape[0] * window.zoom))
            shown = np.asarray(picture.convert("RGB").crop((x, y, x + size[0], y + size[1]))).astype(int)
        expected = np.asarray(Image.fromarray(overlay(window.grey, unsure)).resize(
            (round(unsure.shape[1] * window.zoom), round(unsure.shape[0] * window.zoom)), Image.NEAREST))
        expected = expected[:size[1], :size[0]].astype(int)
        self.assertGreater((np.abs(shown - expected).sum(axis=2) < 10).mean(), 0.98,
                           "the window shows the micrograph with its labels in the contract's colours")

        self.key(window, "<Key-s>")
        np.testing.assert_array_equal(self.saved(item.stem), unsure)
        self.assertEqual(window.tree.set("0", "reviewed"), "yes, edited")
        self.assertNotIn("unsaved edits", window.status.cget("text"))
        window.close()
        self.assertFalse(window.root.winfo_exists(), "closed without a question once saved")

        window = self.open()
        self.assertEqual(window.index, 1, "reopened, it proposes the next micrograph not reviewed")
        self.assertEqual(window.tree.set("0", "reviewed"), "yes, edited")
        window.tree.selection_set("0")  # picked from the list
        self.update(window)
        self.assertEqual(window.index, 0)
        np.testing.assert_array_equal(self.labels(window), unsure, "the saved correction is shown again")
        window.go(1)
        self.key(window, "<Return>")  # saved unchanged: reviewed and right, then the next one
        self.assertEqual(window.index, 2)
        second = items[1].stem
        with open(os.path.join(self.folder, contract.CORRECTIONS_SOURCE)) as stream:
            source = json.load(stream)
        self.assertEqual(set(source["reviews"]), {item.stem, second})
        self.assertEqual((source["reviews"][item.stem]["edited"], source["reviews"][second]["edited"]), (True, False))
        self.assertEqual(source["name"], "corrections of %s" % self.protocol.getRunName())
        self.assertEqual(source["box_size"], items[1].summary["box_size"])
        self.assertLessEqual(set(source), labelSourceFields())
        self.assertEngineReads(source, {item.stem: unsure, second: self.saved(second)})

    def assertEngineReads(self, source, labels):
        """The engine's LabelSource takes the corrections folder: each reviewed micrograph with its codes
        at the micrograph's size (each working pixel a 2 x 2 block)."""
        code = ("import json, numpy; "
                "from micrographcleaner.labels import LabelSource; "
                "items = LabelSource.from_json(%r).items(); "
                "print(json.dumps({str(path): [list(codes.shape), numpy.unique(codes, return_counts=True)[1].tolist(), "
                "numpy.unique(codes).tolist()] for path, image, codes in items}))"
                % os.path.join(self.folder, contract.CORRECTIONS_SOURCE))
        read = json.loads(scenes.engine_python(code, "reading the corrections").splitlines()[-1])
        files = {os.path.realpath(os.path.join(self.folder, source["micrographs"][stem])): stem for stem in labels}
        self.assertEqual({files[os.path.realpath(path)] for path in read}, set(labels))
        for path, (shape, counts, codes) in read.items():
            expected = labels[files[os.path.realpath(path)]]
            values, expectedCounts = np.unique(expected, return_counts=True)
            self.assertEqual(shape, [2 * side for side in expected.shape])
            self.assertEqual((codes, counts), (values.tolist(), (4 * expectedCounts).tolist()))

    def test_unsaved_edits_are_asked_about(self):
        window = self.open()
        drag(window, [(30, 30), (50, 50)])
        edited = self.labels(window)
        ask = "askyesnocancel"
        with mock.patch.object(correction_window.messagebox, ask, return_value=None) as question:
            self.key(window, "<Key-n>")
            window.close()
        self.assertEqual(question.call_count, 2)
        self.assertTrue(window.root.winfo_exists(), "cancel: the window stays")
        self.assertEqual(window.index, 0, "cancel: the micrograph stays, with its edits")
        np.testing.assert_array_equal(self.labels(window), edited)
        with mock.patch.object(correction_window.messagebox, ask, return_value=False):
            self.key(window, "<Key-n>")
        self.assertEqual(window.index, 1, "no: the edits are dropped")
        self.assertFalse(os.path.exists(os.path.join(self.folder, contract.CORRECTIONS_SOURCE)))
        drag(window, [(30, 30), (50, 50)])
        with mock.patch.object(correction_window.messagebox, ask, return_value=True):
            window.close()
        self.assertFalse(window.root.winfo_exists())
        self.assertEqual(list(CorrectionStore(self.folder, "").reviews()), [window.items[1].stem],
                         "yes: saved, then closed")

    def test_zoom_and_pan(self):
        window = self.open()
        canvas = window.canvas
        fitted = window.zoom
        point = {"x": 200, "y": 150}
        before = window.imagePoint(mock.Mock(**point))
        canvas.event_generate("<Button-4>", **point)  # the wheel, as X11 sends it
        self.update(window)
        self.assertAlmostEqual(window.zoom, fitted * 1.25)
        after = window.imagePoint(mock.Mock(**point))
        np.testing.assert_allclose(after, before, atol=1.0, err_msg="the point under the pointer stays")
        for _ in range(4):
            self.key(window, "<Key-plus>")
        left = canvas.canvasx(0)
        canvas.event_generate("<ButtonPress-3>", x=300, y=300)
        canvas.event_generate("<B3-Motion>", x=200, y=300, state=0x400)
        self.update(window)
        self.assertAlmostEqual(canvas.canvasx(0), left + 100, delta=2, msg="a right-drag pans")
        self.key(window, "<Key-0>")
        self.assertAlmostEqual(window.zoom, fitted)
        self.assertEqual(canvas.canvasx(0), 0)
