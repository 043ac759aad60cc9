"""How carbon differs from the hole, in real labelled frames and in the simulator: the numbers the
simulator's carbon film is calibrated on.

    python engine/benchmarks/carbon_texture.py [--scenes 400]

For the em_hole_finder frames with an edge (at box 32, within the working range) and for simulated carbon scenes without other
bad regions, at the working scale: how much darker the carbon is than the hole (in hole standard
deviations) and the carbon/hole power ratio in four frequency bands up to Nyquist, over 24 px
patches lying wholly on one side (medians, with the 10th and 90th percentiles).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from micrographcleaner.classes import CLASS_CODES, CODES, IGNORE
from micrographcleaner.labels import LabelSource, codes_at
from micrographcleaner.preprocessing import WORKING_SIDE, area_resize, geometry_for, working_factor
from micrographcleaner.simulation import draw_scene, render

PATCH = 24
BANDS = [(0.02, 0.08), (0.08, 0.16), (0.16, 0.3), (0.3, 0.5)]  # cycles per working px
SOURCES = Path(__file__).resolve().parents[1] / "training_data"


def patches(image: np.ndarray, carbon: np.ndarray, known: np.ndarray, side: bool) -> list[np.ndarray]:
    found = []
    for y in range(0, image.shape[0] - PATCH, PATCH // 2):
        for x in range(0, image.shape[1] - PATCH, PATCH // 2):
            window = (slice(y, y + PATCH), slice(x, x + PATCH))
            if known[window].all() and (carbon[window] == side).all():
                found.append(image[window])
    return found


def band_power(pieces: list[np.ndarray]) -> np.ndarray:
    window = np.hanning(PATCH)[:, None] * np.hanning(PATCH)[None]
    power = np.mean([np.abs(np.fft.fft2((p - p.mean()) * window)) ** 2 for p in pieces], axis=0)
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(PATCH), np.fft.fftfreq(PATCH), indexing="ij"))
    return np.array([power[(frequency >= low) & (frequency < high)].mean() for low, high in BANDS])


def report(name: str, frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    darker, ratios = [], []
    for image, carbon, known in frames:
        on, off = patches(image, carbon, known, True), patches(image, carbon, known, False)
        if len(on) < 3 or len(off) < 3:
            continue
        spread = np.std(np.concatenate([p.ravel() for p in off]))
        darker.append((np.mean([p.mean() for p in off]) - np.mean([p.mean() for p in on])) / spread)
        ratios.append(band_power(on) / band_power(off))
    ratios = np.array(ratios)
    print(f"{name}: {len(ratios)} frames; carbon darker by {np.median(darker):.2f} hole std "
          f"({np.percentile(darker, 10):.2f}..{np.percentile(darker, 90):.2f})")
    for index, (low, high) in enumerate(BANDS):
        print(f"  power carbon/hole, {low:.2f}-{high:.2f} cycles/px: {np.median(ratios[:, index]):.2f} "
              f"({np.percentile(ratios[:, index], 10):.2f}..{np.percentile(ratios[:, index], 90):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=400, help="simulated seeds to look through")
    args = parser.parse_args()
    real = []
    for name in ("em_hole_finder_train", "em_hole_finder_validation", "em_hole_finder_test"):
        source = LabelSource.from_json(SOURCES / f"{name}.json")
        for _, image, codes in source.items():
            geometry = geometry_for(image.shape, working_factor(image.shape, source.box_size, working_side=WORKING_SIDE))
            small = codes_at(codes, geometry.working_shape)
            real.append((area_resize(image, geometry.working_shape), small == CLASS_CODES["carbon"], small != IGNORE))
    report("em_hole_finder (hand-drawn carbon masks)", real)
    simulated = []
    for seed in range(args.scenes):
        scene = draw_scene(seed, (256, 256))
        if scene["carbon"] and not any(scene[kind] for kind in ("contamination", "aggregate", "crystalline_ice")):
            micrograph = render(scene)
            simulated.append((micrograph.image, micrograph.labels == CODES["carbon"], np.ones_like(micrograph.labels, bool)))
    report("simulator (carbon scenes)", simulated)


if __name__ == "__main__":
    main()
