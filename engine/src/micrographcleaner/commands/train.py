"""``micrographcleaner train``: a model from simulated scenes and/or labelled micrographs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import EXIT_OK
from ..options import UsageError
from ..recipes import FINE_TUNING, FROZEN_PARTS, NEW_NETWORK, defaults_text

NAME = "train"
HELP = "train a model on simulated scenes and/or labelled micrographs"
DESCRIPTION = ("Trains a new network, or fine-tunes one (--initial-model), on simulated scenes drawn on the fly "
               "and/or labelled real micrographs, and writes DIR/model.keras with its card DIR/model.json. "
               "A checkpoint after every epoch lets --resume continue an interrupted run. With --minutes the run "
               "stops at its budget; with --held-out micrographs every epoch is judged on them, the model is "
               "calibrated on them and, when fine-tuning, kept only if it beats its starting model there.")
EXAMPLE = ("micrographcleaner train my_model --initial-model bundled --labelled corrections.json "
           "--held-out held_out.json --minutes 20")
UNTIL_THE_BUDGET = 100_000
"""Epochs of a run with a time budget and no --epochs: as many as the budget allows."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", type=Path, metavar="DIR",
                        help="gets model.keras + model.json, checkpoint, training_log.csv and training_curves.png")
    parser.add_argument("--filters", type=int, nargs="+", default=[16, 32, 64, 128, 192],
                        help="U-Net widths per level (default 16 32 64 128 192; the paper's: 32 64 128 256 512)")
    parser.add_argument("--global-context", action="store_true",
                        help="modulate the bottleneck by whole-image statistics (the bundled model has it); "
                             "with --initial-model, adds it to a model without it")
    parser.add_argument("--epochs", type=int, help="default 30; with --minutes, as many as fit in the budget")
    parser.add_argument("--minutes", type=float, help="time budget: stop cleanly when it is spent (checkpoint kept; "
                        "--resume continues with what is left); the learning rate decays over it")
    parser.add_argument("--steps-per-epoch", type=int, help=defaults_text("steps_per_epoch"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tile", type=int, default=256, help="training tile side in working pixels")
    parser.add_argument("--learning-rate", type=float, help=defaults_text("learning_rate"))
    parser.add_argument("--labelled", type=Path, nargs="+", default=[], metavar="SOURCE",
                        help="labelled real micrographs: label-source JSON files (images, labels, legend, box "
                             "size, held-out patterns, share and weight: see the docs' fine-tuning page) or plain "
                             "folders of <stem>.<mrc|tif|png|jpg> with <stem>_mask.<mrc|tif|png|jpg> (1/white = bad)")
    parser.add_argument("--held-out", type=Path, nargs="+", default=[], metavar="SOURCE",
                        help="labelled micrographs never trained on (label sources, as --labelled): figures every "
                             "epoch, the model's calibration and, when fine-tuning, whether it beats its start")
    parser.add_argument("--labelled-box-size", type=float, metavar="PX",
                        help="particle box size of the plain labelled folders (sets their working scale)")
    parser.add_argument("--labelled-scale", type=float, nargs=2, default=[0.5, 2.0], metavar=("LOW", "HIGH"),
                        help="labelled samples take a box from LOW to HIGH times the right one (default 0.5 2)")
    parser.add_argument("--working-side", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="keep the working image's longer side within LOW..HIGH px whatever the box, in "
                             "training and, through the model's card, in prediction (default: the initial "
                             "model's, if any; the bundled model: 320 640)")
    parser.add_argument("--simulated-fraction", type=float,
                        help="with --labelled: share of samples drawn from the simulator ("
                             + defaults_text("simulated_fraction") + ")")
    parser.add_argument("--initial-model", type=Path, help="fine-tune this model instead of a new network "
                        "('bundled': the model shipped with the engine)")
    parser.add_argument("--freeze", choices=FROZEN_PARTS,
                        help="with --initial-model: layers left as they were (norm: batch normalisation; encoder: "
                             "that and the down blocks; " + defaults_text("frozen") + ")")
    parser.add_argument("--boundary-ignore", type=float, metavar="PX",
                        help="labelled pixels within PX working pixels of a class boundary do not count ("
                             + defaults_text("boundary_ignore") + ")")
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
    from ..model_files import bundled_model_path

    if args.initial_model == Path("bundled"):
        args.initial_model = bundled_model_path()
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be positive, got {args.minutes:g}")
    epochs = args.epochs or (UNTIL_THE_BUDGET if args.minutes else 30)
    folders = [path for path in args.labelled + args.held_out if path.suffix.lower() != ".json"]
    if folders and not args.labelled_box_size:
        raise UsageError("plain --labelled folders need --labelled-box-size (the particle box of those micrographs)")
    if not 0 < args.labelled_scale[0] <= args.labelled_scale[1]:
        raise UsageError("--labelled-scale needs 0 < LOW <= HIGH")
    if args.working_side and not 0 < args.working_side[0] <= args.working_side[1]:
        raise UsageError("--working-side needs 0 < LOW <= HIGH")
    paths = ([("--labelled", path) for path in args.labelled] + [("--held-out", path) for path in args.held_out]
             + [("--initial-model", args.initial_model)])
    for flag, path in paths:
        if path is not None and not path.exists():  # before TensorFlow's start-up, not after it
            raise UsageError(f"{flag} {path}: not found")
    started = time.perf_counter()
    configure(",".join(gpus) if gpus else None)  # training: every GPU asked for, in this one process
    from ..labels import LabelError
    from ..model_files import ModelFileError, load_card
    from ..training import LOG, TrainingConfig, epoch_text, train, training_log

    recipe = FINE_TUNING if args.initial_model else NEW_NETWORK  # what a flag left out means
    given = {"learning_rate": args.learning_rate, "simulated_fraction": args.simulated_fraction,
             "steps_per_epoch": args.steps_per_epoch, "frozen": args.freeze, "boundary_ignore": args.boundary_ignore}
    chosen = {key: recipe[key] if value is None else value for key, value in given.items()}
    config = TrainingConfig(
        output_dir=args.output_dir, filters=tuple(args.filters), global_context=args.global_context,
        tile=args.tile, batch_size=args.batch_size, steps_per_epoch=chosen["steps_per_epoch"], epochs=epochs,
        minutes=args.minutes, learning_rate=chosen["learning_rate"], held_out=args.held_out,
        simulated_fraction=chosen["simulated_fraction"] if args.labelled else 1.0, labelled=args.labelled,
        labelled_box_size=args.labelled_box_size, labelled_scale=tuple(args.labelled_scale),
        working_side=tuple(args.working_side) if args.working_side else None,
        initial_model=args.initial_model, frozen=chosen["frozen"], boundary_ignore=chosen["boundary_ignore"],
        command="micrographcleaner " + " ".join(args.argv))
    try:
        model = train(config, resume=args.resume, gpus=gpus, quiet=args.quiet)
    except (LabelError, ModelFileError) as error:
        raise UsageError(str(error)) from None
    if not args.quiet:
        log = training_log(args.output_dir / LOG)
        print(f"{epoch_text(len(log), log[-1])}; " if log else "", end="")
        print(f"model written to {model} ({time.perf_counter() - started:.0f} s)")
        print(held_out_summary(load_card(model).fine_tuning), end="")
    return EXIT_OK


def held_out_summary(fine_tuning: dict) -> str:
    """What the held-out micrographs said of the starting and the trained model, and which was kept."""
    if not fine_tuning:
        return ""
    from ..held_out import KEPT_STARTING, HeldOutFigures

    lines = [f"held out: {', '.join(fine_tuning['held_out'])}"]
    for when in ("before", "after"):
        if when in fine_tuning:
            lines.append(f"{when:<6}  {HeldOutFigures(**fine_tuning[when]).text()}")
    if fine_tuning.get("kept") == KEPT_STARTING:
        lines.append("kept the starting model: fine-tuning did not do better on the held-out micrographs")
    elif "kept" in fine_tuning:
        lines.append("kept the fine-tuned model: it does better on the held-out micrographs")
    return "\n".join(lines) + "\n"
