"""Batch mode: one JSON manifest in, one JSON result out, keyed by the caller's own ids.

This is how the Scipion plugin drives the engine inside its own environment: it writes the
micrographs of a batch (ids, paths, pixel sizes, coordinates in micrograph pixels) to a manifest,
runs ``micrographcleaner batch MANIFEST --result RESULT`` and reads back, per micrograph, the mask,
thumbnail, flagged fractions and, per coordinate id, goodness, distance, decision and reason.

Manifest::

    {"output_dir": "...", "box_size": 200, "model": null, "particle_diameter": null,
     "threshold": 0.8, "min_distance": {"any": 100.0}, "tta": "none", "gpus": "cpu",
     "threads": null, "batch_size": 8, "full_size": false, "thumbnails": true,
     "micrographs": [{"id": 7, "path": "...", "pixel_size": 1.1, "key": "mic007",
                      "coordinates": {"id": [1, 2], "x": [10.0, 20.0], "y": [30.0, 40.0]}}]}

The result is written atomically once the whole batch is done; masks written before an
interruption are reused when the same manifest is run again.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .images import write_json
from .pipeline import CleaningOptions, Job, Result, run_on_devices
from .scoring import ScoringRule


class ManifestError(ValueError):
    pass


def _finite_or_none(values) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def read_manifest(path: Path) -> tuple[dict, list[Job]]:
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error})") from None
    for required in ("output_dir", "box_size", "micrographs"):
        if required not in manifest:
            raise ManifestError(f"{path}: the manifest has no {required!r}")
    jobs = []
    for entry in manifest["micrographs"]:
        coordinates = entry.get("coordinates")
        xy = ids = None
        if coordinates is not None:
            xy = np.stack([np.asarray(coordinates["x"], float), np.asarray(coordinates["y"], float)], axis=1)
            ids = list(coordinates.get("id", range(len(xy))))
        jobs.append(Job(Path(entry["path"]), xy=xy, pixel_size=entry.get("pixel_size"),
                        key=entry.get("key"), payload={"id": entry.get("id"), "coordinate_ids": ids}))
    return manifest, jobs


def options_from_manifest(manifest: dict) -> CleaningOptions:
    rule = ScoringRule(manifest.get("threshold"), dict(manifest.get("min_distance") or {}))
    return CleaningOptions(box_size=float(manifest["box_size"]), output_dir=Path(manifest["output_dir"]),
                           particle_diameter=manifest.get("particle_diameter"), rule=rule,
                           full_size=bool(manifest.get("full_size", False)),
                           thumbnails=bool(manifest.get("thumbnails", False)),
                           write_masks=bool(manifest.get("save_masks", True)),
                           extra_downsampling=float(manifest.get("extra_downsampling", 1.0)))


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


def run_manifest(manifest_path: Path, result_path: Path, quiet: bool = False) -> int:
    from tqdm import tqdm

    from .devices import parse_gpus
    from .model_files import ModelFileError

    try:
        manifest, jobs = read_manifest(manifest_path)
        options = options_from_manifest(manifest)
        results = run_on_devices(jobs, parse_gpus(manifest.get("gpus", "all")), manifest.get("threads"),
                                 manifest.get("model"), options, manifest.get("tta", "none"),
                                 int(manifest.get("batch_size", 8)))
        entries = [result_entry(result, options.output_dir)
                   for result in tqdm(results, total=len(jobs), unit="mic", disable=quiet, file=sys.stderr)]
    except (ManifestError, ModelFileError, KeyError, TypeError, ValueError) as error:
        print(f"micrographcleaner batch: error: {error}", file=sys.stderr)
        return 2
    models = [entry["summary"]["model"] for entry in entries if entry["ok"]]
    write_json(result_path, {"model": models[0] if models else None, "micrographs": entries})
    failed = [entry for entry in entries if not entry["ok"]]
    for entry in failed:
        print(f"FAILED {entry['error']}", file=sys.stderr)
    return 3 if failed else 0
