"""Build the paper-size U-Net weights used by the speed benchmark, and save them twice.

Run by benchmark_speed.py in its own process (so that the benchmark's own process never loads
TensorFlow), or by hand::

    python make_weights.py OUT_DIR --seed 0 --train-seconds 240

The network (``PRESETS["paper"]``) is built with a fixed seed and, unless ``--train-seconds 0``,
trained on the CPU for that long on synthetic working-scale scenes (scenes.py: dark blobs and
carbon edges are bad, faint particle-sized discs are not). The same weights are saved as

* ``OUT_DIR/ours.keras`` (+ ``ours.json`` card): fully convolutional, for this engine;
* ``OUT_DIR/original.h5``: fixed 256x256x1 input, the contract of the original MicrographCleaner;

and ``OUT_DIR/weights.json`` describes them (seed, training time, steps, validation IoU).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from scenes import random_scene, render  # noqa: E402

from micrographcleaner.preprocessing import normalise_and_squash  # noqa: E402

BOX_SIZE = 200.0
TRAIN_SIDE = 128  # working pixels per training tile
TRAIN_BATCH = 8
TRAINING_MOMENTUM = 0.9  # BatchNorm statistics must settle within a few hundred steps


def working_tiles(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (image, label) tiles at the working scale, preprocessed like the engine does."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, TRAIN_SIDE, TRAIN_SIDE, 1), dtype=np.float32)
    labels = np.empty_like(images)
    for index in range(count):
        factor = BOX_SIZE / 16 * rng.uniform(0.8, 1.25)  # some spread around box 200's 12.5
        side = int(np.ceil((TRAIN_SIDE + 1) * factor))
        scene = random_scene(side, side, BOX_SIZE, rng)
        image, truth = render(scene, factor, rng)
        images[index, ..., 0] = normalise_and_squash(image[:TRAIN_SIDE, :TRAIN_SIDE])
        labels[index, ..., 0] = truth[:TRAIN_SIDE, :TRAIN_SIDE]
    return images, labels


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def train(model, seconds: float, seed: int) -> dict:
    """Train ``model`` in place for about ``seconds`` of wall time; returns what happened."""
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.started = time.perf_counter()
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if time.perf_counter() - self.started > seconds:
                self.model.stop_training = True

    images, labels = working_tiles(1024, seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = TRAINING_MOMENTUM
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    limit = TimeLimit()
    model.fit(images, labels, batch_size=TRAIN_BATCH, epochs=1000, shuffle=True, callbacks=[limit], verbose=2)
    for layer in norms:
        layer.momentum = 0.99  # back to the architecture's own setting before saving
    return {"train_seconds": round(time.perf_counter() - limit.started, 1), "steps": limit.steps,
            "tiles_seen": limit.steps * TRAIN_BATCH, "tile_side": TRAIN_SIDE}


def validation_iou(model, seed: int) -> float:
    """IoU at 0.5 on fresh synthetic tiles (not seen in training)."""
    images, labels = working_tiles(48, seed + 1_000_003)
    predicted = model.predict(images, batch_size=TRAIN_BATCH, verbose=0) >= 0.5
    return iou(predicted, labels >= 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-seconds", type=float, default=240.0, help="0 = keep the random initial weights")
    args = parser.parse_args()

    import keras

    from micrographcleaner.model_files import ModelCard, save_model
    from micrographcleaner.network import PRESETS, UNetConfig, build_unet

    keras.utils.set_random_seed(args.seed)
    config = PRESETS["paper"]
    model = build_unet(config)
    info: dict = {"preset": "paper", "seed": args.seed, "parameters": int(model.count_params())}
    if args.train_seconds > 0:
        info.update(train(model, args.train_seconds, args.seed))
        info["validation_iou"] = round(validation_iou(model, args.seed), 3)
        info["description"] = (f"paper preset, seed {args.seed}, trained {info['train_seconds']:.0f} s on CPU "
                               f"({info['steps']} steps) on synthetic dark blobs; validation IoU "
                               f"{info['validation_iou']:.2f}")
    else:
        info["description"] = f"paper preset, seed {args.seed}, untrained (random initial weights)"

    args.out_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, args.out_dir / "ours.keras",
               ModelCard(name=f"benchmark-paper-seed{args.seed}", architecture=config.to_dict(),
                         training=info["description"], metrics={"validation_iou": info.get("validation_iou")}))
    fixed = build_unet(UNetConfig(filters=config.filters, n_outputs=1, tile_size=256))
    fixed.set_weights(model.get_weights())
    fixed.save(args.out_dir / "original.h5")
    (args.out_dir / "weights.json").write_text(json.dumps(info, indent=2) + "\n")
    print(info["description"])


if __name__ == "__main__":
    main()
