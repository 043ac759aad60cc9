"""The protocol's link to the engine: one ``micrographcleaner worker`` per run, fed batch after batch.

Loading TensorFlow and the model costs seconds; a micrograph a fraction of one. So the worker is
started on the first batch, kept for the whole run and handed each batch's manifest; if it dies, the
batch is given to a fresh one. It ends when the run stops it, when its stdin closes, or when the
protocol's process is gone (killed), so no engine is left behind. Each batch still writes the
manifest and result files that ``micrographcleaner batch`` would, so a continued run resumes.
"""
import json
import subprocess
import threading

from .. import Plugin


class EngineWorkerError(RuntimeError):
    pass


class EngineWorker:
    """A lazily started engine worker, shared by the steps of one run (one batch at a time)."""

    def __init__(self, logPath):
        self.logPath = logPath  # the engine's messages go to the run's error log
        self._process = None
        self._lock = threading.Lock()

    @property
    def pid(self):
        return self._process.pid if self.alive() else None

    def alive(self):
        return self._process is not None and self._process.poll() is None

    def _start(self):
        with open(self.logPath, "a") as log:
            # exec: the worker is the protocol's own child, so it sees the protocol's death
            self._process = subprocess.Popen("%s && exec micrographcleaner worker" % Plugin.getActivationCmd(),
                                             shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=log, env=Plugin.getEnviron(), text=True, bufsize=1)

    def run(self, manifestPath, resultPath):
        """Runs one manifest; returns the exit status ``micrographcleaner batch`` would have given."""
        request = json.dumps({"manifest": manifestPath, "result": resultPath}) + "\n"
        with self._lock:
            for _ in range(2):  # a worker that died (before or during this batch) is replaced once
                if not self.alive():
                    self._start()
                try:
                    self._process.stdin.write(request)
                    self._process.stdin.flush()
                    answer = self._process.stdout.readline()
                except OSError:
                    answer = ""
                if answer:
                    return json.loads(answer)["status"]
                self._end()
            raise EngineWorkerError("the engine worker died twice on %s (see the run's log)" % manifestPath)

    def _end(self):
        if self._process is None:
            return
        try:
            self._process.stdin.close()
            self._process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        self._process = None

    def stop(self):
        with self._lock:
            self._end()
