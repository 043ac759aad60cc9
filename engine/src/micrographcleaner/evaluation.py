"""Measuring a model against ground truth, with the paper's figures and the ones users act on.

Regions: IoU of the predicted bad mask (badness >= 0.5) with the true one, per micrograph, at the
working scale; its mean (mIoU), standard deviation and failure rate (IoU = 0 although the truth has
bad pixels); the same per class; and the "carbon subset" (micrographs whose truth shows carbon),
the paper's headline figure. Clean micrographs (no bad pixels) instead report the fraction flagged.

Particles, at a goodness threshold: the share of particles on good ice that are kept (the whole
scoring disc on good ice) and the share of particles centred on bad regions that are rejected.
Particles straddling an edge are counted apart: either decision is defensible there.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .classes import code_channels
from .contract import DEFAULT_THRESHOLD
from .coordinates import read_coordinates
from .holes import with_hole_geometry
from .images import MICROGRAPH_SUFFIXES, read_bad_mask, read_mask, read_micrograph
from .labels import at_working_scale
from .scoring import BAD_LEVEL, ScoringRule, distance_to_bad, score_coordinates


@dataclass
class MicrographEvaluation:
    name: str
    iou: float | None  # None when neither truth nor prediction has bad pixels
    class_iou: dict[str, float] = field(default_factory=dict)  # classes present in the truth
    truth_fraction: float = 0.0
    predicted_fraction: float = 0.0
    classes_present: list[str] = field(default_factory=list)
    good_kept: int = 0
    good_total: int = 0
    bad_rejected: int = 0
    bad_total: int = 0
    edge_total: int = 0


def iou(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    union = np.logical_or(truth, predicted).sum()
    return None if union == 0 else float(np.logical_and(truth, predicted).sum() / union)


def truth_channels(labels: np.ndarray, working_shape: tuple[int, int], n_classes: int) -> np.ndarray:
    """Class codes (any size) to working-scale booleans: any bad, then one channel per class."""
    channels = code_channels(labels, n_classes)
    return np.stack([at_working_scale(channels[..., index], working_shape)
                     for index in range(channels.shape[-1])], -1)


@dataclass
class LabelledMicrograph:
    """A micrograph of an evaluation folder with its truth and, when present, its particles."""

    path: Path
    box_size: float
    labels: np.ndarray  # class codes (0 good); a bad-only mask gives codes 0/1
    class_names: list[str]
    particles: Path | None


def find_labelled(folder: Path, box_size: float | None = None) -> list[LabelledMicrograph]:
    """``<stem>.mrc`` with ``<stem>_labels.mrc`` (class codes), or ``<stem>_mask.mrc|.tif`` (bad only)."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in MICROGRAPH_SUFFIXES or path.stem.endswith(("_labels", "_mask")):
            continue
        sidecar = path.with_suffix(".json")
        info = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        labels_path = path.with_name(path.stem + "_labels.mrc")
        masks = [p for p in (path.with_name(path.stem + "_mask" + s) for s in (".mrc", ".tif", ".tiff")) if p.is_file()]
        if labels_path.is_file():
            labels = np.rint(read_mask(labels_path)).astype(np.uint8)
            class_names = list(info.get("classes", ["good", "bad"]))[1:]
        elif masks:
            labels = (read_bad_mask(masks[0]) >= 0.5).astype(np.uint8)
            class_names = ["bad"]
        else:
            continue
        box = info.get("box_size", box_size)
        if box is None:
            raise ValueError(f"{path}: no box size (no {sidecar.name}); pass --box-size")
        particles = path.with_name(path.stem + "_particles.star")
        found.append(LabelledMicrograph(path, float(box), labels, class_names,
                                        particles if particles.is_file() else None))
    if not found:
        raise FileNotFoundError(f"{folder}: no micrograph with a _labels.mrc or _mask.mrc/.tif beside it")
    return found


