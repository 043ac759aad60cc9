"""Speed benchmark: this engine versus the original MicrographCleaner, on the CPU.

For each micrograph size (1024x1024, 4096x4096, K3 5760x4092; box 200) it

1. draws deterministic simulated micrographs (``micrographcleaner.simulation``, at full size for
   box 200) with their particle coordinates and bad-region truth, cached under results/cache/;
2. builds the paper-size U-Net weights once (fixed seed, briefly trained by the engine's training
   on simulated scenes; make_weights.py) and saves them as our .keras and as the original's
   256x256x1 .h5, also cached;
3. times our predict+score path per stage (run_ours.py): the same weights as .keras with --tta
   none and d8, the original's .h5 itself with --tta d8 (its tiles and legacy preprocessing), and
   the bundled model at its defaults; and the original (run_original.py, in its own venv). Each
   measurement is a fresh process that imports, loads the model and cleans one warm-up micrograph
   of the same size (the start-up, timed apart), then the timed ones; peak memory is each
   process's own peak resident set size;
4. compares the masks (IoU at 0.5, at the working scale) with each other and with the truth;
5. runs ``micrographcleaner predict`` (bundled model) on 20 and on 500 K3 micrographs (links to
   the cached ones) and compares the peak memory of the two processes: it must not grow with the
   number of micrographs;
6. prints the tables and writes them to results/benchmark_speed.{md,json}.

Run from anywhere with the engine's venv::

    python benchmarks/benchmark_speed.py [--sizes 1k,4k,k3] [--quick] [--upstream-venv DIR] [--no-original]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from micrographcleaner.evaluation import iou
from micrographcleaner.images import read_mask
from micrographcleaner.preprocessing import area_resize
from micrographcleaner.testing import simulated_micrograph, write_mrc

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"
SIZES: dict[str, tuple[int, int]] = {"1k": (1024, 1024), "4k": (4096, 4096), "k3": (4092, 5760)}  # (rows, cols)
BOX_SIZE = 200
CACHE = RESULTS / "cache" / "v2"  # bump the version when the simulator or make_weights.py change
BAD_LEVEL = 0.5
ORIGINAL_PACKAGE = "micrograph-cleaner-em==1.0.2"
# micrograph-cleaner-em's own requirements, with tensorflow-cpu instead of tensorflow[and-cuda]
# (which would pull several GB of CUDA libraries that a CPU benchmark never uses)
ORIGINAL_REQUIREMENTS = ["tensorflow-cpu", "keras>=3.2", "numpy>=1.26", "scipy>=1.10", "h5py>=3.10",
                         "joblib>=1.4", "pandas>=2.3", "scikit-image>=0.22", "opencv-python-headless>=4.8",
                         "pillow>=10.0", "imageio>=2.31", "mrcfile>=1.5", "matplotlib>=3.8", "tqdm>=4.66",
                         "click>=8.1", "protobuf>=3.20,<6", "setuptools_scm"]
STAGES = ["read", "preprocess", "checksum", "network", "stitch", "write", "score"]
COMPARED = [("ours", "original"), ("ours d8", "original"), ("ours h5 d8", "original"), ("ours", "truth"),
            ("ours d8", "truth"), ("bundled", "truth"), ("original", "truth")]
TARGET_SPEEDUP = 10  # K3, default settings, versus the original
TARGET_PEAK_MIB = 2048  # 2 GiB
TARGET_PREPROCESS = {"ours": 0.045, "ours h5 d8": 0.200}  # K3 seconds: area (ours) and legacy (the .h5)
TARGET_H5_IOU = 0.95  # ours on the original's .h5 against the original
TARGET_MEMORY_GROWTH = 1.10  # peak memory over the most micrographs / over the fewest
MEMORY_SIZE = "k3"
WORKER_ENV = {"CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@dataclass
class Measurement:
    """One worker process's report, reduced to medians over its timed micrographs."""

    report: dict  # as written by run_ours.py / run_original.py

    @property
    def runs(self) -> list[dict]:
        return [run for run in self.report["runs"] if run["error"] is None]

    @property
    def error(self) -> str | None:
        failed = [run["error"] for run in self.report["runs"] if run["error"] is not None]
        return failed[0] if failed else None

    @property
    def wall(self) -> float | None:
        return float(np.median([run["wall"] for run in self.runs])) if self.runs else None

    def stage(self, name: str) -> float | None:
        values = [run["timings"][name] for run in self.runs if name in run["timings"]]
        return float(np.median(values)) if values else None

    @property
    def peak_mb(self) -> float:
        return self.report["peak_rss_mb"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help=f"comma-separated subset of {', '.join(SIZES)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="one timed micrograph per size and 60 training steps (unless given explicitly)")
    parser.add_argument("--repeats", type=int, help="timed micrographs per size (default 5, --quick 1)")
    parser.add_argument("--train-steps", type=int,
                        help="training steps for the weights, ~1 s each; 0 = untrained (default 240, --quick 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the network weights (default 0)")
    parser.add_argument("--upstream-venv", type=Path, default=RESULTS / "upstream-venv",
                        help="venv with the original tool; created there when missing (default: %(default)s)")
    parser.add_argument("--no-original", action="store_true",
                        help="leave the original out (no venv needed; no ratios against it)")
    parser.add_argument("--memory-counts", default=None,
                        help="micrograph counts of the memory runs (default 20,500; --quick 5,50; 0 = none)")
    args = parser.parse_args()
    counts = args.memory_counts or ("5,50" if args.quick else "20,500")
    args.memory_counts = [int(count) for count in counts.split(",") if int(count) > 0]
    args.sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = [size for size in args.sizes if size not in SIZES]
    if unknown or not args.sizes:
        parser.error(f"--sizes: unknown {unknown}; choose from {', '.join(SIZES)}")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.train_steps is None:
        args.train_steps = 60 if args.quick else 240
    return args


# ---------------------------------------------------------------- inputs: micrographs and weights

def micrograph_paths(size: str, count: int) -> list[Path]:
    """The cached micrographs of ``size`` (index 0 is the warm-up one), generated when missing.

    They are drawn in a child process: the workers started later inherit this process's peak
    memory as their own (Linux keeps it across exec), which would hide theirs.
    """
    folder = CACHE / "micrographs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{size}_{index}.mrc" for index in range(count)]
    missing = [(index, path) for index, path in enumerate(paths)
               if not path.with_name(f"{path.stem}_scene.json").is_file()]  # written last: the completion mark
    if missing:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as drawer:
            for index, path in missing:
                drawer.submit(generate_micrograph, path, SIZES[size], index).result()
    return paths


