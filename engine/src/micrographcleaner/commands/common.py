"""What ``predict`` and ``score`` share: their micrograph and model options, checked into the
library's :class:`~..options.CleaningOptions` and :class:`~..runner.ModelChoice`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import ANY_CLASS, AUGMENTATIONS
from ..devices import DeviceError, check_gpus
from ..options import CleaningOptions, OptionError, UsageError, check_number
from ..runner import ModelChoice
from ..scoring import ScoringRule


def add_micrograph_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("micrographs", nargs="+", metavar="MIC",
                        help="micrographs (.mrc, .tif), folders of them, or .txt lists")
    parser.add_argument("--box-size", type=float, required=True, metavar="PX", help="particle box size in pixels")
    parser.add_argument("--output-dir", type=Path, required=True, metavar="DIR")
    parser.add_argument("--pixel-size", type=float, help="Angstrom per pixel, when the headers do not say")
    parser.add_argument("--particle-diameter", type=float, metavar="PX",
                        help="diameter of the disc scored around each coordinate (default: the box size)")
    parser.add_argument("--extra-downsampling", type=float, default=1.0,
                        help="downsample more than box/16 (helps with very large carbon areas)")
    parser.add_argument("--hole-diameter", type=float, metavar="UM",
                        help="the grid's hole diameter in um (Quantifoil R1.2/1.3: 1.2, R2/1: 2; needs the pixel "
                        "size): film edges are fitted with circles of that size (default: the size is estimated)")
    parser.add_argument("--no-hole-geometry", dest="hole_geometry", action="store_false",
                        help="leave the network's badness as it is, with no hole edge fitted")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a .keras model of this project, or the original's defaultModel.h5 "
                        "(default: the bundled model)")
    parser.add_argument("--tta", choices=AUGMENTATIONS, default="none",
                        help="test-time augmentation: none, flips (4 passes) or d8 (8 passes)")
    parser.add_argument("--gpus", default="all", help="'cpu', a GPU id, a comma list (one worker per GPU) "
                        "or 'all' (default; the CPU when there is no GPU)")
    parser.add_argument("--threads", type=int, help="CPU threads for the network (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per network call (default 8)")
    parser.add_argument("--full-size", action="store_true", help="write masks at the micrograph's size "
                        "(default: working size, with the header's voxel size covering the same extent)")
    parser.add_argument("--thumbnails", action="store_true", help="also write <stem>.png quality-control pictures")
    parser.add_argument("--class-maps", action="store_true", help="models with classes: also write "
                        "<stem>_class_maps.mrc, one float32 map per class (the label map <stem>_classes.mrc is "
                        "always written)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")


def cleaning_options(args: argparse.Namespace, rule: ScoringRule) -> CleaningOptions:
    """The cleaning options, every number (and the GPUs asked for) checked before any work starts."""
    options = CleaningOptions(box_size=args.box_size, output_dir=args.output_dir,
                              particle_diameter=args.particle_diameter, rule=rule, full_size=args.full_size,
                              thumbnails=args.thumbnails, extra_downsampling=args.extra_downsampling,
                              class_maps=args.class_maps, hole_geometry=args.hole_geometry,
                              hole_diameter=args.hole_diameter)
    try:
        options.check(lambda name: "--" + name.replace("_", "-"))
        check_number("--pixel-size", args.pixel_size, 0)
        check_number("--threads", args.threads, 0)
        check_number("--batch-size", args.batch_size, 0)
        check_gpus(args.gpus)
    except (OptionError, DeviceError) as error:
        raise UsageError(str(error)) from None
    return options


def model_choice(args: argparse.Namespace) -> ModelChoice:
    return ModelChoice(args.model, args.tta, args.batch_size)


def parse_min_distance(values: list[str] | None) -> dict[str, float]:
    """``500`` (any bad class) or ``carbon=500``; repeatable."""
    limits: dict[str, float] = {}
    for value in values or []:
        name, _, number = value.rpartition("=")
        try:
            limits[name or ANY_CLASS] = float(number)
        except ValueError:
            raise UsageError(f"--min-distance expects D or CLASS=D, got {value!r}") from None
    return limits
