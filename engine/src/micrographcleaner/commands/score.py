"""``micrographcleaner score``: coordinate files scored, split into accepted and rejected rows."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import DEFAULT_THRESHOLD
from ..folder_lock import holding_output_dir
from ..jobs import (check_output_dir, expand_micrographs, list_coordinate_files,
                    micrograph_output_paths, orphan_scores, plan_coordinates, scored_paths, unique_by_name,
                    write_scored_coordinates)
from ..options import UsageError
from ..reporting import Tally, report, rule_text, summary_line, warn
from ..runner import run_jobs
from ..scoring import ScoringRule
from .common import add_micrograph_arguments, add_model_arguments, cleaning_options, model_choice, parse_min_distance

NAME = "score"
HELP = "score coordinate files and split them into accepted and rejected"
DESCRIPTION = ("Scores every coordinate of the coordinate files against its micrograph's mask (predicting the "
               "masks not yet in the output folder) and writes accepted rows to DIR/<file> and rejected rows, "
               "with their reason, to DIR/rejected/<file>, both with the score columns added. A coordinate is "
               f"accepted when its goodness is at least the threshold (default {DEFAULT_THRESHOLD}, as in the "
               "Scipion protocol); '--threshold none' keeps every readable coordinate, scored only.")
EXAMPLE = ("micrographcleaner score Micrographs/*.mrc --coords Picks/ --box-size 200 --output-dir Cleaned/ "
           "--min-distance carbon=300")


def threshold(text: str) -> float | None:
    """``--threshold``: a number (checked with the other options), or ``none`` to score only."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a goodness 0..1 or 'none', got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_micrograph_arguments(parser)
    parser.add_argument("--coords", nargs="+", required=True, metavar="PATH",
                        help="coordinate files or folders (.pos, .star, .box, .txt/.csv)")
    parser.add_argument("--mapping", type=Path, help="two columns per line: coordinate file, micrograph")
    parser.add_argument("--threshold", type=threshold, default=DEFAULT_THRESHOLD, metavar="T|none",
                        help=f"accept goodness >= T (0..1; default {DEFAULT_THRESHOLD}); 'none': accept every "
                             "readable coordinate, scored only")
    parser.add_argument("--min-distance", action="append", metavar="D|CLASS=D",
                        help="also reject coordinates closer than D to bad regions (Angstrom when the pixel "
                             "size is known, else pixels); repeatable, per class")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..coordinates import CoordinateFileError, read_mapping_file

    rule = ScoringRule(args.threshold, parse_min_distance(args.min_distance))
    options = cleaning_options(args, rule)
    micrographs = unique_by_name(expand_micrographs(args.micrographs))
    coordinate_files = unique_by_name(list_coordinate_files(args.coords), name=lambda path: path.name)
    try:
        mapping = read_mapping_file(args.mapping) if args.mapping else None
    except CoordinateFileError as error:
        raise UsageError(str(error)) from None
    outputs = micrograph_output_paths(args.output_dir, [mic.stem for mic in micrographs])
    outputs += [out for path in coordinate_files for out in scored_paths(args.output_dir, path.name)]
    check_output_dir(args.output_dir, outputs, micrographs + coordinate_files, "--output-dir")
    with holding_output_dir(args.output_dir, "--output-dir"):
        plan = plan_coordinates(micrographs, coordinate_files, mapping, args.pixel_size)
        warn(plan.warnings)
        tally, failed = Tally(), list(plan.failed)
        for result in run_jobs(plan.jobs, options, model_choice(args), args.gpus, args.threads, args.quiet):
            if result.job.payload is not None:
                tally.add_scores(result.scores)  # type: ignore[arg-type]
                failure = write_scored_coordinates(result.job.payload, result.scores, args.output_dir)
                failed += [failure] if failure else []
            tally.add(result)
        for table in plan.orphans:
            scores = orphan_scores(table)
            tally.add_scores(scores)
            failure = write_scored_coordinates(table, scores, args.output_dir)
            failed += [failure] if failure else []
    status = report(tally, failed)
    if not args.quiet:
        print(summary_line(tally, args.output_dir, rule_text(rule)))
    return status
