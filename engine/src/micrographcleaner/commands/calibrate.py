"""``micrographcleaner calibrate``: fit a model's calibration on labelled real micrographs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import EXIT_OK
from ..options import UsageError

NAME = "calibrate"
HELP = "fit a model's calibration on labelled real micrographs, into its card"
DESCRIPTION = ("Predicts the labelled micrographs with the model uncalibrated, at boxes of several multiples of "
               "the right one, fits the logit scale and shift that match the labels best and writes them to the "
               "model's card (<model>.json), so that badness 0.5 means as likely bad as good on such micrographs. "
               "Use micrographs held out from training. Prints the flagged share and the IoU before and after.")
EXAMPLE = "micrographcleaner calibrate my_model/model.keras --labelled my_held_out.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="a .keras model of this engine, with its card")
    parser.add_argument("--labelled", type=Path, nargs="+", required=True, metavar="SOURCE",
                        help="held-out labelled micrographs: label-source JSON files or plain folders, as for train")
    parser.add_argument("--labelled-box-size", type=float, metavar="PX",
                        help="particle box size of the plain labelled folders")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                        help="boxes as multiples of each source's right box (default 0.5 1 2)")


def run(args: argparse.Namespace) -> int:
    for flag, path in [("MODEL", args.model)] + [("--labelled", path) for path in args.labelled]:
        if not path.exists():  # before TensorFlow's start-up, not after it
            raise UsageError(f"{flag} {path}: not found")
    if not all(scale > 0 for scale in args.scales):
        raise UsageError(f"--scales must be positive, got {args.scales}")
    from ..calibrating import calibrate
    from ..labels import LabelError, labelled_sources
    from ..model_files import ModelFileError

    try:
        calibration, before, after = calibrate(args.model, labelled_sources(args.labelled, args.labelled_box_size),
                                               args.scales)
    except (LabelError, ModelFileError, ValueError) as error:
        raise UsageError(str(error)) from None
    for name, figures in (("before", before), ("after", after)):
        print(f"{name:<7} flagged {figures.flagged:.3f} (truth {figures.truth:.3f}), IoU {figures.iou:.3f}, "
              f"mean badness on good pixels {figures.good_badness:.3f}")
    print(f"calibration scale {calibration.scale:.3f} shift {calibration.shift:.3f} written to the card of "
          f"{args.model}")
    return EXIT_OK
