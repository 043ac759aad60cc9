"""The ``micrographcleaner`` command: predict, score, batch; simulate, train, evaluate.

Exit status: 0 when every micrograph was processed, 2 for a usage error, 3 when some micrographs
failed (each listed on stderr with its reason; the others still completed).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .images import MICROGRAPH_SUFFIXES
from .pipeline import CleaningOptions, Job, Result
from .prediction import AUGMENTATIONS
from .scoring import ANY_CLASS, ScoringRule

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 3


class UsageError(Exception):
    pass


def expand_micrographs(items: Iterable[str]) -> list[Path]:
    """Files, folders (their .mrc/.tif files) and .txt lists of paths, in the order given."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in MICROGRAPH_SUFFIXES)
        elif path.suffix == ".txt" and path.is_file():
            found += [Path(line.strip()) for line in path.read_text().splitlines()
                      if line.strip() and not line.startswith("#")]
        else:
            found.append(path)  # a missing file is reported as that micrograph's failure
    return found


def parse_min_distance(values: Sequence[str] | None) -> dict[str, float]:
    """``500`` (any bad class) or ``carbon=500``; repeatable."""
    limits: dict[str, float] = {}
    for value in values or []:
        name, _, number = value.rpartition("=")
        try:
            limits[name or ANY_CLASS] = float(number)
        except ValueError:
            raise UsageError(f"--min-distance expects D or CLASS=D, got {value!r}") from None
    return limits


def _add_common(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_micrograph_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("micrographs", nargs="+", metavar="MIC",
                        help="micrographs (.mrc, .tif), folders of them, or .txt lists")
    parser.add_argument("--box-size", type=float, required=True, metavar="PX", help="particle box size in pixels")
    parser.add_argument("--output-dir", type=Path, required=True, metavar="DIR")
    parser.add_argument("--pixel-size", type=float, help="Angstrom per pixel, when the headers do not say")
    parser.add_argument("--particle-diameter", type=float, metavar="PX",
                        help="diameter of the disc scored around each coordinate (default: the box size)")
    parser.add_argument("--extra-downsampling", type=float, default=1.0,
                        help="downsample more than box/16 (helps with very large carbon areas)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="micrographcleaner", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="write <stem>_mask.mrc and <stem>.json per micrograph")
    _add_micrograph_options(predict)
    _add_common(predict)

    score = commands.add_parser("score", help="score coordinate files (predicting masks not yet in DIR)")
    _add_micrograph_options(score)
    score.add_argument("--coords", nargs="+", required=True, metavar="PATH",
                       help="coordinate files or folders (.pos, .star, .box, .txt/.csv)")
    score.add_argument("--mapping", type=Path, help="two columns per line: coordinate file, micrograph")
    score.add_argument("--threshold", type=float, help="keep goodness >= T (0..1); default: keep all, score only")
    score.add_argument("--min-distance", action="append", metavar="D|CLASS=D",
                       help="also reject coordinates closer than D to bad regions (Angstrom when the pixel "
                            "size is known, else pixels); repeatable, per class")
    _add_common(score)

    batch = commands.add_parser("batch", help="run one JSON manifest and write one JSON result (for the plugin)")
    batch.add_argument("manifest", type=Path)
    batch.add_argument("--result", type=Path, required=True)
    batch.add_argument("--quiet", action="store_true")

    train = commands.add_parser("train", help="train a model on simulated scenes and/or labelled micrographs")
    train.add_argument("output_dir", type=Path, metavar="DIR",
                       help="gets model.keras + model.json, checkpoint, training_log.csv and training_curves.png")
    train.add_argument("--filters", type=int, nargs="+", default=[16, 32, 64, 128, 192],
                       help="U-Net widths per level (default 16 32 64 128 192; the paper's: 32 64 128 256 512)")
    train.add_argument("--global-context", action="store_true",
                       help="modulate the bottleneck by whole-image statistics (the bundled model has it); "
                            "with --initial-model, adds it to a model without it")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--steps-per-epoch", type=int, default=200)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--tile", type=int, default=256, help="training tile side in working pixels")
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--labelled", type=Path, nargs="+", default=[], metavar="SOURCE",
                       help="labelled real micrographs: label-source JSON files (images, labels, legend, box size, "
                            "held-out patterns, share and weight: see the engine README) or plain folders of "
                            "<stem>.<mrc|tif|png|jpg> with <stem>_mask.<mrc|tif|png|jpg> (1/white = bad)")
    train.add_argument("--labelled-box-size", type=float, metavar="PX",
                       help="particle box size of the plain labelled folders (sets their working scale)")
    train.add_argument("--labelled-scale", type=float, nargs=2, default=[0.5, 2.0], metavar=("LOW", "HIGH"),
                       help="labelled samples take a box from LOW to HIGH times the right one (default 0.5 2)")
    train.add_argument("--simulated-fraction", type=float, default=0.5,
                       help="with --labelled: share of samples drawn from the simulator (default 0.5)")
    train.add_argument("--initial-model", type=Path, help="fine-tune this model instead of a new network")
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.keras")
    train.add_argument("--gpus", default="cpu", help="'cpu' (default), GPU ids or 'all'; mixed precision on GPUs")

    simulate = commands.add_parser("simulate", help="write synthetic micrographs with labels and particles")
    simulate.add_argument("output_dir", type=Path, metavar="DIR")
    simulate.add_argument("--count", type=int, default=10)
    simulate.add_argument("--first-seed", type=int, default=0,
                          help="seeds first..first+count-1 (training uses seeds from 900000 on)")
    simulate.add_argument("--shape", type=int, nargs=2, default=[256, 256], metavar=("H", "W"),
                          help="size in working pixels (a particle box = 16 px)")
    simulate.add_argument("--box-size", type=float, metavar="PX",
                          help="render at full size for this particle box (default: the working scale)")
    simulate.add_argument("--quiet", action="store_true")

    evaluate = commands.add_parser("evaluate", help="compare a model's masks and decisions with ground truth")
    evaluate.add_argument("folder", type=Path, help="micrographs with <stem>_labels.mrc or <stem>_mask.mrc|.tif, "
                          "and optionally <stem>_particles.star (as written by 'simulate')")
    evaluate.add_argument("--model", help="model to evaluate (default: the bundled model)")
    evaluate.add_argument("--threshold", type=float, default=None,
                          help="goodness threshold for the particle figures (default 0.8)")
    evaluate.add_argument("--box-size", type=float, help="particle box when there is no <stem>.json")
    evaluate.add_argument("--tta", choices=AUGMENTATIONS, default="none")
    evaluate.add_argument("--report", type=Path, help="write every figure, per micrograph too, as JSON")
    evaluate.add_argument("--record", metavar="NAME", help="also store the summary in the model's card under NAME")
    evaluate.add_argument("--quiet", action="store_true")
    return parser


