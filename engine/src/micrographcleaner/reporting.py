"""What the end of a run tells its user: the tally, the failure and warning lines, the exit status.

Results are counted as they stream by, so a result (and its badness map) is released as soon as
its outputs are written and memory stays flat over any number of micrographs. The exit statuses
are the contract's (:data:`~.contract.EXIT_OK`, ``EXIT_USAGE``, ``EXIT_FAILED``).
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .contract import EXIT_FAILED, EXIT_OK
from .scoring import CoordinateScores

if TYPE_CHECKING:
    from .cleaner import Result

T = TypeVar("T")


@dataclass
class Tally:
    """Micrographs done and failed, and coordinates accepted, of one run."""

    done: int = 0
    failed: list[str] = field(default_factory=list)  # the error of each failed micrograph
    mostly_bad: list[str] = field(default_factory=list)  # the warning of each micrograph mostly flagged bad
    coordinates: int = 0
    accepted: int = 0
    scored: bool = False

    def add(self, result: "Result") -> None:
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


def report(tally: Tally, other_failures: Iterable[str] = ()) -> int:
    """Prints every failure and warning on stderr; returns the run's exit status.

    ``other_failures`` are those of files rather than micrographs (a coordinate file that could
    not be read or written): they fail the run too, and are listed first.
    """
    other_failures = list(other_failures)
    for message in other_failures + tally.failed:
        print(f"FAILED {message}", file=sys.stderr)
    for warning in tally.mostly_bad:
        print(f"WARNING {warning}", file=sys.stderr)
    if tally.failed:
        print(f"{len(tally.failed)} of {tally.done + len(tally.failed)} micrographs failed", file=sys.stderr)
    return EXIT_FAILED if tally.failed or other_failures else EXIT_OK


def warn(lines: Iterable[str]) -> None:
    for line in lines:
        print(f"WARNING {line}", file=sys.stderr)


def summary_line(tally: Tally, output_dir: Path) -> str:
    """One line for the end of a run: micrographs done/failed, coordinates accepted/rejected, outputs."""
    line = f"{tally.done} micrographs done, {len(tally.failed)} failed"
    if tally.scored:
        line += (f"; {tally.coordinates} coordinates: {tally.accepted} accepted, "
                 f"{tally.coordinates - tally.accepted} rejected")
    return f"{line}; outputs in {output_dir}"


def progress(items: Iterable[T], total: int, quiet: bool) -> Iterator[T]:
    """A progress bar on stderr (stdout may carry a program's answers) over ``items``."""
    from tqdm import tqdm

    return iter(tqdm(items, total=total, unit="mic", disable=quiet, file=sys.stderr))
