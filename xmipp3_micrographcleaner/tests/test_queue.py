"""The deep micrograph screen through Scipion's queue, on a real (one-node) SLURM.

``scripts/slurm.sh start`` brings the cluster up (these tests are skipped, with the script's one-line
reason, where it cannot: not root, no apt-get, a daemon that does not come up) and
``scripts/hosts-slurm.conf`` is the hosts.conf of these tests' projects. A run sent to the queue
(whole-protocol mode, Scipion's default) is one sbatch job; Stop in Scipion cancels it (scancel);
Continue submits a new job. Per-step mode (QUEUE_FOR_JOBS=Y) sends each runJob to the queue: this
protocol runs none, so nothing of it would reach the queue, and its form refuses that mode.

The node declares at least 4 CPUs (the protocol asks for 3 threads, so its job for 3 CPUs; SLURM
leaves a job asking for more than a node has pending for ever) and 2 fake GPUs (device nodes of
/dev/null: SLURM books them and sets CUDA_VISIBLE_DEVICES, nothing computes on them).
"""
import glob
import inspect
import json
import os
import subprocess
import time
import unittest
from pathlib import Path

import psutil
import pyworkflow as pw
from pwem.protocols import ProtCreateStreamData
from pyworkflow.constants import QUEUE_FOR_JOBS
from pyworkflow.protocol.executor import QueueStepExecutor, ThreadStepExecutor

from ..attributes import ICINESS
from ..protocols import ProtDeepMicrographScreen
from ..protocols.protocol_deep_micrograph_screen import MIN_THREADS
from . import test_protocol_screen as screen_tests  # the module: its test classes are not collected again here
from .test_protocol_screen import ScreenTestBase, stored

ROOT = Path(__file__).resolve().parents[2]
SLURM_SH = ROOT / "scripts" / "slurm.sh"
HOSTS_CONF = ROOT / "scripts" / "hosts-slurm.conf"
PARTITION = "scipion"  # the partition slurm.sh creates: the QUEUES key of hosts-slurm.conf
CANNOT_START = range(10, 16)  # slurm.sh's exit statuses for "SLURM cannot run here" (see the script)
NODE_CPUS = max(os.cpu_count() or 1, MIN_THREADS + 1)  # the protocol's job, and one more for a blocker job
FAKE_GPUS = 2
QUEUE_PARAMS = {"JOB_MEMORY": "4G", "JOB_HOURS": "1"}  # as the form's queue dialog sends them: strings

PER_STEP_REFUSAL = ("Sending each step to the queue (QUEUE_FOR_JOBS=Y) is not possible with this protocol: "
                    "its steps run inside Scipion's own process, so nothing would reach the queue; "
                    "send the whole protocol to the queue instead (QUEUE_FOR_JOBS=N).")


def clusterEnviron():
    environ = dict(os.environ, MC_SLURM_CPUS=str(NODE_CPUS), MC_SLURM_PARTITION=PARTITION)
    real = len(glob.glob("/dev/nvidia[0-9]*"))
    if real:
        environ["MC_SLURM_GPUS"] = str(real)
    else:
        environ["MC_SLURM_FAKE_GPUS"] = str(FAKE_GPUS)
    return environ


def slurmScript(command, environ=None):
    return subprocess.run(["bash", str(SLURM_SH), command], capture_output=True, text=True,
                          env=environ or clusterEnviron())


def squeue(*args):
    """squeue's lines for these arguments (no header); by default it lists pending and running jobs only."""
    return subprocess.run(["squeue", "-h", *args], capture_output=True, text=True).stdout.strip()


def jobState(jobId):
    """PENDING, RUNNING, COMPLETED, CANCELLED, ... (ended jobs too, for the minutes SLURM keeps them)."""
    return squeue("-t", "all", "-j", str(jobId), "-o", "%T")


def jobGpus(jobId):
    """The GPUs a running job holds, as scontrol -d shows them: 'gpu:1(IDX:0)'."""
    details = subprocess.run(["scontrol", "-d", "show", "job", str(jobId)], capture_output=True, text=True).stdout
    return " ".join(item.partition("=")[2] for item in details.split() if item.startswith("GRES="))


