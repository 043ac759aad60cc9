"""What the hole edges and the companion view cost: the cleaner's time per micrograph with and without them.

Simulated micrographs at full size (1024 x 1024, 4096 x 4096 and K3 5760 x 4092 px, box 200, so
320 (the working range lifts the box rule's 82), 327 and 460 x 327 working px; their companion
views 512, 523 and 320 x 227 px) are cleaned with the bundled model in one process, each three
times: as users get it (the companion scale's view and the hole edges), without the hole edges
(``--no-hole-geometry``), and with neither (the working scale's view alone), each after a warm-up.
Prints the medians of the network passes, the hole fit and the whole predict + score path.

    python engine/benchmarks/benchmark_hole_edges.py [--count N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from run_ours import clean

from micrographcleaner.cleaner import Cleaner
from micrographcleaner.devices import configure
from micrographcleaner.options import CleaningOptions
from micrographcleaner.prediction import Predictor
from micrographcleaner.runner import ModelChoice, load_predictor
from micrographcleaner.simulation import write_simulated

BOX = 200
SIZES = {"1024 x 1024": (82, 82), "4096 x 4096": (327, 327), "K3 5760 x 4092": (327, 460)}  # working shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3, help="micrographs per size (default 3)")
    args = parser.parse_args(argv)
    configure(None)
    predictor = load_predictor(ModelChoice(None, "none"))
    single = Predictor(predictor.model, predictor.card, companion=False)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        print(f"{'micrograph':<16} {'2 views':>10} {'1 view':>9} {'hole fit':>9} {'default':>9} {'no edges':>9} "
              f"{'neither':>9} {'ratio':>7}")
        for size, shape in SIZES.items():
            (folder / size.split()[0]).mkdir()
            paths = [write_simulated(folder / size.split()[0], seed, shape, box_size=BOX)
                     for seed in range(args.count + 1)]
            out = folder / f"out-{size.split()[0]}"
            cleaners = {"default": Cleaner(predictor, CleaningOptions(BOX, out / "default")),
                        "no edges": Cleaner(predictor, CleaningOptions(BOX, out / "no-edges", hole_geometry=False)),
                        "neither": Cleaner(single, CleaningOptions(BOX, out / "neither", hole_geometry=False))}
            for cleaner in cleaners.values():
                clean(cleaner, paths[0])  # warm-up
            runs = {name: [clean(cleaner, path) for path in paths[1:]] for name, cleaner in cleaners.items()}
            two, one = (np.median([run["timings"]["network"] for run in runs[name]]) for name in ("default", "neither"))
            fit = np.median([run["timings"]["hole_geometry"] for run in runs["default"]])
            default, no_edges, neither = (np.median([run["wall"] for run in runs[name]]) for name in cleaners)
            print(f"{size:<16} {two:>9.3f}s {one:>8.3f}s {fit:>8.3f}s {default:>8.3f}s {no_edges:>8.3f}s "
                  f"{neither:>8.3f}s {default / neither:>6.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
