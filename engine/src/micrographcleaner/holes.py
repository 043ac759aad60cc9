"""Hole geometry: the circular edge of a grid hole, fitted to the film evidence, and the badness drawn to it.

Holey grids (Quantifoil, C-flat, UltrAuFoil) have round holes of a size the user knows. A frame
near a hole's edge shows an arc of that circle with the film on its outside. Faint film that the
network finds only in part, or with a ragged boundary, still shows in the low frequencies: the
network's badness and the image's darkness both change across the arc, and some films show
nothing but a faint dark line along it. One circle is fitted to the three at once: the sums under
a disc and along a ring are convolutions, so every centre is tried for each radius. The line
decides where the circle runs only where it stands out from the frame's own random structure (its
strength is a robust z over all centres), and its curvature says which side the hole is on; the
network and darkness together must still see film outside. Only a model with classes gets the
line: without them the rims of ice balls and other bad regions could not be left out of it. The
line gives the arc's shape but not quite its place (a faint film's dark line is a Fresnel fringe,
inside the film by as much as the defocus makes it), so the fitted circle's radius is then refined,
about the same centre, to where network and darkness split best on a grid twice as fine.
The network's evidence is its carbon class (for a model with classes), and what it calls bad of
another class (an ice ball, crystalline ice) is left out of the fit, so that its darkness, or its
rim, is never taken for film. Where the fit is clear, the badness logits are pulled toward it: up on the
film side, down on the hole side (only as far as the badness there is carbon: contamination in
the hole stays).

The image is detrended (a least-squares plane) before it is scored: a thickness gradient over
empty ice is explained by the plane, not by a circle. The strength and thresholds were chosen on
em_hole_finder's training holes, hole 5 and hole-only frames, the EMPIAR-10017 training frame
and simulated validation scenes (seeds 10000-10159, their empty ice included: a stronger pull
flagged up to 45% of those); ``engine/benchmarks/benchmark_real.py`` reports the held-out
frames with and without the geometry.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage

from .calibration import logit
from .preprocessing import area_resize
from .scoring import class_labels

COARSE_SIDE = 80
"""Longer side (px) of the coarse image the circle is fitted on: the films are in the low frequencies."""
MIN_SHARE = 0.03
"""Each side of a fitted circle holds at least this share of the frame."""
CONFIDENCE = (0.40, 0.60)
"""Fit scores (the two contrasts summed) from which a fit starts to count, and counts fully."""
STRENGTH = 4.0
"""Logit added at full confidence, well inside the film (and taken away well inside the hole)."""
EDGE_SOFTNESS = 3.0 / 320
"""Width of the logit ramp across the arc, as a share of the working image's longer side."""
KNOWN_RADIUS_SPREAD = (0.87, 1.0, 1.15)
"""Radii tried around a known hole radius: tilt, magnification and drawing tolerance."""
UNKNOWN_RADII = tuple(float(r) for r in np.geomspace(0.5, 3.0, 7))
"""Radii tried without a hole diameter, as multiples of the working image's longer side."""
LINE_SIGMA = 0.8
"""Scale (coarse px) of the dark line that may be a faint film's only sign at its edge."""
LINE_MARGIN = 5
"""Coarse px around what the network calls bad of another class where lines do not count (an ice
ball's rim is a dark curved line too)."""
LINE_FLOOR = 10.0
"""Edge-line strength (robust z over all centres) that random structure reaches on frames without film."""
LINE_WEIGHT = 0.2
"""Fit score added per unit of edge-line strength above the floor."""
REFINE_SIDE = 2 * COARSE_SIDE
"""Longer side (px) of the finer grid on which the fitted circle's radius is refined."""
REFINE_REACH = 2.0
"""Coarse px by which the refined radius may differ from the fitted one."""


@dataclass(frozen=True)
class HoleEdge:
    """A fitted hole edge in working pixels: centre (x, y), radius, fit score and its confidence 0..1."""

    x: float
    y: float
    radius: float
    score: float
    confidence: float

    def signed_distance(self, shape: tuple[int, int]) -> np.ndarray:
        """Distance of each working pixel from the arc, positive on the film side (outside the hole)."""
        rows, columns = np.mgrid[:shape[0], :shape[1]]
        return np.hypot(columns - self.x, rows - self.y) - self.radius

    def to_summary(self) -> dict:
        return {"x": round(self.x, 2), "y": round(self.y, 2), "radius": round(self.radius, 2),
                "score": round(self.score, 4), "confidence": round(self.confidence, 4)}


def hole_radius(diameter_um: float, pixel_size: float, micrograph_pixels_per_working: float) -> float:
    """A hole's radius in working pixels from its diameter (µm) and the micrograph's pixel size (Å/px)."""
    return diameter_um * 1e4 / 2 / pixel_size / micrograph_pixels_per_working


