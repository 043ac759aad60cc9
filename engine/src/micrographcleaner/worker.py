"""Worker mode: one process per plugin run, the model loaded once, manifest after manifest.

The plugin starts ``micrographcleaner worker`` once per protocol run and writes one request per
line on its stdin, ``{"manifest": PATH, "result": PATH}``. Each is run exactly as
``micrographcleaner batch MANIFEST --result RESULT`` would run it (same result file, so a
continued run still finds it) and answered with one line on stdout, ``{"status": N, "error": E}``,
N being batch's exit status and E the line saying why a batch was refused (None otherwise): the
fields are :mod:`.contract`'s ``REQUEST_FIELDS`` and ``ANSWER_FIELDS``. The worker ends at the
end of its stdin, and as soon as its parent process is gone, so that a killed run leaves no engine
behind.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from .batch import BatchOutcome, run_manifest
from .contract import ANSWER_FIELDS, EXIT_OK, EXIT_USAGE, REQUEST_FIELDS
from .runner import Runner

PARENT_CHECK_SECONDS = 1.0


def _exit_with(parent: int) -> None:
    """Ends the process once ``parent`` is gone (a killed parent cannot close our stdin for us mid-batch)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _answer_channel():
    """The answers get the real stdout; anything else printed (by a library) goes to stderr."""
    sys.stdout.flush()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def serve() -> int:
    answers = _answer_channel()
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    runner = Runner()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            manifest, result = (Path(request[name]) for name in REQUEST_FIELDS)
        except (ValueError, KeyError, TypeError) as error:
            message = f"bad request {line.strip()!r} ({error})"
            print(f"micrographcleaner worker: error: {message}", file=sys.stderr)
            outcome = BatchOutcome(EXIT_USAGE, message)
        else:
            outcome = run_manifest(manifest, result, quiet=True, runner=runner)
        answers.write(json.dumps(dict(zip(ANSWER_FIELDS, (outcome.status, outcome.error)))) + "\n")
    return EXIT_OK
