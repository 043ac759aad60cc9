"""What crosses the process boundary between the engine and the Scipion plugin, defined once.

The plugin never imports the engine (TensorFlow lives in the engine's own environment), so it
loads this one file by path into Scipion's Python: it must use the standard library only. Every
name here is read on both sides; a change here is a change of the contract, and a change of the
manifest or result layout raises :data:`MANIFEST_VERSION`.

The exchange, per batch of micrographs:

1. the plugin writes a manifest (:data:`MANIFEST_REQUIRED`, :data:`MANIFEST_DEFAULTS`, one
   :data:`MICROGRAPH_FIELDS` object per micrograph, coordinates as :data:`COORDINATE_FIELDS`
   lists in micrograph pixels);
2. it sends the engine worker one request line (:data:`REQUEST_FIELDS`) and reads one answer
   line (:data:`ANSWER_FIELDS`: the exit status of :data:`EXIT_OK`, :data:`EXIT_USAGE` or
   :data:`EXIT_FAILED`, and the error line when the batch was refused);
3. it reads the result file (:data:`RESULT_FIELDS`, one :data:`RESULT_MICROGRAPH_FIELDS` object
   per micrograph, whose ``summary`` holds :data:`SUMMARY_FIELDS` and whose ``coordinates`` hold
   :data:`RESULT_COORDINATE_FIELDS`), and the files :func:`micrograph_outputs` names.
"""

# ---------------------------------------------------------------------------- exit statuses
EXIT_OK = 0
"""Every input was processed."""
EXIT_USAGE = 2
"""Refused before any work: bad option, manifest, model or output folder (one line says why)."""
EXIT_FAILED = 3
"""Some inputs failed (each named on one line); all the others were processed."""

# ---------------------------------------------------------------------------- options
AUGMENTATIONS = ("none", "flips", "d8")
"""Test-time augmentation: one pass, the 4 flips, or the 8 flips and rotations."""

ANY_CLASS = "any"
"""A minimum distance, or a flagged fraction, for bad pixels of any class."""

DEFAULT_THRESHOLD = 0.8
"""The goodness a coordinate needs by default, on the command line and in the protocol alike."""

# ---------------------------------------------------------------------------- bundled model
BUNDLED_MODEL = ("models", "default.keras")
"""The bundled model, relative to the ``micrographcleaner`` package folder."""
BUNDLED_CARD = ("models", "default.json")
"""Its card (name, classes, scale rule, calibration, checksum)."""

# ---------------------------------------------------------------------------- outputs
MASK_SUFFIX = "_mask"
"""``<stem>_mask.mrc``: float badness, 0 good .. 1 bad."""
CLASSES_SUFFIX = "_classes"
"""``<stem>_classes.mrc``: 8-bit label map, 0 good, else 1 + the most likely class."""
CLASS_MAPS_SUFFIX = "_class_maps"
"""``<stem>_class_maps.mrc``: one float section per class (only when asked for)."""
IMAGE_SUFFIXES = (MASK_SUFFIX, CLASSES_SUFFIX, CLASS_MAPS_SUFFIX)
"""The engine's own images, which sit beside a ``<stem>.json`` and are never taken for micrographs."""
REJECTED_FOLDER = "rejected"
"""Rejected coordinate rows go to ``<output>/rejected/<file>``, accepted ones to ``<output>/<file>``."""
OUTPUT_LOCK = ".micrographcleaner.lock"
"""Held (``flock``) by the run writing into an output folder, so that a second run is refused there
(the processes of one run, named by the manifest's ``run_id``, share it)."""


def micrograph_outputs(stem, mask_suffix=MASK_SUFFIX):
    """File names the engine writes for one micrograph (output stem ``stem``), by kind.

    ``json`` holds the micrograph's summary (:data:`SUMMARY_FIELDS`) and the checksums that let a
    later run reuse the mask; ``thumbnail`` is only written when asked for.
    """
    return {"mask": stem + mask_suffix + ".mrc", "classes": stem + CLASSES_SUFFIX + ".mrc",
            "class_maps": stem + CLASS_MAPS_SUFFIX + ".mrc", "json": stem + ".json", "thumbnail": stem + ".png"}


REUSABLE_OUTPUTS = ("mask", "classes", "json")
"""What a later run needs to reuse a mask instead of predicting again."""

# ---------------------------------------------------------------------------- palette
CLASS_COLOURS = {"carbon": "#ff9f1c", "contamination": "#2878ff", "crystalline_ice": "#ff3cc8",
                 "aggregate": "#00c8c8", "bad": "#a05aff"}
