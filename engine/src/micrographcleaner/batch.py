"""Batch mode: one JSON manifest in, one JSON result out, keyed by the caller's own ids.

This is how the Scipion plugin drives the engine inside its own environment: it writes the
micrographs of a batch (ids, paths, pixel sizes, coordinates in micrograph pixels) to a manifest,
runs ``micrographcleaner batch MANIFEST --result RESULT`` and reads back, per micrograph, the mask,
thumbnail, flagged fractions and, per coordinate id, goodness, distance, decision and reason.

Manifest::

    {"output_dir": "...", "box_size": 200, "model": null, "particle_diameter": null,
     "threshold": 0.8, "min_distance": {"any": 100.0}, "tta": "none", "gpus": "cpu",
     "threads": null, "batch_size": 8, "full_size": false, "thumbnails": true, "class_maps": false,
     "micrographs": [{"id": 7, "path": "...", "pixel_size": 1.1, "key": "mic007",
                      "coordinates": {"id": [1, 2], "x": [10.0, 20.0], "y": [30.0, 40.0]}}]}

The result is written atomically once the whole batch is done; masks written before an
interruption are reused when the same manifest is run again. ``micrographcleaner worker``
(:mod:`.worker`) runs manifests one after another in one process, loading each model once.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from .images import write_json
from .iciness import measure_iciness
from .pipeline import Cleaner, CleaningOptions, Job, OptionError, Result, build_cleaner, check_number, run_on_devices
from .scoring import ScoringRule


class ManifestError(ValueError):
    pass


def _finite_or_none(values) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def read_manifest(path: Path) -> tuple[dict, list[Job]]:
    """The manifest and its jobs, checked so that no two jobs share outputs and no output leaves output_dir."""
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: the manifest is not a JSON object")
    for required in ("output_dir", "box_size", "micrographs"):
        if required not in manifest:
            raise ManifestError(f"{path}: the manifest has no {required!r}")
    jobs = [_job(path, number, entry) for number, entry in enumerate(manifest["micrographs"], start=1)]
    stems: dict[str, int] = {}
    for number, job in enumerate(jobs, start=1):
        first = stems.setdefault(job.stem, number)
        if first != number:
            raise ManifestError(f"{path}: micrographs {first} and {number} share the output name {job.stem!r}; "
                                "give them distinct keys")
    return manifest, jobs


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


def _number(manifest: dict, name: str, default: float | None = None) -> float | None:
    return check_number(name, manifest.get(name, default), -math.inf)


def options_from_manifest(manifest: dict) -> CleaningOptions:
    """The cleaning options of a manifest, every number checked (named as in the manifest)."""
    limits = manifest.get("min_distance") or {}
    if not isinstance(limits, dict):
        raise OptionError(f"min_distance must be an object of class: distance, got {limits!r}")
    rule = ScoringRule(_number(manifest, "threshold"), {name: _number(limits, name) for name in limits})
    options = CleaningOptions(box_size=_number(manifest, "box_size"), output_dir=Path(manifest["output_dir"]),
                              particle_diameter=_number(manifest, "particle_diameter"), rule=rule,
                              full_size=bool(manifest.get("full_size", False)),
                              thumbnails=bool(manifest.get("thumbnails", False)),
                              write_masks=bool(manifest.get("save_masks", True)),
                              class_maps=bool(manifest.get("class_maps", False)),
                              extra_downsampling=_number(manifest, "extra_downsampling", 1.0))
    options.check(lambda name: name if name != "min_distance" else "min_distance of")
    check_number("threads", manifest.get("threads"), 0)
    check_number("batch_size", manifest.get("batch_size"), 0)
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


def _cached_cleaner(predictors: dict, gpus: list[str] | None, manifest: dict, options: CleaningOptions) -> Cleaner:
    """A cleaner whose model is loaded once per process (the worker's), reporting iciness too; the
    process is pinned to the device of the first manifest it runs."""
    key = (manifest.get("model"), manifest.get("tta", "none"), int(manifest.get("batch_size", 8)))
    if key not in predictors:
        if not predictors:
            from .devices import configure

            configure(gpus[0] if gpus else None, manifest.get("threads"))
        predictors[key] = build_cleaner(key[0], options, key[1], key[2]).predictor
    return Cleaner(predictors[key], options, measures={"iciness": measure_iciness})


def run_manifest(manifest_path: Path, result_path: Path, quiet: bool = False, predictors: dict | None = None) -> int:
    """Runs one manifest; on one device, models already in ``predictors`` (a cache kept by the
    caller) are reused and each micrograph's iciness is reported; on several, one process per GPU."""
    from tqdm import tqdm

    from .cli import UsageError, check_output_dir, output_paths
    from .devices import DeviceError, parse_gpus
    from .model_files import ModelFileError

    try:
        manifest, jobs = read_manifest(manifest_path)
        options = options_from_manifest(manifest)
        gpus = parse_gpus(manifest.get("gpus", "all"))
        outputs = [out for job in jobs for out in output_paths(options.output_dir, job.stem)]
        check_output_dir(options.output_dir, outputs, [job.micrograph for job in jobs], "output_dir")
        if len(gpus or []) <= 1:
            results = _cached_cleaner({} if predictors is None else predictors, gpus, manifest, options).run(jobs)
        else:
            results = run_on_devices(jobs, gpus, manifest.get("threads"), manifest.get("model"), options,
                                     manifest.get("tta", "none"), int(manifest.get("batch_size", 8)))
        entries = [result_entry(result, options.output_dir)
                   for result in tqdm(results, total=len(jobs), unit="mic", disable=quiet, file=sys.stderr)]
        models = [entry["summary"]["model"] for entry in entries if entry["ok"]]
        write_json(result_path, {"model": models[0] if models else None, "micrographs": entries})
    except ManifestError as error:
        return _usage(str(error))
    except (ModelFileError, DeviceError, OptionError, UsageError, KeyError, TypeError, ValueError) as error:
        return _usage(f"{manifest_path}: {error}")
    except OSError as error:
        return _usage(f"cannot write {error.filename} ({error.strerror})")
    failed = [entry for entry in entries if not entry["ok"]]
    for entry in failed:
        print(f"FAILED {entry['error']}", file=sys.stderr)
    return 3 if failed else 0


def _usage(message: str) -> int:
    print(f"micrographcleaner batch: error: {message}", file=sys.stderr)
    return 2
