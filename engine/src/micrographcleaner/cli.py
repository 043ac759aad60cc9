"""The ``micrographcleaner`` command: predict, score, batch; simulate, train, evaluate.

Inputs are never written to; every input coordinate ends in exactly one output (accepted or
rejected). Exit status: 0 when every input was processed, 2 for a usage error (found before any
work: bad option, unusable model or output folder, an output that would replace an input), 3 when
some inputs failed (each listed on stderr, one line with the file and the problem; the others
still completed).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np

from .images import MICROGRAPH_SUFFIXES
from .pipeline import CleaningOptions, Job, OptionError, Result, check_number
from .prediction import AUGMENTATIONS
from .scoring import ANY_CLASS, CoordinateScores, ScoringRule, failed_scores

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 3
OUTPUT_SUFFIXES = ("_mask", "_classes", "_class_maps")  # the engine's own images, beside a <stem>.json


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _own_output(path: Path) -> bool:
    """A mask or class map this engine wrote (it has its <stem>.json beside it), not a micrograph."""
    return any(path.stem.endswith(suffix) and path.with_name(path.stem[:-len(suffix)] + ".json").is_file()
               for suffix in OUTPUT_SUFFIXES)


def expand_micrographs(items: Iterable[str]) -> list[Path]:
    """Files, folders (their .mrc/.tif files, not masks written there) and .txt lists, in the order given."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.suffix.lower() in MICROGRAPH_SUFFIXES and p.is_file() and not _own_output(p))
        elif path.suffix == ".txt" and path.is_file():
            found += [Path(line.strip()) for line in path.read_text().splitlines()
                      if line.strip() and not line.startswith("#")]
        else:
            found.append(path)  # a missing file is reported as that micrograph's failure
    return found


def unique_by_name(paths: list[Path], name=lambda path: path.stem) -> list[Path]:
    """Each file once; two files of the same name from different folders would share their outputs."""
    seen: dict[str, Path] = {}
    unique = []
    for path in paths:
        first = seen.setdefault(name(path), path)
        if first is path:
            unique.append(path)
        elif first.resolve() != path.resolve():
            raise UsageError(f"{first} and {path} have the same name, so their outputs would overwrite each "
                             "other; rename one or run them separately")
    return unique


