"""Synthetic micrographs with pixel-exact labels: training and test data without hand labels.

A scene is drawn from a seed as plain numbers (a JSON-able dict, in working pixels, where a
particle box is about 16 px) and then rendered on a grid: the working grid itself for training,
or a grid ``oversample`` times finer for end-to-end tests at full size. Rendering follows the
physics closely enough for the network to meet real micrographs as one more sample:

* amplitude: ``exp(-thickness)``, with ice gradients, thicker carbon film, opaque contamination;
* phase: projected particles (sums of 3-D Gaussian blobs), the carbon film and contamination edge,
  imaged through a CTF (defocus, astigmatism, voltage, amplitude contrast, B-factor), which makes
  particle halos and the Fresnel fringes along edges;
* noise: Gaussian approximation of shot noise, scaled with the pixel area.

Label codes are those of :mod:`micrographcleaner.classes` (0 good, ``i + 1`` = ``CLASSES[i]``).
Textures are drawn on the working grid and interpolated onto finer grids, so a full-size rendering
shows the same scene.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from .classes import CLASSES, CODES

WORKING_BOX = 16  # a particle box in working pixels (see preprocessing.PARTICLE_PIXELS)


@dataclass
class SimulatedMicrograph:
    image: np.ndarray  # float32 intensities (dark particles on bright ice)
    labels: np.ndarray  # uint8 class codes, same shape
    particles: np.ndarray  # (N, 2) x, y in pixels of this rendering
    particle_labels: np.ndarray  # (N,) class code under each particle centre
    pixel_size: float  # Angstrom per pixel of this rendering
    scene: dict  # everything drawn from the seed


# ---------------------------------------------------------------------------------------------
# Drawing a scene: numbers only


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _outline(rng: np.random.Generator, irregularity: float) -> list[list[float]]:
    """Harmonics (order, amplitude, phase) that deform a circle into a blob outline."""
    return [[order, float(rng.uniform(0, irregularity) / order ** 0.7), float(rng.uniform(0, 2 * np.pi))]
            for order in range(2, 7)]


def draw_scene(seed: int, shape: tuple[int, int] = (256, 256)) -> dict:
    """Every random choice of one micrograph, as numbers (working pixels, Angstrom, microns)."""
    rng = np.random.default_rng(seed)
    height, width = shape
    diameter = rng.uniform(7.0, 13.0)  # particle diameter in working px (box 16 = 1.2-2.3 x diameter)
    pixel_size = _log_uniform(rng, 90.0, 450.0) / diameter  # Angstrom per working px
    empty = rng.random() < 0.04
    scene = {
        "seed": int(seed), "shape": [int(height), int(width)], "pixel_size": pixel_size,
        "particle_diameter": diameter,
        "voltage": float(rng.choice([200.0, 300.0])),
        "defocus": [float(rng.uniform(0.5, 3.5))] * 2, "astigmatism_angle": float(rng.uniform(0, np.pi)),
        "amplitude_contrast": float(rng.uniform(0.07, 0.15)), "bfactor": float(rng.uniform(20, 300)),
        "ice": {"thickness": 0.0 if empty else float(rng.uniform(0.15, 0.9)),
                "gradient": [float(v) for v in rng.normal(0, 0.15, 2)] if not empty else [0.0, 0.0],
                "roughness": float(rng.uniform(0, 0.06) ** 1.5 / 0.06 ** 0.5), "roughness_scale": _log_uniform(rng, 4, 60),
                "texture_seed": int(rng.integers(2 ** 31))},
        "noise": _log_uniform(rng, 0.004, 0.12),
        "particles": {"coverage": 0.0 if empty else float(rng.uniform(0.0, 0.5)),
                      "contrast": _log_uniform(rng, 0.15, 2.5), "blobs": int(rng.integers(3, 9)),
                      "seed": int(rng.integers(2 ** 31))},
        "carbon": [], "contamination": [], "crystalline_ice": [], "aggregate": [],
    }
    scene["defocus"][1] = scene["defocus"][0] + float(rng.uniform(-0.3, 0.3))
    # hollow particles (vesicles, empty capsids) are good too; drawn from the particles' own seed
    scene["particles"]["hollow"] = bool(np.random.default_rng(scene["particles"]["seed"] + 1).random() < 0.15)
    if empty or rng.random() < 0.22:  # a clean frame: nothing bad at all
        return scene if empty else _maybe_empty_ice(scene)
    side = float(np.hypot(height, width))
    if rng.random() < 0.45:
        scene["carbon"] = _draw_carbon(rng, height, width, pixel_size)
    if rng.random() < 0.5:
        count = int(rng.choice([1, 1, 1, 2, 3, 5, 8]))
        scene["contamination"] = [_draw_contaminant(rng, height, width, diameter, side) for _ in range(count)]
    if rng.random() < 0.15:
        scene["crystalline_ice"] = [{"coverage": float(rng.uniform(0.1, 1.0)), "scale": _log_uniform(rng, 15, 80),
                                     "grain": float(rng.uniform(1.5, 5.0)), "contrast": _log_uniform(rng, 0.05, 0.4),
                                     "darkening": float(rng.uniform(-0.05, 0.2)),
                                     "seed": int(rng.integers(2 ** 31))}]
        _draw_mosaic(scene["crystalline_ice"][0])
    if rng.random() < 0.2:
        scene["aggregate"] = [{"centre": [float(rng.uniform(0, width)), float(rng.uniform(0, height))],
                               "radius": float(diameter * rng.uniform(1.2, 5.0)),
                               "outline": _outline(rng, 0.5), "packing": float(rng.uniform(0.6, 1.0)),
                               "density": _log_uniform(rng, 0.1, 0.8),
                               "seed": int(rng.integers(2 ** 31))}
                              for _ in range(int(rng.integers(1, 4)))]
    return scene


def _draw_mosaic(patch: dict) -> None:
    """Half the crystalline patches, as K2/K3 frames show them at the working scale: a mosaic of
    crystallites, each a flat step of thickness with sharp borders, crossed by dark bend contours.
    Drawn from the patch's own seed."""
    side = np.random.default_rng(patch["seed"] + 3)
    if side.random() < 0.5:
        patch["mosaic"] = {"grains": int(side.integers(4, 40)), "contrast": _log_uniform(side, 0.02, 0.15),
                           "contours": float(side.uniform(0.0, 0.15)), "contour_width": float(side.uniform(0.5, 2.0)),
                           "seed": int(side.integers(2 ** 31))}


