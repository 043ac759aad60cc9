"""Time the ORIGINAL MicrographCleaner (micrograph-cleaner-em 1.0.2) on some micrographs.

Runs with the upstream venv's python (it imports only that package, numpy and pandas)::

    UPSTREAM/bin/python run_original.py --model M.h5 --box-size 200 --output-dir DIR --result R.json \
        WARMUP.mrc MIC.mrc [MIC.mrc ...]

It does what the original's ``cleanOneMic`` does per micrograph, stage by stage: read it
(``loadMic``), predict the mask (``MaskPredictor.predictMask``: 8 rotations, 256x256 tiles),
write the full-size mask to ``DIR/<stem>.mrc`` (``writeMic``) and score the particle coordinates
in ``<stem>_particles.npy`` (``filterCoords`` with cleanMics' default thresholds). The model is
loaded once (timed as "load") and WARMUP.mrc is cleaned once first, untimed.

predictMask is split by wrapping what it calls: "preprocess" (``preprocessMic``), "network"
(``model.predict``) and "stitch" (the rest: rotations, tiling, stitching, the resize to full size).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEEP_THRESHOLD = 0.2  # cleanMics' defaults (--deepThr, --sizeThr)
SIZE_THRESHOLD = 0.8
INNER_STAGES: dict[str, float] = {}  # seconds spent in the wrapped parts of predictMask


def timed(function, stage: str):
    """``function``, adding the seconds spent in each of its calls to ``INNER_STAGES[stage]``."""
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            INNER_STAGES[stage] = INNER_STAGES.get(stage, 0.0) + time.perf_counter() - started
    return wrapper


def instrument(predictor) -> None:
    """Wrap the preprocessing and the network calls inside ``predictor.predictMask`` with timers."""
    from micrograph_cleaner_em import predictMask

    predictMask.preprocessMic = timed(predictMask.preprocessMic, "preprocess")
    predictor.model.predict = timed(predictor.model.predict, "network")


def clean(predictor, micrograph: Path, output_dir: Path) -> dict:
    """Clean one micrograph the way cleanOneMic does; wall time and per-stage timings."""
    import pandas as pd
    from micrograph_cleaner_em.filesManager import loadMic, writeMic
    from micrograph_cleaner_em.filterCoords import filterCoords

    timings = {}
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the original prints a lot
            data, sampling_rate = loadMic(str(micrograph))
            timings["read"] = time.perf_counter() - started
            mark = time.perf_counter()
            INNER_STAGES.clear()
            mask = predictor.predictMask(data)
            predict = time.perf_counter() - mark
            timings.update(INNER_STAGES)
            timings["stitch"] = predict - sum(INNER_STAGES.values())
            mark = time.perf_counter()
            mask_path = output_dir / f"{micrograph.stem}.mrc"
            writeMic(str(mask_path), mask, sampling_rate=sampling_rate)
            timings["write"] = time.perf_counter() - mark
            mark = time.perf_counter()
            coordinates = micrograph.with_name(f"{micrograph.stem}_particles.npy")
            if coordinates.is_file():
                xy = np.load(coordinates)
                filterCoords(pd.DataFrame({"xcoor": xy[:, 0], "ycoor": xy[:, 1]}), mask,
                             DEEP_THRESHOLD, SIZE_THRESHOLD)
            timings["score"] = time.perf_counter() - mark
    except Exception as error:  # the original raises bare Exceptions, e.g. for small micrographs
        return {"micrograph": str(micrograph), "error": f"{type(error).__name__}: {error}",
                "wall": time.perf_counter() - started}
    return {"micrograph": str(micrograph), "error": None, "wall": time.perf_counter() - started,
            "timings": timings, "mask": str(mask_path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warmup", type=Path)
    parser.add_argument("micrographs", type=Path, nargs="+")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--box-size", type=float, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()

    from micrograph_cleaner_em.predictMask import MaskPredictor

    (args.output_dir / "warmup").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        predictor = MaskPredictor(args.box_size, str(args.model), gpus=None)  # gpus=None: CPU, as `-g -1`
    load = time.perf_counter() - started
    instrument(predictor)
    warmup = clean(predictor, args.warmup, args.output_dir / "warmup")
    runs = [clean(predictor, micrograph, args.output_dir) for micrograph in args.micrographs]
    report = {"tool": "original", "load": load, "warmup": warmup["wall"], "warmup_error": warmup["error"],
              "runs": runs, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.result.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