def coarse_features(working: np.ndarray, film: np.ndarray, excluded: np.ndarray | None = None,
                    side: int = COARSE_SIDE) -> tuple[list[np.ndarray], np.ndarray]:
    """The film evidence on a grid of longer ``side``, each positive where film is: the network's film
    probability (centred, in units of half its range) and the image's darkness (detrended,
    standardised); and each coarse pixel's weight, the share of it not ``excluded`` (what the
    network calls bad of another kind, e.g. an ice ball, whose darkness is no film's)."""
    factor = max(working.shape) / side
    shape = tuple(max(4, int(round(length / factor))) for length in working.shape)
    kept = np.ones(working.shape, np.float32) if excluded is None else (~excluded).astype(np.float32)
    weight = area_resize(kept, shape)  # type: ignore[arg-type]
    share = np.maximum(weight, 1e-6)
    image = area_resize(np.asarray(working, np.float32) * kept, shape) / share  # type: ignore[arg-type]
    image = ndimage.gaussian_filter(image * weight, 1.0) / np.maximum(ndimage.gaussian_filter(weight, 1.0), 1e-6)
    rows, columns = np.mgrid[:shape[0], :shape[1]]
    plane = np.stack([np.ones(image.size), columns.ravel(), rows.ravel()], axis=1)
    root = np.sqrt(weight.ravel())[:, None]
    image = image - (plane @ np.linalg.lstsq(plane * root, image.ravel() * root[:, 0], rcond=None)[0]).reshape(shape)
    film = area_resize(np.ascontiguousarray(film, dtype=np.float32) * kept, shape) / share  # type: ignore[arg-type]

    def centred(feature: np.ndarray) -> np.ndarray:
        return feature - np.average(feature, weights=weight + 1e-12)

    darkness = -centred(image)
    spread = np.sqrt(np.average(darkness ** 2, weights=weight + 1e-12)) + 1e-9
    return [centred(film) / 0.5, darkness / spread], weight


def _weighted_canvas(layers: list[np.ndarray], weight: np.ndarray, reach: int,
                     shape: tuple[int, int]) -> np.ndarray:
    """The weight, then each layer times it, placed ``reach`` px into a zero canvas of ``shape``
    (float32: the FFTs run twice as fast)."""
    height, width = weight.shape
    stack = np.zeros((len(layers) + 1, *shape), np.float32)
    stack[0, reach:reach + height, reach:reach + width] = weight  # how much of each pixel counts
    for index, layer in enumerate(layers, start=1):
        stack[index, reach:reach + height, reach:reach + width] = layer * weight
    return stack


def _split_contrasts(inside: np.ndarray, feature_inside: np.ndarray, total: float,
                     feature_totals: np.ndarray) -> np.ndarray:
    """Per feature, for each split into an inside (weight ``inside``, feature sums ``feature_inside``)
    and the rest: (mean outside - mean inside) x sqrt(n_in n_out) / n, the signed root of the
    two-region split's between-class variance (pixels counted by their weight); -inf where a side is
    under MIN_SHARE."""
    outside = total - inside
    usable = (inside >= MIN_SHARE * total) & (outside >= MIN_SHARE * total)
    weight = np.sqrt(inside * outside) / total
    contrasts = [((feature_total - summed) / np.maximum(outside, 1) - summed / np.maximum(inside, 1)) * weight
                 for summed, feature_total in zip(feature_inside, feature_totals)]
    return np.where(usable, np.stack(contrasts), -np.inf)