"""One colour per bad class (``bad``: a model without classes, or a class not stated), used by the
engine's thumbnails and the plugin's plots alike, so a class looks the same everywhere."""
ACCEPTED_COLOUR = "#22cc22"
"""Accepted particles (and micrographs)."""
REJECTED_COLOUR = "#ff2828"
"""Rejected particles (and micrographs, and failures)."""
THRESHOLD_COLOUR = "#444444"
"""Lines that mark a chosen value (the goodness threshold, the max. flagged fraction)."""


def class_colour(class_name):
    """The colour of ``class_name``; a class without a colour of its own is drawn as ``bad``."""
    return CLASS_COLOURS.get(class_name, CLASS_COLOURS["bad"])


# ---------------------------------------------------------------------------- coordinate columns
GOODNESS_COLUMN = "goodRegionScore"
"""1 - mean badness over the particle's disc (Xmipp's name for it)."""
DISTANCE_COLUMN = "distanceToBad"
"""Distance from the centre to the nearest bad pixel (Å with a pixel size, else px)."""


def class_distance_column(class_name):
    """``distanceToCarbon``, ``distanceToCrystallineIce``: the distance to one class's pixels."""
    return "distanceTo" + "".join(part.capitalize() for part in class_name.split("_"))


# ---------------------------------------------------------------------------- reasons
ACCEPTED = "accepted"
LOW_GOODNESS = "low goodness"
NEAR_BAD_REGION = "near bad region"
OUTSIDE_MICROGRAPH = "outside micrograph"
NO_MATCHING_MICROGRAPH = "no micrograph matches this coordinate file"
MICROGRAPH_FAILED = "micrograph failed"
"""Prefix of the reason of every coordinate of a micrograph that could not be processed."""
MOSTLY_BAD = "micrograph mostly bad"
"""The reason of every scored coordinate of a micrograph flagged above the maximum fraction."""
CRYSTALLINE_ICE = "crystalline ice"
"""The reason of every scored coordinate of a micrograph whose iciness is above the maximum."""


def near(class_name):
    """The reason for a coordinate closer than its minimum distance to ``class_name`` (or any class)."""
    return NEAR_BAD_REGION if class_name == ANY_CLASS else "near " + class_name


def unreadable_row(number):
    """The reason for a coordinate row (1-based) that could not be read from its file."""
    return "unreadable row %d" % number


def micrograph_failed(message):
    """The reason for the coordinates of a micrograph that failed with ``message``."""
    return "%s: %s" % (MICROGRAPH_FAILED, message)


def plural(count, noun):
    """``1 micrograph``, ``2 micrographs``: how messages on either side count what a user may have one of."""
    return "%d %s%s" % (count, noun, "" if count == 1 else "s")


REDECIDABLE_REASONS = (ACCEPTED, LOW_GOODNESS, NEAR_BAD_REGION)
"""Decisions that a new threshold or minimum distance can change; the others (outside, unreadable,
failed, a class's distance) stand whatever the threshold."""

# ---------------------------------------------------------------------------- manifest
MANIFEST_VERSION = 3
"""Raised with any change of the manifest's or the result's layout; the engine refuses others."""
MANIFEST_REQUIRED = ("output_dir", "box_size", "micrographs")
MANIFEST_DEFAULTS = {
    "version": MANIFEST_VERSION,
    "model": None,  # a model file; None: the bundled model
    "particle_diameter": None,  # micrograph px; None: the box size
    "threshold": None,  # keep goodness >= threshold; None: keep all, score only
    "max_flagged": None,  # reject micrographs flagged above this fraction (MOSTLY_BAD); None: no such rule
    "max_iciness": None,  # reject micrographs whose iciness is above this (CRYSTALLINE_ICE); None: no such rule
    "min_distance": {},  # class name or ANY_CLASS -> distance (Å with a pixel size, else px)
    "tta": "none",  # one of AUGMENTATIONS
    "gpus": "all",  # 'cpu', GPU ids '0,1', or 'all'
    "threads": None,  # CPU threads for the network; None: all cores
    "batch_size": 8,  # images per network call
    "full_size": False,  # masks at the micrograph's size rather than the working size
    "thumbnails": False,
    "save_masks": True,
    "class_maps": False,
    "extra_downsampling": 1.0,
    "hole_geometry": True,  # draw the badness to the hole edge fitted on each micrograph
    "hole_diameter": None,  # µm (needs the pixel size); None: the hole radius is estimated per micrograph
    "run_id": None,  # the caller's run: its batches may write into output_dir at once, another run's not
}
MICROGRAPH_FIELDS = ("id", "path", "pixel_size", "key", "coordinates")
"""Per micrograph: the caller's id, its file, Å/px (None: the header's), the output stem (a plain
file name; None: the file's stem) and, optionally, its coordinates."""
COORDINATE_FIELDS = ("id", "x", "y")
"""Equally long lists: the caller's coordinate ids and the centres in micrograph pixels."""

