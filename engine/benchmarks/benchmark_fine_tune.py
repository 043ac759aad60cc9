"""Few-shot fine-tuning on the shared em_hole_finder square: k corrected frames of one hole teach the
bundled model the grid; the square's other holes say whether it learned the grid or the frames.

For each corrected hole and each k, the first k of that hole's labelled frames (frames whose hand
mask holds an edge, in a fixed shuffled order: ``--seed``) stand in for a user's corrections. As the
fine-tune protocol does, a fifth of them (at least one) is held out, and the run is

    micrographcleaner train OUT --initial-model bundled --labelled TRAIN --held-out HELD --minutes M

with the command's defaults otherwise (the fine-tuning recipe; ``--train-args`` adds flags). Each
model, and the bundled one beside it, is then measured on:

* the other holes (``--measure-holes``; default: the holes no training of the bundled model saw,
  3, 5 and 8, less the corrected one): carbon mIoU at half, once and twice the right box (16, 32, 64);
* the square's hole-only frames (``engine/training_data/em_hole_finder_hole_only.json``, checked by
  eye): the share flagged at box 32 (it should stay near 0);
* what it costs elsewhere: the clean EMPIAR-10017 frame's flagged share (box 36) and Ucsf's IoU with
  the original's mask (box 46), as ``benchmark_real.py`` measures them.

    python engine/benchmarks/benchmark_fine_tune.py [--holes 3 8] [--frames 2 5 10] [--minutes 30]
        [--measure-holes H ...] [--seed S] [--train-args "..."] [--out DIR] [--real DIR]

A finished run's model is measured again, not retrained (delete its folder to retrain); an interrupted
one resumes. Prints a table per run and the spread over the corrected holes; ``OUT/figures.json`` holds
everything.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmark_real import (HOLE_FINDER_BOXES, HOLE_ONLY, REAL, empiar, flagged_share, hole_finder,
                            hole_finder_source, ucsf)
from micrographcleaner.held_out import NOT_KEPT
from micrographcleaner.labels import LabelSource
from micrographcleaner.model_files import load_card, load_model
from micrographcleaner.prediction import Predictor

HERE = Path(__file__).resolve().parent
NEVER_TRAINED_HOLES = (3, 5, 8)  # by the bundled model: engine/training_data/em_hole_finder_{train,validation,test}.json
HELD_OUT_SHARE = 0.2  # the fine-tune protocol's default share
RIGHT_BOX = 32


def hole_pattern(hole: int) -> str:
    return f"*_{hole:05d}hl_*"


def hole_source(real: Path, include: list[str], name: str) -> dict:
    """A label-source description of em_hole_finder frames (as ``engine/training_data/`` has them)."""
    folder = real / "em_hole_finder"
    return {"images": str(folder / "images"), "labels": str(folder / "masks"), "label_suffix": "_mask",
            "box_size": RIGHT_BOX, "positive": "carbon", "threshold": 0.5, "ignore_border": 12,
            "skip_uniform": True, "include": include, "name": name}


def read_source(path: Path, description: dict) -> LabelSource:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(description, indent=1) + "\n")
    return LabelSource.from_json(path)


def corrected_frames(out: Path, real: Path, hole: int, count: int, seed: int) -> list[str]:
    """The stems of ``count`` labelled frames of ``hole`` (all it has, if fewer), the same ones for every k
    (a prefix)."""
    source = read_source(out / f"hole{hole}.json", hole_source(real, [hole_pattern(hole)], f"hole {hole}"))
    stems = sorted(Path(path).stem for path, _, _ in source.items())
    order = np.random.default_rng(seed + hole).permutation(len(stems))
    return [stems[index] for index in order[:count]]


def held_out(stems: list[str], share: float = HELD_OUT_SHARE) -> list[str]:
    """The fine-tune protocol's split: ``round(share * n)`` spread evenly, at least one, never all."""
    count = min(max(1, int(round(share * len(stems)))), len(stems) - 1)
    return [stems[int((index + 0.5) * len(stems) / count)] for index in range(count)]


def fine_tune(out: Path, real: Path, stems: list[str], minutes: float, extra: list[str]) -> Path:
    """Runs (or resumes) the fine-tuning of the bundled model on ``stems``; returns the model kept."""
    model = out / "run" / "model.keras"
    if model.is_file():
        return model
    out.mkdir(parents=True, exist_ok=True)
    held = held_out(stems)
    sources = {}
    for kind, chosen in (("train", [s for s in stems if s not in held]), ("held_out", held)):
        sources[kind] = out / f"{kind}.json"
        read_source(sources[kind], hole_source(real, chosen, f"corrected ({kind})"))
    command = [sys.executable, "-m", "micrographcleaner", "train", str(out / "run"), "--initial-model", "bundled",
               "--labelled", str(sources["train"]), "--held-out", str(sources["held_out"]),
               "--minutes", f"{minutes:g}", *extra]
    if (out / "run" / "state.json").is_file():
        command.append("--resume")
    print("  $ " + shlex.join(command[1:]), flush=True)
    with open(out / "train.log", "a") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
    return model


