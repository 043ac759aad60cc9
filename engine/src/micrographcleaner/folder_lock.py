"""One run per output folder: two runs with different options would mix their outputs file by file.

A run holds ``<output>/.micrographcleaner.lock`` (:data:`~.contract.OUTPUT_LOCK`) with ``flock``
while it writes; another run there is refused with one line naming the holder's process. The
processes of one run (the plugin's engine workers, one per GPU, writing batches into the run's
folder at once) name the run alike (``run_id``) and share the hold. The first to take the folder
removes what a killed run left half-written; the last to leave removes the lock file. A killed
run's lock is released by the system. Where the file system cannot lock, the run goes unlocked.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .contract import OUTPUT_LOCK, REJECTED_FOLDER
from .images import remove_partial_files
from .options import UsageError

JOIN_SECONDS = 2.0
"""How long a process of the same run waits for the first one to have written its run id."""


@contextmanager
def holding_output_dir(output_dir: Path, flag: str, run_id: str | None = None) -> Iterator[None]:
    """Holds ``output_dir`` while the block runs; ``flag`` names the folder in the refusal."""
    path = output_dir / OUTPUT_LOCK
    lock, first = _take(path, flag, run_id)
    with lock:
        if first:
            for folder in (output_dir, output_dir / REJECTED_FOLDER):
                if folder.is_dir():
                    remove_partial_files(folder)
        try:
            yield
        finally:
            if _alone(lock):
                path.unlink(missing_ok=True)


def _take(path: Path, flag: str, run_id: str | None) -> tuple[IO[str], bool]:
    """The lock file, held (exclusively, or shared with the processes of ``run_id``), and whether
    this process was the first to take it; retried when a leaving run removed the file meanwhile."""
    while True:
        lock = open(path, "a+")
        try:
            first = _lock(lock, flag, run_id)
        except BaseException:
            lock.close()
            raise
        if first is None or (path.exists() and os.path.samestat(os.fstat(lock.fileno()), path.stat())):
            return lock, bool(first is None or first)
        lock.close()


def _lock(lock: IO[str], flag: str, run_id: str | None) -> bool | None:
    """True: taken first (the run id written, the hold shared when there is one); False: joined
    the same run's hold; None: the file system cannot lock."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _join(lock, flag, run_id)
    except OSError:  # e.g. a network file system without locks
        return None
    lock.truncate(0)
    lock.write(f"{os.getpid()} {run_id or ''}\n")
    lock.flush()
    if run_id:
        fcntl.flock(lock, fcntl.LOCK_SH)  # let the same run's other processes in
    return True


def _join(lock: IO[str], flag: str, run_id: str | None) -> bool:
    """Joins a hold of the same run; refuses any other."""
    deadline = time.monotonic() + JOIN_SECONDS
    while True:
        lock.seek(0)
        holder, _, holder_run = lock.read().strip().partition(" ")
        if run_id and holder_run == run_id:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return False
            except BlockingIOError:
                pass  # the first process is between its exclusive hold and the shared one
        elif holder or time.monotonic() > deadline:  # an empty file: the holder has not written yet
            raise UsageError(f"{flag} {Path(lock.name).parent}: another run is writing there"
                             f"{f' (process {holder})' if holder else ''}; wait for it to end or choose "
                             "another output folder")
        if time.monotonic() > deadline:
            raise UsageError(f"{flag} {Path(lock.name).parent}: the run's other process holding it did not "
                             "let this one in")
        time.sleep(0.05)


def _alone(lock: IO[str]) -> bool:
    """Whether no other process of the run still holds the folder (then the lock file can go)."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
