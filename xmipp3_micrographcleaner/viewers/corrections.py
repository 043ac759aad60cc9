"""A screen run's corrections by the user: which micrographs to review first, the labels a review
starts from, and the label maps and label source (:data:`contract.CORRECTIONS_SOURCE`) it leaves.

No Tk here: the correction window (:mod:`.correction_window`) draws what this module reads, and the
fine-tune protocol trains on what it writes, through the engine's ``LabelSource`` (whose fields
are exactly the source's keys). Files are replaced atomically, so a window killed mid-save
leaves the previous correction, and the model's masks are never written to.
"""
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime

import mrcfile
import numpy as np
from PIL import Image

from ..constants import contract
from ..protocols.protocol_deep_micrograph_screen import micrographKey
from .results import mostFirst

CODES = {name: int(code) for code, name in contract.CORRECTION_LEGEND.items()}  # class name -> label code
GOOD, BAD, UNSURE = CODES["good"], CODES["bad"], CODES["ignore"]
BAD_CLASSES = [name for name in CODES if name not in ("good", "ignore")]  # those with a code of their own, then "bad"
BAD_LEVEL = 0.5  # badness from which a pixel of the model's mask is bad, as in the engine's label maps


@dataclass
class ReviewItem:
    """One micrograph the user can review: its files (absolute paths) and the model's numbers."""
    micId: int
    name: str
    stem: str  # the run's output stem (micNNNNNN), also that of its correction
    micrograph: str
    mask: str
    classes: str  # the model's label map, '' for a one-class model
    summary: dict
    flagged: float
    uncertain: float

    @property
    def workingShape(self):
        return tuple(self.summary.get("working_shape") or mrcShape(self.mask))

    def modelCodes(self):
        """The model's labels as correction codes, at the working size: its label map's classes, or
        the mask's bad side as class ``bad`` for a one-class model."""
        if self.classes:
            names = self.summary.get("classes") or ["bad"]
            table = np.full(256, BAD, np.uint8)
            table[0] = GOOD
            for index, name in enumerate(names[1:], start=1):
                table[index] = CODES.get(name, BAD)
            codes = table[readMrc(self.classes).astype(np.uint8)]
        else:
            codes = np.where(readMrc(self.mask) >= BAD_LEVEL, BAD, GOOD).astype(np.uint8)
        return atShape(codes, self.workingShape)

    def image(self):
        """The micrograph at the working size (float32)."""
        return workingImage(self.micrograph, self.workingShape)


def readMrc(path):
    """The first section of an MRC file as an array."""
    with mrcfile.open(path, permissive=True) as mrc:
        data = np.asarray(mrc.data)
    return data[0] if data.ndim == 3 else data


def mrcShape(path):
    with mrcfile.open(path, header_only=True, permissive=True) as mrc:
        return int(mrc.header.ny), int(mrc.header.nx)


def atShape(codes, shape):
    """Label codes at another size, each pixel taking the code under its centre (no mixed codes)."""
    if codes.shape == tuple(shape):
        return codes
    rows = ((np.arange(shape[0]) + 0.5) * codes.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * codes.shape[1] / shape[1]).astype(int)
    return codes[np.ix_(rows, cols)]


def workingImage(path, shape):
    """A micrograph (MRC or TIFF) averaged down to ``shape`` (rows, columns), as the network saw it."""
    if path.lower().endswith((".tif", ".tiff")):
        with Image.open(path) as picture:
            data = np.asarray(picture, dtype=np.float32)
    else:
        data = readMrc(path).astype(np.float32)
    return np.asarray(Image.fromarray(data).resize((shape[1], shape[0]), Image.BOX))


def uncertainFraction(summary, mask):
    """The summary's share of uncertain pixels, else (older engines) counted on the mask."""
    if summary.get("uncertain_fraction") is not None:
        return summary["uncertain_fraction"]
    low, high = contract.UNCERTAIN_BADNESS
    badness = readMrc(mask)
    return float(((badness > low) & (badness < high)).mean())


