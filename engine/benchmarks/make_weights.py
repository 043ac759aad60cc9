"""Build the paper-size U-Net weights used by the speed benchmark, and save them twice.

Run by benchmark_speed.py in its own process (so that the benchmark's own process never loads
TensorFlow), or by hand::

    python make_weights.py OUT_DIR --seed 0 --train-steps 240

The network (``PRESETS["paper"]`` widths) is built with a fixed seed and, unless
``--train-steps 0``, trained on the CPU (about 1 s a step on 2 cores) by the engine's own training
(``micrographcleaner.training``: one epoch of ``--train-steps`` batches of 8 fresh simulated
working-scale tiles of 128 px, augmented). Its "any bad" channel (channel 0) is then saved as

* ``OUT_DIR/ours.keras`` (+ ``ours.json`` card): fully convolutional, for this engine;
* ``OUT_DIR/original.h5``: fixed 256x256x1 input, the contract of the original MicrographCleaner;

and ``OUT_DIR/weights.json`` describes them (seed, steps, training time, the training's validation
IoU on unseen simulated tiles). The training run itself is kept in ``OUT_DIR/training/``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")  # before TensorFlow is imported (in main)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TRAIN_SIDE = 128  # working pixels per training tile
TRAIN_BATCH = 8
VALIDATION_TILES = 32


def trained(folder: Path, steps: int) -> tuple[object, dict]:
    """The engine's training for ``steps`` batches (one epoch); the trained model and what happened."""
    from micrographcleaner.model_files import load_model
    from micrographcleaner.network import PRESETS
    from micrographcleaner.training import LOG, TrainingConfig, train

    config = TrainingConfig(output_dir=folder, filters=PRESETS["paper"].filters, tile=TRAIN_SIDE,
                            batch_size=TRAIN_BATCH, steps_per_epoch=steps, epochs=1, learning_rate=1e-3,
                            validation_count=VALIDATION_TILES, command=f"make_weights.py --train-steps {steps}")
    started = time.perf_counter()
    model, _ = load_model(train(config))
    info = {"train_steps": steps, "train_seconds": round(time.perf_counter() - started, 1),
            "batch": TRAIN_BATCH, "tile_side": TRAIN_SIDE}
    last = list(csv.DictReader((folder / LOG).open()))[-1]
    info["validation_iou"] = round(float(last["val_iou"]), 3)
    return model, info


def first_channel(model, filters: tuple[int, ...], tile_size: int | None):
    """A one-output network (``tile_size`` fixed, or fully convolutional) with ``model``'s weights and
    its channel 0 (any bad): what the original's one sigmoid channel means."""
    from micrographcleaner.network import UNetConfig, build_unet, copy_matching_weights

    single = build_unet(UNetConfig(filters=filters, n_outputs=1, tile_size=tile_size))
    copy_matching_weights(model, single)
    kernel, bias = model.get_layer("badness").get_weights()
    single.get_layer("badness").set_weights([kernel[..., :1], bias[:1]])
    return single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=240, help="0 = keep the random initial weights")
    args = parser.parse_args()

    import keras

    from micrographcleaner.model_files import ModelCard, save_model
    from micrographcleaner.network import PRESETS, build_unet

    keras.utils.set_random_seed(args.seed)
    config = PRESETS["paper"]
    info: dict = {"preset": "paper", "seed": args.seed}
    if args.train_steps > 0:
        model, trained_info = trained(args.out_dir / "training", args.train_steps)
        info.update(trained_info)
        info["description"] = (f"paper preset, seed {args.seed}, trained {info['train_seconds']:.0f} s on CPU "
                               f"({info['train_steps']} steps) on simulated scenes; validation IoU "
                               f"{info['validation_iou']:.2f}")
    else:
        model = build_unet(config)
        info["description"] = f"paper preset, seed {args.seed}, untrained (random initial weights)"

    args.out_dir.mkdir(parents=True, exist_ok=True)
    ours = first_channel(model, config.filters, None)
    info["parameters"] = int(ours.count_params())
    card = ModelCard(name=f"benchmark-paper-seed{args.seed}", architecture=config.to_dict(),
                     training=info["description"], metrics={"validation_iou": info.get("validation_iou")})
    save_model(ours, args.out_dir / "ours.keras", card)
    first_channel(model, config.filters, 256).save(args.out_dir / "original.h5")
    (args.out_dir / "weights.json").write_text(json.dumps(info, indent=2) + "\n")
    print(info["description"])


if __name__ == "__main__":
    main()