def _options(args: argparse.Namespace, rule: ScoringRule) -> CleaningOptions:
    if args.box_size <= 0:
        raise UsageError(f"--box-size must be positive, got {args.box_size:g}")
    return CleaningOptions(box_size=args.box_size, output_dir=args.output_dir,
                           particle_diameter=args.particle_diameter, rule=rule, full_size=args.full_size,
                           thumbnails=args.thumbnails, extra_downsampling=args.extra_downsampling)


def run_jobs(jobs: list[Job], args: argparse.Namespace, options: CleaningOptions) -> Iterable[Result]:
    from tqdm import tqdm

    from .devices import parse_gpus
    from .model_files import ModelFileError, resolve_model_path
    from .pipeline import run_on_devices

    try:
        model_path = resolve_model_path(args.model)
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    results = run_on_devices(jobs, parse_gpus(args.gpus), args.threads, model_path, options,
                             args.tta, args.batch_size)
    yield from tqdm(results, total=len(jobs), unit="mic", disable=args.quiet, file=sys.stderr)


def _report(results: list[Result]) -> int:
    failed = [result for result in results if not result.ok]
    for result in failed:
        print(f"FAILED {result.error}", file=sys.stderr)
    for result in results:
        if result.ok and result.summary.get("mostly_bad"):
            print(f"WARNING {result.job.micrograph}: {result.summary['flagged_fraction']:.0%} of the micrograph "
                  "is flagged bad; check its mask before trusting its scores", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} micrographs failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def score_columns(scores) -> dict[str, np.ndarray]:
    """The columns added to coordinate files: goodness, distance to bad regions (and per class)."""
    columns = {"goodRegionScore": scores.goodness, "distanceToBad": scores.distance}
    for name, distance in scores.class_distance.items():
        columns["distanceTo" + "".join(part.capitalize() for part in name.split("_"))] = distance
    return columns


def write_scored_coordinates(table, scores, output_dir: Path, columns: dict | None = None) -> tuple[Path, Path]:
    """Accepted rows to DIR/<name>, rejected rows to DIR/rejected/<name>, both with their scores."""
    from .coordinates import write_coordinates

    accepted_path = output_dir / table.path.name
    rejected_path = output_dir / "rejected" / table.path.name
    rejected_path.parent.mkdir(parents=True, exist_ok=True)
    columns = score_columns(scores) if columns is None else columns
    write_coordinates(table, accepted_path, keep=scores.accepted, extra_columns=columns)
    write_coordinates(table, rejected_path, keep=~scores.accepted, extra_columns=columns)
    return accepted_path, rejected_path


def predict_command(args: argparse.Namespace) -> int:
    options = _options(args, ScoringRule())
    jobs = [Job(path, pixel_size=args.pixel_size) for path in expand_micrographs(args.micrographs)]
    return _report(list(run_jobs(jobs, args, options)))