def generate_micrograph(path: Path, shape: tuple[int, int], seed: int) -> None:
    """Write the simulator's micrograph ``seed`` (float32) and, beside it, its particles (picker
    false positives included), bad-region truth and scene."""
    started = time.perf_counter()
    micrograph = simulated_micrograph(seed, shape, BOX_SIZE)
    truth = micrograph.labels > 0
    temporary = path.with_suffix(".tmp")
    write_mrc(temporary, micrograph.image, pixel_size=micrograph.pixel_size)
    temporary.replace(path)
    np.save(path.with_name(f"{path.stem}_particles.npy"), micrograph.particles)
    np.savez_compressed(path.with_name(f"{path.stem}_truth.npz"), truth=truth)
    path.with_name(f"{path.stem}_scene.json").write_text(json.dumps(micrograph.scene) + "\n")
    print(f"  generated {path.name} ({shape[1]}x{shape[0]}, {len(micrograph.particles)} particles, "
          f"{truth.mean():.0%} bad) in {time.perf_counter() - started:.1f} s", flush=True)


def weights(seed: int, train_steps: int) -> tuple[Path, dict]:
    """The folder holding ours.keras and original.h5 for these settings, built when missing."""
    tag = f"paper-seed{seed}-" + (f"steps{train_steps}" if train_steps > 0 else "untrained")
    folder = CACHE / "weights" / tag
    if not (folder / "weights.json").is_file():
        print(f"building the weights ({tag}); the log is in {folder / 'make_weights.log'}", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        run_logged([sys.executable, str(BENCHMARKS / "make_weights.py"), str(folder), "--seed", str(seed),
                    "--train-steps", str(train_steps)], folder / "make_weights.log")
    return folder, json.loads((folder / "weights.json").read_text())


def upstream_python(venv: Path) -> Path:
    """The python of a venv with the original tool, creating or completing that venv if needed."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import micrograph_cleaner_em.predictMask"]
    if python.is_file() and subprocess.run(check, check=False, capture_output=True, env=worker_env()).returncode == 0:
        return python
    print(f"installing the original tool into {venv} (several minutes)", flush=True)
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *ORIGINAL_REQUIREMENTS], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", ORIGINAL_PACKAGE], check=True)
    subprocess.run(check, check=True, env=worker_env())
    return python


# ---------------------------------------------------------------- measurements

def worker_env() -> dict:
    return {**os.environ, **WORKER_ENV}


def run_logged(command: list[str], log: Path) -> None:
    """Run ``command`` with its output in ``log``; on failure, raise with the log's tail."""
    with open(log, "w") as stream:
        stream.write(shlex.join(command) + "\n\n")
        stream.flush()
        status = subprocess.run(command, check=False, stdout=stream, stderr=subprocess.STDOUT, env=worker_env(),
                                cwd=BENCHMARKS).returncode
    if status != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise RuntimeError(f"{shlex.join(command[:2])} failed (exit {status}); end of {log}:\n{tail}")


def measure(label: str, command: list[str], size: str, micrographs: list[Path]) -> Measurement:
    """Run one worker (run_ours.py / run_original.py) in a fresh process on a fresh output folder."""
    slug = label.replace(" ", "-")
    output_dir = RESULTS / "masks" / size / slug
    shutil.rmtree(output_dir, ignore_errors=True)  # a mask left from an earlier run would be reused
    output_dir.mkdir(parents=True)
    result = RESULTS / "logs" / f"{size}-{slug}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    run_logged(command + ["--box-size", str(BOX_SIZE), "--output-dir", str(output_dir), "--result", str(result),
                          *map(str, micrographs)], result.with_suffix(".log"))
    measurement = Measurement(json.loads(result.read_text()))
    print(f"  {label:9s} {len(micrographs) - 1} timed + 1 warm-up in {time.perf_counter() - started:5.1f} s: "
          + (f"{measurement.wall:.2f} s per micrograph" if measurement.wall is not None
             else f"FAILED ({measurement.error})"), flush=True)
    return measurement