def measure(model_path: Path | None, real: Path, holes: list[int], out: Path) -> dict:
    model, card = load_model(model_path)
    predictor = Predictor(model, card)
    description = out / "measured_holes.json"
    read_source(description, hole_source(real, [hole_pattern(h) for h in holes], "measured holes"))
    other = hole_finder(predictor, real, description)
    figures = {f"other_holes_box{box}_miou": other[f"box{box}_carbon_miou"] for box in HOLE_FINDER_BOXES}
    figures["other_frames"] = other["frames"]
    figures["hole_only_flagged"] = flagged_share(predictor, hole_finder_source(HOLE_ONLY, real), RIGHT_BOX)
    figures["empiar_clean_flagged"] = empiar(predictor, real)[0]["14_57_34_box36_flagged"]
    figures["ucsf_iou_with_original"] = ucsf(predictor, real)[0]["iou_with_original"]
    tuning = load_card(model_path).fine_tuning if model_path else {}
    figures["kept"] = tuning.get("kept", "")
    figures["minutes"] = tuning.get("minutes", 0.0)
    return figures


COLUMNS = [("other_holes_box16_miou", "holes@16"), ("other_holes_box32_miou", "holes@32"),
           ("other_holes_box64_miou", "holes@64"), ("hole_only_flagged", "hole-only flagged"),
           ("empiar_clean_flagged", "EMPIAR clean flagged"), ("ucsf_iou_with_original", "Ucsf IoU")]


def row(label: str, figures: dict) -> str:
    cells = "".join(f"{figures[key]:>{max(len(title), 8) + 2}.3f}" for key, title in COLUMNS)
    return f"{label:<28}{cells}  {figures['kept']}"


def header() -> str:
    return f"{'':<28}" + "".join(f"{title:>{max(len(title), 8) + 2}}" for _, title in COLUMNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holes", type=int, nargs="+", default=[3, 8], help="the corrected holes, one at a time")
    parser.add_argument("--frames", type=int, nargs="+", default=[2, 5, 10], help="k: corrected frames per run")
    parser.add_argument("--minutes", type=float, default=30, help="each run's training budget")
    parser.add_argument("--measure-holes", type=int, nargs="+",
                        help="holes measured (default: 3 5 8 less the corrected one)")
    parser.add_argument("--seed", type=int, default=0, help="which frames of a hole come first")
    parser.add_argument("--train-args", default="", help="more flags for micrographcleaner train")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fine_tune")
    parser.add_argument("--real", type=Path, default=REAL, required=REAL is None)
    args = parser.parse_args(argv)
    if not (args.real / "em_hole_finder").is_dir():
        print(f"{args.real / 'em_hole_finder'}: not found; nothing to measure", file=sys.stderr)
        return 2
    results = []
    for hole in args.holes:
        measured = args.measure_holes or [h for h in NEVER_TRAINED_HOLES if h != hole]
        print(f"corrected hole {hole}; measured on holes {', '.join(map(str, measured))}", flush=True)
        bundled = measure(None, args.real, measured, args.out)
        print(header())
        print(row("bundled", bundled), flush=True)
        for count in args.frames:
            stems = corrected_frames(args.out, args.real, hole, count, args.seed)
            started = time.perf_counter()
            model = fine_tune(args.out / f"hole{hole}_k{count}", args.real, stems, args.minutes,
                              shlex.split(args.train_args))
            figures = measure(model, args.real, measured, args.out)
            print(row(f"k={len(stems)} ({figures['minutes']:g} min)", figures), flush=True)
            result = {"hole": hole, "k": count, "frames": stems,  # len(stems) < k where the hole has fewer "measured_holes": measured,
                      "bundled": bundled, "fine_tuned": figures}
            rejected = model.with_name(NOT_KEPT)
            if rejected.is_file():  # what keeping the starting model spared the user
                result["not_kept"] = measure(rejected, args.real, measured, args.out)
                print(row("  the one not kept", result["not_kept"]), flush=True)
            results.append({**result, "wall_seconds": round(time.perf_counter() - started)})
    print("\nover the corrected holes: fine-tuned mean [min, max] (bundled mean)")
    for count in args.frames:
        runs = [r for r in results if r["k"] == count]
        cells = []
        for key, title in COLUMNS:
            values = [r["fine_tuned"][key] for r in runs]
            base = np.mean([r["bundled"][key] for r in runs])
            cells.append(f"{title} {np.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}] ({base:.3f})")
        print(f"k={count}: " + "; ".join(cells))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
