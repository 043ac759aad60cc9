"""Batch mode: one JSON manifest in, one JSON result out, keyed by the caller's own ids.

This is how the Scipion plugin drives the engine inside its own environment: it writes the
micrographs of a batch (ids, paths, pixel sizes, coordinates in micrograph pixels) to a manifest,
runs ``micrographcleaner batch MANIFEST --result RESULT`` and reads back, per micrograph, the mask,
thumbnail, flagged fractions and, per coordinate id, goodness, distance, decision and reason.

The manifest's and the result's fields are defined in :mod:`.contract`, for example::

    {"version": 3, "output_dir": "...", "box_size": 200, "threshold": 0.8, "min_distance": {"any": 100.0},
     "max_flagged": 0.8, "hole_diameter": 1.2, "gpus": "cpu", "thumbnails": true,
     "micrographs": [{"id": 7, "path": "...", "pixel_size": 1.1, "key": "mic007",
                      "coordinates": {"id": [1, 2], "x": [10.0, 20.0], "y": [30.0, 40.0]}}]}

The result is written atomically once the whole batch is done; masks written before an
interruption are reused when the same manifest is run again. The output folder is held while the
batch runs: a second batch into it is refused until the first ends. ``micrographcleaner worker``
(:mod:`.worker`) runs manifests one after another in one process, loading each model once.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cleaner import Result
from .contract import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, MANIFEST_DEFAULTS, MANIFEST_REQUIRED, MANIFEST_VERSION)
from .iciness import measure_iciness
from .images import write_json
from .folder_lock import holding_output_dir
from .jobs import check_output_dir, micrograph_output_paths
from .options import CleaningOptions, Job, OptionError, UsageError, check_number
from .runner import ModelChoice, Runner, run_jobs
from .scoring import MicrographRule, ScoringRule


class ManifestError(ValueError):
    pass


def _finite_or_none(values) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def read_manifest(path: Path) -> tuple[dict, list[Job]]:
    """The manifest and its jobs, checked so that no two jobs share outputs or ids, nor two coordinates
    of one micrograph an id (the result is read back by them), and no output leaves output_dir."""
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: the manifest is not a JSON object")
    for required in MANIFEST_REQUIRED:
        if required not in manifest:
            raise ManifestError(f"{path}: the manifest has no {required!r}")
    if manifest.get("version", MANIFEST_VERSION) != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {manifest['version']!r}, but this engine reads version "
                            f"{MANIFEST_VERSION}; install the engine that matches the plugin")
    jobs = [_job(path, number, entry) for number, entry in enumerate(manifest["micrographs"], start=1)]
    numbered = list(enumerate(jobs, start=1))
    _check_unique(path, "output name", [(number, job.stem) for number, job in numbered])
    _check_unique(path, "id", [(number, job.payload["id"]) for number, job in numbered
                               if job.payload["id"] is not None])
    for number, job in numbered:  # a result's coordinates are read back by id, micrograph by micrograph
        _check_unique(path, "coordinate id",
                      [(number, coordinate) for coordinate in job.payload["coordinate_ids"] or []])
    return manifest, jobs


def _check_unique(path: Path, what: str, values: list[tuple[int, object]]) -> None:
    """Refuse a manifest where a name or id of ``values`` (micrograph number, value) appears twice:
    two micrographs would write the same outputs, or the result could not be read back by id."""
    first: dict[str, int] = {}
    for number, value in values:
        key = json.dumps(value, sort_keys=True)
        if key in first:
            where = f"micrograph {number}" if first[key] == number else f"micrographs {first[key]} and {number}"
            raise ManifestError(f"{path}: {where} share the {what} {value!r}; every one must be distinct")
        first[key] = number


def _job(path: Path, number: int, entry: dict) -> Job:
    where = f"{path}: micrograph {number}"
    if not isinstance(entry, dict) or "path" not in entry:
        raise ManifestError(f"{where}: expected an object with a 'path'")
    key = entry.get("key")
    if key is not None and (not isinstance(key, str) or not key or key != Path(key).name or key in (".", "..")):
        raise ManifestError(f"{where}: key {key!r} must be a plain file name (no folders)")
    pixel_size = entry.get("pixel_size")
    try:
        check_number(f"{where}: pixel_size", pixel_size, 0)
    except OptionError as error:
        raise ManifestError(str(error)) from None
    coordinates = entry.get("coordinates")
    xy = ids = None
    if coordinates is not None:
        try:
            x, y = (np.asarray(coordinates[axis], float).reshape(-1) for axis in ("x", "y"))
        except (KeyError, TypeError, ValueError) as error:
            raise ManifestError(f"{where}: coordinates need numeric 'x' and 'y' lists ({error})") from None
        ids = list(coordinates.get("id", range(len(x))))
        if not len(x) == len(y) == len(ids):
            raise ManifestError(f"{where}: coordinates have {len(x)} x, {len(y)} y and {len(ids)} ids; "
                                "they must be equally many")
        xy = np.stack([x, y], axis=1)
    return Job(Path(entry["path"]), xy=xy, pixel_size=pixel_size, key=key,
               payload={"id": entry.get("id"), "coordinate_ids": ids})


def _setting(manifest: dict, name: str):
    return manifest.get(name, MANIFEST_DEFAULTS[name])


def _number(manifest: dict, name: str) -> float | None:
    return check_number(name, manifest.get(name, MANIFEST_DEFAULTS.get(name)), -math.inf)


def options_from_manifest(manifest: dict) -> CleaningOptions:
    """The cleaning options of a manifest, every number checked (named as in the manifest)."""
    limits = _setting(manifest, "min_distance") or {}
    if not isinstance(limits, dict):
        raise OptionError(f"min_distance must be an object of class: distance, got {limits!r}")
    rule = ScoringRule(_number(manifest, "threshold"), {name: _number(limits, name) for name in limits})
    micrograph_rule = MicrographRule(_number(manifest, "max_flagged"), _number(manifest, "max_iciness"))
    options = CleaningOptions(box_size=_number(manifest, "box_size"), output_dir=Path(manifest["output_dir"]),
                              particle_diameter=_number(manifest, "particle_diameter"), rule=rule,
                              micrograph_rule=micrograph_rule,
                              full_size=bool(_setting(manifest, "full_size")),
                              thumbnails=bool(_setting(manifest, "thumbnails")),
                              write_masks=bool(_setting(manifest, "save_masks")),
                              class_maps=bool(_setting(manifest, "class_maps")),
                              extra_downsampling=_number(manifest, "extra_downsampling"),
                              hole_geometry=bool(_setting(manifest, "hole_geometry")),
                              hole_diameter=_number(manifest, "hole_diameter"))
    options.check(lambda name: name if name != "min_distance" else "min_distance of")
    check_number("threads", _setting(manifest, "threads"), 0)
    check_number("batch_size", _setting(manifest, "batch_size"), 0)
    return options


def result_entry(result: Result, output_dir: Path) -> dict:
    payload = result.job.payload
    entry = {"id": payload["id"], "path": str(result.job.micrograph), "ok": result.ok, "error": result.error,
             "summary": result.summary}
    if result.ok:
        for name, key in (("mask", "mask"), ("thumbnail", "thumbnail")):
            entry[name] = str(output_dir / result.summary[key]) if result.summary.get(key) else None
    scores = result.scores
    if scores is not None:
        entry["coordinates"] = {
            "id": payload["coordinate_ids"],
            "goodness": _finite_or_none(scores.goodness),
            "distance": _finite_or_none(scores.distance),
            "class_distance": {name: _finite_or_none(d) for name, d in scores.class_distance.items()},
            "accepted": [bool(a) for a in scores.accepted],
            "reason": list(scores.reason),
        }
    return entry


@dataclass
class BatchOutcome:
    """A batch's exit status and, when it was refused, the one line saying why (the worker's answer)."""

    status: int
    error: str | None = None


def run_manifest(manifest_path: Path, result_path: Path, quiet: bool = False,
                 runner: Runner | None = None) -> BatchOutcome:
    """Runs one manifest and writes its result; the refusal or the failures go to stderr too.

    A ``runner`` kept by the caller (the worker's) keeps its models loaded from one manifest to the
    next; each micrograph's iciness is reported.
    """
    try:
        manifest, jobs = read_manifest(manifest_path)
        options = options_from_manifest(manifest)
        check_output_dir(options.output_dir, micrograph_output_paths(options.output_dir, [job.stem for job in jobs]),
                         [job.micrograph for job in jobs], "output_dir")
        choice = ModelChoice(_setting(manifest, "model"), _setting(manifest, "tta"),
                             int(_setting(manifest, "batch_size")))
        with holding_output_dir(options.output_dir, "output_dir", _setting(manifest, "run_id")):
            results = run_jobs(jobs, options, choice, _setting(manifest, "gpus"), _setting(manifest, "threads"),
                               quiet, runner, measures={"iciness": measure_iciness})
            entries = [result_entry(result, options.output_dir) for result in results]
        models = [entry["summary"]["model"] for entry in entries if entry["ok"]]
        write_json(result_path, {"model": models[0] if models else None, "micrographs": entries})
    except ManifestError as error:
        return _refused(str(error))
    except (OptionError, UsageError, KeyError, TypeError, ValueError) as error:
        return _refused(f"{manifest_path}: {error}")
    except OSError as error:
        return _refused(f"cannot write {error.filename or result_path} ({error.strerror or error})")
    failed = [entry for entry in entries if not entry["ok"]]
    for entry in failed:
        print(f"FAILED {entry['error']}", file=sys.stderr)
    return BatchOutcome(EXIT_FAILED if failed else EXIT_OK)


def _refused(message: str) -> BatchOutcome:
    print(f"micrographcleaner batch: error: {message}", file=sys.stderr)
    return BatchOutcome(EXIT_USAGE, message)