UNCERTAIN_BADNESS = (0.2, 0.8)
"""Badness between these is neither clearly good nor clearly bad."""

# ---------------------------------------------------------------------------- corrections
CORRECTIONS_FOLDER = "corrections"
"""A screen run's corrections by the user, beside (never over) the model's masks."""
CORRECTIONS_SOURCE = "corrections.json"
"""The corrections folder's label source, which ``micrographcleaner train --labelled`` reads: the
reviewed micrographs by output stem (``micrographs``: stem -> micrograph file), the box they were
screened with, ``labels`` ("."), ``label_suffix`` (:data:`CORRECTION_SUFFIX`), ``legend``
(:data:`CORRECTION_LEGEND`), ``name`` and ``reviews`` (stem -> {"edited": bool, "saved": ISO time,
"model": the model whose mask was reviewed}). A micrograph saved without edits is reviewed and right."""
CORRECTION_SUFFIX = "_labels"
"""``<stem>_labels.png``: 8-bit greyscale label map at the run's working size, one code per pixel."""
CORRECTION_LEGEND = {"0": "good", "1": "carbon", "2": "contamination", "3": "crystalline_ice", "4": "aggregate",
                     "5": "bad", "255": "ignore"}
"""Codes of a correction label map (the engine's class codes); ``ignore`` is what the user marked
unsure: it counts for nothing in training or scoring."""

# ---------------------------------------------------------------------------- worker
REQUEST_FIELDS = ("manifest", "result")
"""One JSON line on the worker's stdin: run this manifest, write this result file."""
ANSWER_FIELDS = ("status", "error")
"""One JSON line on its stdout per request: the exit status ``micrographcleaner batch`` would
give, and the one-line error when the batch was refused (None otherwise)."""

# ---------------------------------------------------------------------------- result
RESULT_FIELDS = ("model", "micrographs")
RESULT_MICROGRAPH_FIELDS = ("id", "path", "ok", "error", "summary", "mask", "thumbnail", "coordinates")
"""``mask`` and ``thumbnail`` are full paths (None when not written); ``error`` is one line."""
SUMMARY_FIELDS = ("micrograph", "model", "model_sha256", "calibration", "classes", "box_size",
                  "particle_diameter", "downsampling_factor", "companion_factor", "micrograph_shape", "working_shape", "pixel_size", "flagged_fraction",
                  "mean_badness", "uncertain_fraction", "class_fractions", "mostly_bad", "rejection", "mask",
                  "mask_reused", "timings", "micrograph_sha256", "masks_sha256", "iciness", "warnings", "hole_geometry",
                  "hole_edge", "thumbnail", "coordinates")
"""A processed micrograph's summary (also its ``<stem>.json``). ``uncertain_fraction`` is the share of
working pixels with a badness between :data:`UNCERTAIN_BADNESS` (where a correction teaches most);
``calibration`` is the card's (a model recalibrated is another model: its masks are not reused);
``companion_factor`` is the downsampling of the second view averaged in (None: one view);
``rejection`` is the micrograph's rejection reason (:data:`MOSTLY_BAD`, :data:`CRYSTALLINE_ICE`) or None, and ``coordinates`` counts
the decisions after it; ``masks_sha256`` holds the checksum of each mask file written, by kind, so
that a damaged or replaced mask is predicted again; ``iciness`` is None where the pixel size is
unknown or too coarse; ``warnings`` lists what looked implausible (e.g. the box size); ``hole_geometry`` is what was asked
of it (``used``, ``diameter_um``) and ``hole_edge`` the edge fitted (``x``, ``y``, ``radius`` in working px,
``score``, ``confidence``; None when none was fitted);
``thumbnail`` is only present when written."""
RESULT_COORDINATE_FIELDS = ("id", "goodness", "distance", "class_distance", "accepted", "reason")
"""Lists in the order of the manifest's coordinate ids; goodness and distances are None where they
could not be measured (a distance of None on a processed micrograph: no bad pixel at all)."""
