"""The protocol's client of the engine: one ``micrographcleaner worker`` per device and run, fed
batch after batch.

Loading TensorFlow and the model costs seconds; a micrograph a fraction of one. So a worker is
started on the first batch its device gets, kept for the whole run and handed each batch's
manifest; if it dies, the batch is given to a fresh one. With several GPUs each has its own worker
(:class:`EngineWorkers`) and a batch goes to the first idle one. A worker ends when the run stops
it, when its stdin closes, or when the protocol's process is gone (killed), so no engine is left
behind. Each batch still writes the manifest and result files that ``micrographcleaner batch``
would, so a continued run resumes: a batch whose manifest asks for the same work (on whichever
device) and whose result is there is not run again. What the files and
the worker's lines hold is the engine's contract (:data:`..constants.contract`).
"""
import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from typing import Optional

from .. import Plugin

MANIFEST_FILE, RESULT_FILE = "manifest.json", "result.json"  # in each batch's folder


class EngineError(RuntimeError):
    """A batch the engine refused (its one-line reason is in the message), or a worker that kept dying."""


@dataclass(frozen=True)
class Answer:
    """The worker's answer to one batch (contract.ANSWER_FIELDS)."""
    status: int  # contract.EXIT_OK, EXIT_USAGE (refused) or EXIT_FAILED (some micrographs failed)
    error: Optional[str] = None  # why it refused the batch, one line


class EngineWorker:
    """A lazily started engine worker, shared by the steps of one run (one batch at a time)."""

    def __init__(self, logPath):
        self.logPath = logPath  # the engine's messages go to the run's error log
        self._process = None
        self._logStart = 0  # where the current worker's messages begin in the log
        self._lock = threading.Lock()

    @property
    def pid(self):
        return self._process.pid if self.alive() else None

    def alive(self):
        return self._process is not None and self._process.poll() is None

    def _start(self):
        self._logStart = os.path.getsize(self.logPath) if os.path.exists(self.logPath) else 0
        with open(self.logPath, "a") as log:
            # exec: the worker is the protocol's own child, so it sees the protocol's death
            self._process = subprocess.Popen("%s && exec micrographcleaner worker" % Plugin.getActivationCmd(),
                                             shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=log, env=Plugin.getEnviron(), text=True, bufsize=1)

    def runBatch(self, manifest, folder):
        """Runs a batch's manifest (a dict) with its files in ``folder``, or reuses the result the
        engine wrote for the same manifest before an interruption; returns the result's micrograph
        entries. Raises :class:`EngineError`, with the engine's reason, when it refused the batch."""
        manifestPath, resultPath = os.path.join(folder, MANIFEST_FILE), os.path.join(folder, RESULT_FILE)
        text = json.dumps(manifest, indent=1)
        previous = open(manifestPath).read() if os.path.exists(manifestPath) else None
        if not _sameWork(previous, manifest) or not os.path.exists(resultPath):
            if os.path.exists(resultPath):
                os.remove(resultPath)
            with open(manifestPath, "w") as stream:
                stream.write(text)
            answer = self.run(os.path.abspath(manifestPath), os.path.abspath(resultPath))
            # EXIT_FAILED means some micrographs failed: the result still holds every one.
            if not os.path.exists(resultPath):
                raise EngineError("micrographcleaner batch %s failed (status %d): %s"
                                  % (manifestPath, answer.status, answer.error or "see the run's log"))
        with open(resultPath) as stream:
            return json.load(stream)["micrographs"]

    def run(self, manifestPath, resultPath):
        """Runs one manifest file, writing ``resultPath``; returns the worker's :class:`Answer`."""
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
                    reply = json.loads(answer)
                    return Answer(reply["status"], reply.get("error"))
                self._end()
            raise EngineError("the engine worker died twice on %s: %s" % (manifestPath, self._cause()))

    def _cause(self):
        """Why the worker died, in one line: the environment's problem when the plugin sees one, else
        the last line the worker wrote to the log."""
        problem = Plugin.environmentProblem()
        if problem:
            return problem
        with open(self.logPath, errors="replace") as log:
            log.seek(self._logStart)
            lines = [line.strip() for line in log if line.strip()]
        return "%s (the run's log: %s)" % (lines[-1] if lines else "it wrote nothing", self.logPath)

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


def _sameWork(previousText, manifest):
    """Whether an earlier manifest asked for the same work: the device and the run (process) that
    sent it do not matter."""
    if previousText is None:
        return False
    where = {"gpus": None, "run_id": None}
    return {**json.loads(previousText), **where} == {**manifest, **where}


class EngineWorkers:
    """One :class:`EngineWorker` per device ('cpu', or a GPU id as CUDA_VISIBLE_DEVICES names it),
    each loading the model once; a batch runs on the first idle one, with that device in its
    manifest, so that as many batches run at once as there are devices (and step threads)."""

    def __init__(self, logPath, devices):
        self.devices = list(devices)
        self._workers = [EngineWorker(logPath) for _ in self.devices]
        self._idle = queue.Queue()
        for index in range(len(self.devices)):
            self._idle.put(index)

    def runBatch(self, manifest, folder):
        """:meth:`EngineWorker.runBatch` on an idle worker (waiting for one when all are busy)."""
        index = self._idle.get()
        try:
            return self._workers[index].runBatch(dict(manifest, gpus=self.devices[index]), folder)
        finally:
            self._idle.put(index)

    def stop(self):
        for worker in self._workers:
            worker.stop()
