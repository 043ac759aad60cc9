"""Cleaning one micrograph after another: read, working image, predict, write the mask, score.

One :class:`Cleaner` holds one loaded model (a :class:`~.prediction.Predictor`) and processes any
number of micrographs; reading and preprocessing the next micrograph runs in a thread while the
network works on the current one. A micrograph that fails yields a result with its error; the
others carry on. A mask already on disk from the same model, scale and micrograph content (a
checksum of its pixels, kept in the JSON with the checksums of the mask files) is reused, so an
interrupted run resumes without redoing work, while a replaced micrograph of the same name, or a
damaged or replaced mask, is predicted again. A micrograph that the run's
:class:`~.scoring.MicrographRule` rejects has all its coordinates rejected, in its JSON and
thumbnail as in its scores. Where it runs (CPU, GPUs) is :mod:`.runner`'s business.
"""
from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .classes import class_channels
from .contract import ANY_CLASS, OUTSIDE_MICROGRAPH, micrograph_failed
from .holes import hole_radius, with_hole_geometry
from .images import MicrographError, file_sha256, read_mask, read_micrograph, write_json, write_mask
from .jobs import output_paths
from .options import CleaningOptions, Job, OptionError
from .preprocessing import Geometry, area_resize, downsampling_factor
from .prediction import Predictor, ScaleError
from .scoring import (CoordinateScores, class_labels, failed_scores, flagged_fractions, score_coordinates,
                      uncertain_fraction)
from .thumbnails import render, save_png


@dataclass
class Result:
    job: Job
    error: str | None
    summary: dict
    scores: CoordinateScores | None = None
    badness: np.ndarray | None = field(default=None, repr=False)  # (H, W, channels), working scale

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, job: Job, message: str) -> "Result":
        """A micrograph that could not be processed: its coordinates all rejected, saying why."""
        scores = failed_scores(job.n_coordinates, micrograph_failed(message)) if job.xy is not None else None
        return cls(job, message, {"micrograph": str(job.micrograph), "error": message}, scores)


@dataclass
class _Prepared:
    job: Job
    working: np.ndarray
    companion: np.ndarray | None  # the second view (Predictor.companion_image)
    geometry: Geometry
    factor: float  # micrograph pixels per working pixel, by the model's scale rule
    companion_factor: float | None  # the same for the second view (None: one view)
    pixel_size: float | None
    checksum: str  # of the micrograph's pixels: a mask is reused only for the same content
    reused: tuple[np.ndarray, dict, dict | None] | None  # badness read back from a previous run, its masks'
    # checksums and the hole edge it was drawn to
    timings: dict
    measured: dict  # the cleaner's measures of the full-resolution micrograph


