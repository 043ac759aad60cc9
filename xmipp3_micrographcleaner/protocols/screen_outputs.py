"""The screen's output sets: their files, what they already hold, and registering a batch in them.

A batch's engine entries become scored coordinates (accepted or rejected) and annotated
micrographs (accepted or rejected). Steps of a run, and earlier runs before a continue, append to
the same set files, so what is registered is read back from those files: registration skips what
they hold, and the outputs are closed only once every input item is in exactly one of them.
"""
import logging
import math
from collections import Counter

from pwem.objects import SetOfCoordinates, SetOfMicrographs
from pyworkflow.object import Float, Integer, Set, String
import pyworkflow.utils as pwutils

from .. import attributes
from ..constants import contract
from .screen_inputs import reopen

OUTPUT_ACCEPTED = "outputCoordinates"
OUTPUT_REJECTED = "outputCoordinatesRejected"
OUTPUT_MICROGRAPHS = "outputMicrographs"
OUTPUT_MICROGRAPHS_REJECTED = "outputMicrographsRejected"
MICROGRAPH_OUTPUTS = (OUTPUT_MICROGRAPHS, OUTPUT_MICROGRAPHS_REJECTED)
COORDINATE_OUTPUTS = (OUTPUT_ACCEPTED, OUTPUT_REJECTED)


