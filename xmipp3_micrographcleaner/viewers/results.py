"""A finished (or running) screen's outputs as plain arrays, and new coordinate sets cut from them.

The viewer's figures need only numbers and file paths; reading the Scipion sets once here keeps
them free of Scipion and lets the threshold explorer re-decide every input coordinate (accepted
and rejected outputs together) from the stored scores without running the network again.
"""
import dataclasses
import math
import os
from dataclasses import dataclass, field

import mrcfile
import numpy as np
from pwem.objects import Micrograph, SetOfCoordinates, SetOfMicrographs
from pyworkflow.object import Float, String

from .. import attributes
from ..attributes import value
from ..constants import contract
from ..protocols.screen_outputs import MICROGRAPH_OUTPUTS, OUTPUT_ACCEPTED, OUTPUT_MICROGRAPHS_REJECTED, OUTPUT_REJECTED

SUBSET_PREFIX = "outputCoordinates_t"


@dataclass
class MicrographResult:
    """One screened micrograph: its numbers and pictures (absolute paths, '' when absent)."""
    micId: int
    name: str
    flagged: float  # NaN when the micrograph failed
    classFractions: dict
    accepted: int
    rejected: int
    thumbnail: str
    mask: str
    error: str
    micrographRejected: bool = False  # in outputMicrographsRejected (mostly bad, icy, or failed)
    iciness: float = math.nan  # NaN when not measured (pixel size too coarse)

    @property
    def rejectedFraction(self):
        total = self.accepted + self.rejected
        return self.rejected / total if total else math.nan


@dataclass
class ScreenResults:
    """Per-coordinate arrays (one entry per input coordinate) and per-micrograph records."""
    threshold: float  # the run's threshold; negative: score only
    minDistance: float  # the run's any-class minimum distance (A); 0: none
    classes: list
    scores: np.ndarray  # goodness, NaN where the micrograph failed
    distances: np.ndarray  # A to the nearest bad region, inf when there is none
    accepted: np.ndarray  # the run's decision
    redecidable: np.ndarray  # False where the rejection does not depend on threshold or distance
    reasons: list
    micrographs: list = field(default_factory=list)

    def onlyMicrographs(self, which):
        """These results with only the micrographs that one of :data:`MICROGRAPH_FILTERS` keeps."""
        return dataclasses.replace(self, micrographs=[r for r in self.micrographs if MICROGRAPH_FILTERS[which](r)])

    def kept(self, threshold, minDistance=0.0):
        return keptBy(self.scores, self.distances, self.redecidable, threshold, minDistance)

    def keptCounts(self, thresholds, minDistance=0.0):
        """How many coordinates each threshold keeps (at ``minDistance``), from one sort."""
        eligible = np.sort(self.scores[self.kept(-1, minDistance)])
        return len(eligible) - np.searchsorted(eligible, np.asarray(thresholds, float), side="left")


def mostFirst(fraction):
    return 1.0 if math.isnan(fraction) else -fraction  # unknown (failed micrographs) last


SORT_ORDERS = {"flagged area, most first": lambda record: mostFirst(record.flagged),
               "rejected particles, most first": lambda record: mostFirst(record.rejectedFraction),
               "acquisition order (id)": lambda record: record.micId}


MICROGRAPH_FILTERS = {"all micrographs": lambda record: True,
                      "accepted micrographs": lambda record: not record.micrographRejected,
                      "rejected micrographs": lambda record: record.micrographRejected}


def sortedMicrographs(records, order):
    """``records`` in one of :data:`SORT_ORDERS` (ties in id order)."""
    key = SORT_ORDERS[order]
    return sorted(records, key=lambda record: (key(record), record.micId))


