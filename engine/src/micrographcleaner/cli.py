"""The ``micrographcleaner`` command: predict, score, batch, worker; simulate, train, evaluate.

Inputs are never written to; every input coordinate ends in exactly one output (accepted or
rejected). Exit status (:mod:`.contract`): 0 when every input was processed, 2 for a usage error
(found before any work: bad option, unusable model or output folder, an output that would replace
an input), 3 when some inputs failed (each listed on stderr, one line with the file and the
problem; the others still completed). Each command is a module of :mod:`.commands`; this module
assembles them and runs one, turning usage errors into one line.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import COMMANDS
from .contract import EXIT_USAGE
from .options import UsageError


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Paragraphs wrapped to the terminal as usual; one with indented lines (an example) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = super()._fill_text
        return "\n\n".join(paragraph if "\n " in paragraph else fill(paragraph, width, indent)
                           for paragraph in text.split("\n\n"))


def example(command_line: str) -> str:
    """A ``--help``'s closing paragraph."""
    return f"example:\n  {command_line}"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="micrographcleaner", formatter_class=HelpFormatter,
                    description="Finds the bad regions of cryo-EM micrographs (carbon, contamination, crystalline "
                                "ice, aggregates) and scores particle coordinates against them.",
                    epilog="Run 'micrographcleaner COMMAND --help' for a command's options and an example.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_arguments(commands.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION,
                                                  epilog=example(command.EXAMPLE), formatter_class=HelpFormatter))
    return parser


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
    run = {command.NAME: command.run for command in COMMANDS}[args.command]
    return run_command(f"micrographcleaner {args.command}", run, args, argv is None)