def _maybe_empty_ice(scene: dict) -> dict:
    """A third of the clean frames: vitreous ice with no particles and a steep thickness gradient
    (K2/K3 frames show it), good all over. Drawn from its own seed, so other scenes stay as they were."""
    side = np.random.default_rng(scene["seed"] + 0x1CE)
    if side.random() < 1 / 3:
        scene["particles"]["coverage"] = 0.0
        scene["ice"]["thickness"] = float(side.uniform(0.2, 1.2))
        scene["ice"]["gradient"] = [float(v) for v in side.normal(0, 0.6, 2)]
        scene["ice"]["empty"] = True
        if side.random() < 0.5:
            scene["ice"]["meniscus"] = _draw_meniscus(side, *scene["shape"])
    return scene


def _draw_meniscus(rng: np.random.Generator, height: int, width: int) -> dict:
    """Ice that thickens toward the rim of a hole whose film lies beyond the frame: a curved,
    roughly radial gradient (the plane of the frame's gradient does not explain it), still good ice."""
    angle = rng.uniform(0, 2 * np.pi)
    corner = float(np.hypot(height, width)) / 2
    radius = corner * float(rng.uniform(1.5, 4.0))  # the rim, beyond every corner of the frame
    gap = float(rng.uniform(0.02, 0.5)) * corner  # from the nearest corner out to the rim
    reach = radius - corner - gap  # the hole centre lies this far from the frame's centre
    return {"centre": [width / 2 + reach * float(np.cos(angle)), height / 2 + reach * float(np.sin(angle))],
            "radius": radius, "rise": float(rng.uniform(0.3, 1.5)), "length": corner * float(rng.uniform(0.3, 1.5))}