def pageCount(items, perPage):
    return max(1, -(-items // perPage))


def keptBy(scores, distances, redecidable, threshold, minDistance=0.0):
    """Which coordinates a screen at ``threshold`` (negative: none) and ``minDistance`` (A) keeps."""
    with np.errstate(invalid="ignore"):
        keep = redecidable & ~np.isnan(scores)
        if threshold >= 0:
            keep &= scores >= threshold
        if minDistance:
            keep &= distances >= minDistance
    return keep


def _absolute(projectPath, path):
    return os.path.join(projectPath, path) if path else ""


def _iterCoordinates(protocol):
    """(coordinate, accepted) for every input coordinate: the accepted output, then the rejected one."""
    for name in (OUTPUT_ACCEPTED, OUTPUT_REJECTED):
        if hasattr(protocol, name):
            for coord in getattr(protocol, name).iterItems(orderBy="id"):
                yield coord, name == OUTPUT_ACCEPTED


def readCoordinates(protocol):
    """Arrays over both coordinate outputs (accepted first)."""
    scores, distances, accepted, reasons = [], [], [], []
    for coord, isAccepted in _iterCoordinates(protocol):
        scores.append(value(coord, attributes.GOODNESS, math.nan))
        distances.append(value(coord, attributes.DISTANCE_TO_BAD, math.nan))
        accepted.append(isAccepted)
        reasons.append(value(coord, attributes.REASON, ""))
    arrays = {"scores": np.array(scores, dtype=float), "distances": np.array(distances, dtype=float),
              "accepted": np.array(accepted, dtype=bool),
              "redecidable": np.array([reason in contract.REDECIDABLE_REASONS for reason in reasons], dtype=bool)}
    return arrays, reasons


def readMicrographs(protocol, projectPath, classes):
    """Records of the accepted and rejected micrographs, in acquisition (id) order."""
    records = []
    for name in MICROGRAPH_OUTPUTS:
        if not hasattr(protocol, name):
            continue
        for mic in getattr(protocol, name).iterItems():
            records.append(_micrographRecord(mic, projectPath, classes, name == OUTPUT_MICROGRAPHS_REJECTED))
    return sorted(records, key=lambda record: record.micId)


def _micrographRecord(mic, projectPath, classes, rejected):
    return MicrographResult(
        micId=mic.getObjId(), name=os.path.basename(mic.getFileName() or ""),
        flagged=value(mic, attributes.FLAGGED_FRACTION, math.nan),
        classFractions={name: value(mic, attributes.classFractionAttribute(name), math.nan) for name in classes},
        accepted=value(mic, attributes.ACCEPTED_COUNT, 0), rejected=value(mic, attributes.REJECTED_COUNT, 0),
        thumbnail=_absolute(projectPath, value(mic, attributes.THUMBNAIL, "")),
        mask=_absolute(projectPath, value(mic, attributes.MASK_FILE, "")), error=value(mic, attributes.ERROR, ""),
        micrographRejected=rejected, iciness=value(mic, attributes.ICINESS, math.nan))


def loadResults(protocol, projectPath):
    """Everything the viewer shows, read once from the protocol's outputs."""
    classes = protocol.getClassNames()
    arrays, reasons = readCoordinates(protocol)
    return ScreenResults(threshold=protocol.threshold.get(), minDistance=protocol.minDistance.get() or 0.0,
                         classes=classes, reasons=reasons, micrographs=readMicrographs(protocol, projectPath, classes),
                         **arrays)


def subsetName(threshold, minDistance=0.0):
    """``outputCoordinates_t085`` (threshold 0.85), ``..._t085_d150`` with a distance of 150 A.

    No dot in the name: Scipion reads dots in an output's name as attribute paths."""
    name = "%s%03d" % (SUBSET_PREFIX, round(threshold * 100))
    return name + ("_d%d" % round(minDistance) if minDistance else "")


def registerCoordinates(project, protocol, threshold, minDistance=0.0):
    """Registers, on the finished ``protocol``, the coordinates a screen at ``threshold`` and
    ``minDistance`` keeps (same attributes; reason 'accepted'); returns (output name, set)."""
    if protocol.isActive():
        raise RuntimeError("%s is still running: register new coordinates once it has finished."
                           % protocol.getRunName())
    name = subsetName(threshold, minDistance)
    path = protocol._getPath("%s.sqlite" % name)
    if os.path.exists(path):
        os.remove(path)  # a set opened on an existing file would append to it
    inputCoordinates = protocol.inputCoordinates.get()
    subset = SetOfCoordinates(filename=path, indexes=["_micId"])
    subset.setMicrographs(inputCoordinates.getMicrographs())
    subset.setBoxSize(inputCoordinates.getBoxSize())
    arrays, _ = readCoordinates(protocol)
    keep = iter(keptBy(arrays["scores"], arrays["distances"], arrays["redecidable"], threshold, minDistance))
    for coord, _ in _iterCoordinates(protocol):  # the order readCoordinates read them in
        if next(keep):
            setattr(coord, attributes.REASON, String(contract.ACCEPTED))
            subset.append(coord)
    subset.write()
    protocol._defineOutputs(**{name: subset})
    protocol._defineSourceRelation(protocol.inputCoordinates, subset)
    project._storeProtocol(protocol)
    return name, subset


def displayMask(mask, path):
    """A copy of ``mask`` with a 0..1 grey strip below it, so that viewers which stretch each image
    to its own range (pwem's metadata viewer does) show every mask on the same 0 (black) .. 1
    (white) scale, and a clean micrograph's near-zero mask stays dark."""
    with mrcfile.open(mask) as mrc:
        data, voxel = np.asarray(mrc.data, dtype=np.float32), mrc.voxel_size.copy()
    strip = np.repeat(np.linspace(0, 1, data.shape[1], dtype=np.float32)[None], max(2, data.shape[0] // 40), axis=0)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.vstack([np.clip(data, 0, 1), strip]))
        mrc.voxel_size = voxel
    return path


def maskSet(results, path, samplingRate):
    """A set of micrographs whose images are the masks (display copies beside ``path``, see
    :func:`displayMask`), for Scipion's standard set viewers.

    Its pixel size is the masks' own (from their headers, which the engine writes so that a mask
    covers its micrograph), else ``samplingRate``, that of the screened micrographs."""
    if os.path.exists(path):
        os.remove(path)
    folder = os.path.splitext(path)[0]
    os.makedirs(folder, exist_ok=True)
    masks = SetOfMicrographs(filename=path)
    for record in results.micrographs:
        if not record.mask:
            continue
        if not os.path.isfile(record.mask):
            raise FileNotFoundError("Mask of micrograph %d (%s) not found: %s" % (record.micId, record.name, record.mask))
        if not masks.getSize():
            with mrcfile.open(record.mask, header_only=True) as mrc:
                masks.setSamplingRate(float(mrc.voxel_size.x) or samplingRate)
        mask = Micrograph(location=displayMask(record.mask, os.path.join(folder, os.path.basename(record.mask))))
        mask.setObjId(record.micId)
        mask.setMicName(record.name)
        setattr(mask, attributes.FLAGGED_FRACTION, Float(record.flagged))
        masks.append(mask)
    masks.write()
    return masks