def score_command(args: argparse.Namespace) -> int:
    from .coordinates import (
        CoordinateFileError,
        match_coordinate_files,
        read_coordinates,
        read_mapping_file,
    )

    rule = ScoringRule(args.threshold, parse_min_distance(args.min_distance))
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UsageError(f"--threshold must be within 0..1, got {args.threshold:g}")
    options = _options(args, rule)
    micrographs = expand_micrographs(args.micrographs)
    coordinate_files = [p for item in args.coords for p in
                        (sorted(q for q in Path(item).iterdir() if q.is_file()) if Path(item).is_dir() else [Path(item)])]
    try:
        mapping = read_mapping_file(args.mapping) if args.mapping else None
        matches = match_coordinate_files(micrographs, coordinate_files, mapping)
    except CoordinateFileError as error:
        raise UsageError(str(error)) from None
    for unmatched in sorted(set(coordinate_files) - set(matches.values())):
        print(f"WARNING {unmatched}: no micrograph matches this coordinate file", file=sys.stderr)

    jobs, unreadable = [], []
    for micrograph in micrographs:
        coordinate_file = matches.get(micrograph)
        if coordinate_file is None:
            print(f"WARNING {micrograph}: no coordinate file; only its mask is predicted", file=sys.stderr)
            jobs.append(Job(micrograph, pixel_size=args.pixel_size))
            continue
        try:
            table = read_coordinates(coordinate_file)
        except CoordinateFileError as error:
            unreadable.append(str(error))
            continue
        jobs.append(Job(micrograph, xy=table.xy, pixel_size=args.pixel_size, payload=table))
    results = []
    for result in run_jobs(jobs, args, options):
        if result.job.payload is not None:
            write_scored_coordinates(result.job.payload, result.scores, args.output_dir)
        results.append(result)
    for message in unreadable:
        print(f"FAILED {message}", file=sys.stderr)
    status = _report(results)
    return EXIT_FAILED if unreadable else status


def batch_command(args: argparse.Namespace) -> int:
    from .batch import run_manifest

    return run_manifest(args.manifest, args.result, quiet=args.quiet)


def train_command(args: argparse.Namespace) -> int:
    from .devices import configure, parse_gpus

    gpus = parse_gpus(args.gpus)
    folders = [path for path in args.labelled if path.suffix.lower() != ".json"]
    if folders and not args.labelled_box_size:
        raise UsageError("plain --labelled folders need --labelled-box-size (the particle box of those micrographs)")
    if not 0 < args.labelled_scale[0] <= args.labelled_scale[1]:
        raise UsageError("--labelled-scale needs 0 < LOW <= HIGH")
    configure(",".join(gpus) if gpus else None)
    from .training import TrainingConfig, train

    config = TrainingConfig(
        output_dir=args.output_dir, filters=tuple(args.filters), global_context=args.global_context,
        tile=args.tile, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
        learning_rate=args.learning_rate,
        simulated_fraction=args.simulated_fraction if args.labelled else 1.0, labelled=args.labelled,
        labelled_box_size=args.labelled_box_size, labelled_scale=tuple(args.labelled_scale),
        initial_model=args.initial_model,
        command="micrographcleaner " + " ".join(args.argv))
    from .labels import LabelError

    try:
        print(f"model written to {train(config, resume=args.resume, gpus=gpus)}")
    except LabelError as error:
        raise UsageError(str(error)) from None
    return EXIT_OK


def simulate_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .simulation import write_simulated

    seeds = range(args.first_seed, args.first_seed + args.count)
    for seed in tqdm(seeds, desc="simulating", unit="mic", disable=args.quiet):
        write_simulated(args.output_dir, seed, tuple(args.shape), args.box_size)
    print(f"{args.count} micrographs written to {args.output_dir}")
    return EXIT_OK


def evaluate_command(args: argparse.Namespace) -> int:
    from functools import partial

    from tqdm import tqdm

    from .evaluation import DEFAULT_THRESHOLD, evaluate_folder, report_text, to_json
    from .images import write_json
    from .model_files import ModelFileError, load_model, record_metrics
    from .prediction import Predictor

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    try:
        model, card = load_model(args.model)
        results, summary = evaluate_folder(args.folder, Predictor(model, card, args.tta), threshold, args.box_size,
                                           progress=partial(tqdm, desc="evaluating", unit="mic", disable=args.quiet))
    except (ModelFileError, FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    print(f"{card.name} on {args.folder}:\n{report_text(summary)}")
    if args.report:
        write_json(args.report, to_json(results, summary))
    if args.record:
        record_metrics(args.model, args.record, summary)
    return EXIT_OK


COMMANDS = {"predict": predict_command, "score": score_command, "batch": batch_command, "train": train_command,
            "simulate": simulate_command, "evaluate": evaluate_command}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in a trained model's card
    try:
        return COMMANDS[args.command](args)
    except UsageError as error:
        print(f"micrographcleaner {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
