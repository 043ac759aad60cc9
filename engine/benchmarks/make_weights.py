"""Build the paper-size U-Net weights used by the speed benchmark, and save them twice.

Run by benchmark_speed.py in its own process (so that the benchmark's own process never loads
TensorFlow), or by hand::

    python make_weights.py OUT_DIR --seed 0 --train-steps 240

The network (``PRESETS["paper"]``) is built with a fixed seed and, unless ``--train-steps 0``,
trained on the CPU (about 1 s a step on 2 cores) with Adam on batches of 8 fresh synthetic
working-scale tiles (scenes.py: dark blobs and carbon edges are bad, faint particle-sized discs
are not). The same weights are saved as

* ``OUT_DIR/ours.keras`` (+ ``ours.json`` card): fully convolutional, for this engine;
* ``OUT_DIR/original.h5``: fixed 256x256x1 input, the contract of the original MicrographCleaner;

and ``OUT_DIR/weights.json`` describes them (seed, steps, training time, validation IoU on
unseen synthetic tiles).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from micrographcleaner.preprocessing import normalise_and_squash

from scenes import iou, random_scene, render

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")  # before TensorFlow is imported (in main)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BOX_SIZE = 200.0
TRAIN_SIDE = 128  # working pixels per training tile
TRAIN_BATCH = 8
TILES_PER_SCENE = 4
VALIDATION_SIDE = 256
TRAINING_MOMENTUM = 0.9  # BatchNorm statistics must settle within a few hundred steps



def working_tiles(count: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (image, label) tiles of ``side`` working pixels, cut from whole synthetic micrographs.

    Each micrograph (2500-6000 px a side) is rendered directly at the working scale of a box of
    about 200 px and normalised as a whole, as the engine does, before tiles are cut from it.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, side, side, 1), dtype=np.float32)
    labels = np.empty_like(images)
    for index in range(0, count, TILES_PER_SCENE):
        factor = BOX_SIZE / 16 * rng.uniform(0.8, 1.25)  # some spread around box 200's 12.5
        working = np.maximum(rng.uniform(2500, 6000, 2) / factor, side + 1)  # working pixels
        height, width = (int(np.ceil(n * factor)) for n in working)
        image, truth = render(random_scene(height, width, BOX_SIZE, rng), factor, rng)
        image = normalise_and_squash(image)
        for tile in range(index, min(count, index + TILES_PER_SCENE)):
            top = rng.integers(0, image.shape[0] - side + 1)
            left = rng.integers(0, image.shape[1] - side + 1)
            images[tile, ..., 0] = image[top:top + side, left:left + side]
            labels[tile, ..., 0] = truth[top:top + side, left:left + side]
    return images, labels


def train(model, steps: int, seed: int) -> dict:
    """Train ``model`` in place for ``steps`` batches, each of fresh tiles; returns what happened."""
    import keras

    images, labels = working_tiles(steps * TRAIN_BATCH, TRAIN_SIDE, seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = TRAINING_MOMENTUM
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    started = time.perf_counter()
    model.fit(images, labels, batch_size=TRAIN_BATCH, epochs=1, shuffle=False, verbose=2)
    for layer in norms:
        layer.momentum = 0.99  # back to the architecture's own setting before saving
    return {"train_steps": steps, "train_seconds": round(time.perf_counter() - started, 1),
            "batch": TRAIN_BATCH, "tile_side": TRAIN_SIDE}


def validation_iou(model, seed: int) -> float:
    """IoU at 0.5 on fresh synthetic tiles (not seen in training)."""
    images, labels = working_tiles(32, VALIDATION_SIDE, seed + 1_000_003)
    predicted = model.predict(images, batch_size=TRAIN_BATCH, verbose=0) >= 0.5
    agreement = iou(predicted, labels >= 0.5)
    return 1.0 if agreement is None else agreement  # both empty: perfect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=240, help="0 = keep the random initial weights")
    args = parser.parse_args()

    import keras

    from micrographcleaner.model_files import ModelCard, save_model
    from micrographcleaner.network import PRESETS, UNetConfig, build_unet

    keras.utils.set_random_seed(args.seed)
    config = PRESETS["paper"]
    model = build_unet(config)
    info: dict = {"preset": "paper", "seed": args.seed, "parameters": int(model.count_params())}
    if args.train_steps > 0:
        info.update(train(model, args.train_steps, args.seed))
        info["validation_iou"] = round(validation_iou(model, args.seed), 3)
        info["description"] = (f"paper preset, seed {args.seed}, trained {info['train_seconds']:.0f} s on CPU "
                               f"({info['train_steps']} steps) on synthetic dark blobs; validation IoU "
                               f"{info['validation_iou']:.2f}")
    else:
        info["description"] = f"paper preset, seed {args.seed}, untrained (random initial weights)"

    args.out_dir.mkdir(parents=True, exist_ok=True)
    card = ModelCard(name=f"benchmark-paper-seed{args.seed}", architecture=config.to_dict(),
                     training=info["description"], metrics={"validation_iou": info.get("validation_iou")})
    save_model(model, args.out_dir / "ours.keras", card)
    fixed = build_unet(UNetConfig(filters=config.filters, n_outputs=1, tile_size=256))
    fixed.set_weights(model.get_weights())
    fixed.save(args.out_dir / "original.h5")
    (args.out_dir / "weights.json").write_text(json.dumps(info, indent=2) + "\n")
    print(info["description"])


if __name__ == "__main__":
    main()