def reviewItems(results, projectPath):
    """A :class:`ReviewItem` per micrograph of ``results`` (:func:`.results.loadResults`) with a mask."""
    items = []
    for record in results.micrographs:
        if not record.mask or not os.path.isfile(record.mask):
            continue  # failed, or the run saved no masks
        stem = micrographKey(record.micId)
        folder, outputs = os.path.dirname(record.mask), contract.micrograph_outputs(stem)
        with open(os.path.join(folder, outputs["json"])) as stream:
            summary = json.load(stream)
        classes = os.path.join(folder, outputs["classes"])
        items.append(ReviewItem(micId=record.micId, name=record.name, stem=stem,
                                micrograph=os.path.join(projectPath, summary["micrograph"]), mask=record.mask,
                                classes=classes if os.path.isfile(classes) else "", summary=summary,
                                flagged=record.flagged, uncertain=uncertainFraction(summary, record.mask)))
    return items


PROPOSAL_ORDERS = {"most uncertain first": lambda item: (mostFirst(item.uncertain), mostFirst(item.flagged)),
                   "most flagged first": lambda item: (mostFirst(item.flagged), mostFirst(item.uncertain)),
                   "acquisition order (id)": lambda item: ()}
"""How the window proposes micrographs: where the model hesitates a correction teaches most."""


def proposalOrder(items, order):
    """``items`` in one of :data:`PROPOSAL_ORDERS` (ties in id order)."""
    key = PROPOSAL_ORDERS[order]
    return sorted(items, key=lambda item: (key(item), item.micId))


def writeAtomically(path, write):
    """Calls ``write(temporary path)`` in ``path``'s folder, then puts the file in place in one step.
    The temporary name starts with a dot, so that no label source takes it for a label map."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".", suffix=".partial")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise


class CorrectionStore:
    """The corrections folder of one screen run: a label map per reviewed micrograph and the label
    source that lists them; read again on every save, so that two windows lose nothing."""

    def __init__(self, folder, name):
        self.folder, self.name = os.path.abspath(folder), name

    def sourcePath(self):
        return os.path.join(self.folder, contract.CORRECTIONS_SOURCE)

    def labelPath(self, stem):
        return os.path.join(self.folder, stem + contract.CORRECTION_SUFFIX + ".png")

    def source(self):
        """The label source as saved ({} before the first save)."""
        if not os.path.isfile(self.sourcePath()):
            return {}
        with open(self.sourcePath()) as stream:
            return json.load(stream)

    def reviews(self):
        """{stem: review} of the reviewed micrographs (those whose label map is there too)."""
        return {stem: review for stem, review in self.source().get("reviews", {}).items()
                if os.path.isfile(self.labelPath(stem))}

    def codes(self, item):
        """The labels a review of ``item`` starts from: the saved correction, else the model's."""
        if item.stem not in self.reviews():
            return item.modelCodes()
        with Image.open(self.labelPath(item.stem)) as picture:
            return atShape(np.asarray(picture.convert("L")), item.workingShape)

    def save(self, item, codes):
        """Writes ``codes`` (the working size, :data:`CODES`) as ``item``'s correction and lists it;
        saved as the model had it, the micrograph counts as reviewed and right (``edited`` false)."""
        codes = np.asarray(codes, dtype=np.uint8)
        if codes.shape != item.workingShape:
            raise ValueError("labels of %s are %s, the working size is %s"
                             % (item.stem, codes.shape, item.workingShape))
        os.makedirs(self.folder, exist_ok=True)
        writeAtomically(self.labelPath(item.stem), lambda path: Image.fromarray(codes).save(path, "PNG"))
        source = self.source()
        source.update(labels=".", label_suffix=contract.CORRECTION_SUFFIX, legend=contract.CORRECTION_LEGEND,
                      name=self.name, box_size=source.get("box_size") or item.summary["box_size"])
        source.setdefault("micrographs", {})[item.stem] = os.path.relpath(os.path.abspath(item.micrograph), self.folder)
        source.setdefault("reviews", {})[item.stem] = {
            "edited": bool((codes != item.modelCodes()).any()), "saved": datetime.now().isoformat(timespec="seconds"),
            "model": "%s (sha256 %s)" % (item.summary.get("model"), (item.summary.get("model_sha256") or "")[:12])}

        def writeJson(path):
            with open(path, "w") as stream:
                json.dump(source, stream, indent=2, sort_keys=True)

        writeAtomically(self.sourcePath(), writeJson)