def measure_size(size: str, micrographs: list[Path], model_dir: Path, original: Path | None) -> dict[str, Measurement]:
    """Ours (the same weights: .keras with tta none and d8, the original's .h5 with d8; the bundled
    model at its defaults) and the original on the micrographs of one size."""
    from micrographcleaner.model_files import resolve_model_path

    ours = [sys.executable, str(BENCHMARKS / "run_ours.py")]
    runs = {"ours": ["--model", str(model_dir / "ours.keras"), "--tta", "none"],
            "ours d8": ["--model", str(model_dir / "ours.keras"), "--tta", "d8"],
            "ours h5 d8": ["--model", str(model_dir / "original.h5"), "--tta", "d8"],
            "bundled": ["--model", str(resolve_model_path(None)), "--tta", "none"]}
    measurements = {label: measure(label, ours + options, size, micrographs) for label, options in runs.items()}
    if original is not None:
        measurements["original"] = measure("original", [str(original), str(BENCHMARKS / "run_original.py"),
                                                        "--model", str(model_dir / "original.h5")], size, micrographs)
    return measurements


def memory_runs(micrographs: list[Path], counts: list[int]) -> list[dict]:
    """``micrographcleaner predict`` (bundled model, defaults) on ``count`` links to ``micrographs``,
    one fresh process per count: its wall time and its own peak resident memory (from wait4)."""
    runs = []
    for count in counts:
        folder, output_dir = CACHE / "links" / str(count), RESULTS / "masks" / "memory" / str(count)
        for stale in (folder, output_dir):
            shutil.rmtree(stale, ignore_errors=True)
        folder.mkdir(parents=True)
        for index in range(count):
            (folder / f"{MEMORY_SIZE}_{index:05d}.mrc").symlink_to(micrographs[index % len(micrographs)].resolve())
        command = [sys.executable, "-m", "micrographcleaner", "predict", str(folder), "--box-size", str(BOX_SIZE),
                   "--output-dir", str(output_dir), "--gpus", "cpu", "--quiet"]
        log = RESULTS / "logs" / f"memory-{count}.log"
        started = time.perf_counter()
        with open(log, "w") as stream:
            stream.write(shlex.join(command) + "\n\n")
            stream.flush()
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=worker_env(), cwd=BENCHMARKS)
            _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"{shlex.join(command[:4])} failed (exit {process.returncode}); see {log}")
        runs.append({"micrographs": count, "wall": wall, "peak_rss_mb": usage.ru_maxrss / 1024})
        print(f"  predict on {count} {MEMORY_SIZE} micrographs: {wall:.1f} s, peak {usage.ru_maxrss / 1024:.0f} MiB",
              flush=True)
        shutil.rmtree(output_dir, ignore_errors=True)  # ~0.6 MB of outputs per micrograph
    return runs


