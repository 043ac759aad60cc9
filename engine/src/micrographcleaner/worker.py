"""Worker mode: one process per plugin run, the model loaded once, manifest after manifest.

The plugin starts ``micrographcleaner worker`` once per protocol run and writes one request per
line on its stdin, ``{"manifest": PATH, "result": PATH}``. Each is run exactly as
``micrographcleaner batch MANIFEST --result RESULT`` would run it (same result file, so a
continued run still finds it) and answered with one line on stdout, ``{"status": N}``, N being
batch's exit status. The worker ends at the end of its stdin, and as soon as its parent process is
gone, so that a killed run leaves no engine behind.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from .batch import run_manifest

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
    predictors: dict = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            manifest, result = Path(request["manifest"]), Path(request["result"])
        except (ValueError, KeyError, TypeError) as error:
            print(f"micrographcleaner worker: error: bad request {line.strip()!r} ({error})", file=sys.stderr)
            status = 2
        else:
            status = run_manifest(manifest, result, quiet=True, predictors=predictors)
        answers.write(json.dumps({"status": status}) + "\n")
    return 0
