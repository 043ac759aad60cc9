"""Tiny synthetic micrographs (dark discs on noise) and a tiny model trained on them, for tests.

The real simulator and training live in the engine; these only need to be good enough that a
dark disc comes out bad, so that the tests can check the whole path against a known truth.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from micrographcleaner.preprocessing import area_resize, preprocess


def disc_micrograph(shape: tuple[int, int], discs: list[tuple[float, float, float]], seed: int = 0,
                    contrast: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Noise with dark discs (x, y, radius in pixels); returns the image and its 0/1 truth."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=shape).astype(np.float32)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    truth = np.zeros(shape, dtype=bool)
    for x, y, radius in discs:
        truth |= (cols - x) ** 2 + (rows - y) ** 2 <= radius ** 2
    image[truth] -= contrast
    return image, truth


def training_pairs(count: int, side: int, factor: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Working-scale (image, label) pairs made by the engine's own preprocessing."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for index in range(count):
        discs = [(rng.uniform(0, side), rng.uniform(0, side), rng.uniform(0.05, 0.3) * side)
                 for _ in range(rng.integers(0, 3))]
        image, truth = disc_micrograph((side, side), discs, seed=seed * 1000 + index,
                                       contrast=float(rng.uniform(1.5, 4.0)))
        working, geometry = preprocess(image, factor)
        images.append(working)
        labels.append(area_resize(truth.astype(np.float32), geometry.working_shape) > 0.5)
    return np.stack(images)[..., None], np.stack(labels)[..., None].astype(np.float32)


def train_disc_model(path: Path, n_outputs: int = 1, tile_size: int | None = None, epochs: int = 25):
    """Train the 'tiny' U-Net to find dark discs and save it with a card; returns (model, card)."""
    import keras

    from micrographcleaner.model_files import ModelCard, save_model
    from micrographcleaner.network import PRESETS, UNetConfig, build_unet

    keras.utils.set_random_seed(1)
    config = UNetConfig(filters=PRESETS["tiny"].filters, n_outputs=n_outputs, tile_size=tile_size)
    model = build_unet(config)
    side = tile_size or 64
    images, labels = training_pairs(96, side * 2, 2.0, seed=3)
    labels = np.repeat(labels, n_outputs, axis=-1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(images, labels, batch_size=16, epochs=epochs, verbose=0)
    classes = ["bad"] + [f"class{index}" for index in range(1, n_outputs)]
    card = ModelCard(name=path.stem, classes=classes, architecture=config.to_dict(),
                     training="tests/synthetic.py dark discs")
    if path.suffix == ".keras":
        save_model(model, path, card)
    else:
        model.save(path)
    return model, card