def check_output_dir(output_dir: Path, outputs: Iterable[Path], inputs: Iterable[Path], flag: str) -> None:
    """Refuse an output folder that cannot be written, or where an output would replace an input."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"{flag} {output_dir}: exists and is not a folder")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {output_dir}: cannot write there ({error.strerror or error})") from None
    protected = {path.resolve() for path in inputs if path.exists()}
    for output in outputs:
        if output.resolve() in protected:
            raise UsageError(f"{flag} {output_dir}: writing {output} would replace an input; "
                             "choose another output folder")


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
    parser.add_argument("--class-maps", action="store_true", help="models with classes: also write "
                        "<stem>_class_maps.mrc, one float32 map per class (the label map <stem>_classes.mrc is "
                        "always written)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")


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
    parser = Parser(prog="micrographcleaner", description=__doc__.splitlines()[0])
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
    batch.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")
    worker = commands.add_parser("worker", help="run manifests named on stdin, one model load for all (for the plugin)")
    worker.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")

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
    train.add_argument("--working-side", type=float, nargs=2, metavar=("LOW", "HIGH"),
                       help="keep the working image's longer side within LOW..HIGH px whatever the box, in training "
                            "and, through the model's card, in prediction (default: the initial model's, if any; "
                            "the bundled model: 320 640)")
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
    simulate.add_argument("--shape", type=int, nargs=2, default=[320, 448], metavar=("H", "W"),
                          help="size in working pixels (a particle box = 16 px; the default lies inside the "
                          "bundled model's working range, as the fixed test set does)")
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
    """The cleaning options, every number checked before any work starts."""
    options = CleaningOptions(box_size=args.box_size, output_dir=args.output_dir,
                              particle_diameter=args.particle_diameter, rule=rule, full_size=args.full_size,
                              thumbnails=args.thumbnails, extra_downsampling=args.extra_downsampling,
                              class_maps=args.class_maps)
    try:
        options.check(lambda name: "--" + name.replace("_", "-"))
        check_number("--pixel-size", args.pixel_size, 0)
        check_number("--threads", args.threads, 0)
        check_number("--batch-size", args.batch_size, 0)
    except OptionError as error:
        raise UsageError(str(error)) from None
    return options


def output_paths(output_dir: Path, stem: str, mask_suffix: str = "_mask") -> list[Path]:
    """What a micrograph may write into the output folder (see pipeline.Cleaner.paths)."""
    suffixes = (f"{mask_suffix}.mrc", "_classes.mrc", "_class_maps.mrc", ".json", ".png")
    return [output_dir / f"{stem}{suffix}" for suffix in suffixes]


def run_jobs(jobs: list[Job], args: argparse.Namespace, options: CleaningOptions) -> Iterable[Result]:
    """Results in order; a model or option that cannot work is a usage error raised before the first."""
    from tqdm import tqdm

    from .devices import DeviceError, parse_gpus
    from .model_files import ModelFileError, resolve_model_path
    from .pipeline import run_on_devices

    try:
        model_path = resolve_model_path(args.model)
        gpus = parse_gpus(args.gpus)
    except (ModelFileError, DeviceError) as error:
        raise UsageError(str(error)) from None
    results = run_on_devices(jobs, gpus, args.threads, model_path, options, args.tta, args.batch_size)
    try:
        yield from tqdm(results, total=len(jobs), unit="mic", disable=args.quiet, file=sys.stderr)
    except (ModelFileError, OptionError) as error:
        raise UsageError(str(error)) from None


@dataclass
class Tally:
    """What the end of a run reports, counted as the results stream by: a result (and its badness map)
    is released as soon as its outputs are written, so memory stays flat over any number of micrographs."""

    done: int = 0
    failed: list[str] = field(default_factory=list)  # the error of each failed micrograph
    mostly_bad: list[str] = field(default_factory=list)  # the warning of each micrograph mostly flagged bad
    coordinates: int = 0
    accepted: int = 0
    scored: bool = False

    def add(self, result: Result) -> None:
        if not result.ok:
            self.failed.append(result.error)  # type: ignore[arg-type]
            return
        self.done += 1
        if result.summary.get("mostly_bad"):
            self.mostly_bad.append(f"{result.job.micrograph}: {result.summary['flagged_fraction']:.0%} of the "
                                   "micrograph is flagged bad; check its mask before trusting its scores")

    def add_scores(self, scores: CoordinateScores) -> None:
        self.scored = True
        self.coordinates += len(scores)
        self.accepted += int(scores.accepted.sum())


def _report(tally: Tally) -> int:
    for error in tally.failed:
        print(f"FAILED {error}", file=sys.stderr)
    for warning in tally.mostly_bad:
        print(f"WARNING {warning}", file=sys.stderr)
    if tally.failed:
        print(f"{len(tally.failed)} of {tally.done + len(tally.failed)} micrographs failed", file=sys.stderr)
    return EXIT_FAILED if tally.failed else EXIT_OK


def summary_line(tally: Tally, output_dir: Path) -> str:
    """One line for the end of a run: micrographs done/failed, coordinates accepted/rejected, outputs."""
    line = f"{tally.done} micrographs done, {len(tally.failed)} failed"
    if tally.scored:
        line += (f"; {tally.coordinates} coordinates: {tally.accepted} accepted, "
                 f"{tally.coordinates - tally.accepted} rejected")
    return f"{line}; outputs in {output_dir}"


def score_columns(scores) -> dict[str, np.ndarray]:
    """The columns added to coordinate files: goodness, distance to bad regions (and per class)."""
    columns = {"goodRegionScore": scores.goodness, "distanceToBad": scores.distance}
    for name, distance in scores.class_distance.items():
        columns["distanceTo" + "".join(part.capitalize() for part in name.split("_"))] = distance
    return columns


def scored_paths(output_dir: Path, name: str) -> tuple[Path, Path]:
    """Where a coordinate file's accepted and rejected rows go."""
    return output_dir / name, output_dir / "rejected" / name


def write_scored_coordinates(table, scores, output_dir: Path, columns: dict | None = None) -> str | None:
    """Accepted rows to DIR/<name>, rejected rows to DIR/rejected/<name>, both with their scores.

    Returns None, or the one-line failure when the files could not be written.
    """
    from .coordinates import write_coordinates

    accepted_path, rejected_path = scored_paths(output_dir, table.path.name)
    columns = score_columns(scores) if columns is None else columns
    try:
        write_coordinates(table, accepted_path, keep=scores.accepted, extra_columns=columns)
        write_coordinates(table, rejected_path, keep=~scores.accepted, extra_columns=columns)
    except OSError as error:
        return f"{table.path}: cannot write its scored coordinates to {output_dir} ({error.strerror or error})"
    return None


