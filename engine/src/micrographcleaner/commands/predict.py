"""``micrographcleaner predict``: a mask and a summary per micrograph."""
from __future__ import annotations

import argparse

from ..folder_lock import holding_output_dir
from ..jobs import check_output_dir, expand_micrographs, micrograph_output_paths, unique_by_name
from ..options import Job
from ..reporting import Tally, report, summary_line
from ..runner import run_jobs
from ..scoring import ScoringRule
from .common import add_micrograph_arguments, add_model_arguments, cleaning_options, model_choice

NAME = "predict"
HELP = "write <stem>_mask.mrc and <stem>.json per micrograph"
DESCRIPTION = ("Predicts where each micrograph is bad (carbon, contamination, crystalline ice, aggregates) and "
               "writes, per micrograph, the mask <stem>_mask.mrc (badness 0..1 at the working scale), the class "
               "map <stem>_classes.mrc and the summary <stem>.json into the output folder. A mask already there "
               "from the same model, scale and pixels is reused.")
EXAMPLE = "micrographcleaner predict Micrographs/*.mrc --box-size 200 --output-dir Masks/ --thumbnails"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_micrograph_arguments(parser)
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    options = cleaning_options(args, ScoringRule())
    micrographs = unique_by_name(expand_micrographs(args.micrographs))
    check_output_dir(args.output_dir, micrograph_output_paths(args.output_dir, [mic.stem for mic in micrographs]),
                     micrographs, "--output-dir")
    jobs = [Job(path, pixel_size=args.pixel_size) for path in micrographs]
    tally = Tally()
    with holding_output_dir(args.output_dir, "--output-dir"):
        for result in run_jobs(jobs, options, model_choice(args), args.gpus, args.threads, args.quiet):
            tally.add(result)
    status = report(tally)
    if not args.quiet:
        print(summary_line(tally, args.output_dir))
    return status
