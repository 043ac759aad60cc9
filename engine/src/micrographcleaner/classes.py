"""The class vocabulary: the bad classes, the codes of a label map, and those codes as channels.

Every label map (drawn by the simulator, read from human labels, written as the truth of an
evaluation folder) holds one code per pixel: ``GOOD`` (0), ``i + 1`` for ``CLASSES[i]``, ``BAD``
(bad, class not stated: a plain good/bad mask) or ``IGNORE`` (not labelled: no loss, no score).
The network's outputs are laid out to match: channel 0 says bad, channel ``i + 1`` says
``CLASSES[i]``. It lives here, apart from the simulator, so that working with real micrographs
needs nothing of the simulator.
"""
from __future__ import annotations

import numpy as np

CLASSES = ("carbon", "contamination", "crystalline_ice", "aggregate")
GOOD = 0
CODES = {name: index + 1 for index, name in enumerate(CLASSES)}
BAD = len(CLASSES) + 1  # bad, class unknown
IGNORE = 255  # not labelled: counts for nothing
CLASS_CODES = {"good": GOOD, **CODES, "bad": BAD, "ignore": IGNORE}  # the names label files may use


def class_channels(codes: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Codes (..., ) to one float32 0/1 channel per class (..., n_classes): channel ``i`` is code ``i + 1``.

    The one place codes become class channels, so the network, its targets and its truth agree.
    """
    return (codes[..., None] == np.arange(1, n_classes + 1)).astype(np.float32)


def code_channels(codes: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Codes to the network's layout (..., 1 + n_classes) as float32: any code but ``GOOD``, then the classes.

    A code with no class channel (``BAD``, or a class beyond ``n_classes``) is bad of no class; so is
    ``IGNORE``, which truth maps do not use (training's targets, which leave it out, are
    :func:`micrographcleaner.labels.code_targets`).
    """
    return np.concatenate([(codes != GOOD)[..., None].astype(np.float32), class_channels(codes, n_classes)], axis=-1)
