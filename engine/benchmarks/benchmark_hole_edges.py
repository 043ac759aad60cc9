"""What the hole edges cost: the cleaner's time per micrograph with and without them, side by side.

Simulated micrographs at full size (1024 x 1024, 4096 x 4096 and K3 5760 x 4092 px, box 200, so
82, 327 and 460 x 327 working px) are cleaned with the bundled model in one process, each twice:
with the hole edges (the default) and without (``--no-hole-geometry``), each after a warm-up.
Prints the medians of the network pass, the hole fit and the whole predict + score path.

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
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        print(f"{'micrograph':<16} {'network':>9} {'hole fit':>9} {'with edges':>11} {'without':>9} {'ratio':>7}")
        for size, shape in SIZES.items():
            (folder / size.split()[0]).mkdir()
            paths = [write_simulated(folder / size.split()[0], seed, shape, box_size=BOX)
                     for seed in range(args.count + 1)]
            cleaners = {used: Cleaner(predictor, CleaningOptions(BOX, folder / f"out-{size.split()[0]}-{used}",
                                                                 hole_geometry=used))
                        for used in (True, False)}
            for cleaner in cleaners.values():
                clean(cleaner, paths[0])  # warm-up
            runs = {used: [clean(cleaner, path) for path in paths[1:]] for used, cleaner in cleaners.items()}
            network = np.median([run["timings"]["network"] for run in runs[True]])
            fit = np.median([run["timings"]["hole_geometry"] for run in runs[True]])
            with_edges, without = (np.median([run["wall"] for run in runs[used]]) for used in (True, False))
            print(f"{size:<16} {network:>8.3f}s {fit:>8.3f}s {with_edges:>10.3f}s {without:>8.3f}s "
                  f"{with_edges / without:>6.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
