"""``micrographcleaner simulate``: synthetic micrographs with their labels and particles."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..contract import EXIT_OK, plural

NAME = "simulate"
HELP = "write synthetic micrographs with labels and particles"
DESCRIPTION = ("Writes synthetic micrographs (carbon, contamination, crystalline ice, aggregates and particles) "
               "with their pixel-exact labels <stem>_labels.mrc and picks <stem>_particles.star, for trying the "
               "engine out, training and evaluation.")
EXAMPLE = "micrographcleaner simulate testset --count 20 --first-seed 0"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", type=Path, metavar="DIR")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first..first+count-1 (training uses seeds from 900000 on)")
    parser.add_argument("--shape", type=int, nargs=2, default=[320, 448], metavar=("H", "W"),
                        help="size in working pixels (a particle box = 16 px; the default lies inside the "
                        "bundled model's working range, as the fixed test set does)")
    parser.add_argument("--box-size", type=float, metavar="PX",
                        help="render at full size for this particle box (default: the working scale)")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..simulation import write_simulated

    seeds = range(args.first_seed, args.first_seed + args.count)
    for seed in tqdm(seeds, desc="simulating", unit="mic", disable=args.quiet):
        write_simulated(args.output_dir, seed, tuple(args.shape), args.box_size)
    print(f"{plural(args.count, 'micrograph')} written to {args.output_dir}")
    return EXIT_OK
