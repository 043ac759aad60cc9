"""Time this engine's predict+score path on some micrographs, in a process of its own.

Usage (benchmark_speed.py runs it; one process per measurement, so its peak memory is its own)::

    python run_ours.py --model M.keras --tta none --box-size 200 --output-dir DIR --result R.json \
        WARMUP.mrc MIC.mrc [MIC.mrc ...]

Importing the engine and TensorFlow is timed as "import", the model is loaded once (timed as
"load"), WARMUP.mrc is cleaned once (timed as "warmup": graph tracing and first-call allocations):
the three are the start-up. Then every MIC is cleaned and timed per stage. Coordinates
are read from ``<stem>_particles.npy`` beside each micrograph, when there is one, and scored.
The JSON result also holds the peak resident memory of this process (model load included).
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np


def job_for(micrograph: Path):
    """A Job for ``micrograph`` with its particle coordinates when they are on disk."""
    from micrographcleaner.options import Job

    coordinates = micrograph.with_name(f"{micrograph.stem}_particles.npy")
    return Job(micrograph, xy=np.load(coordinates) if coordinates.is_file() else None)


def clean(cleaner, micrograph: Path) -> dict:
    """Clean one micrograph; its wall time, per-stage timings and where its mask went."""
    started = time.perf_counter()
    result = cleaner.process(job_for(micrograph))
    wall = time.perf_counter() - started
    if not result.ok:
        return {"micrograph": str(micrograph), "error": result.error, "wall": wall}
    if result.summary["mask_reused"]:
        raise RuntimeError(f"{micrograph}: a mask from an earlier run was reused; use a fresh output dir")
    return {"micrograph": str(micrograph), "error": None, "wall": wall, "timings": result.summary["timings"],
            "working_shape": result.summary["working_shape"],
            "mask": str(cleaner.paths(result.job)["mask"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warmup", type=Path)
    parser.add_argument("micrographs", type=Path, nargs="+")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--tta", default="none")
    parser.add_argument("--box-size", type=float, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()

    started = time.perf_counter()
    from micrographcleaner.cleaner import Cleaner
    from micrographcleaner.devices import configure
    from micrographcleaner.options import CleaningOptions
    from micrographcleaner.runner import ModelChoice, load_predictor

    configure(None)  # the CPU with all its cores, as `--gpus cpu` does (imports TensorFlow)
    imported = time.perf_counter() - started
    started = time.perf_counter()
    cleaner = Cleaner(load_predictor(ModelChoice(args.model, args.tta)),
                      CleaningOptions(box_size=args.box_size, output_dir=args.output_dir))
    load = time.perf_counter() - started
    # the same loaded model, writing the warm-up's mask elsewhere
    warmup = clean(Cleaner(cleaner.predictor, CleaningOptions(args.box_size, args.output_dir / "warmup")),
                   args.warmup)
    runs = [clean(cleaner, micrograph) for micrograph in args.micrographs]
    report = {"tool": "ours", "tta": args.tta, "import": imported, "load": load, "warmup": warmup["wall"],
              "warmup_error": warmup["error"], "runs": runs,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.result.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
