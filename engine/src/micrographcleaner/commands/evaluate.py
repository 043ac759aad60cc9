"""``micrographcleaner evaluate``: a model's masks and decisions against ground truth."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import AUGMENTATIONS, DEFAULT_THRESHOLD, EXIT_OK
from ..options import UsageError

NAME = "evaluate"
HELP = "compare a model's masks and decisions with ground truth"
DESCRIPTION = ("Predicts the micrographs of a folder that have ground truth (as 'simulate' writes it, or "
               "labelled real micrographs) and prints how the masks and the particle decisions agree with it.")
EXAMPLE = "micrographcleaner evaluate testset --report report.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="micrographs with <stem>_labels.mrc or <stem>_mask.mrc|.tif, "
                        "and optionally <stem>_particles.star (as written by 'simulate')")
    parser.add_argument("--model", help="model to evaluate (default: the bundled model)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"goodness threshold for the particle figures (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--box-size", type=float, help="particle box when there is no <stem>.json")
    parser.add_argument("--tta", choices=AUGMENTATIONS, default="none")
    parser.add_argument("--no-hole-geometry", dest="hole_geometry", action="store_false",
                        help="the network's badness as it is, with no hole edge fitted (as predict's flag)")
    parser.add_argument("--single-view", dest="companion", action="store_false",
                        help="the working scale's view alone, without the companion scale's (to measure what it adds)")
    parser.add_argument("--report", type=Path, help="write every figure, per micrograph too, as JSON")
    parser.add_argument("--record", metavar="NAME", help="also store the summary in the model's card under NAME")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from tqdm import tqdm

    from ..evaluation import evaluate_folder, report_text, to_json
    from ..images import write_json
    from ..model_files import ModelFileError, load_model, record_metrics
    from ..prediction import Predictor

    try:
        model, card = load_model(args.model)
        predictor = Predictor(model, card, args.tta, companion=args.companion)
        results, summary = evaluate_folder(args.folder, predictor, args.threshold, args.box_size,
                                           progress=partial(tqdm, desc="evaluating", unit="mic", disable=args.quiet),
                                           hole_geometry=args.hole_geometry)
    except (ModelFileError, FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    print(f"{card.name} on {args.folder}:\n{report_text(summary)}")
    if args.report:
        write_json(args.report, to_json(results, summary))
    if args.record:
        record_metrics(args.model, args.record, summary)
    return EXIT_OK
