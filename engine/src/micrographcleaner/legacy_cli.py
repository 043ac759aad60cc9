"""``cleanMics``: the original MicrographCleaner's command line, so existing scripts keep working.

Same flags and outputs: full-size masks ``<predictedMaskDir>/<mic>.mrc`` (reused when present),
surviving coordinates in ``<outputCoordsDir>/<file>`` with a ``goodRegionScore`` column,
``--deepThr`` as a badness threshold and ``--sizeThr`` as the failed-prediction guard.
What changes: scores cover the particle's box instead of a fixed 16x16 px window; rejected
coordinates are kept in ``<outputCoordsDir>/rejected/`` instead of being lost; output coordinates
keep the input file's values (``-s`` only rescales them for scoring); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import glob
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .cli import EXIT_USAGE, _report, expand_micrographs, run_jobs, write_scored_coordinates
from .coordinates import CoordinateFileError, match_coordinate_files, read_coordinates
from .pipeline import CleaningOptions, Job

COORDINATE_SUFFIXES = (".pos", ".star", ".txt", ".tab", ".box")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} not in range [0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cleanMics", description="Compute goodness scores for picked "
                                     "coordinates and rule out bad ones (MicrographCleaner-compatible).")
    parser.add_argument("-i", "--inputMicsPath", nargs="+", required=True,
                        help="micrographs (.mrc/.tif), wildcards, a folder or a .txt list")
    parser.add_argument("-c", "--inputCoordsDir", help="folder of input coordinates (.pos, .star, .txt, .tab)")
    parser.add_argument("-o", "--outputCoordsDir", help="folder for the output coordinates")
    parser.add_argument("-d", "--deepLearningModel", help="model file (default: the bundled model)")
    parser.add_argument("-b", "--boxSize", type=int, required=True, help="particle box size in pixels")
    parser.add_argument("-s", "--downFactorCoords", type=float, default=1.0,
                        help="coordinates are divided by this to reach the micrographs' scale")
    parser.add_argument("--deepThr", type=_fraction, help="rule out coordinates whose badness >= deepThr")
    parser.add_argument("--sizeThr", type=_fraction, default=0.8,
                        help="ignore the prediction when this fraction of the micrograph is bad (default 0.8)")
    parser.add_argument("-p", "--predictedMaskDir", help="folder for the masks; existing masks are reused")
    parser.add_argument("--preproDownsampleMic", type=float, default=1.0, help="extra downsampling")
    parser.add_argument("-g", "--gpus", default="0", help="GPU ids, 'all', or a negative number for the CPU")
    parser.add_argument("--download", nargs="*", help="not needed: the model ships with the package")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.download is not None:
        print("cleanMics: nothing to download, the model ships with micrographcleaner", file=sys.stderr)
        return 0
    if args.inputCoordsDir is None and args.predictedMaskDir is None:
        parser.error("either inputCoordsDir or predictedMaskDir (or both) must be provided")
    if (args.inputCoordsDir is None) != (args.outputCoordsDir is None):
        parser.error("inputCoordsDir and outputCoordsDir go together")

    micrographs = expand_micrographs(match for item in args.inputMicsPath
                                     for match in (sorted(glob.glob(item)) if glob.has_magic(item) else [item]))
    with tempfile.TemporaryDirectory() as scratch:
        mask_dir = Path(args.predictedMaskDir) if args.predictedMaskDir else Path(scratch)
        options = CleaningOptions(box_size=args.boxSize, output_dir=mask_dir, full_size=True, mask_suffix="",
                                  extra_downsampling=args.preproDownsampleMic)
        jobs = _jobs(micrographs, args)
        if jobs is None:
            return EXIT_USAGE
        settings = argparse.Namespace(model=args.deepLearningModel, gpus=args.gpus, threads=None, tta="none",
                                      batch_size=8, quiet=False)
        results = []
        for result in run_jobs(jobs, settings, options):
            if result.ok and result.job.payload is not None:
                _write_legacy_coordinates(result, args)
            results.append(result)
    return _report(results)


def _jobs(micrographs: list[Path], args: argparse.Namespace) -> list[Job] | None:
    if args.inputCoordsDir is None:
        return [Job(path) for path in micrographs]
    files = sorted(p for p in Path(args.inputCoordsDir).iterdir() if p.suffix in COORDINATE_SUFFIXES)
    try:
        matches = match_coordinate_files(micrographs, files)
        jobs = []
        for path in micrographs:
            table = read_coordinates(matches[path]) if path in matches else None
            xy = None if table is None else table.xy / args.downFactorCoords
            jobs.append(Job(path, xy=xy, payload=table))
    except CoordinateFileError as error:
        print(f"cleanMics: error: {error}", file=sys.stderr)
        return None
    if not matches:
        print("cleanMics: error: there are no matching coordinate-micrograph files", file=sys.stderr)
        return None
    return jobs


def _write_legacy_coordinates(result, args: argparse.Namespace) -> None:
    """Survivors by ``deepThr`` (or all, scored); the original's sizeThr guard sets every score to -1."""
    scores = result.scores
    badness = 1.0 - scores.goodness
    goodness = scores.goodness
    if args.deepThr is not None and args.deepThr > 0 and result.summary["mean_badness"] > args.sizeThr:
        print(f"WARNING {result.job.micrograph}: prediction ignored (more than sizeThr={args.sizeThr} bad); "
              "every coordinate kept with goodRegionScore -1", file=sys.stderr)
        goodness = np.full(len(goodness), -1.0)
        scores.accepted = np.ones(len(goodness), dtype=bool)
    elif args.deepThr is not None and args.deepThr > 0:
        scores.accepted = badness < args.deepThr
    else:
        scores.accepted = np.ones(len(goodness), dtype=bool)
    output_dir = Path(args.outputCoordsDir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_scored_coordinates(result.job.payload, scores, output_dir, {"goodRegionScore": goodness})
