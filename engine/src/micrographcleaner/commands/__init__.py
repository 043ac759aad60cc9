"""The ``micrographcleaner`` commands, one module each.

Each module has ``NAME``, ``HELP`` (a line for the list of commands), ``DESCRIPTION`` and ``EXAMPLE``
(plain text for its ``--help``), ``add_arguments(parser)`` and ``run(args) -> exit status``;
the work itself is the library's (:mod:`..jobs`, :mod:`..runner`, :mod:`..batch`, ...), so a
command only turns its arguments into calls and its results into lines.
"""
from . import batch, calibrate, evaluate, predict, score, simulate, train, worker

COMMANDS = (predict, score, batch, worker, train, calibrate, simulate, evaluate)
