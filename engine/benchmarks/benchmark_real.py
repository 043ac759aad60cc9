"""How a model does on the real, human-labelled micrographs of ``shared/data/real`` (not in the repository).

Every figure is measured at several particle boxes, since users give boxes loosely (half to twice
the right one); a mask is "flagged" where badness >= 0.5 (channel 0, any bad class).

* em_hole_finder, held-out holes (never trained on: see ``engine/training_data/``): carbon IoU
  with the hand-drawn masks on every frame whose mask holds an edge (12 px border left out), at
  boxes 16, 32 (the right one) and 64: the mean over frames (mIoU) and the IoU of all pixels pooled.
* EMPIAR-10017 frames, rendered at 1024 px (7.08 A/px), boxes 18, 36 (right for beta-gal) and 72:
  on ``15_30_21``, IoU with the human region labels (carbon and contamination; the border band
  left out); on the clean ``14_57_34``, the share flagged; on both, the share of the expert
  particle discs on labelled good ice that is flagged (some experts' discs lie on carbon). The
  third frame, ``15_46_37``, is training data (``engine/scripts/trace_edge_labels.py``): not measured.
* Ucsf (box 46): IoU with the original model's mask, the autopicks lying more than one box
  from every region that mask flags that a goodness threshold of 0.8 would reject (haze), and the
  share of the frame flagged by most likely class (its large ice ball is contamination).

With ``--hole-geometry`` (default ``auto``, as users get it) the badness is drawn to the hole edge
fitted on each frame (``micrographcleaner.holes``) with the radius estimated; ``known`` gives
em_hole_finder's frames the hole radius fitted to the training holes' human masks (they carry no
pixel size; the other sets are estimated); ``off`` is the network alone.

    python engine/benchmarks/benchmark_real.py [--model M] [--tta none|flips|d8] [--real DIR] [--png OUT]
        [--json OUT] [--record NAME] [--hole-geometry off|auto|known] [--single-view]

Prints the figures and, with ``--png``, writes the overlays (right box) side by side.
``--real`` defaults to ``shared/data/real`` beside the checkout, or ``$MICROGRAPHCLEANER_SHARED_DATA/real``
(``micrographcleaner.testing.shared_real``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from micrographcleaner.classes import CLASS_CODES, IGNORE
from micrographcleaner.coordinates import read_coordinates
from micrographcleaner.evaluation import iou
from micrographcleaner.holes import with_hole_geometry
from micrographcleaner.images import read_mask, read_micrograph
from micrographcleaner.labels import LabelSource, at_working_scale, labelled_bad, read_image, read_labels
from micrographcleaner.model_files import load_model, record_metrics
from micrographcleaner.prediction import Predictor
from micrographcleaner.preprocessing import area_resize
from micrographcleaner.scoring import BAD_LEVEL, ScoringRule, flagged_fractions, score_coordinates
from micrographcleaner.testing import shared_real
from micrographcleaner.thumbnails import render

HERE = Path(__file__).resolve().parent
REAL = shared_real(HERE)  # None where none is found: then --real is required
HOLE_FINDER_TEST = HERE.parent / "training_data" / "em_hole_finder_test.json"
HOLE_FINDER_TRAIN = HERE.parent / "training_data" / "em_hole_finder_train.json"
HOLE_ONLY = HERE.parent / "training_data" / "em_hole_finder_hole_only.json"  # checked by eye: all hole
HOLE_FINDER_BOXES = (16, 32, 64)
EMPIAR_SIDE = 1024
EMPIAR_BOXES = (18, 36, 72)
EMPIAR_LEGEND = HERE.parent / "training_data" / "empiar10017_region_legend.json"
EMPIAR_LABELLED, EMPIAR_CLEAN = "Falcon_2012_06_12-15_30_21_0", "Falcon_2012_06_12-14_57_34_0"
EMPIAR_FRAMES = (EMPIAR_LABELLED, EMPIAR_CLEAN)
UCSF_BOX = 46
HAZE_THRESHOLD = 0.8


def predict_at(predictor: Predictor, image: np.ndarray, box: float, hole_radius: float | None = None,
               hole_geometry: bool = True) -> tuple[np.ndarray, np.ndarray, object]:
    """Working image, badness and geometry of ``image`` predicted at particle box ``box``, drawn to the
    fitted hole edge (of ``hole_radius`` micrograph px, or estimated) unless ``hole_geometry`` is off."""
    working, geometry = predictor.working_image(image, box)
    badness = predictor.predict(working, predictor.companion_image(image, box))
    if hole_geometry:
        radius = None if hole_radius is None else hole_radius / float(np.mean(geometry.scale))
        badness, _ = with_hole_geometry(working, badness, predictor.card.classes, radius)
    return working, badness, geometry


def hole_finder_source(description: Path, real: Path) -> LabelSource:
    """A label source of em_hole_finder frames, read from ``real`` wherever the checkout is."""
    source = LabelSource.from_json(description)
    source.images = real / "em_hole_finder" / "images"
    source.labels = real / "em_hole_finder" / "masks"
    return source


def source_items(description: Path, real: Path) -> list:
    return hole_finder_source(description, real).items()


def labelled_hole_radius(real: Path, description: Path = HOLE_FINDER_TRAIN) -> float:
    """em_hole_finder's hole radius (frame px): the median radius of circles fitted to the film
    boundaries of the training holes' human masks (frames with at least 5% film)."""
    radii = []
    for _, _, codes in source_items(description, real):
        film = codes == CLASS_CODES["carbon"]
        if (film[codes != IGNORE]).mean() < 0.05:
            continue
        boundary = (film ^ ndimage.binary_erosion(film)) & ~ndimage.binary_dilation(codes == IGNORE)
        y, x = (axis.astype(float) for axis in np.nonzero(boundary))
        if len(x) >= 20:  # x^2 + y^2 = 2 a x + 2 b y + c, linear in (a, b, c): r^2 = c + a^2 + b^2
            (a, b, c), *_ = np.linalg.lstsq(np.stack([2 * x, 2 * y, np.ones_like(x)], axis=1), x * x + y * y,
                                            rcond=None)
            radii.append(np.sqrt(c + a * a + b * b))
    return float(np.median(radii))


