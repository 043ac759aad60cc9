"""``cleanMics``: the original MicrographCleaner's command line, so existing scripts keep working.

Same flags and outputs: full-size masks ``<predictedMaskDir>/<mic>.mrc`` (reused when present),
surviving coordinates in ``<outputCoordsDir>/<file>`` with a ``goodRegionScore`` column,
``--deepThr`` as a badness threshold and ``--sizeThr`` as the failed-prediction guard.
What changes: scores cover the particle's box instead of a fixed 16x16 px window; rejected
coordinates are kept in ``<outputCoordsDir>/rejected/`` instead of being lost (those of a
micrograph that failed too); one unreadable coordinate file fails alone; output coordinates keep
the input file's values (``-s`` only rescales them for scoring); ``.csv`` coordinates are read and
any other file in the coordinate folder is named as skipped; nothing is downloaded. Failures, exit
statuses and the closing summary line are those of ``micrographcleaner``.
"""
from __future__ import annotations

import argparse
import glob
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Sequence

import numpy as np

from . import __version__
from .cleaner import coordinate_counts
from .cli import HelpFormatter, Parser, example, run_command
from .contract import ACCEPTED, GOODNESS_COLUMN
from .devices import DeviceError, check_gpus
from .images import write_json
from .coordinates import COORDINATE_SUFFIXES
from .folder_lock import holding_output_dir
from .jobs import (CoordinatePlan, check_output_dir, expand_micrographs, list_coordinate_files,
                   micrograph_output_paths, orphan_scores, plan_coordinates, scored_paths, unique_by_name,
                   write_scored_coordinates)
from .options import CleaningOptions, Job, OptionError, UsageError, check_number
from .reporting import SCORED_ONLY, Tally, report, summary_line, warn
from .runner import ModelChoice, run_jobs

def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} not in range [0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cleanMics", formatter_class=HelpFormatter,
                    description="Compute goodness scores for picked coordinates and rule out bad ones "
                                "(MicrographCleaner-compatible). Without --deepThr every readable coordinate "
                                "is kept, scored only; rejected coordinates go to <outputCoordsDir>/rejected/.",
                    epilog=example("cleanMics -i Micrographs/*.mrc -c Picks/ -o Cleaned/ -b 200 --deepThr 0.2 -g -1"))
    parser.add_argument("--version", action="version", version=f"%(prog)s (micrographcleaner {__version__})")
    parser.add_argument("-i", "--inputMicsPath", nargs="+", required=True,
                        help="micrographs (.mrc/.tif), wildcards, a folder or a .txt list")
    parser.add_argument("-c", "--inputCoordsDir", help="folder of input coordinates (.pos, .star, .box, .txt, .tab, "
                        ".csv)")
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
    parser.add_argument("-g", "--gpus", help="GPU ids, 'all', or a negative number for the CPU (default: GPU 0, "
                        "the CPU when there is no GPU)")
    parser.add_argument("--download", nargs="*", help="not needed: the model ships with the package")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")
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
    return run_command("cleanMics", _clean, args, argv is None)


