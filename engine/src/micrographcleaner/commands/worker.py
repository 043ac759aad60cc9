"""``micrographcleaner worker``: manifests named on stdin, one model load for all (for the plugin)."""
from __future__ import annotations

import argparse

NAME = "worker"
HELP = "run manifests named on stdin, one model load for all (for the plugin)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")


def run(args: argparse.Namespace) -> int:
    from ..worker import serve

    return serve()
