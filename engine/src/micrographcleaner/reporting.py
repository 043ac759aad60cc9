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

from .contract import ANY_CLASS, EXIT_FAILED, EXIT_OK, plural
from .scoring import CoordinateScores, ScoringRule

if TYPE_CHECKING:
    from .cleaner import Result

T = TypeVar("T")

SCORED_ONLY = "scored only, no threshold"
"""How a summary names a run that decided nothing but kept every readable coordinate."""


def rule_text(rule: ScoringRule) -> str:
    """The decision rule as a summary names it: ``threshold 0.80``, the minimum distances, or
    :data:`SCORED_ONLY`, so a run that kept everything never reads like one that judged."""
    parts = [] if rule.threshold is None else [f"threshold {rule.threshold:.2f}"]
    parts += [f"min. distance {limit:g}" if name == ANY_CLASS else f"min. distance {name}={limit:g}"
              for name, limit in rule.min_distance.items()]
    if not parts:
        return SCORED_ONLY
    return ", ".join(parts if rule.threshold is not None else ["no threshold", *parts])


@dataclass
class Tally:
    """Micrographs done and failed, and coordinates accepted, of one run."""

    done: int = 0
    failed: list[str] = field(default_factory=list)  # the error of each failed micrograph
    mostly_bad: list[str] = field(default_factory=list)  # the warning of each micrograph mostly flagged bad
    warnings: dict[str, int] = field(default_factory=dict)  # a micrograph's warning: how many micrographs had it
    flagged: float = 0.0  # the flagged fractions of the micrographs done, summed
    coordinates: int = 0
    accepted: int = 0
    scored: bool = False

    def add(self, result: "Result") -> None:
        if not result.ok:
            self.failed.append(result.error)  # type: ignore[arg-type]
            return
        self.done += 1
        self.flagged += result.summary["flagged_fraction"]
        for warning in result.summary.get("warnings", []):
            self.warnings[warning] = self.warnings.get(warning, 0) + 1
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
    for warning, count in tally.warnings.items():
        print(f"WARNING {warning}" + (f" ({plural(count, 'micrograph')})" if count > 1 else ""), file=sys.stderr)
    for warning in tally.mostly_bad:
        print(f"WARNING {warning}", file=sys.stderr)
    if tally.failed:
        print(f"{len(tally.failed)} of {plural(tally.done + len(tally.failed), 'micrograph')} failed",
              file=sys.stderr)
    return EXIT_FAILED if tally.failed or other_failures else EXIT_OK


def warn(lines: Iterable[str]) -> None:
    for line in lines:
        print(f"WARNING {line}", file=sys.stderr)


def summary_line(tally: Tally, output_dir: Path, rule: str | None = None) -> str:
    """One line for the end of a run: micrographs done/failed, coordinates accepted/rejected by
    ``rule`` (its :func:`rule_text`), the mean flagged fraction, where the outputs are."""
    line = f"{plural(tally.done, 'micrograph')} done, {len(tally.failed)} failed"
    if tally.scored:
        line += (f"; {plural(tally.coordinates, 'coordinate')}: {tally.accepted} accepted, "
                 f"{tally.coordinates - tally.accepted} rejected ({rule or SCORED_ONLY})")
    if tally.done:
        line += f"; {tally.flagged / tally.done:.0%} flagged bad on average"
        line += f" ({len(tally.mostly_bad)} mostly bad)" if tally.mostly_bad else ""
    return f"{line}; outputs in {output_dir}"


def progress(items: Iterable[T], total: int, quiet: bool) -> Iterator[T]:
    """A progress bar on stderr (stdout may carry a program's answers) over ``items``."""
    from tqdm import tqdm

    return iter(tqdm(items, total=total, unit="mic", disable=quiet, file=sys.stderr))
