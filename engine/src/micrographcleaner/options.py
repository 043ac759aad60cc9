"""What a cleaning run is asked to do: its options, checked before any work, and its jobs.

Every number a user gives is checked here, once, so that a typo is one line naming the option
before a micrograph is touched, whoever the caller is (command line, manifest, ``cleanMics``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .contract import MASK_SUFFIX
from .scoring import MicrographRule, ScoringRule

MAX_BOX_SIZE = 20000.0
"""Larger than any detector: a box beyond this is a typo (or not in pixels)."""
MAX_HOLE_DIAMETER = 100.0
"""µm: larger than any holey grid's holes (1 to 3.5 µm); beyond this it is not in µm."""
MIN_PLAUSIBLE_BOX = 10.0
"""Smaller than any particle's box: a box below this is probably in other units or of binned images."""


class OptionError(ValueError):
    """An option that cannot work, found before any micrograph is touched; the message names it."""


class UsageError(Exception):
    """A run refused before any work (an option, model, device, input list or output folder that
    cannot work): one line, and exit status ``contract.EXIT_USAGE``."""


def check_number(name: str, value, low: float, high: float = math.inf, *, low_allowed: bool = False) -> float | None:
    """``value`` as a float; refuses text, NaN, infinities and values outside (low, high] ([low, high]
    with ``low_allowed``). None stays None (not given)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and (number >= low if low_allowed else number > low) and number <= high):
        bounds = [f"{'at least' if low_allowed else 'greater than'} {low:g}"] if math.isfinite(low) else []
        bounds += [f"at most {high:g}"] if math.isfinite(high) else []
        raise OptionError(f"{name} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}, "
                          f"got {value!r}")
    return number


@dataclass
class CleaningOptions:
    box_size: float
    output_dir: Path
    particle_diameter: float | None = None  # micrograph px; the box size when None
    rule: ScoringRule = field(default_factory=ScoringRule)
    micrograph_rule: MicrographRule = field(default_factory=MicrographRule)
    full_size: bool = False
    thumbnails: bool = False
    write_masks: bool = True
    class_maps: bool = False  # also <stem>_class_maps.mrc: one float32 section per class, at the mask's size
    mask_suffix: str = MASK_SUFFIX  # masks are <stem><suffix>.mrc
    extra_downsampling: float = 1.0
    hole_geometry: bool = True  # draw the badness to the fitted hole edge (holes.py)
    hole_diameter: float | None = None  # µm; None: the hole radius is estimated per micrograph

    @property
    def diameter(self) -> float:
        return self.particle_diameter or self.box_size

    def check(self, spell=lambda name: name) -> None:
        """Refuse values that would run silently wrong; ``spell`` names a field as the caller's user knows it."""
        check_number(spell("box_size"), self.box_size, 1, MAX_BOX_SIZE, low_allowed=True)  # px: under 1 is a typo
        check_number(spell("particle_diameter"), self.particle_diameter, 0, MAX_BOX_SIZE)
        check_number(spell("extra_downsampling"), self.extra_downsampling, 0)
        check_number(spell("hole_diameter"), self.hole_diameter, 0, MAX_HOLE_DIAMETER)
        check_number(spell("threshold"), self.rule.threshold, 0, 1, low_allowed=True)
        for name, limit in self.rule.min_distance.items():
            check_number(f"{spell('min_distance')} {name}", limit, 0, low_allowed=True)
        check_number(spell("max_flagged"), self.micrograph_rule.max_flagged, 0, 1, low_allowed=True)
        check_number(spell("max_iciness"), self.micrograph_rule.max_iciness, 0)

    @property
    def hole_setting(self) -> dict:
        """What the hole geometry was asked to do: a mask made otherwise is not reused."""
        return {"used": self.hole_geometry, "diameter_um": self.hole_diameter if self.hole_geometry else None}

    def box_warnings(self, micrograph_shape: tuple[int, int]) -> list[str]:
        """What makes the box size implausible for a micrograph of this shape (rows, columns): it runs
        anyway, but the scores of a box in the wrong units mean little."""
        box, (height, width) = self.box_size, micrograph_shape
        if box < MIN_PLAUSIBLE_BOX:
            return [f"box size {box:g} px is smaller than any particle's box ({MIN_PLAUSIBLE_BOX:g} px); is it in "
                    "pixels of these micrographs?"]
        if box > min(height, width) / 2:
            return [f"box size {box:g} px is more than half the micrograph ({width} x {height} px); is it in pixels "
                    "of these micrographs?"]
        return []


@dataclass
class Job:
    """One micrograph to clean, with its coordinates (micrograph pixels, x y) if any."""

    micrograph: Path
    xy: np.ndarray | None = None
    pixel_size: float | None = None  # overrides the header's
    key: str | None = None  # output file stem; the micrograph's stem by default
    payload: Any = None  # the caller's own data, handed back untouched in the result

    @property
    def stem(self) -> str:
        return self.key or Path(self.micrograph).stem

    @property
    def n_coordinates(self) -> int:
        return 0 if self.xy is None else len(self.xy)