# ---------------------------------------------------------------- mask agreement

def mask_agreement(measurements: dict[str, Measurement]) -> dict:
    """Mean IoUs of the bad regions (badness >= 0.5) at our working scale, between the runs and the truth.

    The original's full-size masks and the full-size truth are area-averaged down to the working
    shape first; an IoU is undefined (left out) when both masks are empty.
    """
    masks = {label: {run["micrograph"]: run["mask"] for run in m.runs} for label, m in measurements.items()}
    values: dict[str, list] = {}
    for run in measurements["ours"].runs:
        shape = tuple(run["working_shape"])
        micrograph = Path(run["micrograph"])
        truth = np.load(micrograph.with_name(f"{micrograph.stem}_truth.npz"))["truth"].astype(np.float32)
        bad = {"truth": area_resize(truth, shape) >= BAD_LEVEL}
        for label, paths in masks.items():
            if run["micrograph"] in paths:
                mask = read_mask(paths[run["micrograph"]])
                bad[label] = (mask if mask.shape == shape else area_resize(mask, shape)) >= BAD_LEVEL
        values.setdefault("truth bad fraction", []).append(float(bad["truth"].mean()))
        for first, second in COMPARED:
            if first in bad and second in bad:
                values.setdefault(f"{first} vs {second}", []).append(iou(bad[first], bad[second]))
    return {name: float(np.mean(defined)) if (defined := [v for v in found if v is not None]) else None
            for name, found in values.items()}


# ---------------------------------------------------------------- tables

def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(slow: Measurement | None, fast: Measurement | None) -> str:
    if slow is None or fast is None or slow.wall is None or fast.wall is None:
        return "-"
    return f"{slow.wall / fast.wall:.1f}x"


def peak(measurement: Measurement | None) -> str:
    return "-" if measurement is None else f"{measurement.peak_mb:.0f}"


def startup(report: dict) -> float | None:
    """Import + model load + first micrograph, the seconds before the first timed one."""
    parts = [report.get(name) for name in ("import", "load", "warmup")]
    return None if None in parts else sum(parts)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |"
                     for line in lines)