class ScreenOutputs:
    """The output sets of a screen run. The protocol owns this and is passed in: defining outputs,
    their relations to the inputs and storing stay Scipion's protocol calls."""

    def __init__(self, protocol):
        self._protocol = protocol
        self._doneCoordinates = None  # ids already in the coordinate outputs, loaded once per process

    def _file(self, name):
        return self._protocol._getPath("%s.sqlite" % name)

    def _open(self, name):
        """The output set, reopened for appending if an earlier step (or run) stored items in it."""
        protocol = self._protocol
        if hasattr(protocol, name) and getattr(protocol, name).getSize():
            output = reopen(type(getattr(protocol, name)), self._file(name))
            output.enableAppend()
            return output
        pwutils.cleanPath(self._file(name))  # an empty set leaves an empty file, not a database
        if name in MICROGRAPH_OUTPUTS:
            output = SetOfMicrographs(filename=self._file(name), indexes=["_index"])
            output.copyInfo(protocol.getInputMicrographs())
        else:
            inputCoordinates = protocol.inputCoordinates.get()
            output = SetOfCoordinates(filename=self._file(name), indexes=["_micId"])
            self._setMicrographs(output, inputCoordinates)
            output.setBoxSize(inputCoordinates.getBoxSize())
        output.setStreamState(Set.STREAM_OPEN)
        return output

    @staticmethod
    def _setMicrographs(output, coordinates):
        """The output points to the input coordinates' micrographs as the input does. pwem warns
        "FOR DEVELOPERS" in the user's log when that pointer is a direct one, which is the
        input's choice (pwem's own import makes one), not something this run can fix."""
        dataLogger = logging.getLogger("pwem.objects.data")
        level = dataLogger.level
        dataLogger.setLevel(logging.ERROR)
        try:
            output.setMicrographs(coordinates._micrographsPointer)
        finally:
            dataLogger.setLevel(level)

    def _defineNew(self, name, output):
        """First update of an output: define it with its relation to the inputs."""
        protocol = self._protocol
        isNew = not hasattr(protocol, name)
        protocol._updateOutputSet(name, output, Set.STREAM_OPEN)
        if isNew:
            for source in (protocol.inputCoordinates, protocol.inputMicrographs):
                if source.hasValue():
                    protocol._defineSourceRelation(source, output)

    def _names(self):
        return (COORDINATE_OUTPUTS if self._protocol._withCoordinates() else ()) + MICROGRAPH_OUTPUTS

    def _registeredIds(self, name):
        """Ids in an output's file (which may be ahead of this process's view of the output)."""
        protocol = self._protocol
        if not (hasattr(protocol, name) and getattr(protocol, name).getSize()):
            return []
        output = reopen(type(getattr(protocol, name)), self._file(name))
        ids = list(output.getIdSet())
        output.close()
        return ids

    def registeredMicrographIds(self):
        return {micId for name in MICROGRAPH_OUTPUTS for micId in self._registeredIds(name)}

    def registeredCoordinateIds(self):
        if self._doneCoordinates is None:
            self._doneCoordinates = {i for name in COORDINATE_OUTPUTS for i in self._registeredIds(name)}
        return self._doneCoordinates

    def register(self, entries, micrographs, coordinates):
        """Appends a batch's scored coordinates, then its micrographs (accepted or rejected), or, for
        a micrograph that an earlier batch registered, adds to its counts; coordinates already
        registered are skipped."""
        doneMicrographs = self.registeredMicrographIds()
        doneCoordinates = self.registeredCoordinateIds()
        outputs = {name: self._open(name) for name in self._names()}
        for entry in entries:
            micId = entry["id"]
            counts = {OUTPUT_ACCEPTED: 0, OUTPUT_REJECTED: 0}  # of the batch
            added = dict(counts)  # of those new to the outputs
            for coord, accepted in self._scoredCoordinates(entry, coordinates[micId] if coordinates else []):
                name = OUTPUT_ACCEPTED if accepted else OUTPUT_REJECTED
                counts[name] += 1
                if coord.getObjId() not in doneCoordinates:
                    added[name] += 1
                    outputs[name].append(coord)
                    doneCoordinates.add(coord.getObjId())
            micOutput = outputs[OUTPUT_MICROGRAPHS_REJECTED if entry["rejection"] else OUTPUT_MICROGRAPHS]
            if micId in doneMicrographs:  # the same mask, so the same decision as before
                mic = micOutput[micId].clone()
                for attribute, name in ((attributes.ACCEPTED_COUNT, OUTPUT_ACCEPTED),
                                        (attributes.REJECTED_COUNT, OUTPUT_REJECTED)):
                    count = getattr(mic, attribute)
                    count.set(count.get() + added[name])
                micOutput.update(mic)
            elif micId in micrographs:
                micOutput.append(self._annotatedMicrograph(micrographs[micId], entry, counts))
        for name, output in outputs.items():
            self._defineNew(name, output)

    @staticmethod
    def _scoredCoordinates(entry, coords):
        scores = entry.get("coordinates") or {}
        index = {coordId: i for i, coordId in enumerate(scores.get("id", []))}
        failure = entry.get("error") or "no score returned"
        for coord in coords:
            i = index.get(coord.getObjId())
            scored = i is not None and "goodness" in scores
            distance = scores["distance"][i] if scored else None
            setattr(coord, attributes.GOODNESS, Float(scores["goodness"][i] if scored else None))
            # null distance from a processed micrograph: no bad region at all
            setattr(coord, attributes.DISTANCE_TO_BAD,
                    Float(math.inf if scored and distance is None and entry["ok"] else distance))
            # the engine's reason, a rejected micrograph's included
            reason = scores["reason"][i] if scored else contract.micrograph_failed(failure)
            setattr(coord, attributes.REASON, String(reason))
            yield coord, bool(scored and scores["accepted"][i])

    def _annotatedMicrograph(self, mic, entry, counts):
        summary = entry.get("summary") or {}
        classFractions = summary.get("class_fractions") or {}
        annotations = {attributes.FLAGGED_FRACTION: Float(summary.get("flagged_fraction")),
                       attributes.ICINESS: Float(summary.get("iciness")),  # None where the pixel size is too coarse
                       **{attributes.classFractionAttribute(name): Float(classFractions.get(name))
                          for name in self._protocol.getClassNames()},
                       attributes.MASK_FILE: String(entry.get("mask") or ""),
                       attributes.THUMBNAIL: String(entry.get("thumbnail") or ""),
                       attributes.ACCEPTED_COUNT: Integer(counts[OUTPUT_ACCEPTED]),
                       attributes.REJECTED_COUNT: Integer(counts[OUTPUT_REJECTED]),
                       attributes.ERROR: String(entry.get("error") or "")}
        for name, annotation in annotations.items():
            setattr(mic, name, annotation)
        return mic

    def close(self):
        """Checks that every input item is in exactly one output, then closes them all (a failed
        check leaves them open)."""
        self._checkComplete()
        for name in self._names():
            self._protocol._updateOutputSet(name, self._open(name), Set.STREAM_CLOSED)

    def _checkComplete(self):
        """Input coordinates = accepted + rejected (micrographs, without coordinates), or a loud failure."""
        protocol = self._protocol
        SetClass, inputFile, names, what = ((SetOfCoordinates, protocol.inputCoordinates.get().getFileName(),
                                             COORDINATE_OUTPUTS, "coordinates") if protocol._withCoordinates() else
                                            (SetOfMicrographs, protocol.getInputMicrographs().getFileName(),
                                             MICROGRAPH_OUTPUTS, "micrographs"))
        inputs = reopen(SetClass, inputFile)
        expected = set(inputs.getIdSet())
        inputs.close()
        found = Counter(i for name in names for i in self._registeredIds(name))
        problems = []
        for where, ids in (("in no output", expected - set(found)), ("not in the input", set(found) - expected),
                           ("in both outputs", {i for i, count in found.items() if count > 1})):
            if ids:
                problems.append("%d %s %s (ids %s)" % (len(ids), what, where, ", ".join(map(str, sorted(ids)))))
        if problems:
            raise RuntimeError("The outputs do not hold every input item exactly once: %s. "
                               "They are left open; continue the run to retry." % "; ".join(problems))