def evaluate_micrograph(predictor, item: LabelledMicrograph, threshold: float,
                        hole_geometry: bool = True) -> MicrographEvaluation:
    """The figures of one labelled micrograph, its badness drawn to the hole edge as ``predict``
    draws it unless ``hole_geometry`` is off."""
    data = read_micrograph(item.path).data
    image, geometry = predictor.working_image(data, item.box_size)
    badness = predictor.predict(image, predictor.companion_image(data, item.box_size))
    if hole_geometry:
        badness, _ = with_hole_geometry(image, badness, predictor.card.classes, None)
    truth = truth_channels(item.labels, geometry.working_shape, len(item.class_names))
    predicted = badness >= BAD_LEVEL
    present = [name for index, name in enumerate(item.class_names, start=1) if truth[..., index].any()]
    result = MicrographEvaluation(name=item.path.name, iou=iou(truth[..., 0], predicted[..., 0]),
                                  truth_fraction=float(truth[..., 0].mean()),
                                  predicted_fraction=float(predicted[..., 0].mean()), classes_present=present)
    model_classes = predictor.card.classes[1:]
    for index, name in enumerate(item.class_names, start=1):
        if name in present and name in model_classes:
            channel = 1 + model_classes.index(name)
            result.class_iou[name] = iou(truth[..., index], predicted[..., channel]) or 0.0
    if item.particles is not None:
        xy = read_coordinates(item.particles).xy
        if len(xy):
            scores = score_coordinates(badness, geometry, xy, item.box_size, predictor.card.classes,
                                       ScoringRule(threshold))
            centres = geometry.to_working(xy)
            radius = item.box_size / 2 / float(np.mean(geometry.scale))
            rows = np.clip(np.rint(centres[:, 1]).astype(int), 0, geometry.working_shape[0] - 1)
            cols = np.clip(np.rint(centres[:, 0]).astype(int), 0, geometry.working_shape[1] - 1)
            on_bad = truth[rows, cols, 0]
            on_good = ~on_bad & (distance_to_bad(truth[..., 0], centres, 1.0) > radius)
            result.good_total, result.good_kept = int(on_good.sum()), int((on_good & scores.accepted).sum())
            result.bad_total, result.bad_rejected = int(on_bad.sum()), int((on_bad & ~scores.accepted).sum())
            result.edge_total = int(len(xy) - on_good.sum() - on_bad.sum())
    return result


def _region_figures(values: list[float]) -> dict:
    values_array = np.asarray(values, dtype=float)
    if not len(values_array):
        return {"n": 0}
    return {"n": len(values_array), "miou": float(values_array.mean()), "std": float(values_array.std()),
            "failures": float((values_array == 0).mean())}


def summarise(results: list[MicrographEvaluation], threshold: float) -> dict:
    """The figures over a set: regions (all, per class, carbon subset), clean frames, particles."""
    with_bad = [r for r in results if r.truth_fraction > 0]
    classes = sorted({name for r in results for name in r.class_iou})
    good_total = sum(r.good_total for r in results)
    bad_total = sum(r.bad_total for r in results)
    clean = [r.predicted_fraction for r in results if r.truth_fraction == 0]
    return {
        "micrographs": len(results),
        "bad_regions": _region_figures([r.iou or 0.0 for r in with_bad]),
        "per_class": {name: _region_figures([r.class_iou[name] for r in results if name in r.class_iou])
                      for name in classes},
        "carbon_subset": _region_figures([r.iou or 0.0 for r in with_bad if "carbon" in r.classes_present]),
        "clean_micrographs": {"n": len(clean), "mean_flagged": float(np.mean(clean)) if clean else None,
                              "max_flagged": float(np.max(clean)) if clean else None},
        "particles": {"threshold": threshold,
                      "good_kept": sum(r.good_kept for r in results) / good_total if good_total else None,
                      "bad_rejected": sum(r.bad_rejected for r in results) / bad_total if bad_total else None,
                      "good": good_total, "bad": bad_total, "edge": sum(r.edge_total for r in results)},
    }


def evaluate_folder(folder: Path, predictor, threshold: float = DEFAULT_THRESHOLD,
                    box_size: float | None = None, progress=None,
                    hole_geometry: bool = True) -> tuple[list[MicrographEvaluation], dict]:
    items = find_labelled(Path(folder), box_size)
    results = []
    for item in items if progress is None else progress(items):
        results.append(evaluate_micrograph(predictor, item, threshold, hole_geometry))
    return results, summarise(results, threshold)


def report_text(summary: dict) -> str:
    """A few readable lines of the figures."""
    def region(name: str, figures: dict) -> str:
        if not figures.get("n"):
            return f"{name:<22} -"
        return (f"{name:<22} mIoU {figures['miou']:.3f} +- {figures['std']:.3f}  failures "
                f"{100 * figures['failures']:.1f}%  (n={figures['n']})")

    lines = [region("bad regions", summary["bad_regions"]), region("carbon subset", summary["carbon_subset"])]
    lines += [region(f"  {name}", figures) for name, figures in summary["per_class"].items()]
    clean = summary["clean_micrographs"]
    if clean["n"]:
        lines.append(f"{'clean micrographs':<22} flagged {100 * clean['mean_flagged']:.2f}% on average, "
                     f"{100 * clean['max_flagged']:.2f}% at most (n={clean['n']})")
    particles = summary["particles"]
    if particles["good"] or particles["bad"]:
        kept = "-" if particles["good_kept"] is None else f"{100 * particles['good_kept']:.1f}%"
        rejected = "-" if particles["bad_rejected"] is None else f"{100 * particles['bad_rejected']:.1f}%"
        lines.append(f"particles at threshold {particles['threshold']:g}: good ice kept {kept} "
                     f"(n={particles['good']}), bad regions rejected {rejected} (n={particles['bad']}), "
                     f"{particles['edge']} on edges not counted")
    return "\n".join(lines)


def to_json(results: list[MicrographEvaluation], summary: dict) -> dict:
    return {"summary": summary, "micrographs": [asdict(r) for r in results]}
