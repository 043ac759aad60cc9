"""The deep micrograph screen's "Analyze results" form: every view needs only the Scipion core.

Histogram and over-time plots are EmPlotter figures; the gallery, the threshold explorer
(:mod:`.windows`) and the correction window (:mod:`.correction_window`) are Tk windows; the masks
open in whichever of Scipion's viewers of image sets is preferred here (the metadata viewer when
Xmipp is not installed).
"""
import os
import shutil
import subprocess

from pwem.viewers import EmPlotter, EmProtocolViewer
from pyworkflow import Config
from pyworkflow.protocol import params
from pyworkflow.viewer import DESKTOP_TKINTER

from ..protocols import ProtDeepMicrographScreen
from . import figures
from .correction_window import CorrectionWindow
from .corrections import PROPOSAL_ORDERS, CorrectionStore, reviewItems
from .results import MICROGRAPH_FILTERS, SORT_ORDERS, loadResults, maskSet, registerCoordinates
from .windows import ExplorerWindow, GalleryWindow, WindowView


class MicrographCleanerViewer(EmProtocolViewer):
    """Goodness histogram, threshold explorer, thumbnail gallery, quality over time and masks,
    so that a threshold is chosen by looking at the data."""

    _label = ProtDeepMicrographScreen._label  # one name for the protocol and its viewer
    _targets = [ProtDeepMicrographScreen]
    _environments = [DESKTOP_TKINTER]

    def __init__(self, **kwargs):
        EmProtocolViewer.__init__(self, **kwargs)
        self._results = None

    def _defineParams(self, form):
        runThreshold = self.protocol.threshold.get()
        form.addSection(label="Visualization")
        form.addParam("showHistogram", params.LabelParam, label="Goodness histogram",
                      help="Goodness of every input coordinate, accepted and rejected stacked, with "
                           "the run's threshold and the counts by reason.")
        group = form.addGroup("Threshold explorer")
        group.addParam("exploreThreshold", params.FloatParam, default=runThreshold if runThreshold >= 0 else 0.8,
                       validators=[params.Range(0, 1)], label="Threshold",
                       help="Goodness threshold to try (0..1), on the scores already computed.")
        group.addParam("exploreDistance", params.FloatParam, default=self.protocol.minDistance.get() or 0,
                       validators=[params.GE(0)], label="Min. distance to bad regions (Å)",
                       help="Also drop coordinates closer than this to a bad region; 0: no distance rule.")
        group.addParam("showExplorer", params.LabelParam, label="Open the threshold explorer",
                       help="Kept coordinates as a function of the threshold; a slider, and a button "
                            "that registers the coordinates kept.")
        group.addParam("registerSubset", params.LabelParam, label="Register the coordinates kept",
                       help="Adds to the protocol an output 'outputCoordinates_tNNN[_dDDD]' with the "
                            "input coordinates kept at this threshold and distance, with their scores. "
                            "The network does not run again. Per-class distance rules and other "
                            "rejections (failed micrographs, coordinates off the micrograph) still apply.")
        group = form.addGroup("Micrographs")
        group.addParam("galleryShow", params.EnumParam, choices=list(MICROGRAPH_FILTERS), default=0,
                       label="Gallery shows",
                       help="All screened micrographs, or only those accepted (outputMicrographs) or "
                            "rejected (outputMicrographsRejected: mostly bad, or failed).")
        group.addParam("gallerySort", params.EnumParam, choices=list(SORT_ORDERS), default=0,
                       label="Gallery order")
        group.addParam("galleryPerPage", params.IntParam, default=12, validators=[params.GE(1)],
                       label="Micrographs per page")
        group.addParam("showGallery", params.LabelParam, label="Thumbnail gallery",
                       help="Micrographs with their mask overlaid, accepted particles green and rejected "
                            "ones red; click one to see it large with its numbers.")
        group.addParam("showOverTime", params.LabelParam, label="Quality over time",
                       help="Flagged area and rejected particles per micrograph in acquisition order "
                            "(micrograph id), to see when the grid went bad, with the run's maximum "
                            "flagged fraction and the micrographs it rejected.")
        group.addParam("showMasks", params.LabelParam, label="Masks in Scipion's image viewer",
                       help="The badness masks (0 = good, 1 = bad) as a set of images.")
        group = form.addGroup("Correct masks")
        group.addParam("correctionOrder", params.EnumParam, choices=list(PROPOSAL_ORDERS), default=0,
                       label="Propose first",
                       help="Which micrographs the correction window proposes first: where the model is "
                            "least sure (a correction teaches most there), the most flagged, or in "
                            "acquisition order. Reviewed ones are skipped; any can be picked from its list.")
        group.addParam("showCorrections", params.LabelParam, label="Open the correction window",
                       help="Paint the model's mistakes right (bad classes, good, unsure) on a few "
                            "micrographs and save them; a micrograph saved unchanged counts as reviewed "
                            "and right. The corrections are kept in the run's extra/corrections/ folder, "
                            "where the fine-tune protocol reads them.")

    def _getVisualizeDict(self):
        return {"showHistogram": self._showHistogram, "showExplorer": self._showExplorer,
                "registerSubset": self._registerSubset, "showGallery": self._showGallery,
                "showOverTime": self._showOverTime, "showMasks": self._showMasks,
                "showCorrections": self._showCorrections}

    def results(self):
        """The protocol's outputs, read once per viewer."""
        if self._results is None:
            self._results = loadResults(self.protocol, self.getProject().getPath())
        return self._results

    def _plotter(self, title, size):
        return EmPlotter(windowTitle=title, figsize=size)

    def _showHistogram(self, param=None):
        results = self.results()
        plotter = self._plotter("Goodness histogram", (10, 4.5))
        figures.scoreHistogram(plotter.getFigure(), results.scores, results.accepted, results.reasons,
                               results.threshold)
        return [plotter]

    def _showOverTime(self, param=None):
        results = self.results()
        if not results.micrographs:
            return [self.errorMessage("No micrograph has been processed yet.", "Quality over time")]
        plotter = self._plotter("Quality over time", (10, 6))
        figures.overTime(plotter.getFigure(), results.micrographs, results.classes,
                         maxFlagged=self.protocol.maxFlagged.get())
        return [plotter]

    def _showExplorer(self, param=None):
        return [WindowView(ExplorerWindow, self.getTkRoot(), results=self.results(), project=self.getProject(),
                           protocol=self.protocol, threshold=self.exploreThreshold.get(),
                           minDistance=self.exploreDistance.get() or 0.0)]

    def _registerSubset(self, param=None):
        threshold, distance = round(self.exploreThreshold.get(), 2), self.exploreDistance.get() or 0.0
        try:
            name, subset = registerCoordinates(self.getProject(), self.protocol, threshold, distance)
        except RuntimeError as error:
            return [self.errorMessage(str(error), "Register coordinates")]
        return [self.infoMessage("%s registered on %s: %d coordinates."
                                 % (name, self.protocol.getRunName(), subset.getSize()), "Register coordinates")]

    def _showGallery(self, param=None):
        results = self.results().onlyMicrographs(list(MICROGRAPH_FILTERS)[self.galleryShow.get()])
        return [WindowView(GalleryWindow, self.getTkRoot(), results=results, sortOrder=self.gallerySort.get(),
                           perPage=self.galleryPerPage.get())]

    def _showCorrections(self, param=None):
        projectPath = self.getProject().getPath()
        items = reviewItems(self.results(), projectPath)
        if not items:
            return [self.errorMessage("No micrograph has a mask to correct yet (or the run saved none: "
                                      "Save masks = No).", "Correct masks")]
        store = CorrectionStore(os.path.join(projectPath, self.protocol.correctionsFolder()),
                                "corrections of %s" % self.protocol.getRunName())
        return [WindowView(CorrectionWindow, self.getTkRoot(), store=store, items=items,
                           order=self.correctionOrder.get())]

    def maskSetPath(self):
        return self.getProject().getTmpPath("micrographcleaner_masks_%s.sqlite" % self.protocol.getObjId())

    def _showMasks(self, param=None):
        micrographs = self.protocol.getInputMicrographs()
        if not self.results().micrographs:
            return [self.errorMessage("No micrograph has been processed yet.", "Masks")]
        masks = maskSet(self.results(), os.path.abspath(self.maskSetPath()), micrographs.getSamplingRate())
        if not masks.getSize():
            return [self.errorMessage("The run saved no masks (Save masks = No).", "Masks")]
        viewers = Config.getDomain().findViewers(masks, DESKTOP_TKINTER)
        missing = missingQtLibraries() if viewers[0].__module__.startswith("pwem.") else []
        if missing:  # pwem's metadata viewer would fail without a word
            return [self.errorMessage("Scipion's image viewer (PyQt5) cannot start: the system lacks %s. On "
                                      "Debian or Ubuntu: sudo apt-get install %s. The masks are MRC files in %s."
                                      % (", ".join(missing), " ".join(debianPackage(name) for name in missing),
                                         os.path.dirname(self.maskSetPath())), "Masks")]
        viewer = viewers[0](project=self.getProject(), protocol=self.protocol, parent=self.formWindow)
        return viewer._visualize(masks)


def missingQtLibraries():
    """System libraries that PyQt5's X11 platform plugin cannot find (a fresh Debian lacks some xcb ones)."""
    import PyQt5

    plugin = os.path.join(os.path.dirname(PyQt5.__file__), "Qt5", "plugins", "platforms", "libqxcb.so")
    if not os.path.isfile(plugin) or shutil.which("ldd") is None:
        return []
    listing = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
    return sorted({line.split()[0] for line in listing.splitlines() if "not found" in line})


def debianPackage(library):
    """Debian's package name for a shared library: libxcb-icccm.so.4 -> libxcb-icccm4."""
    name, _, version = library.partition(".so.")
    return name + ("-" if name[-1].isdigit() else "") + version