def _draw_carbon(rng: np.random.Generator, height: int, width: int, pixel_size: float) -> list[dict]:
    """One or two hole edges (holes 0.6-2 um across); the film lies outside every hole."""
    edges = []
    for _ in range(1 if rng.random() < 0.85 else 2):
        radius = rng.uniform(3000.0, 10000.0) / pixel_size  # hole radius in working px
        # a point of the edge inside the frame, and the direction towards the hole centre
        point = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        if rng.random() < 0.2:  # film over most of the frame: the edge near a border
            point = np.array([rng.choice([0.1, 0.9]) * width, rng.uniform(0, height)])
        direction = rng.uniform(0, 2 * np.pi)
        centre = point + radius * np.array([np.cos(direction), np.sin(direction)])
        edges.append({"centre": [float(v) for v in centre], "radius": float(radius)})
    carbon = {"holes": edges, "thickness": _log_uniform(rng, 0.03, 0.8) * (1 if rng.random() < 0.9 else -0.3),
              "phase": float(rng.uniform(0.2, 2.0)), "fringe": float(rng.uniform(0, 1) ** 2 * 0.4),
              "fringe_width": float(rng.uniform(0.4, 1.5)), "texture": float(rng.uniform(0, 0.25)),
              "particles": float(rng.uniform(0.3, 1) if rng.random() < 0.7 else 0.0),
              "seed": int(rng.integers(2 ** 31))}
    # Measured on the hand-labelled em_hole_finder frames (box 32): carbon there is only ~0.7 hole
    # std darker and carries 1.1-1.6x the hole's power from mid frequencies to Nyquist (its grain).
    # Drawn from the film's own seed, so the scenes' other draws stay as they were.
    film = np.random.default_rng(carbon["seed"] + 1)
    carbon["grain"] = float(film.uniform(0.3, 1.6))  # std of the film's fine grain, in units of the shot noise
    if film.random() < 0.25:  # faint film: darker than the hole by about its noise, told apart by its grain
        carbon["faint"] = float(film.uniform(0.2, 1.5) * (1 if film.random() < 0.85 else -1))
        carbon["grain"] = float(film.uniform(0.8, 1.6))
    # Denoised frames (EMPIAR-10017) show a band brighter than the hole ice along the film's edge, up
    # to a few particles wide; human labels count it as film, and no particle sits in it.
    if film.random() < 0.3:
        carbon["edge_band"] = {"width": float(film.uniform(1.5, 12.0)), "excess": float(film.uniform(0.05, 0.35))}
    # Film whose only sign is a faint line along its edge: no darkening, grain like the hole's, no rim.
    if film.random() < 0.12:
        carbon.pop("edge_band", None)
        carbon["faint"] = float(film.uniform(-0.2, 0.3))
        carbon["grain"] = float(film.uniform(0.0, 0.4))
        carbon["edge_line"] = {"contrast": float(film.uniform(1.5, 4.0) * film.choice([-1, 1])),  # x the shot noise
                               "width": float(film.uniform(0.5, 1.5))}
    return [carbon]


def _draw_contaminant(rng: np.random.Generator, height: int, width: int, diameter: float, side: float) -> dict:
    kind = rng.choice(["ice_ball", "crystal", "ethane"], p=[0.6, 0.2, 0.2])
    radius = _log_uniform(rng, 0.5 * diameter, side / 8) if kind != "ethane" else _log_uniform(rng, diameter, side / 6)
    # a contaminant as small as a particle is told apart by being far darker than one
    thickness = _log_uniform(rng, 1.0 if radius < 1.5 * diameter else 0.3, 3.0)
    return {"kind": str(kind), "centre": [float(rng.uniform(-0.1, 1.1) * width), float(rng.uniform(-0.1, 1.1) * height)],
            "radius": float(radius), "sides": int(rng.integers(5, 9)), "rotation": float(rng.uniform(0, 2 * np.pi)),
            "outline": _outline(rng, 0.35 if kind == "ice_ball" else 0.05),
            "thickness": thickness, "phase": float(rng.uniform(1.0, 6.0)),
            "halo": float(rng.uniform(0, 0.3)), "texture": float(rng.uniform(0, 0.3)),
            # thickness profile: from a flat slab (rim 1, power 0) to a sphere thinning to nothing at the edge
            "rim": float(rng.uniform(0, 0.4)), "profile": float(rng.uniform(0.3, 1.0)),
            "seed": int(rng.integers(2 ** 31))}


