"""``micrographcleaner batch``: one JSON manifest in, one JSON result out (for the plugin)."""
from __future__ import annotations

import argparse
from pathlib import Path

NAME = "batch"
HELP = "run one JSON manifest and write one JSON result (for the plugin)"
DESCRIPTION = ("Reads micrographs, with the caller's ids and coordinates, from a JSON manifest and writes one JSON "
               "result: per micrograph its mask, thumbnail and fractions, per coordinate id its goodness, "
               "distance, decision and reason. This is what the Scipion plugin runs.")
EXAMPLE = "micrographcleaner batch manifest.json --result result.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")


def run(args: argparse.Namespace) -> int:
    from ..batch import run_manifest

    return run_manifest(args.manifest, args.result, quiet=args.quiet).status