def hole_finder(predictor: Predictor, real: Path, description: Path = HOLE_FINDER_TEST,
                hole_radius: float | None = None, hole_geometry: bool = True) -> dict:
    """Carbon IoU on the frames of a label source (by default the held-out test holes)."""
    items = source_items(description, real)
    figures = {"frames": len(items)}
    for box in HOLE_FINDER_BOXES:
        per_frame, inter, union = [], 0, 0
        for _, image, codes in items:
            _, badness, _ = predict_at(predictor, image, box, hole_radius, hole_geometry)
            flagged = badness[..., 0] >= BAD_LEVEL
            known = ~at_working_scale(codes == IGNORE, flagged.shape)
            truth = at_working_scale(codes == CLASS_CODES["carbon"], flagged.shape)
            per_frame.append(iou(truth[known], flagged[known]) or 0.0)
            inter += int((truth & flagged & known).sum())
            union += int(((truth | flagged) & known).sum())
        figures[f"box{box}_carbon_miou"] = float(np.mean(per_frame))
        figures[f"box{box}_carbon_iou_pooled"] = inter / union if union else 1.0
    return figures


def flagged_share(predictor: Predictor, source: LabelSource, box: float, level: float = BAD_LEVEL) -> float:
    """Share of the labelled pixels of a source's frames whose badness reaches ``level`` (pooled): by
    default those flagged; at ``1 - HAZE_THRESHOLD``, the haze in which a particle would be rejected."""
    flagged = known = 0
    for _, image, codes in source.items():
        _, badness, _ = predict_at(predictor, image, box)
        inside = ~at_working_scale(codes == IGNORE, badness.shape[:2])
        flagged += int((badness[..., 0] >= level)[inside].sum())
        known += int(inside.sum())
    return flagged / max(known, 1)


def empiar_image(real: Path, name: str) -> np.ndarray:
    """The frame rendered at 1024 px (area average of the 4096 px JPG)."""
    image = read_image(real / "empiar10028" / "images" / f"{name}.jpg")
    return area_resize(image, (EMPIAR_SIDE, EMPIAR_SIDE))


def empiar(predictor: Predictor, real: Path, hole_geometry: bool = True) -> tuple[dict, list[np.ndarray]]:
    folder = real / "empiar10028"
    legend = json.loads(EMPIAR_LEGEND.read_text())
    figures: dict[str, float] = {}
    pictures = []
    for name in EMPIAR_FRAMES:
        image = empiar_image(real, name)
        particles = read_labels(folder / "particle_masks" / f"{name}_mask.jpg", threshold=127 / 255) > 0
        codes = read_labels(folder / "region_labels" / f"{name}.png", legend)
        for box in EMPIAR_BOXES:
            working, badness, _ = predict_at(predictor, image, box, hole_geometry=hole_geometry)
            flagged = badness[..., 0] >= BAD_LEVEL
            # discs on labelled good ice only: 4.5% of 15_30_21's disc area is on carbon
            discs = at_working_scale(particles, flagged.shape) & at_working_scale(codes == CLASS_CODES["good"],
                                                                                  flagged.shape)
            figures[f"{name[-10:-2]}_box{box}_particle_area_flagged"] = float(flagged[discs].mean())
            known = ~at_working_scale(codes == IGNORE, flagged.shape)
            if name == EMPIAR_CLEAN:
                figures[f"{name[-10:-2]}_box{box}_flagged"] = float(flagged[known].mean())
            else:
                truth = at_working_scale(labelled_bad(codes), flagged.shape)
                figures[f"{name[-10:-2]}_box{box}_carbon_iou"] = iou(truth[known], flagged[known]) or 0.0
            if box == EMPIAR_BOXES[1]:
                pictures.append(np.asarray(render(working, badness, predictor.card.classes)))
    return figures, pictures


