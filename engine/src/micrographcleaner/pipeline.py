"""Cleaning micrographs end to end: read, preprocess, predict, write the mask, score coordinates.

One :class:`Cleaner` holds one loaded model and processes any number of micrographs; reading and
preprocessing the next micrograph runs in a thread while the network works on the current one.
A micrograph that fails yields a result with its error; the others carry on. A mask already on
disk from the same model, scale and micrograph content (a checksum of its pixels, kept in the
JSON) is reused, so an interrupted run resumes without redoing work and a replaced micrograph of
the same name is predicted again.
Several GPUs get one worker process each (:func:`run_on_devices`).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .images import Micrograph, MicrographError, read_mask, read_micrograph, write_json, write_mask
from .preprocessing import Geometry, area_resize, downsampling_factor, preprocess
from .prediction import Predictor
from .scoring import (MOSTLY_BAD_FRACTION, ANY_CLASS, CoordinateScores, ScoringRule, class_labels, failed_scores,
                      flagged_fractions, one_hot_classes, score_coordinates)
from .thumbnails import render, save_png

MAX_BOX_SIZE = 20000.0
"""Larger than any detector: a box beyond this is a typo (or not in pixels)."""

MIN_WORKING_SIDE = 16
"""A working image narrower than a particle box cannot be judged."""


class OptionError(ValueError):
    """An option that cannot work, found before any micrograph is touched; the message names it."""


def check_number(name: str, value, low: float, high: float = math.inf, *, low_allowed: bool = False) -> float | None:
    """``value`` as a float; refuses text, NaN, infinities and values outside (low, high] ([low, high]
    with ``low_allowed``). None stays None (not given)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and (number >= low if low_allowed else number > low) and number <= high):
        bounds = [f"{'at least' if low_allowed else 'greater than'} {low:g}"] if math.isfinite(low) else []
        bounds += [f"at most {high:g}"] if math.isfinite(high) else []
        raise OptionError(f"{name} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}, "
                          f"got {value!r}")
    return number


@dataclass
class CleaningOptions:
    box_size: float
    output_dir: Path
    particle_diameter: float | None = None  # micrograph px; the box size when None
    rule: ScoringRule = field(default_factory=ScoringRule)
    full_size: bool = False
    thumbnails: bool = False
    write_masks: bool = True
    class_maps: bool = False  # also <stem>_class_maps.mrc: one float32 section per class, at the mask's size
    mask_suffix: str = "_mask"  # masks are <stem><suffix>.mrc
    extra_downsampling: float = 1.0

    @property
    def diameter(self) -> float:
        return self.particle_diameter or self.box_size

    def check(self, spell=lambda name: name) -> None:
        """Refuse values that would run silently wrong; ``spell`` names a field as the caller's user knows it."""
        check_number(spell("box_size"), self.box_size, 0, MAX_BOX_SIZE)
        check_number(spell("particle_diameter"), self.particle_diameter, 0, MAX_BOX_SIZE)
        check_number(spell("extra_downsampling"), self.extra_downsampling, 0)
        check_number(spell("threshold"), self.rule.threshold, 0, 1, low_allowed=True)
        for name, limit in self.rule.min_distance.items():
            check_number(f"{spell('min_distance')} {name}", limit, 0, low_allowed=True)


@dataclass
class Job:
    """One micrograph to clean, with its coordinates (micrograph pixels, x y) if any."""

    micrograph: Path
    xy: np.ndarray | None = None
    pixel_size: float | None = None  # overrides the header's
    key: str | None = None  # output file stem; the micrograph's stem by default
    payload: Any = None  # the caller's own data, handed back untouched in the result

    @property
    def stem(self) -> str:
        return self.key or Path(self.micrograph).stem

    @property
    def n_coordinates(self) -> int:
        return 0 if self.xy is None else len(self.xy)


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


