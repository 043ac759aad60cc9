"""The picture used to calibrate the simulator by eye: real micrographs and simulated ones, as the
network sees them (working scale, normalised and squashed), side by side.

    python engine/benchmarks/real_vs_synthetic.py [--real DIR] [--out engine/docs/real_vs_synthetic.png]

Top row: the real micrographs of ``shared/data/real`` (not in the repository). Bottom rows:
simulated scenes of the same working size, with their labels outlined in the class colours.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from benchmark_real import EMPIAR_BOXES, EMPIAR_FRAMES, HOLE_FINDER_BOXES, REAL, UCSF_BOX, empiar_image
from PIL import Image, ImageDraw
from scipy import ndimage

from micrographcleaner.classes import CLASSES
from micrographcleaner.contract import class_colour
from micrographcleaner.images import read_micrograph
from micrographcleaner.labels import read_image
from micrographcleaner.preprocessing import WORKING_SIDE, normalise_and_squash, preprocess, working_factor
from micrographcleaner.simulation import draw_scene, simulate
from micrographcleaner.thumbnails import rgb

SIDE = 240  # every panel is cropped or padded to this working size
SEEDS = [4, 3, 6, 33, 47, 7, 102, 68, 27, 5]
"""Empty ice with a gradient, carbon, faint carbon x2, film shown by an edge line only; contamination,
crystalline ice, a crystalline mosaic, aggregates, hollow particles (with carbon and contamination)."""
HOLE_FINDER_FRAMES = ["11oct28a_00021gr_00002sq_v01_00002hl_v01_00002en", "11oct28a_00021gr_00002sq_v01_00006hl_v01_00009en"]


def grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1, 99))
    return np.clip((image - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)


def panel(working: np.ndarray, labels: np.ndarray | None = None) -> Image.Image:
    picture = np.repeat(grey(working[:SIDE, :SIDE])[..., None], 3, axis=2)
    if labels is not None:
        labels = labels[:SIDE, :SIDE]
        for code, name in enumerate(CLASSES, start=1):
            region = labels == code
            outline = region & ~ndimage.binary_erosion(region)
            picture[outline] = rgb(class_colour(name))
    canvas = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    canvas.paste(Image.fromarray(picture), (0, 0))
    return canvas


def as_the_model_sees(image: np.ndarray, box: float) -> np.ndarray:
    """The image as the bundled model sees it at particle box ``box`` (box rule within the working range)."""
    return preprocess(image, working_factor(image.shape, box, working_side=WORKING_SIDE))[0]


def real_panels(real: Path) -> list[Image.Image]:
    """Ucsf (box 46), two EMPIAR-10017 frames at 1024 px (box 36) and two grainy em_hole_finder frames (box 32)."""
    ucsf = read_micrograph(real / "micrographcleaner_test" / "Ucsf_stack_1142_DW.mrc").data
    panels = [panel(as_the_model_sees(ucsf, UCSF_BOX))]
    for name in EMPIAR_FRAMES[:2]:
        panels.append(panel(as_the_model_sees(empiar_image(real, name), EMPIAR_BOXES[1])))
    for name in HOLE_FINDER_FRAMES:
        image = read_image(real / "em_hole_finder" / "images" / f"{name}.jpg")
        panels.append(panel(as_the_model_sees(image, HOLE_FINDER_BOXES[1])))
    return panels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL, required=REAL is None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "real_vs_synthetic.png")
    args = parser.parse_args()
    real_row = real_panels(args.real)
    synthetic = [panel(normalise_and_squash(m.image), m.labels)
                 for m in (simulate(seed, (SIDE, SIDE)) for seed in SEEDS)]
    rows = [real_row, synthetic[:5], synthetic[5:]]
    gap, columns = 6, max(len(row) for row in rows)
    figure = Image.new("RGB", (columns * SIDE + (columns - 1) * gap, 3 * SIDE + 2 * gap + 20), (255, 255, 255))
    draw = ImageDraw.Draw(figure)
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            figure.paste(picture, (c * (SIDE + gap), r * (SIDE + gap)))
    legend = ("top: real (Ucsf box 46; EMPIAR-10017 at 1024 px, box 36; em_hole_finder box 32, carbon grainy, "
              "not darker)   below: simulated, labels outlined: ") + ", ".join(
        f"{name}" for name in CLASSES)
    draw.text((4, 3 * SIDE + 2 * gap + 4), legend, fill=(0, 0, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out)
    print(f"written {args.out}; seeds {SEEDS} of {[sorted(k for k in CLASSES if draw_scene(s)[k]) for s in SEEDS]}")


if __name__ == "__main__":
    main()
