"""Where cleaning runs: each model loaded once per process, on the CPU, one GPU or several.

This is the one path by which prediction chooses its device. A process is pinned to its device
(:func:`.devices.configure`) when it loads its first model, because TensorFlow fixes its devices
then; a process that runs many batches (the plugin's worker) keeps its models and its device.
Several GPUs get one process each, spawned with the same rule.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cleaner import Cleaner, Result
from .options import CleaningOptions, Job, OptionError, UsageError
from .prediction import Predictor
from .reporting import progress

Measures = dict[str, Callable[[np.ndarray, "float | None"], "float | None"]]


@dataclass(frozen=True)
class ModelChoice:
    """Which model, and how it is run: the key under which a process keeps it loaded."""

    path: str | Path | None = None  # None: the bundled model
    augmentation: str = "none"
    batch_size: int = 8


@dataclass
class Runner:
    """Runs jobs with the models this process has loaded (see the module's note on devices)."""

    _predictors: dict[ModelChoice, Predictor] = field(default_factory=dict)

    def predictor(self, choice: ModelChoice, gpu: str | None, threads: int | None) -> Predictor:
        if choice not in self._predictors:
            if not self._predictors:
                from .devices import configure

                configure(gpu, threads)
            self._predictors[choice] = load_predictor(choice)
        return self._predictors[choice]

    def run(self, jobs: list[Job], options: CleaningOptions, choice: ModelChoice, gpus: list[str] | None,
            threads: int | None = None, measures: Measures | None = None) -> Iterator[Result]:
        """Results of ``jobs``: in order on one device, as they finish on several GPUs.

        On one device the model is loaded (and the options checked against it) when this is called,
        not at the first result, so that a progress bar started afterwards times micrographs only.
        """
        if gpus and len(gpus) > 1:
            return _on_several_gpus(jobs, options, choice, gpus, threads, measures)
        predictor = self.predictor(choice, gpus[0] if gpus else None, threads)
        return Cleaner(predictor, options, measures).run(jobs)


def load_predictor(choice: ModelChoice) -> Predictor:
    """The model and its card, checked; a card that is not a card is a ModelFileError naming it."""
    from .model_files import ModelFileError, card_path, load_model, resolve_model_path

    try:
        model, card = load_model(choice.path)
    except ModelFileError:
        raise
    except (ValueError, TypeError) as error:  # the card: not JSON, or not the fields of a card
        raise ModelFileError(f"{card_path(resolve_model_path(choice.path))}: not a valid model card "
                             f"({error})") from None
    return Predictor(model, card, choice.augmentation, choice.batch_size)  # type: ignore[arg-type]


def run_jobs(jobs: list[Job], options: CleaningOptions, choice: ModelChoice, gpus: str = "all",
             threads: int | None = None, quiet: bool = False, runner: Runner | None = None,
             measures: Measures | None = None) -> Iterator[Result]:
    """The results of ``jobs`` with a progress bar; a model, device or option that cannot work is a
    :class:`~.reporting.UsageError`, raised before the first result.

    Micrographs that are not there fail first, without the model: a run of missing files ends at
    once instead of after TensorFlow's start-up, and the bar counts only micrographs to clean.
    """
    from .devices import DeviceError, parse_gpus
    from .model_files import ModelFileError, resolve_model_path

    try:
        choice = ModelChoice(resolve_model_path(choice.path), choice.augmentation, choice.batch_size)
        devices = parse_gpus(gpus)
    except (ModelFileError, DeviceError) as error:
        raise UsageError(str(error)) from None
    present = []
    for job in jobs:
        if Path(job.micrograph).is_file():
            present.append(job)
        else:
            yield Result.failed(job, f"{job.micrograph}: file not found")
    if not present:
        return
    try:
        results = (runner or Runner()).run(present, options, choice, devices, threads, measures)
        yield from progress(results, len(present), quiet)
    except (ModelFileError, OptionError) as error:
        raise UsageError(str(error)) from None


# ---------------------------------------------------------------------------- several GPUs
_process_cleaner: Cleaner | None = None
"""In a spawned GPU process: its cleaner, made once by :func:`_start_gpu_process`."""


def _start_gpu_process(devices, threads, choice: ModelChoice, options: CleaningOptions, measures) -> None:
    global _process_cleaner
    _process_cleaner = Cleaner(Runner().predictor(choice, devices.get(), threads), options, measures)


def _clean_in_gpu_process(job: Job) -> Result:
    result = _process_cleaner.process(job)  # type: ignore[union-attr]
    result.badness = None  # not worth sending between processes
    return result


def _on_several_gpus(jobs: list[Job], options: CleaningOptions, choice: ModelChoice, gpus: list[str],
                     threads: int | None, measures: Measures | None) -> Iterator[Result]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    devices = context.Manager().Queue()
    for gpu in gpus:
        devices.put(gpu)
    with ProcessPoolExecutor(len(gpus), mp_context=context, initializer=_start_gpu_process,
                             initargs=(devices, threads, choice, options, measures)) as pool:
        for future in as_completed([pool.submit(_clean_in_gpu_process, job) for job in jobs]):
            yield future.result()