def _signed_offsets(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each canvas pixel's offset (rows, columns) from the origin, wrapped as the FFT sees it: the
    kernels of the disc and ring sums are laid out on these."""
    rows, columns = (np.fft.fftfreq(n, 1 / n).astype(np.float32) for n in shape)
    return rows[:, None], columns[None, :]


class _DiscSums:
    """Sums of the features under a disc centred on every pixel of a canvas that pads the frame by
    ``reach``: one FFT of each feature, then one product per radius. A circular convolution is exact
    here, since no disc of radius <= ``reach`` centred on the canvas wraps round onto the frame."""

    def __init__(self, features: list[np.ndarray], weight: np.ndarray, reach: int):
        self.reach = reach
        height, width = features[0].shape
        self.shape = (fft.next_fast_len(height + 2 * reach, real=True), fft.next_fast_len(width + 2 * reach, real=True))
        stack = _weighted_canvas(features, weight, reach, self.shape)
        self.spectra = fft.rfft2(stack, workers=1)
        self.totals = [float(layer.sum(dtype=np.float64)) for layer in stack]
        dy, dx = _signed_offsets(self.shape)
        self.distance2 = dy ** 2 + dx ** 2

    def contrasts(self, radius: float) -> np.ndarray:
        """Per feature, at every centre, the split contrast of the disc of ``radius`` (:func:`_split_contrasts`)."""
        disc = fft.rfft2((self.distance2 <= radius * radius).astype(np.float32), workers=1)
        sums = fft.irfft2(self.spectra * disc, s=self.shape, workers=1)
        total = self.totals[0]
        return _split_contrasts(np.clip(sums[0], 0, total), sums[1:], total, self.totals[1:])


def line_tensor(image: np.ndarray) -> list[np.ndarray]:
    """Where the image shows a dark line, and across which direction: the line strength (the
    Hessian's larger eigenvalue less the other's size, so blobs count little) times the outer
    product of the direction across it, as its three independent parts (mean, cos 2a, sin 2a):
    ``n^T T n`` for a unit vector ``n`` at angle b is ``mean + c cos 2b + s sin 2b``."""
    image = (image - image.mean()) / (image.std() + 1e-9)
    hxx = ndimage.gaussian_filter(image, LINE_SIGMA, order=(0, 2))
    hyy = ndimage.gaussian_filter(image, LINE_SIGMA, order=(2, 0))
    hxy = ndimage.gaussian_filter(image, LINE_SIGMA, order=(1, 1))
    half = np.hypot((hxx - hyy) / 2, hxy)
    mean = (hxx + hyy) / 2
    strength = np.maximum(mean + half - np.abs(mean - half), 0)
    angle = np.arctan2(hxy, (hxx - hyy) / 2)  # twice the angle of the direction across the line
    return [strength / 2, strength / 2 * np.cos(angle), strength / 2 * np.sin(angle)]


class _RingSums:
    """A dark line along each circle: the line tensor read across the circle (radially), summed along
    its arc inside the frame, per centre of a canvas padding the coarse grid by ``reach``, in robust
    units over all centres (what random structure reaches is set by the frame itself)."""

    def __init__(self, tensor: list[np.ndarray], weight: np.ndarray, reach: int, shape: tuple[int, int]):
        self.reach, self.shape = reach, shape
        self.spectra = fft.rfft2(_weighted_canvas(tensor, weight, reach, shape), workers=1)
        self.frame = max(weight.shape)
        dy, dx = _signed_offsets(self.shape)
        self.distance = np.hypot(dy, dx)
        safe = np.maximum(self.distance, 1e-6) ** 2
        self.cos2, self.sin2 = (dx ** 2 - dy ** 2) / safe, 2 * dx * dy / safe

    def strength(self, radius: float) -> np.ndarray:
        """Robust z of the mean radial line strength along each circle of ``radius`` (coarse px); -inf
        where under half a frame side of its arc lies in the frame."""
        ring = np.clip(1 - np.abs(self.distance - radius), 0, 1)
        kernels = fft.rfft2(np.stack([ring, ring * self.cos2, ring * self.sin2]), workers=1)
        length = fft.irfft2(self.spectra[0] * kernels[0], s=self.shape, workers=1)
        summed = fft.irfft2((self.spectra[1:] * kernels).sum(axis=0), s=self.shape, workers=1)
        usable = length >= 0.5 * self.frame
        result = np.full(self.shape, -np.inf, np.float32)
        if not usable.any():
            return result
        value = summed[usable] / np.sqrt(length[usable])
        sample = value[::7]  # the robust centre and spread of a sample of centres: the same, 7x cheaper
        centre = np.median(sample)
        spread = 1.4826 * np.median(np.abs(sample - centre)) + 1e-9
        result[usable] = (value - centre) / spread
        return result


def fit_edge(working: np.ndarray, film: np.ndarray, radii: list[float],
             excluded: np.ndarray | None = None, edge_line: bool = True) -> HoleEdge | None:
    """The circle (one of ``radii``, working px) across which the network's ``film`` probability and
    the image's darkness together say most that film lies outside, a dark line along the circle
    adding to it (with ``edge_line``); None when no circle leaves both sides a share of the frame,
    or none has film outside by those two."""
    features, weight = coarse_features(working, film, excluded)
    scale = max(working.shape) / max(features[0].shape)  # working px per coarse px
    sums = _DiscSums(features, weight, int(np.ceil(max(radii) / scale)))
    rings = None
    if edge_line:
        coarse = area_resize(np.asarray(working, np.float32), features[0].shape)  # type: ignore[arg-type]
        rings = _RingSums(line_tensor(coarse), ndimage.minimum_filter(weight, size=LINE_MARGIN), sums.reach,
                          sums.shape)
    best = None
    for radius in radii:
        contrasts = sums.contrasts(radius / scale)
        line = 0.0 if rings is None else LINE_WEIGHT * np.maximum(rings.strength(radius / scale) - LINE_FLOOR, 0)
        summed = contrasts.sum(axis=0)  # network and image together must see film outside
        agreed = np.where(np.isfinite(summed) & (summed > 0), summed + line, -np.inf)
        row, column = np.unravel_index(int(np.argmax(agreed)), agreed.shape)
        score = float(agreed[row, column])
        if np.isfinite(score) and (best is None or score > best[0]):
            best = (score, (column - sums.reach + 0.5) * scale - 0.5, (row - sums.reach + 0.5) * scale - 0.5, radius)
    if best is None:
        return None
    score, x, y, radius = best
    radius = _refined_radius(working, film, excluded, x, y, radius, scale)
    low, high = CONFIDENCE
    return HoleEdge(float(x), float(y), float(radius), score, float(np.clip((score - low) / (high - low), 0, 1)))


def _refined_radius(working: np.ndarray, film: np.ndarray, excluded: np.ndarray | None,
                    x: float, y: float, radius: float, scale: float) -> float:
    """The radius, within REFINE_REACH coarse px (``scale`` working px each) of ``radius``, of the
    circle about the same centre across which the network and darkness together split best on a
    grid twice as fine: the arc's shape comes from the coarse fit, its place from the film evidence
    (a faint film's dark line is a Fresnel fringe, inside the film by as much as the defocus makes it)."""
    features, weight = coarse_features(working, film, excluded, REFINE_SIDE)
    fine = max(working.shape) / max(weight.shape)
    rows, columns = np.mgrid[:weight.shape[0], :weight.shape[1]]
    distance = np.hypot((columns + 0.5) * fine - 0.5 - x, (rows + 0.5) * fine - 0.5 - y).ravel() - radius
    order = np.argsort(distance)
    # weight and weighted features summed over the pixels nearer than each distance: the inside sums
    inside_sums = np.cumsum(np.stack([weight.ravel()] + [(f * weight).ravel() for f in features])[:, order], axis=1)
    steps = np.arange(-REFINE_REACH, REFINE_REACH + 1e-9, 0.125) * scale  # eighths of a coarse px
    inside = inside_sums[:, np.clip(np.searchsorted(distance[order], steps) - 1, 0, None)]
    totals = inside_sums[:, -1]
    split = _split_contrasts(inside[0], inside[1:], float(totals[0]), totals[1:]).sum(axis=0)
    if not np.isfinite(split).any():
        return radius
    return radius + float(steps[np.argmax(split)])


def draw_to_edge(badness: np.ndarray, edge: HoleEdge, carbon_channel: int | None) -> np.ndarray:
    """``badness`` with its logits pulled toward ``edge`` by its confidence: up outside the hole and,
    with a carbon channel, down inside it by the share of the badness that is carbon."""
    if edge.confidence <= 0:
        return badness
    softness = EDGE_SOFTNESS * max(badness.shape[:2])
    pull = STRENGTH * edge.confidence * np.tanh(edge.signed_distance(badness.shape[:2]) / softness)
    if carbon_channel is None:
        pull = np.maximum(pull, 0.0)
    else:
        carbon = badness[..., carbon_channel] / np.maximum(badness[..., 1:].sum(axis=-1), 1e-6)
        pull = np.where(pull < 0, pull * carbon, pull)
    drawn = 1.0 / (1.0 + np.exp(-(logit(badness[..., 0].astype(np.float64)) + pull)))
    result = np.array(badness, dtype=np.float32, copy=True)
    result[..., 0] = drawn
    if carbon_channel is not None:  # what was added is carbon; what was taken away was carbon
        result[..., carbon_channel] = np.clip(badness[..., carbon_channel] + (drawn - badness[..., 0]), 0, 1)
    return result


def radii_to_try(working_shape: tuple[int, int], radius: float | None) -> list[float]:
    """Around the known hole radius (working px), or a wide range of them when it is unknown."""
    if radius is not None:
        return [radius * spread for spread in KNOWN_RADIUS_SPREAD]
    return [max(working_shape) * multiple for multiple in UNKNOWN_RADII]


def with_hole_geometry(working: np.ndarray, badness: np.ndarray, classes: list[str],
                       radius: float | None) -> tuple[np.ndarray, HoleEdge | None]:
    """The badness drawn to the hole edge fitted on this working image (radius in working px, or
    None: estimated), and that edge (None when no circle fits)."""
    carbon = classes.index("carbon") if "carbon" in classes else None
    excluded = None
    if carbon is not None:  # bad of another class: contamination, crystalline ice, aggregates
        labels = class_labels(badness)
        excluded = (labels > 0) & (labels != carbon)
    # a dark line counts only where the rims of other bad things (ice balls) can be left out: with classes
    edge = fit_edge(working, badness[..., 0 if carbon is None else carbon], radii_to_try(working.shape, radius),
                    excluded, edge_line=carbon is not None)
    if edge is None:
        return badness, None
    return draw_to_edge(badness, edge, carbon), edge
