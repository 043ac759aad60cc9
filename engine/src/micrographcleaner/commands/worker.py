"""``micrographcleaner worker``: manifests named on stdin, one model load for all (for the plugin)."""
from __future__ import annotations

import argparse

NAME = "worker"
HELP = "run manifests named on stdin, one model load for all (for the plugin)"
DESCRIPTION = ("Reads one JSON request per line on stdin (a manifest and a result path), runs each as 'batch' "
               "would with the model loaded once, and answers one JSON line per request. This is the Scipion "
               "plugin's engine process.")
EXAMPLE = """echo '{"manifest": "manifest.json", "result": "result.json"}' | micrographcleaner worker"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up messages")


def run(args: argparse.Namespace) -> int:
    from ..worker import serve

    return serve()