@dataclass
class CoordinatePlan:
    """Coordinate files paired with micrographs, and what went wrong with the others."""

    jobs: list[Job]
    failed: list[str] = field(default_factory=list)  # one line per coordinate file that failed
    orphans: list = field(default_factory=list)  # readable tables that match no micrograph
    warnings: list[str] = field(default_factory=list)


def plan_coordinates(micrographs: list[Path], coordinate_files: list[Path], mapping: dict[str, str] | None,
                     pixel_size: float | None = None, divide_by: float = 1.0) -> CoordinatePlan:
    """One job per micrograph (with its coordinates, divided by ``divide_by``, when it has a readable file).

    An unreadable coordinate file fails alone (its micrograph is still predicted); a file that matches
    no micrograph fails too, its rows going to rejected/ when it can be read.
    """
    from .coordinates import CoordinateFileError, match_coordinate_files, read_coordinates

    try:
        matches = match_coordinate_files(micrographs, coordinate_files, mapping)
    except CoordinateFileError as error:
        raise UsageError(str(error)) from None
    plan = CoordinatePlan([])
    tables, errors = {}, {}
    for path in coordinate_files:
        try:
            tables[path] = read_coordinates(path)
        except CoordinateFileError as error:
            errors[path] = str(error)
            continue
        if tables[path].unreadable:
            rows = [f"row {index + 1} ({why})" for index, why in sorted(tables[path].unreadable.items())]
            plan.warnings.append(f"{path}: {len(rows)} unreadable row{'s' if len(rows) > 1 else ''} rejected: "
                                 + ", ".join(rows[:3])
                                 + (", ..." if len(rows) > 3 else ""))
    matched = set(matches.values())
    for path in coordinate_files:
        if path in matched:
            plan.failed += [errors[path]] if path in errors else []
        elif path in tables:
            plan.orphans.append(tables[path])
            plan.failed.append(f"{path}: no micrograph matches this coordinate file; its "
                               f"{len(tables[path].xy)} coordinates are written to rejected/")
        else:
            plan.failed.append(f"{errors[path]}; and no micrograph matches it")
    for micrograph in micrographs:
        table = tables.get(matches.get(micrograph))
        if table is None:
            if micrograph not in matches:
                plan.warnings.append(f"{micrograph}: no coordinate file; only its mask is predicted")
            plan.jobs.append(Job(micrograph, pixel_size=pixel_size))
        else:
            plan.jobs.append(Job(micrograph, xy=table.xy / divide_by, pixel_size=pixel_size, payload=table))
    return plan


def list_coordinate_files(items: Iterable[str]) -> list[Path]:
    """Files as given; folders give their files (not subfolders such as rejected/)."""
    return [path for item in items for path in
            (sorted(q for q in Path(item).iterdir() if q.is_file()) if Path(item).is_dir() else [Path(item)])]


def predict_command(args: argparse.Namespace) -> int:
    options = _options(args, ScoringRule())
    micrographs = unique_by_name(expand_micrographs(args.micrographs))
    check_output_dir(args.output_dir, [out for mic in micrographs for out in output_paths(args.output_dir, mic.stem)],
                     micrographs, "--output-dir")
    jobs = [Job(path, pixel_size=args.pixel_size) for path in micrographs]
    tally = Tally()
    for result in run_jobs(jobs, args, options):
        tally.add(result)
    status = _report(tally)
    if not args.quiet:
        print(summary_line(tally, args.output_dir))
    return status


def score_command(args: argparse.Namespace) -> int:
    from .coordinates import CoordinateFileError, read_mapping_file

    rule = ScoringRule(args.threshold, parse_min_distance(args.min_distance))
    options = _options(args, rule)
    micrographs = unique_by_name(expand_micrographs(args.micrographs))
    coordinate_files = unique_by_name(list_coordinate_files(args.coords), name=lambda path: path.name)
    try:
        mapping = read_mapping_file(args.mapping) if args.mapping else None
    except CoordinateFileError as error:
        raise UsageError(str(error)) from None
    outputs = [out for mic in micrographs for out in output_paths(args.output_dir, mic.stem)]
    outputs += [out for path in coordinate_files for out in scored_paths(args.output_dir, path.name)]
    check_output_dir(args.output_dir, outputs, micrographs + coordinate_files, "--output-dir")
    plan = plan_coordinates(micrographs, coordinate_files, mapping, args.pixel_size)
    for line in plan.warnings:
        print(f"WARNING {line}", file=sys.stderr)

    tally, failed = Tally(), list(plan.failed)
    for result in run_jobs(plan.jobs, args, options):
        if result.job.payload is not None:
            tally.add_scores(result.scores)  # type: ignore[arg-type]
            failure = write_scored_coordinates(result.job.payload, result.scores, args.output_dir)
            failed += [failure] if failure else []
        tally.add(result)
    for table in plan.orphans:
        scores = failed_scores(len(table.xy), "no micrograph matches this coordinate file")
        tally.add_scores(scores)
        failure = write_scored_coordinates(table, scores, args.output_dir)
        failed += [failure] if failure else []
    for message in failed:
        print(f"FAILED {message}", file=sys.stderr)
    status = _report(tally)
    if not args.quiet:
        print(summary_line(tally, args.output_dir))
    return EXIT_FAILED if failed else status


