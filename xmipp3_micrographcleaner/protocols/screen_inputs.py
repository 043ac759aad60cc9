"""Reading the screen's inputs while other protocols may still be appending to them.

Each read opens a fresh view of the set's file, takes what the step needs and closes it, so the
scheduler sees items as they arrive and no step keeps another protocol's database open.
"""
from pwem.objects import SetOfCoordinates, SetOfMicrographs


def reopen(SetClass, fileName):
    """A fresh view of a set that another protocol may still be appending to."""
    items = SetClass(filename=fileName)
    items.loadAllProperties()
    return items


def unscheduledCoordinates(fileName, scheduled):
    """Whether the input is closed, and {micId: [coordinate ids]} of those not in ``scheduled``."""
    coordinates = reopen(SetOfCoordinates, fileName)
    closed = coordinates.isStreamClosed()  # read before the items: nothing is missed
    rows = coordinates.getUniqueValues(["id", "_micId"])
    coordinates.close()
    waiting = {}
    for coordId, micId in zip(rows["id"], rows["_micId"]):
        if coordId not in scheduled:
            waiting.setdefault(micId, []).append(coordId)
    return closed, waiting


def availableMicrographIds(fileName):
    """Whether the micrograph set is closed, and the ids it holds."""
    micrographs = reopen(SetOfMicrographs, fileName)
    closed = micrographs.isStreamClosed()
    ids = set(micrographs.getIdSet())
    micrographs.close()
    return closed, ids


def loadMicrographs(fileName, micIds):
    """{micId: micrograph} of those of ``micIds`` that the set holds."""
    micrographs = reopen(SetOfMicrographs, fileName)
    found = {}
    for micId in micIds:
        mic = micrographs[micId]
        if mic is not None:
            found[micId] = mic.clone()
    micrographs.close()
    return found


def loadCoordinates(fileName, micIds, wanted):
    """{micId: [coordinates]} of those in ``wanted`` on each of ``micIds``."""
    coordinates = reopen(SetOfCoordinates, fileName)
    found = {micId: [c.clone() for c in coordinates.iterItems(where="_micId=%d" % micId)
                     if c.getObjId() in wanted]
             for micId in micIds}
    coordinates.close()
    return found