@dataclass
class _Prepared:
    job: Job
    working: np.ndarray
    geometry: Geometry
    factor: float  # micrograph pixels per working pixel, by the model's scale rule
    pixel_size: float | None
    checksum: str  # of the micrograph's pixels: a mask is reused only for the same content
    reused: np.ndarray | None  # badness read back from a previous run
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
        out = self.options.output_dir
        return {"mask": out / f"{job.stem}{self.options.mask_suffix}.mrc", "classes": out / f"{job.stem}_classes.mrc",
                "class_maps": out / f"{job.stem}_class_maps.mrc", "json": out / f"{job.stem}.json",
                "thumbnail": out / f"{job.stem}.png"}

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
        factor = self.predictor.downsampling_factor(micrograph.data.shape, self.options.box_size,
                                                    self.options.extra_downsampling)
        self._check_scale(micrograph, factor)
        working, geometry = preprocess(micrograph.data, factor, self.card.preprocessing)  # type: ignore[arg-type]
        preprocessed = time.perf_counter()
        checksum = hashlib.sha256(np.ascontiguousarray(micrograph.data)).hexdigest()
        timings = {"read": read_done - started, "preprocess": preprocessed - read_done,
                   "checksum": time.perf_counter() - preprocessed}
        pixel_size = job.pixel_size or micrograph.pixel_size
        measured = {name: measure(micrograph.data, pixel_size) for name, measure in self.measures.items()}
        return _Prepared(job, working, geometry, factor, pixel_size, checksum,
                         self._previous_badness(job, geometry, checksum), timings, measured)

    def _check_scale(self, micrograph: Micrograph, factor: float) -> None:
        if factor < 1:
            raise MicrographError(micrograph.path, f"{micrograph.data.shape[1]}x{micrograph.data.shape[0]} px would "
                                  f"be enlarged at box size {self.options.box_size:g} with extra downsampling "
                                  f"{self.options.extra_downsampling:g} (downsampling {factor:g}): give a larger box "
                                  f"or extra downsampling")
        working = [int(side / factor) for side in micrograph.data.shape]
        if min(working) < MIN_WORKING_SIDE:
            raise MicrographError(micrograph.path, f"{micrograph.data.shape[1]}x{micrograph.data.shape[0]} px "
                                  f"shrinks to {working[1]}x{working[0]} working px at box size "
                                  f"{self.options.box_size:g} (downsampling {factor:g}); at least "
                                  f"{MIN_WORKING_SIDE} are needed: is the box size in this micrograph's pixels?")

    def _previous_badness(self, job: Job, geometry: Geometry, checksum: str) -> np.ndarray | None:
        """The badness map of an earlier run with the same model, scale and pixels, if complete on disk."""
        paths = self.paths(job)
        if not (paths["json"].is_file() and paths["mask"].is_file()):
            return None
        try:
            previous = json.loads(paths["json"].read_text())
        except ValueError:
            return None
        if (previous.get("model_sha256") != self.card.sha256 or previous.get("model") != self.card.name
                or tuple(previous.get("working_shape", ())) != geometry.working_shape
                or previous.get("micrograph_sha256") != checksum):
            return None
        mask = read_mask(paths["mask"])
        mask = mask if mask.shape == geometry.working_shape else area_resize(mask, geometry.working_shape)
        if len(self.card.classes) == 1:
            return mask[..., None]
        if not paths["classes"].is_file():
            return None
        labels = read_mask(paths["classes"]).astype(np.int64)
        if labels.shape != geometry.working_shape:
            return None
        return np.concatenate([mask[..., None], one_hot_classes(labels, len(self.card.classes) - 1)], axis=-1)

    def _finish(self, job: Job, prepared_future) -> Result:
        try:
            prepared = prepared_future.result() if prepared_future is not None else self._prepare(job)
            return self._predict_and_score(prepared)
        except Exception as error:  # one broken micrograph (or a device error on it) must not stop the run
            if isinstance(error, MicrographError):
                message = str(error)
            elif isinstance(error, OSError) and error.strerror:
                message = f"{job.micrograph}: cannot write its outputs ({error.strerror}: {error.filename})"
            else:
                message = f"{job.micrograph}: {type(error).__name__}: {error}"
            scores = failed_scores(job.n_coordinates, f"micrograph failed: {message}") if job.xy is not None else None
            return Result(job, message, {"micrograph": str(job.micrograph), "error": message}, scores)

    def _predict_and_score(self, prepared: _Prepared) -> Result:
        job, geometry, timings = prepared.job, prepared.geometry, prepared.timings
        started = time.perf_counter()
        reused = prepared.reused is not None
        badness = prepared.reused if reused else self.predictor.predict(prepared.working)
        timings["network"] = time.perf_counter() - started

        started = time.perf_counter()
        paths = self.paths(job)
        if self.options.write_masks and not reused:
            self._write_masks(paths, badness, geometry, prepared.pixel_size)
        timings["write"] = time.perf_counter() - started

        started = time.perf_counter()
        scores = None
        if job.xy is not None:
            scores = score_coordinates(badness, geometry, job.xy, self.options.diameter, self.card.classes,
                                       self.options.rule, prepared.pixel_size)
        timings["score"] = time.perf_counter() - started

        summary = self._summary(job, geometry, prepared.factor, badness, prepared.pixel_size, scores, timings,
                                reused)
        summary["micrograph_sha256"] = prepared.checksum
        summary.update(prepared.measured)
        if self.options.thumbnails:
            centres = None if job.xy is None else geometry.to_working(job.xy)
            picture = render(prepared.working, badness, self.card.classes, centres,
                             None if scores is None else scores.accepted,
                             self.options.diameter / 2 / float(np.mean(geometry.scale)))
            save_png(picture, paths["thumbnail"])
            summary["thumbnail"] = paths["thumbnail"].name
        write_json(paths["json"], summary)
        return Result(job, None, summary, scores, badness)

    def _write_masks(self, paths: dict[str, Path], badness: np.ndarray, geometry: Geometry,
                     pixel_size: float | None) -> None:
        """The mask (float, working or full size) and, for models with classes, the 8-bit label map at
        the working size (a few hundred kB); per-class float maps only when asked for."""
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
        if len(self.card.classes) > 1:
            write_mask(paths["classes"], class_labels(badness), voxel(geometry.working_shape), dtype=np.int8)
            if self.options.class_maps:
                write_mask(paths["class_maps"], channels[1:], voxel(shape))

    def _summary(self, job: Job, geometry: Geometry, factor: float, badness: np.ndarray, pixel_size: float | None,
                 scores: CoordinateScores | None, timings: dict, reused: bool) -> dict:
        fractions = flagged_fractions(badness, self.card.classes)
        summary = {
            "micrograph": str(job.micrograph),
            "model": self.card.name,
            "model_sha256": self.card.sha256,
            "classes": self.card.classes,
            "box_size": self.options.box_size,
            "particle_diameter": self.options.diameter,
            "downsampling_factor": factor,
            "micrograph_shape": list(geometry.micrograph_shape),
            "working_shape": list(geometry.working_shape),
            "pixel_size": pixel_size,
            "flagged_fraction": fractions[ANY_CLASS],
            "mean_badness": float(badness[..., 0].mean()),
            "class_fractions": {k: v for k, v in fractions.items() if k != ANY_CLASS},
            "mostly_bad": fractions[ANY_CLASS] > MOSTLY_BAD_FRACTION,
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
            "outside": int(sum(r == "outside micrograph" for r in scores.reason))}