def tables(results: dict[str, dict]) -> str:
    """The tables (speed and memory, stages and start-up, mask agreement, memory over many micrographs) as markdown."""
    main_rows, stage_rows, iou_rows = [], [], []
    for size, entry in results.items():
        m, agreement = entry["measurements"], entry["agreement"]
        ours, d8, h5, bundled, original = (m.get(label) for label in ("ours", "ours d8", "ours h5 d8", "bundled",
                                                                       "original"))
        working = ours.runs[0]["working_shape"] if ours.runs else None
        original_time = "-" if original is None else seconds(original.wall) if original.wall is not None else "failed"
        main_rows.append([
            f"{size} ({SIZES[size][1]}x{SIZES[size][0]})", f"{working[1]}x{working[0]}" if working else "-",
            seconds(bundled.wall), seconds(ours.wall), seconds(d8.wall), seconds(h5.wall), original_time,
            ratio(original, bundled), ratio(original, ours), ratio(original, d8), ratio(original, h5),
            peak(bundled), peak(ours), peak(d8), peak(original),
            number(agreement.get("ours vs original")), number(agreement.get("ours d8 vs original")),
            number(agreement.get("ours h5 d8 vs original"))])
        for label, measurement in m.items():
            report = measurement.report
            stage_rows.append([size, label, seconds(report.get("import")), seconds(report["load"]),
                               seconds(report["warmup"]), seconds(startup(report)),
                               *(seconds(measurement.stage(name)) for name in STAGES),
                               seconds(measurement.wall), f"{measurement.peak_mb:.0f}"])
        iou_rows.append([size, number(agreement.get("truth bad fraction")), number(agreement.get("bundled vs truth")),
                         number(agreement.get("ours vs truth")), number(agreement.get("ours d8 vs truth")),
                         number(agreement.get("original vs truth"))])
    return "\n\n".join([
        ("Seconds per micrograph (median over the timed micrographs; start-up excluded), peak resident memory per "
         "process (MiB), mean IoU of the bad regions (badness >= 0.5) at the working scale. bundled = the bundled "
         "model at the defaults (one pass); ours = the benchmark's weights as .keras, with --tta d8 in 'd8'; h5 d8 = "
         "ours running the original's .h5 (256 px tiles, legacy preprocessing) with --tta d8. orig/bundled is the "
         "default-to-default ratio, orig/d8 and orig/h5 d8 the like-for-like ones (same weights, 8 passes):"),
        markdown(["size", "working px", "bundled s", "ours s", "d8 s", "h5 d8 s", "original s", "orig/bundled",
                  "orig/ours", "orig/d8", "orig/h5 d8", "MiB bundled", "MiB ours", "MiB d8", "MiB orig",
                  "IoU ours~orig", "IoU d8~orig", "IoU h5 d8~orig"], main_rows),
        ("Start-up (import of the engine and TensorFlow, model load, first micrograph) and stages, median seconds "
         "(ours: network includes padding, tiling and stitching; original: network = its model.predict on 8 "
         "rotations x 256 px tiles, stitch = rotating, stitching and resizing the mask to full size):"),
        markdown(["size", "run", "import", "load", "first", "start-up", *STAGES, "total", "peak MiB"], stage_rows),
        "Masks against the simulated truth (mean IoU over the timed micrographs, at the working scale):",
        markdown(["size", "truth bad fraction", "IoU bundled", "IoU ours", "IoU ours d8", "IoU original"], iou_rows),
    ])


def memory_table(runs: list[dict]) -> str:
    """Peak memory of ``micrographcleaner predict`` over few and many micrographs, and its time per micrograph."""
    rows = [[str(run["micrographs"]), f"{run['wall']:.1f}", f"{run['peak_rss_mb']:.0f}"] for run in runs]
    text = (f"micrographcleaner predict, bundled model, defaults, {MEMORY_SIZE} micrographs (links to the cached "
            "ones), one process per row: wall time and peak resident memory (MiB):\n\n"
            + markdown(["micrographs", "wall s", "peak MiB"], rows))
    if len(runs) > 1:
        fit = (runs[-1]["wall"] - runs[0]["wall"]) / (runs[-1]["micrographs"] - runs[0]["micrographs"])
        text += f"\n\nper micrograph (difference of the two runs, start-up excluded): {fit:.3f} s"
    return text


def targets(results: dict[str, dict], memory: list[dict]) -> list[str]:
    """The project's targets, met or missed: K3 10x faster than the original by default; preprocessing
    times; ours under 2 GiB and flat over many micrographs; ours on the .h5 agreeing with the original."""
    lines = []
    if "k3" in results:
        m, agreement = results["k3"]["measurements"], results["k3"]["agreement"]
        original = m.get("original")
        if original is not None and original.wall is not None:
            for label, what in (("bundled", "default-to-default (bundled, one pass)"),
                                ("ours d8", "like-for-like (same weights, 8 passes)"),
                                ("ours h5 d8", "like-for-like on the original's .h5 (tiles, 8 passes)")):
                if m[label].wall is not None:
                    line = f"K3, {what}: {original.wall / m[label].wall:.1f}x faster than the original"
                    if label == "bundled":
                        met = original.wall / m[label].wall >= TARGET_SPEEDUP
                        line += f" (target >= {TARGET_SPEEDUP}x: {'met' if met else 'MISSED'})"
                    lines.append(line)
        for label, limit in TARGET_PREPROCESS.items():
            value = m[label].stage("preprocess")
            if value is not None:
                lines.append(f"K3 preprocessing, {label}: {value * 1000:.0f} ms "
                             f"(target <= {limit * 1000:.0f} ms: {'met' if value <= limit else 'MISSED'})")
        value = agreement.get("ours h5 d8 vs original")
        if value is not None:
            lines.append(f"K3 masks of ours on the original's .h5 against the original's: IoU {value:.3f} "
                         f"(target >= {TARGET_H5_IOU}: {'met' if value >= TARGET_H5_IOU else 'MISSED'})")
    peaks = {f"{label}, {size}": m.peak_mb for size, entry in results.items()
             for label, m in entry["measurements"].items() if label != "original"}
    worst = max(peaks, key=peaks.__getitem__)
    lines.append(f"largest peak memory of ours: {peaks[worst]:.0f} MiB ({worst}) "
                 f"(target < {TARGET_PEAK_MIB} MiB: {'met' if peaks[worst] < TARGET_PEAK_MIB else 'MISSED'})")
    if len(memory) > 1:
        growth = memory[-1]["peak_rss_mb"] / memory[0]["peak_rss_mb"]
        lines.append(f"peak memory of predict over {memory[-1]['micrographs']} micrographs / over "
                     f"{memory[0]['micrographs']}: {growth:.3f} (target <= {TARGET_MEMORY_GROWTH}: "
                     f"{'met' if growth <= TARGET_MEMORY_GROWTH else 'MISSED'})")
    return lines


