"""``micrographcleaner train``: a model from simulated scenes and/or labelled micrographs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import EXIT_OK
from ..options import UsageError

NAME = "train"
HELP = "train a model on simulated scenes and/or labelled micrographs"
DESCRIPTION = ("Trains a new network, or fine-tunes one (--initial-model), on simulated scenes drawn on the fly "
               "and/or labelled real micrographs, and writes DIR/model.keras with its card DIR/model.json. "
               "A checkpoint after every epoch lets --resume continue an interrupted run.")
EXAMPLE = ("micrographcleaner train my_model --initial-model base.keras --labelled my_source.json --epochs 4 "
           "--learning-rate 1e-4")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", type=Path, metavar="DIR",
                        help="gets model.keras + model.json, checkpoint, training_log.csv and training_curves.png")
    parser.add_argument("--filters", type=int, nargs="+", default=[16, 32, 64, 128, 192],
                        help="U-Net widths per level (default 16 32 64 128 192; the paper's: 32 64 128 256 512)")
    parser.add_argument("--global-context", action="store_true",
                        help="modulate the bottleneck by whole-image statistics (the bundled model has it); "
                             "with --initial-model, adds it to a model without it")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tile", type=int, default=256, help="training tile side in working pixels")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--labelled", type=Path, nargs="+", default=[], metavar="SOURCE",
                        help="labelled real micrographs: label-source JSON files (images, labels, legend, box "
                             "size, held-out patterns, share and weight: see the docs' fine-tuning page) or plain "
                             "folders of <stem>.<mrc|tif|png|jpg> with <stem>_mask.<mrc|tif|png|jpg> (1/white = bad)")
    parser.add_argument("--labelled-box-size", type=float, metavar="PX",
                        help="particle box size of the plain labelled folders (sets their working scale)")
    parser.add_argument("--labelled-scale", type=float, nargs=2, default=[0.5, 2.0], metavar=("LOW", "HIGH"),
                        help="labelled samples take a box from LOW to HIGH times the right one (default 0.5 2)")
    parser.add_argument("--working-side", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="keep the working image's longer side within LOW..HIGH px whatever the box, in "
                             "training and, through the model's card, in prediction (default: the initial "
                             "model's, if any; the bundled model: 320 640)")
    parser.add_argument("--simulated-fraction", type=float, default=0.5,
                        help="with --labelled: share of samples drawn from the simulator (default 0.5)")
    parser.add_argument("--initial-model", type=Path, help="fine-tune this model instead of a new network")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.keras")
    parser.add_argument("--gpus", default="cpu", help="'cpu' (default), GPU ids or 'all'; mixed precision on GPUs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")


def run(args: argparse.Namespace) -> int:
    import time

    from ..devices import DeviceError, check_gpus, configure

    try:
        gpus = check_gpus(args.gpus)
    except DeviceError as error:
        raise UsageError(str(error)) from None
    folders = [path for path in args.labelled if path.suffix.lower() != ".json"]
    if folders and not args.labelled_box_size:
        raise UsageError("plain --labelled folders need --labelled-box-size (the particle box of those micrographs)")
    if not 0 < args.labelled_scale[0] <= args.labelled_scale[1]:
        raise UsageError("--labelled-scale needs 0 < LOW <= HIGH")
    if args.working_side and not 0 < args.working_side[0] <= args.working_side[1]:
        raise UsageError("--working-side needs 0 < LOW <= HIGH")
    for flag, path in [("--labelled", path) for path in args.labelled] + [("--initial-model", args.initial_model)]:
        if path is not None and not path.exists():  # before TensorFlow's start-up, not after it
            raise UsageError(f"{flag} {path}: not found")
    started = time.perf_counter()
    configure(",".join(gpus) if gpus else None)  # training: every GPU asked for, in this one process
    from ..labels import LabelError
    from ..training import LOG, TrainingConfig, epoch_text, train, training_log

    config = TrainingConfig(
        output_dir=args.output_dir, filters=tuple(args.filters), global_context=args.global_context,
        tile=args.tile, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
        learning_rate=args.learning_rate,
        simulated_fraction=args.simulated_fraction if args.labelled else 1.0, labelled=args.labelled,
        labelled_box_size=args.labelled_box_size, labelled_scale=tuple(args.labelled_scale),
        working_side=tuple(args.working_side) if args.working_side else None,
        initial_model=args.initial_model,
        command="micrographcleaner " + " ".join(args.argv))
    try:
        model = train(config, resume=args.resume, gpus=gpus, quiet=args.quiet)
    except LabelError as error:
        raise UsageError(str(error)) from None
    if not args.quiet:
        log = training_log(args.output_dir / LOG)
        figures = f"{epoch_text(len(log), log[-1])}; " if log else ""
        print(f"{figures}model written to {model} ({time.perf_counter() - started:.0f} s)")
    return EXIT_OK
