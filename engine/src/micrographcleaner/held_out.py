"""Labelled micrographs held out of training: the figures a model earns on them, its calibration
fitted on them, and the choice between a fine-tuned model and the one it started from.

A user corrects a handful of micrographs of their session; a share of them is held out of
fine-tuning. Those frames give the figures a user follows per epoch and the decision that matters:
the fine-tuned model replaces its starting point only if it finds the session's bad regions
better. A worse model is never shipped in silence. The new model is calibrated on those frames
when they hold enough of both classes (fine-tuning moves the logits); the starting model is judged
as it is, never refitted on a few frames. Both are judged as users get them: both views, drawn to
the hole edge (the calibration is fitted to the network's output, which the hole edge then draws).
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .calibration import Calibration, fit
from .classes import CODES, IGNORE
from .holes import with_hole_geometry
from .labels import LabelSource, at_working_scale, labelled_bad
from .model_files import ModelCard, card_path, update_card
from .prediction import Predictor
from .scoring import BAD_LEVEL, class_labels

DECISION_SCALES = (0.5, 1.0, 2.0)
"""Boxes, as multiples of the right one, at which the held-out frames are judged: users pick boxes loosely."""
KEPT_FINE_TUNED = "fine-tuned"
KEPT_STARTING = "starting model"
NOT_KEPT = "not_kept.keras"
"""Where a fine-tuned model that did no better than its starting point is left, for a look."""
FIT_SHARE = 0.05
"""Least share of the held-out labelled pixels each class (bad, good) needs for a calibration to be
fitted there: on less (a frame with a sliver of film) two parameters fit that sliver, not the session."""


@dataclass
class HeldOutFigures:
    """Pooled over every labelled working pixel of the held-out frames (frames without bad pixels count too)."""

    bad_iou: float  # any bad region
    carbon_iou: float | None  # None where no held-out pixel is labelled carbon, or the model has no classes
    flagged: float  # share of pixels flagged
    truth: float  # share labelled bad
    good_iou: float | None = None  # the good region's (None in cards written before it was measured)

    @property
    def score(self) -> float:
        """What decides between two models: the mean IoU of the bad and the good region. Bad-region
        IoU alone cannot rank models on clean frames (one flagged pixel scores 0, as a hundred do)."""
        return self.bad_iou if self.good_iou is None else (self.bad_iou + self.good_iou) / 2

    def text(self) -> str:
        carbon = "" if self.carbon_iou is None else f", carbon IoU {self.carbon_iou:.2f}"
        good = "" if self.good_iou is None else f", good-region IoU {self.good_iou:.2f}"
        return f"bad-region IoU {self.bad_iou:.2f}{good}{carbon}"


class HeldOutMicrographs:
    """Labelled micrographs at the working scale of several boxes (and their companion view), with
    their truth, made once: prediction is all that judging a model on them then costs."""

    def __init__(self, sources: list[LabelSource], card: ModelCard, scales: tuple[float, ...] = DECISION_SCALES):
        self.names: list[str] = []  # the micrographs' file stems
        self.frames: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # working, known, bad, carbon
        self.companions: list[np.ndarray | None] = []  # each frame's second view, as predict sees it
        shaper = Predictor(None, card)  # only its working and companion images, which need no network
        for source in sources:
            for image_path, image, codes in source.items():
                self.names.append(Path(image_path).stem)
                for scale in scales:
                    working, _ = shaper.working_image(image, source.box_size * scale)
                    self.companions.append(shaper.companion_image(image, source.box_size * scale))
                    shape = working.shape[:2]
                    self.frames.append((working, ~at_working_scale(codes == IGNORE, shape),
                                        at_working_scale(labelled_bad(codes), shape),
                                        at_working_scale(codes == CODES["carbon"], shape)))
        self.scales = scales

    def __len__(self) -> int:
        return len(self.names)

    def predictions(self, model, card: ModelCard) -> list[np.ndarray]:
        """The network's badness maps (both views), calibrated as ``card`` says, before the hole edge."""
        predictor = Predictor(model, card)
        return [predictor.predict(working, companion) for (working, *_), companion in zip(self.frames, self.companions)]

    def drawn(self, predictions: list[np.ndarray], classes: list[str]) -> list[np.ndarray]:
        """The badness maps drawn to each frame's hole edge, as ``predict`` draws them."""
        return [with_hole_geometry(working, badness, classes, None)[0]
                for badness, (working, *_) in zip(predictions, self.frames)]

    def pixels(self, predictions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Channel-0 badness and truth of every labelled pixel, all frames together."""
        badness = np.concatenate([p[..., 0][known] for p, (_, known, _, _) in zip(predictions, self.frames)])
        truth = np.concatenate([bad[known] for _, known, bad, _ in self.frames])
        return badness, truth

    def figures(self, predictions: list[np.ndarray], classes: list[str]) -> HeldOutFigures:
        carbon_code = classes.index("carbon") if "carbon" in classes else None
        counts = np.zeros(8)  # intersection, union of bad, carbon, good; flagged, truth
        for badness, (_, known, bad, carbon) in zip(predictions, self.frames):
            flagged = badness[..., 0] >= BAD_LEVEL
            counts[0:2] += np.sum(flagged & bad & known), np.sum((flagged | bad) & known)
            counts[6:8] += np.sum(~flagged & ~bad & known), np.sum((~flagged | ~bad) & known)
            if carbon_code is not None:
                called = class_labels(badness) == carbon_code
                counts[2:4] += np.sum(called & carbon & known), np.sum((called | carbon) & known)
            counts[4:6] += np.sum(flagged & known), np.sum(bad & known)
        total = max(sum(int(known.sum()) for _, known, _, _ in self.frames), 1)
        return HeldOutFigures(bad_iou=float(counts[0] / counts[1]) if counts[1] else 1.0,
                              carbon_iou=float(counts[2] / counts[3]) if counts[3] else None,
                              flagged=float(counts[4] / total), truth=float(counts[5] / total),
                              good_iou=float(counts[6] / counts[7]) if counts[7] else 1.0)

    def judged(self, model, card: ModelCard) -> HeldOutFigures:
        """The figures ``model`` earns here, calibrated as ``card`` says and drawn to the hole edges."""
        return self.figures(self.drawn(self.predictions(model, card), card.classes), card.classes)

    def calibrated(self, model, card: ModelCard) -> tuple[dict, HeldOutFigures]:
        """The calibration fitted on these frames (to the network's output), or the card's own where
        they hold less than :data:`FIT_SHARE` of either class, and the figures the model earns with it
        (drawn to the hole edges)."""
        raw = self.predictions(model, replace(card, calibration={}))
        badness, truth = self.pixels(raw)
        bad_share = float(truth.mean()) if truth.size else 0.0
        if min(bad_share, 1 - bad_share) >= FIT_SHARE:
            calibration = fit(badness, truth)
            entry = {**asdict(calibration), "fitted_on": f"{len(self)} held-out micrographs at {list(self.scales)} "
                                                         "x the right box"}
        else:
            calibration, entry = Calibration.from_card(card.calibration), card.calibration
        return entry, self.figures(self.drawn([calibration.apply(badness) for badness in raw], card.classes),
                                   card.classes)


def keep_the_better(fine_tuned: Path, starting: Path, before: HeldOutFigures, after: HeldOutFigures,
                    record: dict) -> str:
    """Leaves the fine-tuned model at ``fine_tuned`` when it beats ``before`` on the held-out
    :attr:`HeldOutFigures.score`; else copies the starting model there and moves the fine-tuned one
    to :data:`NOT_KEPT`. Either way the card records both figures and which was kept, which this returns."""
    kept = KEPT_FINE_TUNED if after.score > before.score else KEPT_STARTING
    choice = {**record, "before": asdict(before), "after": asdict(after), "kept": kept}

    def note(card: ModelCard) -> None:
        card.fine_tuning = choice
        if kept == KEPT_STARTING:  # named as the fine-tuned one would be
            card.name = fine_tuned.parent.name

    if kept == KEPT_STARTING:
        rejected = fine_tuned.with_name(NOT_KEPT)
        shutil.move(fine_tuned, rejected)
        shutil.move(card_path(fine_tuned), card_path(rejected))
        shutil.copyfile(starting, fine_tuned)
        shutil.copyfile(card_path(starting), card_path(fine_tuned))
    update_card(fine_tuned, note)
    return kept
