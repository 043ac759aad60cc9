"""Names of the attributes the screen stores on its output items, defined once.

They are columns of the output sets in projects on disk, so a name here never changes: a project
written before would lose that column. Set them with ``setattr(item, NAME, Float(...))`` and read
them with :func:`value`.
"""

# ---------------------------------------------------------------------------- every output coordinate
GOODNESS = "_xmipp_goodRegionScore"  # 1 - mean badness under the particle (Xmipp's name); None: not scored
DISTANCE_TO_BAD = "_mcDistanceToBad"  # Å to the nearest bad pixel; inf when there is none
REASON = "_mcReason"  # the engine's reason (contract.ACCEPTED, ...) or the micrograph's rejection

# ---------------------------------------------------------------------------- every output micrograph
FLAGGED_FRACTION = "_mcFlaggedFraction"  # of the area, any class; None: failed
ICINESS = "_mcIciness"  # None where the pixel size is too coarse
MASK_FILE = "_mcMaskFile"  # relative to the project; '' when not saved
THUMBNAIL = "_mcThumbnail"  # relative to the project; '' when not saved
ACCEPTED_COUNT = "_mcAccepted"  # its coordinates accepted
REJECTED_COUNT = "_mcRejected"  # and rejected
ERROR = "_mcError"  # why it failed; '' when it did not


def classFractionAttribute(className):
    """``_mcFlaggedFraction_carbon``: the fraction of the area flagged as one class of the model."""
    return "%s_%s" % (FLAGGED_FRACTION, className)


def value(item, name, default=None):
    """The value of attribute ``name`` of ``item``, ``default`` when it has none (or no such attribute)."""
    attribute = getattr(item, name, None)
    found = None if attribute is None else attribute.get()
    return default if found is None else found


def values(items, name):
    """The values of attribute ``name`` over ``items``, skipping the items without one."""
    return [found for found in (value(item, name) for item in items) if found is not None]