class QueueTestBase(ScreenTestBase):
    """A project whose hosts.conf is scripts/hosts-slurm.conf, on a running SLURM."""

    @classmethod
    def setUpClass(cls):
        cls.jobIds = []  # every job these tests submit, cancelled at the end whatever happened
        wasRunning = slurmScript("status").returncode == 0
        started = slurmScript("start")
        reason = (started.stderr.strip().splitlines() or ["no reason given"])[-1]
        if started.returncode in CANNOT_START:
            raise unittest.SkipTest("no SLURM here: %s" % reason)
        if started.returncode:
            raise RuntimeError("scripts/slurm.sh start failed (status %d): %s" % (started.returncode, started.stderr))
        cls.startedCluster = not wasRunning
        # Scipion's hosts.conf: pyworkflow.Config reads SCIPION_HOSTS once, when pyworkflow is imported
        # (already done in this process), and each project reads Config.SCIPION_HOSTS when it is created
        # or loaded: the attribute for this process's projects, the variable for the runs' processes
        # (in the jobs too: sbatch passes the environment on). Never createProject(hostsConf=...): it
        # copies that file over the absolute SCIPION_HOSTS path, the main set-up's hosts.conf.
        cls.savedEnviron = {name: os.environ.get(name) for name in ("SCIPION_HOSTS", "SLURM_CONF")}
        cls.savedHosts = pw.Config.SCIPION_HOSTS
        slurmConf = slurmScript("env").stdout.strip().partition("SLURM_CONF=")[2]
        os.environ.update(SCIPION_HOSTS=str(HOSTS_CONF), SLURM_CONF=slurmConf)
        pw.Config.SCIPION_HOSTS = str(HOSTS_CONF)
        try:
            super().setUpClass()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.jobIds:
            subprocess.run(["scancel", *map(str, cls.jobIds)], capture_output=True)
        pw.Config.SCIPION_HOSTS = cls.savedHosts
        for name, value in cls.savedEnviron.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if cls.startedCluster:
            stopped = slurmScript("stop")
            if stopped.returncode:
                raise RuntimeError("scripts/slurm.sh stop failed: %s" % stopped.stderr)

    # ------------------------------------------------------------------ helpers
    def queued(self, coordinates, queueParams=None, **kwargs):
        """A screen to be sent to the queue, as the form's "Use queue? Yes" and queue dialog leave it."""
        protocol = self.screen(coordinates, launch=False, **kwargs)
        protocol._useQueue.set(True)
        protocol.setQueueParams([PARTITION, dict(QUEUE_PARAMS, **(queueParams or {}))])
        return protocol

    def submit(self, protocol):
        """Launches a queued protocol; returns the job id Scipion took from sbatch's answer."""
        started = time.perf_counter()
        self.proj.launchProtocol(protocol, wait=False)
        elapsed = time.perf_counter() - started
        self.assertFalse(protocol.isFailed(), protocol.getErrorMessage())
        jobIds = [int(jobId) for jobId in protocol.getJobIds()]
        self.assertEqual(len(jobIds), 1, "one job per run")
        self.jobIds.extend(jobIds)
        self.assertEqual(protocol.getPid(), 0, "a queued run has no local process")
        self.assertEqual(squeue("-t", "all", "-j", str(jobIds[0]), "-o", "%j %Z"),
                         "scipion-%s %s" % (protocol.strId(), self.proj.path))
        print("job %d submitted in %.3f s (launchProtocol, sbatch included)" % (jobIds[0], elapsed))
        return jobIds[0]

    def jobScript(self, protocol):
        with open(protocol._getLogsPath("%s.job" % protocol.strId())) as stream:
            return stream.read()

    def jobOutput(self, protocol):
        path = protocol._getLogsPath("%s.out" % protocol.strId())
        return open(path).read() if os.path.exists(path) else ""

    def waitForJobEnd(self, jobId, timeout=60):
        started = time.time()
        self.waitFor(lambda: not squeue("-j", str(jobId)), "job %d to leave the queue" % jobId, timeout=timeout)
        return time.time() - started

    def runProcesses(self, protocol):
        """The run's pw_protocol_run.py processes."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if "pw_protocol_run.py" in cmdline and protocol.getDbPath() in cmdline and self.proj.path in cmdline:
                found.append(process)
        return found

    def projectJobs(self):
        """Ids of the jobs submitted from this project (sbatch's working folder), ended ones included."""
        lines = [line.split(None, 1) for line in squeue("-t", "all", "-o", "%i %Z").splitlines()]
        return {int(fields[0]) for fields in lines if len(fields) == 2 and fields[1] == self.proj.path}

    @staticmethod
    def inSlurmJob(process):
        """Whether a process descends from slurmstepd (runs inside a SLURM job)."""
        try:
            return any(parent.name().startswith("slurmstepd") for parent in process.parents())
        except psutil.NoSuchProcess:
            return False

    def streamingInputs(self, mics, coords, count, micSeconds=3, coordSeconds=8):
        """Feeders that copy the micrographs and coordinates into sets growing one item at a time."""
        micFeeder = self.newProtocol(ProtCreateStreamData, setof=1, inputMics=mics.outputMicrographs,
                                     nDim=count, creationInterval=micSeconds)
        coordFeeder = self.newProtocol(ProtCreateStreamData, setof=4, inputCoordinates=coords.outputCoordinates,
                                       nDim=count, creationInterval=coordSeconds)
        for feeder, output in ((micFeeder, "outputMicrographs"), (coordFeeder, "outputCoordinates")):
            self.proj.launchProtocol(feeder, wait=False)
            self.waitFor(lambda: self.refreshed(feeder).hasAttribute(output), "the first streamed item")
        return micFeeder, coordFeeder

    def masks(self, protocol, micIds):
        return {micId: os.stat(protocol._getExtraPath("micrographs", "mic%06d_mask.mrc" % micId)).st_mtime_ns
                for micId in micIds}


class TestQueuedRun(QueueTestBase):
    """Whole-protocol mode: the run is one sbatch job, stopped with scancel, continued with a new job."""

    def test_streaming_run_is_one_sbatch_job(self):
        names = ["q%d" % i for i in range(4)]
        mics, coords, truth = self.importScenes("streaming", names, seed=11)
        micFeeder, coordFeeder = self.streamingInputs(mics, coords, len(names))
        protocol = self.queued(None, streamingBatchSize=1, streamingSleepOnWait=2)
        protocol.inputCoordinates.set(coordFeeder)
        protocol.inputCoordinates.setExtended("outputCoordinates")
        protocol.inputMicrographs.set(micFeeder)
        protocol.inputMicrographs.setExtended("outputMicrographs")
        submitted = time.time()
        jobId = self.submit(protocol)
        script = self.jobScript(protocol)
        self.assertIn("#SBATCH --partition=%s\n" % PARTITION, script)
        self.assertIn("#SBATCH --cpus-per-task=%d\n" % MIN_THREADS, script)
        self.assertIn("#SBATCH --mem=4G\n", script)
        self.assertNotIn("--gres", script, "a CPU run should ask for no GPU")
        self.assertIn("pw_protocol_run.py", script)
        self.waitFor(lambda: jobState(jobId) in ("RUNNING", "COMPLETED"), "the job to start", timeout=60)
        print("job %d running %.1f s after submission" % (jobId, time.time() - submitted))

        self.waitFor(lambda: self.registeredMicrographs(protocol), "the first batch", timeout=180)
        print("first micrograph registered %.1f s after submission" % (time.time() - submitted))
        self.assertTrue(self.streamOpen(coordFeeder.outputCoordinates),
                        "a batch should be registered while the input still grows")
        self.assertEqual(jobState(jobId), "RUNNING")
        self.assertEqual([int(j) for j in self.refreshed(protocol).getJobIds()], [jobId], "the job id Scipion keeps")
        workers = self.engineWorkers()
        self.assertEqual(len(workers), 1, "one engine worker per run")
        self.assertTrue(self.inSlurmJob(workers[0]), "the engine should run inside the SLURM job")
        counts = set()

        def done():
            counts.add(len(self.registeredMicrographs(protocol)))
            return self.finished(protocol)

        self.waitFor(done, "the run to finish", timeout=400)
        print("run finished %.1f s after submission" % (time.time() - submitted))
        self.assertGreaterEqual(len(counts - {0, len(names)}), 2, "the outputs should grow batch by batch: %s"
                                % sorted(counts))
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        self.assertMicrographOutputs(protocol, len(names))
        self.waitForJobEnd(jobId)
        self.assertEqual(jobState(jobId), "COMPLETED")
        self.assertIn("Scipion job %d on" % jobId, self.jobOutput(protocol))
        self.assertFalse(self.engineWorkers(), "the engine worker outlived the job")

    def test_stop_cancels_the_job(self):
        names = ["x%d" % i for i in range(3)]
        mics, coords, truth = self.importScenes("stop", names, seed=12)
        screen_tests.TestLatePicks.reopenInput(coords.outputCoordinates, [])  # more picks could come: never ends
        protocol = self.queued(coords.outputCoordinates, streamingBatchSize=1, streamingSleepOnWait=2)
        jobId = self.submit(protocol)
        self.waitFor(lambda: self.registeredMicrographs(protocol) and self.engineWorkers(),
                     "a registered batch and the engine worker", timeout=180)
        self.assertEqual(jobState(jobId), "RUNNING")
        self.assertTrue(self.runProcesses(protocol), "the run's process should be alive in the job")
        stopped = time.time()
        self.proj.stopProtocol(protocol)
        print("stopProtocol took %.2f s" % (time.time() - stopped))
        waited = self.waitForJobEnd(jobId, timeout=60)
        print("job %d left the queue %.1f s after Stop" % (jobId, time.time() - stopped))
        self.assertLess(waited, 30, "Stop should end the job at once, not let it run on")
        self.assertEqual(jobState(jobId), "CANCELLED", "Stop should cancel the job (scancel)")
        self.waitFor(lambda: not self.engineWorkers(), "the engine worker to end with the job", timeout=30)
        self.waitFor(lambda: not self.runProcesses(protocol), "the run's process to end with the job", timeout=30)
        time.sleep(3)  # anything the killed run wrote last is in its database now
        protocol = self.refreshed(protocol)
        self.assertTrue(protocol.isAborted(), "after Stop the run should be aborted, not %s: %s"
                        % (protocol.getStatus(), protocol.getErrorMessage()))

    def test_job_that_cannot_start_stays_pending_until_stopped(self):
        """More threads than the node has CPUs: sbatch accepts the job but SLURM never starts it;
        Scipion shows the run as launched (active) meanwhile, and Stop cancels the pending job."""
        mics, coords, truth = self.importScenes("pending", ["w0"], seed=16)
        protocol = self.queued(coords.outputCoordinates, numberOfThreads=NODE_CPUS + 1)
        jobId = self.submit(protocol)
        time.sleep(3)
        self.assertEqual(squeue("-j", str(jobId), "-o", "%T %r"), "PENDING PartitionConfig")
        self.assertTrue(self.refreshed(protocol).isActive(), protocol.getStatus())
        self.proj.stopProtocol(protocol)
        self.waitForJobEnd(jobId, timeout=30)
        self.assertEqual(jobState(jobId), "CANCELLED")
        self.assertTrue(self.refreshed(protocol).isAborted(), protocol.getStatus())
        self.assertFalse(self.registeredMicrographs(protocol))

    def test_continue_after_stop_resubmits(self):
        """Stopped after two micrographs, the input then completed and closed: Continue submits a new
        job, which redoes no micrograph and loses or repeats no pick."""
        names = ["c%d" % i for i in range(5)]
        mics, coords, truth = self.importScenes("continue", names, seed=13)
        micIds = {os.path.basename(m.getFileName())[:-4]: m.getObjId() for m in mics.outputMicrographs}
        late = ["c3", "c4"]  # their picks come only after the Stop
        rows = [(c.getObjId(), c.getMicId()) for c in coords.outputCoordinates]
        screen_tests.TestLatePicks.reopenInput(coords.outputCoordinates,
                                               [coordId for coordId, micId in rows
                                                if micId in {micIds[name] for name in late}])
        protocol = self.queued(coords.outputCoordinates, streamingBatchSize=1, streamingSleepOnWait=2)
        firstJob = self.submit(protocol)
        self.waitFor(lambda: len(self.registeredMicrographs(protocol)) >= 2, "two registered micrographs", timeout=180)
        self.proj.stopProtocol(protocol)
        self.waitForJobEnd(firstJob)
        self.waitFor(lambda: not self.engineWorkers(), "the engine worker to end with the job", timeout=30)
        protocol = self.refreshed(protocol)
        done = self.registeredMicrographs(protocol)
        masks = self.masks(protocol, done)
        screen_tests.TestLatePicks.appendInput(
            coords.outputCoordinates, [(micIds[name], x, y) for name in late for x, y, _ in truth[name]], close=True)

        secondJob = self.submit(protocol)  # Continue (the run mode stays "continue")
        self.assertNotEqual(secondJob, firstJob)
        self.assertIn("#SBATCH --cpus-per-task=%d\n" % MIN_THREADS, self.jobScript(protocol))
        self.waitFor(lambda: self.finished(protocol), "the continued run to finish", timeout=400)
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        self.assertMicrographOutputs(protocol, len(names))
        self.assertEqual(self.masks(protocol, done), masks, "micrographs done before the Stop were predicted again")
        self.waitForJobEnd(secondJob)
        self.assertEqual(jobState(secondJob), "COMPLETED")
        self.assertFalse(self.engineWorkers(), "the engine worker outlived the job")


class TestQueuedGpus(QueueTestBase):
    """GPUs are asked of SLURM (--gres=gpu:N, N = the run's GPU ids) and SLURM chooses which."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mics, cls.coords, cls.truth = cls.importScenes("gpus", ["g0", "g1"], seed=14)

    def test_more_gpus_than_the_cluster_has_fails_at_submission(self):
        protocol = self.queued(self.coords.outputCoordinates, useGpu=True, gpuList="0,1,2")
        self.proj.launchProtocol(protocol, wait=False)
        self.assertTrue(protocol.isFailed(), "sbatch should refuse 3 GPUs on a node with %d" % FAKE_GPUS)
        self.assertIn("problem submitting this protocol to the queue", protocol.getErrorMessage())
        self.assertIn("Requested node configuration is not available", protocol.getErrorMessage())
        self.assertIn("#SBATCH --gres=gpu:3\n", self.jobScript(protocol))

    def test_engine_uses_the_gpu_slurm_gave_the_job(self):
        """GPU 0 is taken by another job, so SLURM gives this run GPU 1 (CUDA_VISIBLE_DEVICES=1): the
        engine must run on what the job got, not on the form's GPU id 0, the other job's GPU."""
        blocker = int(subprocess.run(["sbatch", "--parsable", "--gres=gpu:1", "-J", "gpu-blocker", "-o", "/dev/null",
                                      "--wrap", "sleep 600"], capture_output=True, text=True, check=True).stdout
                      .split(";")[0])
        self.jobIds.append(blocker)
        self.addCleanup(subprocess.run, ["scancel", str(blocker)], capture_output=True)
        self.waitFor(lambda: jobState(blocker) == "RUNNING", "the blocking job", timeout=60)
        self.assertEqual(jobGpus(blocker), "gpu:1(IDX:0)", "the blocker should hold GPU 0")
        protocol = self.queued(self.coords.outputCoordinates, useGpu=True, gpuList="0", streamingBatchSize=2)
        jobId = self.submit(protocol)
        self.assertIn("#SBATCH --gres=gpu:1\n", self.jobScript(protocol))
        self.waitFor(lambda: self.finished(protocol), "the run to finish", timeout=400)
        self.assertMatchesTruth(protocol, self.mics.outputMicrographs, self.truth)  # TensorFlow's CPU build
        self.assertIn("GPUs: 1", self.jobOutput(protocol), "SLURM should have given the job GPU 1")
        manifests = glob.glob(protocol._getExtraPath("batches", "*", "manifest.json"))
        self.assertTrue(manifests)
        for path in manifests:
            with open(path) as stream:
                gpus = json.load(stream)["gpus"]
            self.assertEqual(gpus, "1", "the engine was told GPUs %r, the job has GPU 1 (%s)" % (gpus, path))
        self.waitForJobEnd(jobId)


    def test_two_gpus_two_workers_each_loading_the_model_once(self):
        """Two GPUs asked for: SLURM gives the job both, and the run keeps one engine worker on each
        for its whole length (the model loaded once per worker), batches spread over them, every
        micrograph with its iciness."""
        names = ["t%d" % i for i in range(4)]
        mics, coords, truth = self.importScenes("twogpus", names, seed=17)
        protocol = self.queued(coords.outputCoordinates, useGpu=True, gpuList="0,1", numberOfThreads=MIN_THREADS + 1,
                               streamingBatchSize=1)
        jobId = self.submit(protocol)
        self.assertIn("#SBATCH --gres=gpu:2\n", self.jobScript(protocol))
        workers = set()

        def done():
            workers.update(worker.pid for worker in self.engineWorkers())
            return self.finished(protocol)

        self.waitFor(done, "the run to finish", timeout=400)
        self.assertEqual(len(workers), 2, "one engine worker per GPU for the whole run, no more")
        self.assertMatchesTruth(protocol, mics.outputMicrographs, truth)
        for mic in self.assertMicrographOutputs(protocol, len(names)):
            self.assertIsNotNone(stored(mic, ICINESS), "a micrograph without its iciness")
        used = set()
        for path in glob.glob(protocol._getExtraPath("batches", "*", "manifest.json")):
            with open(path) as stream:
                used.add(json.load(stream)["gpus"])
        self.assertEqual(used, {"0", "1"}, "the batches should run on both GPUs the job got")
        self.waitForJobEnd(jobId)


class TestPerStepQueue(QueueTestBase):
    """Per-step mode (QUEUE_FOR_JOBS=Y): pyworkflow sends each runJob to the queue; this protocol's
    steps are Python functions and its engine a subprocess of them, so nothing reaches SLURM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mics, cls.coords, cls.truth = cls.importScenes("perstep", ["p0", "p1", "p2"], seed=15)

    def perStep(self, **kwargs):
        return self.queued(self.coords.outputCoordinates, queueParams={QUEUE_FOR_JOBS: "Y"}, **kwargs)

    def test_per_step_queue_sends_only_run_jobs(self):
        """The facts the refusal rests on, in pyworkflow 3.11: its per-step executor sends runJob
        calls to the queue and runs steps like the thread executor; the screen protocol (its module
        and the modules beside it that its steps use) calls no runJob. The fine-tune protocol does,
        so its training is a job the per-step mode can queue."""
        self.assertIn("runJob", QueueStepExecutor.__dict__)
        self.assertIs(QueueStepExecutor.runSteps, ThreadStepExecutor.runSteps,
                      "pyworkflow's per-step executor now runs steps itself: revisit the per-step refusal")
        folder = Path(inspect.getfile(ProtDeepMicrographScreen)).parent
        sources = [folder / name for name in ("protocol_deep_micrograph_screen.py", "engine_client.py",
                                              "screen_inputs.py", "screen_outputs.py")]
        self.assertFalse([path.name for path in sources if ".runJob(" in path.read_text()],
                         "the protocol runs a program through runJob now: per-step mode may make sense")

    def test_per_step_mode_is_refused(self):
        """The form refuses QUEUE_FOR_JOBS=Y. A run launched anyway (Project.launchProtocol does not
        validate; the run's process does) fails at once with the refusal, having submitted and
        computed nothing (what pyworkflow 3.11 would do with it: run every step locally, in a local
        process with a QueueStepExecutor, while the user believes it queued). The whole-protocol mode
        stays valid."""
        protocol = self.perStep()
        self.assertIn(PER_STEP_REFUSAL, protocol.validate())
        before = self.projectJobs()
        self.proj.launchProtocol(protocol, wait=False)
        self.waitFor(lambda: self.refreshed(protocol).isFailed() or protocol.isFinished(), "the run to end", timeout=60)
        self.assertTrue(protocol.isFailed())
        self.assertIn(PER_STEP_REFUSAL, protocol.getErrorMessage())
        self.assertFalse(self.projectJobs() - before, "a job was submitted")
        self.assertFalse(self.registeredMicrographs(protocol), "a refused run computed something")
        whole = self.queued(self.coords.outputCoordinates, queueParams={QUEUE_FOR_JOBS: "N"})
        self.assertEqual(whole.validate(), [])