def ucsf(predictor: Predictor, real: Path, hole_geometry: bool = True) -> tuple[dict, np.ndarray]:
    folder = real / "micrographcleaner_test"
    micrograph = read_micrograph(folder / "Ucsf_stack_1142_DW.mrc").data
    working, badness, geometry = predict_at(predictor, micrograph, UCSF_BOX, hole_geometry=hole_geometry)
    original = read_mask(folder / "Ucsf_stack_1142_DW_upstream_mask_box46.mrc") >= BAD_LEVEL
    theirs = at_working_scale(original, working.shape)
    ours = badness[..., 0] >= BAD_LEVEL
    # autopicks far (more than a box) from everything the original flags: none should be rejected
    xy = read_coordinates(folder / "Ucsf_stack_1142_DW_autopick.star").xy
    distance = ndimage.distance_transform_edt(~original)
    far = distance[np.clip(np.rint(xy[:, 1]).astype(int), 0, original.shape[0] - 1),
                   np.clip(np.rint(xy[:, 0]).astype(int), 0, original.shape[1] - 1)] > UCSF_BOX
    scores = score_coordinates(badness, geometry, xy[far], UCSF_BOX, predictor.card.classes,
                               ScoringRule(threshold=HAZE_THRESHOLD))
    figures = {"iou_with_original": iou(theirs, ours) or 1.0, "flagged": float(ours.mean()),
               "flagged_by_original": float(theirs.mean()), "far_autopicks": int(far.sum()),
               "far_autopicks_rejected": int((~scores.accepted).sum())}
    # the share of the frame flagged, by most likely class (the ice ball at the top right is contamination)
    classes = predictor.card.classes
    figures.update({f"flagged_as_{name}": share for name, share in flagged_fractions(badness, classes).items()
                    if name in classes[1:]})
    return figures, np.asarray(render(working, badness, predictor.card.classes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="default: the bundled model")
    parser.add_argument("--tta", default="none", choices=["none", "flips", "d8"])
    parser.add_argument("--real", type=Path, default=REAL, required=REAL is None)
    parser.add_argument("--png", type=Path, help="write the overlays here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--record", metavar="NAME", help="also store the figures in the model's card under NAME")
    parser.add_argument("--hole-geometry", choices=["off", "auto", "known"], default="auto",
                        help="the network alone, drawn to hole edges of estimated radius (default), or of "
                        "em_hole_finder's labelled radius")
    parser.add_argument("--single-view", action="store_true",
                        help="the working scale's view alone, without the companion scale's")
    args = parser.parse_args(argv)
    if not args.real.is_dir():
        print(f"{args.real}: not found; nothing to measure", file=sys.stderr)
        return 2
    model, card = load_model(args.model)
    predictor = Predictor(model, card, args.tta, companion=not args.single_view)
    drawn = args.hole_geometry != "off"
    radius = labelled_hole_radius(args.real) if args.hole_geometry == "known" else None
    if radius is not None:
        print(f"em_hole_finder hole radius from the training holes' masks: {radius:.0f} px")
    figures = {"em_hole_finder_heldout": hole_finder(predictor, args.real, hole_radius=radius, hole_geometry=drawn)}
    figures["empiar10017"], pictures = empiar(predictor, args.real, drawn)
    figures["Ucsf_stack_1142_DW"], picture = ucsf(predictor, args.real, drawn)
    pictures.append(picture)
    for section, values in figures.items():
        print(section)
        for key, value in values.items():
            print(f"  {key:<44} {value:.3f}" if isinstance(value, float) else f"  {key:<44} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.record:
        record_metrics(args.model, args.record, figures)
    if args.png:
        from PIL import Image

        height = max(p.shape[0] for p in pictures)
        padded = [np.pad(p, [(0, height - p.shape[0]), (0, 8), (0, 0)], constant_values=255) for p in pictures]
        Image.fromarray(np.concatenate(padded, axis=1)).save(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
