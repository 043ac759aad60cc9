"""Label maps of EMPIAR-10017 frames made from hole edges traced by eye, for training.

Only two of the shared EMPIAR-10017 frames have human region labels, and both are held out for
the real benchmark; frame ``15_46_37`` shows a hole edge too. Its edge was traced on the frame
(points below, in pixels of the 4096 px JPG, x then y) and a circle fitted through them: the
side away from the centre is carbon, the side towards it good ice. The trace follows the hole side
of the bright rim along the film's edge, and the rim counts as film, as the human region labels of
these frames count it (no particle sits in it). A band on the hole side of the trace (where it is
least sure) and the noisy processing borders are labelled "ignore", so that no pixel is taught a
class the trace cannot vouch for.

    python engine/scripts/trace_edge_labels.py [--real ../shared/data/real]

writes ``engine/training_data/empiar10017_edge_labels/<frame>_regions.png`` (indices: 0 good ice,
1 carbon, 2 ignore; ``empiar10017_edge.json`` names them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "training_data" / "empiar10017_edge_labels"
REAL = HERE.parents[2] / "shared" / "data" / "real"
TRACES = {"Falcon_2012_06_12-15_46_37_0": [(100, 3700), (600, 3760), (1200, 3780), (2000, 3680), (2400, 3540),
                                           (2800, 3400), (3200, 3220), (3600, 3000), (3900, 2780)]}
HOLE_SIDE = 60  # px of the band left unlabelled on the hole side of the trace
BORDER = 128  # px of processing artefacts along every edge of these frames
GOOD, CARBON, IGNORE = 0, 1, 2


def fit_circle(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares circle (cx, cy, r) through traced points."""
    xy = np.asarray(points, dtype=float)
    design = np.column_stack([2 * xy[:, 0], 2 * xy[:, 1], np.ones(len(xy))])
    (cx, cy, c), *_ = np.linalg.lstsq(design, (xy ** 2).sum(axis=1), rcond=None)
    return cx, cy, float(np.sqrt(c + cx ** 2 + cy ** 2))


def distance_beyond_edge(shape: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    """Signed distance (px) of every pixel from the circle fitted through the trace: > 0 on the carbon side."""
    cx, cy, radius = fit_circle(points)
    rows, cols = np.indices(shape)
    return np.hypot(cols - cx, rows - cy) - radius


def edge_labels(shape: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    """Index map: carbon beyond the fitted edge, good ice inside, the hole-side band and borders ignored."""
    beyond = distance_beyond_edge(shape, points)
    labels = np.where(beyond > 0, CARBON, GOOD).astype(np.uint8)
    labels[(beyond > -HOLE_SIDE) & (beyond <= 0)] = IGNORE
    labels[:BORDER], labels[-BORDER:], labels[:, :BORDER], labels[:, -BORDER:] = IGNORE, IGNORE, IGNORE, IGNORE
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, points in TRACES.items():
        with Image.open(args.real / "empiar10028" / "images" / f"{name}.jpg") as image:
            shape = (image.height, image.width)
        labels = edge_labels(shape, points)
        Image.fromarray(labels, mode="L").save(OUT / f"{name}_regions.png", optimize=True)
        print(f"{name}: carbon {np.mean(labels == CARBON):.1%}, good {np.mean(labels == GOOD):.1%}, "
              f"ignored {np.mean(labels == IGNORE):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