def _clean(args: argparse.Namespace) -> int:
    try:
        if args.gpus is not None:  # the default, GPU 0, falls back on the CPU as the original's did
            check_gpus(args.gpus)
    except DeviceError as error:
        raise UsageError(str(error)) from None
    patterns = [sorted(glob.glob(item)) if glob.has_magic(item) else [item] for item in args.inputMicsPath]
    micrographs = unique_by_name(expand_micrographs(match for matches in patterns for match in matches))
    with tempfile.TemporaryDirectory() as scratch:
        mask_dir = Path(args.predictedMaskDir) if args.predictedMaskDir else Path(scratch)
        options = CleaningOptions(box_size=args.boxSize, output_dir=mask_dir, full_size=True, mask_suffix="",
                                  extra_downsampling=args.preproDownsampleMic)
        try:
            options.check(lambda name: _FLAGS.get(name, name))
            check_number("--downFactorCoords", args.downFactorCoords, 0)
        except OptionError as error:
            raise UsageError(str(error)) from None
        check_output_dir(mask_dir, micrograph_output_paths(mask_dir, [mic.stem for mic in micrographs], ""),
                         micrographs, "--predictedMaskDir")
        plan = _plan(micrographs, args)
        tally, failed = Tally(), list(plan.failed)
        with ExitStack() as held:
            held.enter_context(holding_output_dir(mask_dir, "--predictedMaskDir"))
            if args.inputCoordsDir:
                held.enter_context(holding_output_dir(Path(args.outputCoordsDir), "--outputCoordsDir"))
            for result in run_jobs(plan.jobs, options, ModelChoice(args.deepLearningModel), args.gpus or "0"):
                if result.job.payload is not None:
                    failure = _write_legacy_coordinates(result, args, mask_dir)
                    failed += [failure] if failure else []
                    tally.add_scores(result.scores)  # as decided by deepThr
                tally.add(result)
            for table in plan.orphans:
                scores = orphan_scores(table)
                tally.add_scores(scores)
                failure = write_scored_coordinates(table, scores, Path(args.outputCoordsDir),
                                                   {GOODNESS_COLUMN: scores.goodness})
                failed += [failure] if failure else []
    status = report(tally, failed)
    rule = f"badness threshold deepThr {args.deepThr:g}" if args.deepThr else SCORED_ONLY
    print(summary_line(tally, Path(args.outputCoordsDir or mask_dir), rule))
    return status


_FLAGS = {"box_size": "--boxSize", "extra_downsampling": "--preproDownsampleMic"}


def _plan(micrographs: list[Path], args: argparse.Namespace) -> CoordinatePlan:
    if args.inputCoordsDir is None:
        return CoordinatePlan([Job(path) for path in micrographs])
    folder = Path(args.inputCoordsDir)
    if not folder.is_dir():
        raise UsageError(f"--inputCoordsDir {folder}: not a folder")
    files = unique_by_name(list_coordinate_files([str(folder)]), name=lambda path: path.name)
    warn(f"{path}: not a coordinate file ({', '.join(COORDINATE_SUFFIXES)}); skipped"
         for path in sorted(folder.iterdir())
         if path.is_file() and path not in files and not path.name.startswith("."))
    output_dir = Path(args.outputCoordsDir)
    check_output_dir(output_dir, [out for path in files for out in scored_paths(output_dir, path.name)],
                     micrographs + files, "--outputCoordsDir")
    plan = plan_coordinates(micrographs, files, None, divide_by=args.downFactorCoords)
    if not any(job.payload is not None for job in plan.jobs):
        raise UsageError("there are no matching coordinate-micrograph files")
    warn(plan.warnings)
    return plan


def _write_legacy_coordinates(result, args: argparse.Namespace, mask_dir: Path) -> str | None:
    """Survivors by ``deepThr`` (or all, scored); the original's sizeThr guard sets every score to -1.

    The micrograph's JSON is rewritten with these decisions, so that it agrees with the files.
    """
    scores = result.scores
    goodness = scores.goodness
    readable = np.isfinite(goodness)  # unreadable rows and failed micrographs stay rejected
    deep = args.deepThr is not None and args.deepThr > 0
    if result.ok and deep and result.summary["mean_badness"] > args.sizeThr:
        print(f"WARNING {result.job.micrograph}: prediction ignored (more than sizeThr={args.sizeThr} bad); "
              "every coordinate kept with goodRegionScore -1", file=sys.stderr)
        goodness = np.where(readable, -1.0, goodness)
        scores.accepted = readable
    elif deep:
        scores.accepted = readable & (1.0 - goodness < args.deepThr)
    else:
        scores.accepted = readable
    scores.reason = [ACCEPTED if accepted else "badness >= deepThr" if reason == ACCEPTED else reason
                     for accepted, reason in zip(scores.accepted, scores.reason)]
    if result.ok:
        result.summary["coordinates"] = coordinate_counts(scores)
        write_json(mask_dir / f"{result.job.stem}.json", result.summary)
    return write_scored_coordinates(result.job.payload, scores, Path(args.outputCoordsDir),
                                    {GOODNESS_COLUMN: goodness})
