"""How a model does on the real micrographs of ``shared/data/real`` (not in the repository).

* ``Ucsf_stack_1142_DW.mrc`` (box 46): IoU of our bad mask with the original model's mask
  (both at badness >= 0.5, at our working scale), and the flagged fraction of each.
* EMPIAR-10028 frames (box 320, denoised 8-bit JPG): on the two frames with a hole edge, the share
  of the carbon side flagged and the share of the hole side flagged, on either side of the edge
  traced by eye on the working image (points below; a 3 px band around the trace and the 5 px
  noisy borders are left out); on the clean frame, the share flagged; on all three, the share of
  the expert-picked particle area that is flagged (particles must stay).

    python engine/benchmarks/benchmark_real.py [--model M] [--tta none|flips|d8] [--real DIR] [--png OUT]
        [--json OUT] [--record NAME]

Prints the figures and, with ``--png``, writes the overlays side by side.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from micrographcleaner.images import read_mask, read_micrograph
from micrographcleaner.model_files import load_model, record_metrics
from micrographcleaner.prediction import Predictor
from micrographcleaner.preprocessing import area_resize
from micrographcleaner.scoring import BAD_LEVEL
from micrographcleaner.thumbnails import render

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
EMPIAR_BOX = 320
UCSF_BOX = 46
BORDER = 5  # working px of processing artefacts along the EMPIAR frames' borders
EDGE_BAND = 3  # working px left out on either side of a traced edge
# hole edges traced on the 204x204 working image (box 320), x, y; carbon lies on the side away
# from the fitted circle's centre
EDGES = {
    "Falcon_2012_06_12-15_30_21_0": [(2, 96), (18, 80), (40, 59), (60, 40), (80, 28), (100, 19), (130, 9), (155, 5)],
    "Falcon_2012_06_12-15_46_37_0": [(5, 185), (30, 188), (60, 189), (100, 184), (120, 177), (140, 170),
                                     (160, 161), (180, 150), (195, 139)],
}
CLEAN = "Falcon_2012_06_12-14_57_34_0"


def fit_circle(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares circle (cx, cy, r) through traced points."""
    xy = np.asarray(points, dtype=float)
    design = np.column_stack([2 * xy[:, 0], 2 * xy[:, 1], np.ones(len(xy))])
    (cx, cy, c), *_ = np.linalg.lstsq(design, (xy ** 2).sum(axis=1), rcond=None)
    return cx, cy, float(np.sqrt(c + cx ** 2 + cy ** 2))


def predict(predictor: Predictor, image: np.ndarray, box: float):
    working, _ = predictor.working_image(image, box)
    return working, predictor.predict(working)


def ucsf(predictor: Predictor, real: Path) -> tuple[dict, np.ndarray]:
    folder = real / "micrographcleaner_test"
    working, badness = predict(predictor, read_micrograph(folder / "Ucsf_stack_1142_DW.mrc").data, UCSF_BOX)
    theirs = area_resize(read_mask(folder / "Ucsf_stack_1142_DW_upstream_mask_box46.mrc"), working.shape) >= BAD_LEVEL
    ours = badness[..., 0] >= BAD_LEVEL
    union = np.logical_or(ours, theirs).sum()
    figures = {"iou_with_original": float(np.logical_and(ours, theirs).sum() / union) if union else 1.0,
               "flagged": float(ours.mean()), "flagged_by_original": float(theirs.mean())}
    return figures, np.asarray(render(working, badness, predictor.card.classes))


def empiar(predictor: Predictor, real: Path, name: str) -> tuple[dict, np.ndarray]:
    folder = real / "empiar10028"
    image = np.asarray(Image.open(folder / "images" / f"{name}.jpg").convert("L"), dtype=np.float32)
    working, badness = predict(predictor, image, EMPIAR_BOX)
    flagged = badness[..., 0] >= BAD_LEVEL
    inner = np.zeros_like(flagged)
    inner[BORDER:-BORDER, BORDER:-BORDER] = True
    particles = np.asarray(Image.open(folder / "particle_masks" / f"{name}_mask.jpg").convert("L")) > 127
    particles = area_resize(particles.astype(np.float32), working.shape) >= 0.5
    figures = {"flagged": float(flagged[inner].mean()),
               "particle_area_flagged": float(flagged[inner & particles].mean()) if (inner & particles).any() else None}
    if name in EDGES:
        cx, cy, radius = fit_circle(EDGES[name])
        rows, cols = np.indices(working.shape)
        outside = np.hypot(cols - cx, rows - cy) - radius  # > 0 beyond the hole: carbon
        carbon, hole = inner & (outside > EDGE_BAND), inner & (outside < -EDGE_BAND)
        figures.update(carbon_flagged=float(flagged[carbon].mean()), hole_flagged=float(flagged[hole].mean()),
                       carbon_share_of_frame=float(carbon.mean()))
    return figures, np.asarray(render(working, badness, predictor.card.classes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="default: the bundled model")
    parser.add_argument("--tta", default="none", choices=["none", "flips", "d8"])
    parser.add_argument("--real", type=Path, default=REAL)
    parser.add_argument("--png", type=Path, help="write the overlays here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--record", metavar="NAME", help="also store the figures in the model's card under NAME")
    args = parser.parse_args(argv)
    if not args.real.is_dir():
        print(f"{args.real}: not found; nothing to measure", file=sys.stderr)
        return 2
    model, card = load_model(args.model)
    predictor = Predictor(model, card, args.tta)
    figures, pictures = {}, []
    figures["Ucsf_stack_1142_DW"], picture = ucsf(predictor, args.real)
    pictures.append(picture)
    for name in (*EDGES, CLEAN):
        figures[name], picture = empiar(predictor, args.real, name)
        pictures.append(picture)
    for name, values in figures.items():
        print(f"{name:<30} " + "  ".join(f"{key} {value:.3f}" for key, value in values.items() if value is not None))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.record:
        record_metrics(args.model, args.record, figures)
    if args.png:
        height = max(p.shape[0] for p in pictures)
        padded = [np.pad(p, [(0, height - p.shape[0]), (0, 8), (0, 0)], constant_values=255) for p in pictures]
        Image.fromarray(np.concatenate(padded, axis=1)).save(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