def batch_command(args: argparse.Namespace) -> int:
    from .batch import run_manifest

    return run_manifest(args.manifest, args.result, quiet=args.quiet)


def worker_command(args: argparse.Namespace) -> int:
    from .worker import serve

    return serve()


def train_command(args: argparse.Namespace) -> int:
    from .devices import configure, parse_gpus

    gpus = parse_gpus(args.gpus)
    folders = [path for path in args.labelled if path.suffix.lower() != ".json"]
    if folders and not args.labelled_box_size:
        raise UsageError("plain --labelled folders need --labelled-box-size (the particle box of those micrographs)")
    if not 0 < args.labelled_scale[0] <= args.labelled_scale[1]:
        raise UsageError("--labelled-scale needs 0 < LOW <= HIGH")
    if args.working_side and not 0 < args.working_side[0] <= args.working_side[1]:
        raise UsageError("--working-side needs 0 < LOW <= HIGH")
    configure(",".join(gpus) if gpus else None)
    from .training import TrainingConfig, train

    config = TrainingConfig(
        output_dir=args.output_dir, filters=tuple(args.filters), global_context=args.global_context,
        tile=args.tile, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
        learning_rate=args.learning_rate,
        simulated_fraction=args.simulated_fraction if args.labelled else 1.0, labelled=args.labelled,
        labelled_box_size=args.labelled_box_size, labelled_scale=tuple(args.labelled_scale),
        working_side=tuple(args.working_side) if args.working_side else None,
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


COMMANDS = {"predict": predict_command, "score": score_command, "batch": batch_command, "worker": worker_command,
            "train": train_command,
            "simulate": simulate_command, "evaluate": evaluate_command}


def quiet_tensorflow(whole_program: bool) -> None:
    """Keep TensorFlow's start-up lines (oneDNN, absl, CPU features) off the terminal.

    TensorFlow prints them while it is imported, before its logging reads TF_CPP_MIN_LOG_LEVEL, and
    only TF_ENABLE_ONEDNN_OPTS=0 stops them at their source, at the cost of oneDNN (a network 1.6x
    slower on CPU). So when this is the whole program (not a call from Python) the process's stderr
    descriptor goes to /dev/null and Python's sys.stderr keeps the terminal; called from Python, the
    host's stderr is silenced only while TensorFlow is imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not whole_program and "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    silent = os.open(os.devnull, os.O_WRONLY)
    os.dup2(silent, 2)
    os.close(silent)
    if whole_program:
        sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
        return
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(terminal, 2)
        os.close(terminal)


def missing_tensorflow(error: ModuleNotFoundError) -> str | None:
    """The install hint when TensorFlow (or Keras) is what is missing."""
    if (error.name or "").split(".")[0] not in ("tensorflow", "keras"):
        return None
    return ("TensorFlow is not installed in this environment; install the engine with it: "
            "pip install 'micrographcleaner[cpu]' (or '[gpu]' for NVIDIA GPUs)")


def run_command(prog: str, command, args: argparse.Namespace, whole_program: bool = False) -> int:
    """Run ``command(args)``; a usage error, or TensorFlow missing, is one line and exit status 2.

    Commands with a --verbose flag (predict, score, batch, cleanMics) hide TensorFlow's start-up lines
    unless it is given; the others (train, simulate, evaluate) leave TensorFlow's logging alone.
    """
    try:
        if getattr(args, "verbose", True) is False:
            quiet_tensorflow(whole_program)
        return command(args)
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
    except ModuleNotFoundError as error:
        hint = missing_tensorflow(error)
        if hint is None:
            raise
        print(f"{prog}: error: {hint}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in a trained model's card
    return run_command(f"micrographcleaner {args.command}", COMMANDS[args.command], args, argv is None)