def build_cleaner(model_path: str | Path | None, options: CleaningOptions, augmentation: str = "none",
                  batch_size: int = 8) -> Cleaner:
    from .model_files import ModelFileError, card_path, load_model, resolve_model_path

    try:
        model, card = load_model(model_path)
    except ModelFileError:
        raise
    except (ValueError, TypeError) as error:  # the card: not JSON, or not the fields of a card
        raise ModelFileError(f"{card_path(resolve_model_path(model_path))}: not a valid model card ({error})") from None
    return Cleaner(Predictor(model, card, augmentation, batch_size), options)  # type: ignore[arg-type]


_WORKER_CLEANER: Cleaner | None = None


def _start_worker(devices, threads, model_path, options, augmentation, batch_size) -> None:
    from .devices import configure

    global _WORKER_CLEANER
    configure(devices.get(), threads)
    _WORKER_CLEANER = build_cleaner(model_path, options, augmentation, batch_size)


def _work(job: Job) -> Result:
    result = _WORKER_CLEANER.process(job)  # type: ignore[union-attr]
    result.badness = None  # not worth sending between processes
    return result


def run_on_devices(jobs: list[Job], gpus: list[str] | None, threads: int | None, model_path,
                   options: CleaningOptions, augmentation: str = "none", batch_size: int = 8) -> Iterator[Result]:
    """Run ``jobs`` on the CPU (in this process) or with one worker process per GPU, model loaded once each."""
    if not gpus or len(gpus) == 1:
        from .devices import configure

        configure(gpus[0] if gpus else None, threads)
        yield from build_cleaner(model_path, options, augmentation, batch_size).run(jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    devices = context.Manager().Queue()
    for gpu in gpus:
        devices.put(gpu)
    with ProcessPoolExecutor(len(gpus), mp_context=context, initializer=_start_worker,
                             initargs=(devices, threads, model_path, options, augmentation, batch_size)) as pool:
        for future in as_completed([pool.submit(_work, job) for job in jobs]):
            yield future.result()