class Cleaner:
    """Processes micrographs one after the other. ``measures`` are per-micrograph figures taken on
    the full-resolution pixels while they are in memory (e.g. the iciness), name -> function of the
    pixels and the pixel size; each micrograph's summary reports them under their names."""

    def __init__(self, predictor: Predictor, options: CleaningOptions,
                 measures: dict[str, Callable[[np.ndarray, float | None], float | None]] | None = None):
        self.predictor = predictor
        self.measures = dict(measures or {})
        self.card = predictor.card
        self.options = options
        # a model with a working range may bring a small box up to scale; without one the box alone decides
        if (not self.card.working_side
                and downsampling_factor(options.box_size, options.extra_downsampling, self.card.particle_pixels) < 1):
            raise OptionError(f"box size {options.box_size:g} with extra downsampling {options.extra_downsampling:g} "
                              f"would enlarge the micrograph (this model needs a box of at least "
                              f"{self.card.particle_pixels:g} px at extra downsampling 1)")
        unknown = sorted(set(options.rule.min_distance) - {ANY_CLASS} - set(self.card.classes[1:]))
        if unknown:
            raise OptionError(f"minimum distance given for class {', '.join(unknown)}, but the model's classes are "
                              f"{', '.join(self.card.classes[1:]) or 'none'} (or '{ANY_CLASS}')")
        options.output_dir.mkdir(parents=True, exist_ok=True)

    def paths(self, job: Job) -> dict[str, Path]:
        return output_paths(self.options.output_dir, job.stem, self.options.mask_suffix)

    def run(self, jobs: Iterable[Job]) -> Iterator[Result]:
        """Process ``jobs`` in order, preparing the next one while the current one is predicted."""
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = None
            for job in jobs:
                upcoming = reader.submit(self._prepare, job)
                if pending is not None:
                    yield self._finish(*pending)
                pending = (job, upcoming)
            if pending is not None:
                yield self._finish(*pending)

    def process(self, job: Job) -> Result:
        return self._finish(job, None)

    def _prepare(self, job: Job) -> _Prepared:
        started = time.perf_counter()
        micrograph = read_micrograph(job.micrograph)
        read_done = time.perf_counter()
        box, extra = self.options.box_size, self.options.extra_downsampling
        try:
            working, geometry = self.predictor.working_image(micrograph.data, box, extra)
        except ScaleError as error:
            raise MicrographError(micrograph.path, str(error)) from None
        factor = self.predictor.downsampling_factor(micrograph.data.shape, box, extra)  # for the summary
        companion_factor = self.predictor.companion_factor(micrograph.data.shape, box, extra)
        preprocessed = time.perf_counter()
        checksum = hashlib.sha256(np.ascontiguousarray(micrograph.data)).hexdigest()
        timings = {"read": read_done - started, "preprocess": preprocessed - read_done,
                   "checksum": time.perf_counter() - preprocessed}
        pixel_size = job.pixel_size or micrograph.pixel_size
        measured = {name: measure(micrograph.data, pixel_size) for name, measure in self.measures.items()}
        measured["warnings"] = self.options.box_warnings(micrograph.data.shape)
        if self.options.hole_geometry and self.options.hole_diameter and not pixel_size:
            measured["warnings"].append("hole diameter given but no pixel size (header or --pixel-size): the hole "
                                        "radius is estimated")
        reused = self._previous_badness(job, geometry, checksum, companion_factor)
        started = time.perf_counter()
        companion = None if reused else self.predictor.companion_image(micrograph.data, box, extra)
        timings["preprocess"] += time.perf_counter() - started  # the second view's (none for a reused mask)
        return _Prepared(job, working, companion, geometry, factor, companion_factor, pixel_size, checksum, reused,
                         timings, measured)

    def _previous_badness(self, job: Job, geometry: Geometry, checksum: str,
                          companion_factor: float | None) -> tuple[np.ndarray, dict, dict | None] | None:
        """The badness map of an earlier run with the same model (and calibration), hole settings, scale
        and pixels, the checksums of its mask files and the hole edge it recorded, if those files are on
        disk as that run wrote them."""
        paths = self.paths(job)
        if not paths["json"].is_file():
            return None
        try:
            previous = json.loads(paths["json"].read_text())
        except ValueError:
            return None
        if not isinstance(previous, dict) or (
                previous.get("model_sha256") != self.card.sha256 or previous.get("model") != self.card.name
                or previous.get("calibration") != self.card.calibration
                or previous.get("hole_geometry") != self.options.hole_setting
                or tuple(previous.get("working_shape", ())) != geometry.working_shape
                or previous.get("companion_factor", 0) != companion_factor
                or previous.get("micrograph_sha256") != checksum):
            return None
        kinds = ["mask"] if len(self.card.classes) == 1 else ["mask", "classes"]
        written = previous.get("masks_sha256") or {}
        if not all(paths[kind].is_file() and written.get(kind) == file_sha256(paths[kind]) for kind in kinds):
            return None  # damaged, replaced by another micrograph's, or from before masks had checksums
        mask = read_mask(paths["mask"])
        mask = mask if mask.shape == geometry.working_shape else area_resize(mask, geometry.working_shape)
        checksums = {kind: written[kind] for kind in written if kind in kinds}
        edge = previous.get("hole_edge")
        if len(self.card.classes) == 1:
            return mask[..., None], checksums, edge
        labels = read_mask(paths["classes"]).astype(np.int64)
        if labels.shape != geometry.working_shape:
            return None
        channels = class_channels(labels, len(self.card.classes) - 1)
        return np.concatenate([mask[..., None], channels], axis=-1), checksums, edge

    def _finish(self, job: Job, prepared_future) -> Result:
        try:
            prepared = prepared_future.result() if prepared_future is not None else self._prepare(job)
            return self._predict_and_score(prepared)
        except Exception as error:  # one broken micrograph (or a device error on it) must not stop the run
            if isinstance(error, MicrographError):
                message = str(error)
            elif isinstance(error, OSError) and error.strerror:
                message = (f"{job.micrograph}: cannot write its outputs ({error.strerror}: "
                           f"{error.filename or self.options.output_dir})")
            else:
                message = f"{job.micrograph}: {type(error).__name__}: {error}"
            return Result.failed(job, message)

    def _predict_and_score(self, prepared: _Prepared) -> Result:
        job, geometry, timings = prepared.job, prepared.geometry, prepared.timings
        started = time.perf_counter()
        reused = prepared.reused is not None
        badness, masks_sha256, edge = (prepared.reused if reused
                                       else (self.predictor.predict(prepared.working, prepared.companion), {}, None))
        timings["network"] = time.perf_counter() - started
        if self.options.hole_geometry and not reused:
            started = time.perf_counter()
            badness, fitted = with_hole_geometry(prepared.working, badness, self.card.classes,
                                                 self._hole_radius(geometry, prepared))
            edge = fitted.to_summary() if fitted else None
            timings["hole_geometry"] = time.perf_counter() - started

        started = time.perf_counter()
        paths = self.paths(job)
        if self.options.write_masks and not reused:
            masks_sha256 = self._write_masks(paths, badness, geometry, prepared.pixel_size)
        timings["write"] = time.perf_counter() - started

        started = time.perf_counter()
        fractions = flagged_fractions(badness, self.card.classes)
        rejection = self.options.micrograph_rule.rejection(fractions[ANY_CLASS], prepared.measured.get("iciness"))
        scores = None
        if job.xy is not None:
            scores = score_coordinates(badness, geometry, job.xy, self.options.diameter, self.card.classes,
                                       self.options.rule, prepared.pixel_size)
            scores = scores.rejected_as(rejection) if rejection else scores
        timings["score"] = time.perf_counter() - started

        summary = self._summary(job, geometry, prepared.factor, prepared.companion_factor, badness, fractions,
                                prepared.pixel_size, scores, timings, reused)
        summary.update(rejection=rejection, micrograph_sha256=prepared.checksum, masks_sha256=masks_sha256)
        summary.update(prepared.measured)
        summary.update(hole_geometry=self.options.hole_setting, hole_edge=edge)
        if self.options.thumbnails:
            centres = None if job.xy is None else geometry.to_working(job.xy)
            picture = render(prepared.working, badness, self.card.classes, centres,
                             None if scores is None else scores.accepted,
                             self.options.diameter / 2 / float(np.mean(geometry.scale)))
            save_png(picture, paths["thumbnail"])
            summary["thumbnail"] = paths["thumbnail"].name
        write_json(paths["json"], summary)
        return Result(job, None, summary, scores, badness)

    def _hole_radius(self, geometry: Geometry, prepared: _Prepared) -> float | None:
        """The hole radius in working px when the diameter and the pixel size are both known."""
        if self.options.hole_diameter is None or not prepared.pixel_size:
            return None
        return hole_radius(self.options.hole_diameter, prepared.pixel_size, float(np.mean(geometry.scale)))

    def _write_masks(self, paths: dict[str, Path], badness: np.ndarray, geometry: Geometry,
                     pixel_size: float | None) -> dict[str, str]:
        """The mask (float, working or full size) and, for models with classes, the 8-bit label map at
        the working size (a few hundred kB); per-class float maps only when asked for. Returns the
        checksums of the mask and label map, which a later run checks before reusing them."""
        unit = pixel_size or 1.0

        def voxel(shape: tuple[int, int]) -> tuple[float, float]:
            return geometry.micrograph_shape[1] * unit / shape[1], geometry.micrograph_shape[0] * unit / shape[0]

        channels = np.moveaxis(badness, -1, 0)
        if not self.options.class_maps:
            channels = channels[:1]
        shape = geometry.micrograph_shape if self.options.full_size else geometry.working_shape
        if self.options.full_size:
            from skimage.transform import resize

            channels = np.stack([resize(c, shape, order=1, mode="edge", anti_aliasing=False) for c in channels])
        write_mask(paths["mask"], channels[0], voxel(shape))
        kinds = ["mask"]
        if len(self.card.classes) > 1:
            write_mask(paths["classes"], class_labels(badness), voxel(geometry.working_shape), dtype=np.int8)
            kinds.append("classes")
            if self.options.class_maps:
                write_mask(paths["class_maps"], channels[1:], voxel(shape))
        return {kind: file_sha256(paths[kind]) for kind in kinds}

    def _summary(self, job: Job, geometry: Geometry, factor: float, companion_factor: float | None,
                 badness: np.ndarray, fractions: dict[str, float],
                 pixel_size: float | None, scores: CoordinateScores | None, timings: dict, reused: bool) -> dict:
        summary = {
            "micrograph": str(job.micrograph),
            "model": self.card.name,
            "model_sha256": self.card.sha256,
            "calibration": self.card.calibration,
            "classes": self.card.classes,
            "box_size": self.options.box_size,
            "particle_diameter": self.options.diameter,
            "downsampling_factor": factor,
            "companion_factor": companion_factor,
            "micrograph_shape": list(geometry.micrograph_shape),
            "working_shape": list(geometry.working_shape),
            "pixel_size": pixel_size,
            "flagged_fraction": fractions[ANY_CLASS],
            "mean_badness": float(badness[..., 0].mean()),
            "uncertain_fraction": uncertain_fraction(badness[..., 0]),
            "class_fractions": {k: v for k, v in fractions.items() if k != ANY_CLASS},
            "mostly_bad": fractions[ANY_CLASS] > self.options.micrograph_rule.mostly_bad_fraction,
            "mask": self.paths(job)["mask"].name if self.options.write_masks else None,
            "mask_reused": reused,
            "timings": {name: round(seconds, 4) for name, seconds in timings.items()},
        }
        if scores is not None:
            summary["coordinates"] = coordinate_counts(scores)
        return summary


def coordinate_counts(scores: CoordinateScores) -> dict[str, int]:
    """The coordinates block of a micrograph's JSON."""
    return {"total": len(scores), "accepted": int(scores.accepted.sum()), "rejected": int((~scores.accepted).sum()),
            "outside": int(sum(r == OUTSIDE_MICROGRAPH for r in scores.reason))}
