"""What the tests of the engine and of the Scipion plugin, and the benchmarks, share: micrographs with
a known truth, a tiny model that finds it, an MRC writer and where the shared real data lie.

It ships in the package (rather than in ``tests/``) because the plugin's tests run it from the
installed engine environment (``Plugin.runPython``), where no checkout need exist. Importing it is
cheap (numpy and mrcfile): TensorFlow and Keras are imported only by the function that trains.

Two kinds of synthetic micrograph serve two purposes. Dark discs on noise (:func:`disc_micrograph`,
:func:`scene`) are simple enough that a tiny network learns them in seconds, so a test can check the
whole path against a known truth. The simulator's micrographs (:func:`simulated_micrograph`) look
like real ones, for benchmarks that time the engine at real sizes.
"""
from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import mrcfile
import numpy as np

from .preprocessing import area_resize, preprocess

if TYPE_CHECKING:
    import keras

    from .model_files import ModelCard
    from .simulation import SimulatedMicrograph

Disc = tuple[float, float, float]  # x (column), y (row), radius, in pixels
Pick = tuple[int, int, str]  # x, y and the truth under it: "good" or "bad"

SHARED_DATA_VARIABLE = "MICROGRAPHCLEANER_SHARED_DATA"  # a folder holding real/ (see shared_real)
SCENE_SHAPE = (512, 512)  # the plugin tests' scenes, in pixels
SCENE_PIXEL_SIZE = 1.5  # Angstrom per pixel of those scenes before binning


def write_mrc(path: str | Path, data: np.ndarray | Sequence, pixel_size: float = 0.0) -> Path:
    """Write ``data`` as an MRC file (float64, which MRC cannot hold, as float32); 0 = no pixel size."""
    data = np.asarray(data)
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = pixel_size
    return Path(path)


def disc_mask(shape: tuple[int, int], discs: Sequence[Disc]) -> np.ndarray:
    """True inside any of the discs: the bad regions of the disc micrographs."""
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    truth = np.zeros(shape, dtype=bool)
    for x, y, radius in discs:
        truth |= (cols - x) ** 2 + (rows - y) ** 2 <= radius ** 2
    return truth


def disc_micrograph(shape: tuple[int, int], discs: Sequence[Disc], seed: int = 0,
                    contrast: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Noise with dark discs (x, y, radius in pixels); returns the image and its 0/1 truth."""
    image = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    truth = disc_mask(shape, discs)
    image[truth] -= contrast
    return image, truth


def scene(seed: int, clean: bool = False) -> tuple[np.ndarray, list[Pick]]:
    """The plugin tests' micrograph: noise with one or two dark discs (none if ``clean``), and picks
    whose truth is known: "bad" well inside the main disc, "good" far from every disc."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=SCENE_SHAPE).astype(np.float32)
    discs = [(rng.uniform(130, 380), rng.uniform(130, 380), rng.uniform(60, 85))]
    if rng.random() < 0.5:
        discs.append((rng.choice([70.0, 440.0]), rng.choice([70.0, 440.0]), 45.0))
    if clean:
        discs = []
    image[disc_mask(SCENE_SHAPE, discs)] -= 3.0
    picks = []
    for x, y, radius in discs[:1]:
        for angle in rng.uniform(0, 2 * np.pi, 3):
            reach = rng.uniform(0, radius - 25)
            picks.append((int(x + reach * np.cos(angle)), int(y + reach * np.sin(angle)), "bad"))
    while sum(label == "good" for *_, label in picks) < 6:
        x, y = rng.uniform(24, SCENE_SHAPE[1] - 24), rng.uniform(24, SCENE_SHAPE[0] - 24)
        if all(np.hypot(x - dx, y - dy) > radius + 45 for dx, dy, radius in discs):
            picks.append((int(x), int(y), "good"))
    return image, picks


def write_scenes(folder: str | Path, names: Sequence[str], seed: int = 0, downsample: int = 1,
                 clean: Collection[str] = (), pixel_size: float = SCENE_PIXEL_SIZE) -> dict[str, list[Pick]]:
    """One :func:`scene` per name as ``<name>.mrc`` (without discs for names in ``clean``), binned
    ``downsample`` times; returns {name: picks}, in the written pixels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for index, name in enumerate(names):
        image, picks = scene(seed * 100 + index, name in clean)
        if downsample > 1:
            height, width = SCENE_SHAPE
            image = image.reshape(height // downsample, downsample, width // downsample, downsample).mean((1, 3))
            picks = [(x // downsample, y // downsample, label) for x, y, label in picks]
        write_mrc(folder / f"{name}.mrc", image, pixel_size * downsample)
        truth[name] = picks
    return truth


def training_pairs(count: int, side: int, factor: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Working-scale (image, label) pairs of disc micrographs, made by the engine's own preprocessing."""
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


def train_disc_model(path: str | Path, n_outputs: int = 1, tile_size: int | None = None,
                     epochs: int = 25) -> tuple[keras.Model, ModelCard]:
    """Train the 'tiny' U-Net (~15 s on a CPU, seeded: the same weights every time) to flag dark
    discs and save it, with a card for ``.keras``; returns (model, card). With ``n_outputs`` > 1,
    every channel is trained on the discs (classes 'bad', 'class1', ...)."""
    import keras

    from .model_files import ModelCard, save_model
    from .network import PRESETS, UNetConfig, build_unet

    path = Path(path)
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
                     training="micrographcleaner.testing dark discs")
    if path.suffix == ".keras":
        save_model(model, path, card)
    else:
        model.save(path)
    return model, card


def simulated_micrograph(seed: int, shape: tuple[int, int], box_size: float) -> SimulatedMicrograph:
    """The simulator's micrograph ``seed`` at full size, exactly ``shape`` (rows, columns) pixels, for
    particles of ``box_size`` pixels.

    The simulator draws a whole number of working pixels, so a camera's size (K3: 4092 x 5760 at
    box 200) is rendered up to a working pixel larger and cropped; particles outside are left out.
    """
    from .simulation import WORKING_BOX, simulate

    factor = box_size / WORKING_BOX
    micrograph = simulate(seed, tuple(int(np.ceil(side / factor)) for side in shape), box_size)
    rows, cols = shape
    inside = (micrograph.particles[:, 0] <= cols - 1) & (micrograph.particles[:, 1] <= rows - 1)
    return replace(micrograph, image=np.ascontiguousarray(micrograph.image[:rows, :cols]),
                   labels=np.ascontiguousarray(micrograph.labels[:rows, :cols]),
                   particles=micrograph.particles[inside], particle_labels=micrograph.particle_labels[inside])


def shared_real(near: str | Path) -> Path | None:
    """The shared real micrographs (not in the repository), or None where there are none.

    ``$MICROGRAPHCLEANER_SHARED_DATA/real`` when that variable is set; else ``shared/data/real`` in
    the nearest folder at or above ``near`` that has one: a checkout keeps them beside itself, so a
    test or a benchmark passes its own ``__file__``.
    """
    if os.environ.get(SHARED_DATA_VARIABLE):
        found = Path(os.environ[SHARED_DATA_VARIABLE]) / "real"
        return found if found.is_dir() else None
    near = Path(near).resolve()
    for folder in (near, *near.parents):
        if (folder / "shared" / "data" / "real").is_dir():
            return folder / "shared" / "data" / "real"
    return None
