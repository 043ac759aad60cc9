"""From what a user names to jobs, and from scores back to files: the application's file work.

Input planning (micrograph folders and lists, coordinate files paired with micrographs), the one
definition of where a micrograph's outputs go (names from :mod:`.contract`), the output-safety
checks (no output replaces an input, no two inputs share outputs) and the scored coordinate files
(accepted rows in the output folder, rejected rows under ``rejected/``, both with their scores).
Used by the command line, ``batch`` and ``cleanMics`` alike; it never parses arguments.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .contract import (DISTANCE_COLUMN, GOODNESS_COLUMN, IMAGE_SUFFIXES, MASK_SUFFIX, NO_MATCHING_MICROGRAPH,
                       REJECTED_FOLDER, class_distance_column, micrograph_outputs, plural)
from .images import MICROGRAPH_SUFFIXES
from .options import Job, UsageError
from .scoring import CoordinateScores, failed_scores


def output_paths(output_dir: Path, stem: str, mask_suffix: str = MASK_SUFFIX) -> dict[str, Path]:
    """Where one micrograph's outputs go, by kind (mask, classes, class_maps, json, thumbnail)."""
    return {kind: output_dir / name for kind, name in micrograph_outputs(stem, mask_suffix).items()}


def _own_output(path: Path) -> bool:
    """A mask or class map this engine wrote (it has its <stem>.json beside it), not a micrograph."""
    return any(path.stem.endswith(suffix) and path.with_name(path.stem[:-len(suffix)] + ".json").is_file()
               for suffix in IMAGE_SUFFIXES)


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


def list_coordinate_files(items: Iterable[str]) -> list[Path]:
    """Files as given; folders give their coordinate files (by extension: micrographs, masks and
    summaries may share the folder; subfolders such as rejected/ are not searched)."""
    from .coordinates import COORDINATE_SUFFIXES

    return [path for item in items for path in
            (sorted(q for q in Path(item).iterdir() if q.is_file() and q.suffix.lower() in COORDINATE_SUFFIXES)
             if Path(item).is_dir() else [Path(item)])]


def unique_by_name(paths: list[Path], name: Callable[[Path], str] = lambda path: path.stem) -> list[Path]:
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


def micrograph_output_paths(output_dir: Path, micrograph_stems: Iterable[str],
                            mask_suffix: str = MASK_SUFFIX) -> list[Path]:
    """Every file the micrographs of these stems may write into ``output_dir``."""
    return [path for stem in micrograph_stems for path in output_paths(output_dir, stem, mask_suffix).values()]


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


def score_columns(scores: CoordinateScores) -> dict[str, np.ndarray]:
    """The columns added to coordinate files: goodness, distance to bad regions (and per class)."""
    columns = {GOODNESS_COLUMN: scores.goodness, DISTANCE_COLUMN: scores.distance}
    for name, distance in scores.class_distance.items():
        columns[class_distance_column(name)] = distance
    return columns


def scored_paths(output_dir: Path, name: str) -> tuple[Path, Path]:
    """Where a coordinate file's accepted and rejected rows go."""
    return output_dir / name, output_dir / REJECTED_FOLDER / name


def write_scored_coordinates(table, scores: CoordinateScores, output_dir: Path,
                             columns: dict | None = None) -> str | None:
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


def orphan_scores(table) -> CoordinateScores:
    """The rows of a coordinate file that matches no micrograph: all rejected, saying so."""
    return failed_scores(len(table.xy), NO_MATCHING_MICROGRAPH)


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
            plan.warnings.append(f"{path}: {plural(len(rows), 'unreadable row')} rejected: "
                                 + ", ".join(rows[:3])
                                 + (", ..." if len(rows) > 3 else ""))
    matched = set(matches.values())
    for path in coordinate_files:
        if path in matched:
            plan.failed += [errors[path]] if path in errors else []
        elif path in tables:
            plan.orphans.append(tables[path])
            plan.failed.append(f"{path}: {NO_MATCHING_MICROGRAPH}; its "
                               f"{len(tables[path].xy)} coordinates are written to {REJECTED_FOLDER}/")
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
