"""Choosing where the network runs: CPU (with a thread count) or one process per GPU.

This must happen before TensorFlow is imported, so it works through environment variables; the
original tool's users hit out-of-memory errors until memory growth was turned on, and a CPU request
that still ran on GPU 0: both are handled here.
"""
from __future__ import annotations

import os


class DeviceError(ValueError):
    pass


def parse_gpus(spec: str) -> list[str] | None:
    """``cpu`` -> None; ``0`` / ``0,1`` -> ids; ``all`` -> the GPUs visible to this process."""
    spec = str(spec).strip().lower()
    if spec in ("cpu", "none", "") or spec.startswith("-"):
        return None
    if spec == "all":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            ids = [item for item in visible.split(",") if item.strip() and not item.startswith("-")]
        else:
            ids = list_gpus()
        return ids or None
    ids = [item.strip() for item in spec.split(",") if item.strip()]
    if not all(item.isdigit() for item in ids):
        raise DeviceError(f"--gpus expects 'cpu', 'all' or a comma-separated list of GPU ids, got {spec!r}")
    return ids


def check_gpus(spec: str, flag: str = "--gpus") -> list[str] | None:
    """:func:`parse_gpus`, refusing ids the driver does not list (TensorFlow would fall back on the
    CPU without a word). For the command line: a manifest's GPUs are not checked, so that a plugin
    left at its default GPU 0 still runs on a machine without one."""
    ids = parse_gpus(spec)
    if ids and str(spec).strip().lower() != "all":
        listed = list_gpus()
        missing = [gpu for gpu in ids if gpu not in listed]
        if missing:
            raise DeviceError(f"{flag} {spec}: no GPU {', '.join(missing)} on this machine (GPUs found: "
                              f"{', '.join(listed) or 'none'}); use {flag} cpu or a GPU that is there")
    return ids


def list_gpus() -> list[str]:
    """GPU ids from the NVIDIA driver without importing TensorFlow in this process."""
    try:
        import subprocess

        listing = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def configure(gpu: str | None, threads: int | None = None) -> None:
    """Pin this process to one GPU (or to the CPU) and set TensorFlow's thread pools."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu if gpu is not None else "-1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    for device in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(device, True)
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # TensorFlow already started in this process: its pools are fixed
            pass