def machine() -> dict:
    """What the numbers were measured on."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)), "platform": platform.platform(),
            "python": platform.python_version()}


def package_versions(python: Path | str, names: list[str]) -> dict:
    code = ("import importlib.metadata as m, json, sys\n"
            "print(json.dumps({n: (m.version(n) if any(True for _ in m.distributions(name=n)) else None)"
            " for n in sys.argv[1:]}))")
    return json.loads(subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True,
                                     check=True).stdout)


# ---------------------------------------------------------------- main

def main() -> None:
    args = parse_args()
    command = f"cd {shlex.quote(os.getcwd())} && {shlex.join([sys.executable, *sys.argv])}"
    print(f"command: {command}", flush=True)
    original_python = None if args.no_original else upstream_python(args.upstream_venv)
    model_dir, weights_info = weights(args.seed, args.train_steps)
    print(f"weights: {weights_info['description']}", flush=True)

    results: dict[str, dict] = {}
    for size in args.sizes:
        print(f"{size}: {SIZES[size][1]}x{SIZES[size][0]}, box {BOX_SIZE}", flush=True)
        micrographs = micrograph_paths(size, args.repeats + 1)
        measurements = measure_size(size, micrographs, model_dir, original_python)
        results[size] = {"measurements": measurements, "agreement": mask_agreement(measurements)}
    memory = []
    if args.memory_counts:
        print(f"memory: predict on {', '.join(map(str, args.memory_counts))} {MEMORY_SIZE} micrographs", flush=True)
        memory = memory_runs(micrograph_paths(MEMORY_SIZE, args.repeats + 1), args.memory_counts)

    text = (tables(results) + ("\n\n" + memory_table(memory) if memory else "") + "\n\n"
            + "\n".join(f"* {line}" for line in targets(results, memory)))
    header = (f"# Speed benchmark\n\ncommand: `{command}`\n\nweights: {weights_info['description']}\n\n"
              f"machine: {machine()['cpu']}, {machine()['cores']} cores; {args.repeats} timed micrograph(s) "
              f"per size after 1 warm-up; box {BOX_SIZE}\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "benchmark_speed.md").write_text(header + "\n" + text + "\n")
    report = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(),
              "versions": {"ours": package_versions(sys.executable, ["micrographcleaner", "tensorflow-cpu", "keras"]),
                           "original": None if original_python is None else package_versions(
                               original_python, ["micrograph-cleaner-em", "tensorflow", "tensorflow-cpu", "keras"])},
              "weights": weights_info, "box_size": BOX_SIZE, "repeats": args.repeats,
              "sizes": {size: {"shape": SIZES[size], "agreement": entry["agreement"],
                               "measurements": {label: m.report for label, m in entry["measurements"].items()}}
                        for size, entry in results.items()},
              "memory": memory}
    (RESULTS / "benchmark_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n" + text + "\n")
    print(f"weights: {weights_info['description']}")
    print(f"command: {command}")
    print(f"written: {RESULTS / 'benchmark_speed.md'} and {RESULTS / 'benchmark_speed.json'}")


if __name__ == "__main__":
    main()