# ---------------------------------------------------------------------------------------------
# Rendering


class _Grid:
    """Pixel-centre coordinates of a rendering, in working pixels, and helpers that use them."""

    def __init__(self, shape: tuple[int, int], oversample: float):
        self.working_shape = (int(shape[0]), int(shape[1]))
        self.oversample = float(oversample)
        self.shape = tuple(max(1, round(side * oversample)) for side in shape)
        ys = (np.arange(self.shape[0]) + 0.5) / (self.shape[0] / shape[0]) - 0.5
        xs = (np.arange(self.shape[1]) + 0.5) / (self.shape[1] / shape[1]) - 0.5
        self.y, self.x = np.meshgrid(ys.astype(np.float32), xs.astype(np.float32), indexing="ij")

    def field(self, seed: int, scale: float) -> np.ndarray:
        """A smooth Gaussian random field (std 1) of correlation length ``scale`` working px."""
        rng = np.random.default_rng(seed)
        noise = ndimage.gaussian_filter(rng.standard_normal(self.working_shape), max(scale, 0.3), mode="wrap")
        noise = (noise - noise.mean()) / (noise.std() + 1e-12)
        return self.upsample(noise.astype(np.float32))

    def upsample(self, working: np.ndarray) -> np.ndarray:
        if self.shape == self.working_shape:
            return working
        coords = [(np.arange(n) + 0.5) * (w / n) - 0.5 for n, w in zip(self.shape, self.working_shape)]
        return ndimage.map_coordinates(working, np.meshgrid(*coords, indexing="ij"), order=1, mode="nearest")

    def blob(self, centre, radius: float, outline, sides: int = 0, rotation: float = 0.0) -> np.ndarray:
        """Signed distance (working px, negative inside) to a deformed circle or polygon."""
        return _blob_distance(self.x, self.y, centre, radius, outline, sides, rotation)

    def to_fine(self, xy: np.ndarray) -> np.ndarray:
        """Working (x, y) positions to positions on this grid."""
        scale = np.array([self.shape[1] / self.working_shape[1], self.shape[0] / self.working_shape[0]])
        return (xy + 0.5) * scale - 0.5


def _blob_distance(x: np.ndarray, y: np.ndarray, centre, radius: float, outline, sides: int = 0,
                   rotation: float = 0.0) -> np.ndarray:
    """Signed distance (negative inside) from points to a circle deformed by ``outline`` harmonics,
    or to a polygon of ``sides`` sides."""
    dx, dy = x - centre[0], y - centre[1]
    angle = np.arctan2(dy, dx)
    boundary = np.ones_like(angle)
    for order, amplitude, phase in outline:
        boundary += amplitude * np.cos(order * angle + phase)
    if sides:
        sector = np.mod(angle - rotation, 2 * np.pi / sides) - np.pi / sides
        boundary *= np.cos(np.pi / sides) / np.cos(sector)
    return np.hypot(dx, dy) - radius * boundary


def _splat(grid: _Grid, xy: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Sum of Gaussians (sigma in working px) at working positions ``xy``, on the grid."""
    image = np.zeros(grid.shape, np.float32)
    fine = grid.to_fine(xy)
    inside = (fine[:, 0] > -1) & (fine[:, 0] < grid.shape[1]) & (fine[:, 1] > -1) & (fine[:, 1] < grid.shape[0])
    fine, weights = fine[inside], weights[inside]
    base = np.floor(fine).astype(int)
    frac = fine - base
    for oy in (0, 1):
        for ox in (0, 1):
            w = weights * np.where(ox, frac[:, 0], 1 - frac[:, 0]) * np.where(oy, frac[:, 1], 1 - frac[:, 1])
            px, py = base[:, 0] + ox, base[:, 1] + oy
            ok = (px >= 0) & (px < grid.shape[1]) & (py >= 0) & (py < grid.shape[0])
            np.add.at(image, (py[ok], px[ok]), w[ok])
    scale = np.mean([grid.shape[1] / grid.working_shape[1], grid.shape[0] / grid.working_shape[0]])
    return ndimage.gaussian_filter(image, sigma * scale, mode="constant")


def _place_particles(rng: np.random.Generator, count: int, region: tuple[float, float, float, float],
                     spacing: float, inside=None) -> np.ndarray:
    """Up to ``count`` non-overlapping centres in the box ``region`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = region
    candidates = np.column_stack([rng.uniform(x0, x1, 4 * count + 8), rng.uniform(y0, y1, 4 * count + 8)])
    if inside is not None:
        candidates = candidates[inside(candidates)]
    kept: list[np.ndarray] = []
    for point in candidates:
        if len(kept) >= count:
            break
        if not kept or np.min(np.sum((np.asarray(kept) - point) ** 2, axis=1)) >= spacing ** 2:
            kept.append(point)
    return np.asarray(kept, dtype=np.float64).reshape(-1, 2)


def _particle_blobs(rng: np.random.Generator, centres: np.ndarray, diameter: float, blobs: int):
    """Projected positions of each particle's 3-D blobs, randomly oriented."""
    sigma = diameter / 7.0
    reach = max(diameter / 2 - 1.5 * sigma, 0.5)
    offsets = rng.normal(size=(len(centres), blobs, 3))
    offsets *= (reach * rng.uniform(0, 1, (len(centres), blobs, 1)) ** (1 / 3)
                / np.linalg.norm(offsets, axis=2, keepdims=True))
    positions = centres[:, None, :] + offsets[:, :, :2]
    weights = rng.uniform(0.5, 1.0, (len(centres), blobs))
    return positions.reshape(-1, 2), weights.ravel() / blobs, sigma


def _shell_blobs(centres: np.ndarray, diameter: float, count: int = 24):
    """A thin shell projects to a ring: blobs along each particle's rim."""
    sigma = diameter / 16.0
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    rim = (diameter / 2 - sigma) * np.column_stack([np.cos(angles), np.sin(angles)])
    positions = centres[:, None, :] + rim[None]
    return positions.reshape(-1, 2), np.full(len(centres) * count, 8.0 / count), sigma  # a rim as dark as a solid particle


def _ctf(shape: tuple[int, int], pixel_size: float, scene: dict) -> np.ndarray:
    """Phase-contrast transfer (with amplitude contrast and an envelope) on the rfft2 grid."""
    wavelength = 12.2643 / np.sqrt(scene["voltage"] * 1e3 * (1 + 0.978466e-6 * scene["voltage"] * 1e3))
    ky = np.fft.fftfreq(shape[0], pixel_size)[:, None]
    kx = np.fft.rfftfreq(shape[1], pixel_size)[None, :]
    k2 = kx ** 2 + ky ** 2
    angle = np.arctan2(ky, kx)
    du, dv = (d * 1e4 for d in scene["defocus"])
    defocus = 0.5 * (du + dv) + 0.5 * (du - dv) * np.cos(2 * (angle - scene["astigmatism_angle"]))
    chi = np.pi * wavelength * defocus * k2 - 0.5 * np.pi * 2.7e7 * wavelength ** 3 * k2 ** 2
    w = scene["amplitude_contrast"]
    return (np.sqrt(1 - w * w) * np.sin(chi) + w * np.cos(chi)) * np.exp(-scene["bfactor"] * k2 / 4)


@dataclass
class _Layers:
    """What the objects of a scene add up to on the grid, before image formation."""

    thickness: np.ndarray  # in mean free paths: amplitude exp(-thickness)
    phase: np.ndarray  # projected potential, imaged through the CTF
    brightening: np.ndarray  # fringes and halos drawn explicitly
    labels: np.ndarray  # class codes


def _meniscus_thickness(grid: _Grid, meniscus: dict | None) -> np.ndarray | float:
    """The ice added by a meniscus: rising exponentially toward its rim."""
    if meniscus is None:
        return 0.0
    distance = np.hypot(grid.x - meniscus["centre"][0], grid.y - meniscus["centre"][1])
    return meniscus["rise"] * np.exp((distance - meniscus["radius"]) / meniscus["length"])


def render(scene: dict, oversample: float = 1.0) -> SimulatedMicrograph:
    """Image, labels and particle coordinates of ``scene`` on a grid ``oversample`` x finer."""
    grid = _Grid(tuple(scene["shape"]), oversample)
    height, width = scene["shape"]
    ice = scene["ice"]
    layers = _Layers(
        thickness=(ice["thickness"] + ice["gradient"][0] * (grid.x / width - 0.5)
                   + ice["gradient"][1] * (grid.y / height - 0.5)
                   + ice["roughness"] * grid.field(ice["texture_seed"], ice["roughness_scale"])
                   + _meniscus_thickness(grid, ice.get("meniscus"))),
        phase=np.zeros(grid.shape, np.float32), brightening=np.zeros(grid.shape, np.float32),
        labels=np.zeros(grid.shape, np.uint8))
    rng = np.random.default_rng(scene["particles"]["seed"])
    film = _add_carbon(layers, grid, scene)
    _add_crystalline_ice(layers, grid, scene)
    centres = _add_particles(layers, grid, scene, rng, film)
    _add_contamination(layers, grid, scene)
    image, pixel_size = _form_image(layers, grid, scene)
    xy = _picks(scene, rng, centres)
    fine_xy = grid.to_fine(xy)
    inside = ((fine_xy >= 0) & (fine_xy <= np.array([grid.shape[1], grid.shape[0]]) - 1)).all(axis=1)
    xy, fine_xy = xy[inside], fine_xy[inside]  # centres on the micrograph's pixel grid only
    labels = layers.labels
    return SimulatedMicrograph(image=image, labels=labels, particles=fine_xy,
                               particle_labels=labels[_pixel_index(grid, xy)] if len(xy) else np.zeros(0, np.uint8),
                               pixel_size=pixel_size, scene=scene)


def _add_carbon(layers: _Layers, grid: _Grid, scene: dict) -> np.ndarray:
    """The film beyond the hole edges: thicker, a phase step (fringe through the CTF), a drawn rim."""
    film = np.zeros(grid.shape, bool)
    for carbon in scene["carbon"]:
        inside_holes = np.full(grid.shape, -np.inf, np.float32)
        for hole in carbon["holes"]:
            distance = grid.blob(hole["centre"], hole["radius"], [])  # < 0 inside the hole
            inside_holes = np.maximum(inside_holes, -distance)
        depth = -inside_holes  # > 0 on the film, distance to the nearest hole edge
        softness = np.clip(depth + 0.5, 0, 1)
        film |= depth > 0
        faint = carbon.get("faint")
        thickness = carbon["thickness"] if faint is None else faint * scene["noise"]
        # mottle (1 px) and grain (pixel-fine), both in units of the shot noise
        texture = scene["noise"] * (carbon["texture"] * grid.field(carbon["seed"], 1.0)
                                    + carbon["grain"] * grid.field(carbon["seed"] + 2, 0.3))
        layers.thickness += softness * (thickness + texture)
        layers.phase += carbon["phase"] * softness * (1.0 if faint is None else 0.2)
        width = carbon["fringe_width"]
        fringe = carbon["fringe"] * (1.0 if faint is None else 0.2)
        layers.brightening += fringe * np.exp(-((depth + width) / width) ** 2)
        line = carbon.get("edge_line")
        if line:  # a thin line along the edge, darker or brighter than both sides
            layers.brightening += line["contrast"] * scene["noise"] * np.exp(-(depth / line["width"]) ** 2)
        band = carbon.get("edge_band")
        if band:  # brighter than the hole by ``excess`` at the edge, fading into the film
            lift = np.expm1(max(thickness, 0.0)) + band["excess"]
            layers.brightening += lift * softness * np.exp(-(np.clip(depth, 0, None) / band["width"]) ** 4)
    layers.labels[film] = CODES["carbon"]
    return film


def _add_crystalline_ice(layers: _Layers, grid: _Grid, scene: dict) -> None:
    for patch in scene["crystalline_ice"]:
        extent = grid.field(patch["seed"], patch["scale"])
        region = extent > np.quantile(extent, 1 - patch["coverage"])
        # domains of differently oriented crystals: flat patches with sharp borders, unlike particles
        mottle = np.tanh(3.0 * grid.field(patch["seed"] + 1, patch["grain"]))
        weight = ndimage.gaussian_filter(region.astype(np.float32), grid.oversample * 0.7)
        layers.thickness += weight * (patch["darkening"] + patch["contrast"] * mottle)
        mosaic = patch.get("mosaic")
        if mosaic:
            from scipy.spatial import cKDTree

            mosaic_rng = np.random.default_rng(mosaic["seed"])
            height, width = grid.working_shape
            grains = mosaic_rng.uniform(0, 1, (mosaic["grains"], 2)) * [width, height]
            steps = mosaic_rng.normal(0, mosaic["contrast"], mosaic["grains"])
            nearest = cKDTree(grains).query(np.stack([grid.x.ravel(), grid.y.ravel()], axis=1))[1]
            bend = grid.field(mosaic["seed"] + 1, 25.0)  # contours where the crystal's bending crosses zero
            contours = mosaic["contours"] * np.exp(-(bend / (0.08 * mosaic["contour_width"])) ** 2)
            layers.thickness += weight * (steps[nearest].reshape(grid.shape) + contours)
        layers.labels[region] = CODES["crystalline_ice"]


def _add_particles(layers: _Layers, grid: _Grid, scene: dict, rng: np.random.Generator,
                   film: np.ndarray) -> np.ndarray:
    """A monolayer on the ice (fewer on the film) and dense clumps in aggregates; returns the centres."""
    config, diameter = scene["particles"], scene["particle_diameter"]
    height, width = scene["shape"]
    count = int(config["coverage"] * height * width / (np.pi * diameter ** 2 / 4))
    centres = _place_particles(rng, count, (0, 0, width, height), 0.95 * diameter)
    if len(centres) and scene["carbon"]:
        on_film = film[_pixel_index(grid, centres)]
        keep = ~on_film | (rng.random(len(centres)) < scene["carbon"][-1]["particles"])
        centres = centres[keep]
    for bubble in (item for item in scene["contamination"] if item["kind"] == "ethane"):
        centres = centres[~_inside_blob(centres, bubble)]  # the bubble pushed the monolayer aside
    clump_centres = []
    for clump in scene["aggregate"]:
        distance = grid.blob(clump["centre"], clump["radius"], clump["outline"])
        layers.labels[distance < 0.3 * diameter] = CODES["aggregate"]
        layers.thickness += clump["density"] * np.clip(0.5 - distance / diameter, 0, 1)
        clump_rng = np.random.default_rng(clump["seed"])
        n = int(clump["packing"] * 1.6 * clump["radius"] ** 2 / (diameter / 2) ** 2) + 3
        cx, cy = clump["centre"]
        r = clump["radius"] * 1.3
        clump_centres.append(_place_particles(clump_rng, n, (cx - r, cy - r, cx + r, cy + r), 0.55 * diameter,
                                              inside=lambda p, c=clump: _inside_blob(p, c)))
    centres = np.concatenate([centres] + clump_centres) if clump_centres else centres
    if len(centres):
        positions, weights, sigma = (_shell_blobs(centres, diameter) if config.get("hollow")
                                     else _particle_blobs(rng, centres, diameter, config["blobs"]))
        density = _splat(grid, positions, weights * config["contrast"] * (2 * np.pi * sigma ** 2), sigma)
        layers.phase += density
        layers.thickness += 0.15 * density
    return centres


def _add_contamination(layers: _Layers, grid: _Grid, scene: dict) -> None:
    """On top of everything: opaque ice balls and crystals with halos, bright ethane bubbles."""
    for item in scene["contamination"]:
        distance = grid.blob(item["centre"], item["radius"], item["outline"],
                             item["sides"] if item["kind"] == "crystal" else 0, item["rotation"])
        body = np.clip(0.5 - distance, 0, 1)
        core = np.clip(-distance / max(item["radius"], 1e-3), 0, 1)
        texture = 1 + item["texture"] * grid.field(item["seed"], max(item["radius"] / 6, 1.0))
        if item["kind"] == "ethane":
            layers.thickness += -0.8 * scene["ice"]["thickness"] * body + 0.6 * np.exp(-(distance / 1.0) ** 2)
        else:
            profile = item["rim"] + (1 - item["rim"]) * core ** item["profile"]
            layers.thickness += item["thickness"] * body * profile * texture
            layers.phase += item["phase"] * body
        layers.brightening += item["halo"] * np.exp(-((distance - 1.5) / 1.5) ** 2) * (distance > 0)
        layers.labels[distance < 0] = CODES["contamination"]


def _form_image(layers: _Layers, grid: _Grid, scene: dict) -> tuple[np.ndarray, float]:
    """Amplitude times phase contrast through the CTF, plus shot noise; and the pixel size."""
    height = scene["shape"][0]
    pixel_size = scene["pixel_size"] * height / grid.shape[0]
    contrast = np.fft.irfft2(np.fft.rfft2(layers.phase) * _ctf(grid.shape, pixel_size, scene), s=grid.shape)
    image = np.exp(-np.clip(layers.thickness, 0, None)) * (1 - 0.5 * contrast + layers.brightening)
    image = np.clip(image, 1e-4, None)
    noise = np.random.default_rng(scene["seed"] + 7).standard_normal(grid.shape)
    image = image + scene["noise"] * grid.shape[0] / height * np.sqrt(image) * noise
    return image.astype(np.float32), float(pixel_size)


def _picks(scene: dict, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """The coordinates a picker would give: every particle, plus false positives on contamination."""
    picks = [centres] if len(centres) else []
    for item in scene["contamination"]:
        if item["kind"] != "ethane" and item["radius"] > scene["particle_diameter"] / 2:
            n = int(rng.integers(0, 4))
            angle, radius = rng.uniform(0, 2 * np.pi, n), item["radius"] * np.sqrt(rng.uniform(0, 0.5, n))
            picks.append(np.column_stack([item["centre"][0] + radius * np.cos(angle),
                                          item["centre"][1] + radius * np.sin(angle)]))
    return np.concatenate(picks) if picks else np.zeros((0, 2))


def _inside_blob(points: np.ndarray, blob: dict) -> np.ndarray:
    return _blob_distance(points[:, 0], points[:, 1], blob["centre"], blob["radius"], blob["outline"]) < 0


def _pixel_index(grid: _Grid, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices (rows, cols) of working positions ``xy``."""
    fine = np.round(grid.to_fine(xy)).astype(int)
    return np.clip(fine[:, 1], 0, grid.shape[0] - 1), np.clip(fine[:, 0], 0, grid.shape[1] - 1)


def simulate(seed: int, shape: tuple[int, int] = (256, 256), box_size: float | None = None) -> SimulatedMicrograph:
    """One micrograph: at the working scale, or at full size for a particle box of ``box_size`` px."""
    oversample = 1.0 if box_size is None else box_size / WORKING_BOX
    return render(draw_scene(seed, shape), oversample)


def write_simulated(folder: str | Path, seed: int, shape: tuple[int, int] = (256, 256),
                    box_size: float | None = None) -> Path:
    """Write ``sim_<seed>.mrc`` with its ``_labels.mrc`` (class codes), ``_particles.star`` and ``.json``.

    The particles file lists every particle and picker false positive, with its true class code
    (``_mcTrueClass``) so that particle-level figures can be computed from it.
    """
    from .coordinates import coordinates_from_array, write_coordinates
    from .images import write_json, write_mask

    folder = Path(folder)
    micrograph = simulate(seed, shape, box_size)
    stem = folder / f"sim_{seed:06d}"
    voxel = (micrograph.pixel_size, micrograph.pixel_size)
    write_mask(stem.with_name(stem.name + ".mrc"), micrograph.image, voxel)
    write_mask(stem.with_name(stem.name + "_labels.mrc"), micrograph.labels, voxel)
    particles = stem.with_name(stem.name + "_particles.star")
    table = coordinates_from_array(micrograph.particles, particles, "star")
    write_coordinates(table, particles, extra_columns={"trueClass": micrograph.particle_labels})
    write_json(stem.with_name(stem.name + ".json"), {
        "classes": ["good", *CLASSES], "box_size": box_size or WORKING_BOX,
        "pixel_size": micrograph.pixel_size, "scene": micrograph.scene})
    return stem.with_name(stem.name + ".mrc")
