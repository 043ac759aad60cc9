"""Training the U-Net on simulated scenes, on labelled micrographs, or on both.

Simulated scenes are drawn on the fly (a new scene for every sample, seeds derived from the epoch
and batch so a resumed run sees the same stream). Labelled micrographs, for fine-tuning on a
user's own data, are brought to the working scale once and cropped at random. Every sample goes
through the same augmentation and the same preprocessing as prediction. A run may be given a
time budget (the learning rate then decays with the time spent, and the run stops at the budget
with its checkpoint) and held-out labelled micrographs (:mod:`.held_out`), which judge every
epoch, calibrate the result and decide whether a fine-tuned model beats its starting point.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
from scipy import ndimage

from . import network
from .classes import CLASSES, IGNORE
from .evaluation import iou
from .held_out import HeldOutMicrographs, keep_the_better
from .model_files import ModelCard, load_card, load_model, save_model, update_card
from .preprocessing import (
    area_resize,
    normalise_and_squash,
    working_factor,
)
from .labels import LabelSource, code_targets, codes_at, labelled_sources
from .recipes import NEW_NETWORK
from .simulation import draw_scene, render

TRAINING_SEEDS = 1_000_000  # simulated training scenes use seeds from here on
VALIDATION_SEEDS = 900_000  # and validation scenes from here; test sets stay below
CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
LOG = "training_log.csv"


@dataclass
class TrainingConfig:
    output_dir: Path
    filters: tuple[int, ...] = (16, 32, 64, 128, 192)
    global_context: bool = False
    tile: int = 256
    batch_size: int = 8
    steps_per_epoch: int = NEW_NETWORK["steps_per_epoch"]
    epochs: int = 30  # at most, with a time budget
    minutes: float | None = None  # time budget; the learning rate then decays over it
    learning_rate: float = NEW_NETWORK["learning_rate"]
    simulated_fraction: float = 1.0  # share of samples simulated when labelled sources are given
    labelled: list[Path] = field(default_factory=list)  # label-source JSONs or plain folders (labels.py)
    held_out: list[Path] = field(default_factory=list)  # labelled sources that judge, never train (held_out.py)
    labelled_box_size: float | None = None  # particle box (px) of the plain folders
    labelled_scale: tuple[float, float] = (0.5, 2.0)  # boxes drawn for labelled samples, x the right one
    working_side: tuple[float, float] | None = None  # the model's working-size range (preprocessing.WORKING_SIDE)
    validation_count: int = 48
    initial_model: Path | None = None  # fine-tune from this model instead of a new network
    frozen: str = NEW_NETWORK["frozen"]  # what fine-tuning leaves as it was: recipes.FROZEN_PARTS
    boundary_ignore: float = NEW_NETWORK["boundary_ignore"]  # working px either side of a labelled boundary that do not count
    command: str = ""

    def to_json(self) -> dict:
        content = asdict(self)
        return json.loads(json.dumps(content, default=str))


# ---------------------------------------------------------------------------------------------
# Samples


def augment(raw: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scale jitter (0.7-2x), blur (as smooth as a denoised micrograph), noise and the eight dihedral
    transforms on the raw image; contrast after squashing. The output has the input's shape."""
    if rng.random() < 0.5:  # particles of 0.7-2x the nominal working size: users give loose boxes
        raw, target = _rescale(raw, target, float(np.exp(rng.uniform(np.log(0.7), np.log(2.0)))))
    spread = float(np.subtract(*np.percentile(raw, (90, 10)))) or 1.0
    if rng.random() < 0.4:  # up to the smoothness of a denoised micrograph seen near full resolution
        raw = ndimage.gaussian_filter(raw, float(np.exp(rng.uniform(np.log(0.3), np.log(2.5)))))
    if rng.random() < 0.5:
        raw = raw + rng.normal(0, rng.uniform(0, 0.3) * spread, raw.shape)
    image = normalise_and_squash(raw)
    if rng.random() < 0.5:
        logit = np.log(image / (1 - image + 1e-6) + 1e-6)
        image = 1 / (1 + np.exp(-logit * rng.uniform(0.7, 1.4)))
    rotations, flip = int(rng.integers(4)), bool(rng.integers(2))
    image, target = np.rot90(image, rotations), np.rot90(target, rotations)
    if flip:
        image, target = image[:, ::-1], target[:, ::-1]
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target)


def _rescale(raw: np.ndarray, target: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Zoom image and targets by ``zoom``, then crop or mirror-pad back to the original shape."""
    shape = raw.shape
    raw = ndimage.zoom(raw, zoom, order=1)
    target = ndimage.zoom(target, (zoom, zoom, 1), order=0)
    pad = [(0, max(0, want - have)) for want, have in zip(shape, raw.shape)]
    raw = np.pad(raw, pad, mode="reflect")[:shape[0], :shape[1]]
    target = np.pad(target, pad + [(0, 0)], mode="reflect")[:shape[0], :shape[1]]
    return raw, target


def simulated_sample(seed: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    scene = render(draw_scene(seed, (tile, tile)))
    return scene.image, code_targets(scene.labels)


@dataclass
class _Labelled:
    """One labelled micrograph, kept at the finest scale a sample may need."""

    image: np.ndarray
    codes: np.ndarray
    factor: float  # micrograph pixels per pixel of ``image``
    shape: tuple[int, int]  # of the original micrograph
    box_size: float  # of the original micrograph
    weight: float


class LabelledMicrographs:
    """Labelled real micrographs from which random tiles are cut at a random working scale.

    Each sample takes the box a user might have given, from half to twice the one that suits the
    micrographs (``scale_range``), and brings the micrograph to that working scale as prediction
    would (the box rule, kept within ``working_side`` when the model has one): the network learns masks
    that do not change with the box.
    """

    def __init__(self, sources: list[LabelSource], scale_range: tuple[float, float] = (0.5, 2.0),
                 working_side: tuple[float, float] | None = None, boundary_ignore: float = 0.0):
        self.scale_range = scale_range
        self.working_side = working_side
        self.boundary_ignore = boundary_ignore
        self.sources: list[list[_Labelled]] = []
        self.described: list[dict] = []  # for the model's card: which micrographs it learned from
        self.fractions = np.array([source.fraction for source in sources], dtype=np.float64)
        self.fractions /= self.fractions.sum()  # of the labelled samples
        for source in sources:
            items, names = [], []
            for path, image, codes in source.items():
                names.append(Path(path).stem)
                finest = max(1.0, self._factor(image.shape, source.box_size * scale_range[0]))
                shape = tuple(max(1, int(side / finest)) for side in image.shape)
                items.append(_Labelled(area_resize(image, shape), codes_at(codes, shape), finest,
                                       image.shape, source.box_size, source.weight))
            self.sources.append(items)
            self.described.append({"source": source.name, "micrographs": names,
                                   "share": float(self.fractions[len(self.described)])})
            print(f"labelled source {source.name}: {len(items)} micrographs, {source.fraction:g} share, "
                  f"weight {source.weight:g}")

    def sample(self, rng: np.random.Generator, tile: int) -> tuple[np.ndarray, np.ndarray]:
        items = self.sources[int(rng.choice(len(self.sources), p=self.fractions))]
        item = items[int(rng.integers(len(items)))]
        low, high = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        factor = max(item.factor, self._factor(item.shape, item.box_size * float(np.exp(rng.uniform(low, high)))))
        shape = tuple(max(1, int(side * item.factor / factor)) for side in item.image.shape)
        raw, codes = area_resize(item.image, shape), codes_at(item.codes, shape)
        if self.boundary_ignore > 0:
            codes = ignore_boundaries(codes, self.boundary_ignore)
        pad = [(0, max(0, tile - side)) for side in raw.shape]
        raw = np.pad(raw, pad, mode="reflect")
        codes = np.pad(codes, pad, constant_values=IGNORE)  # no loss on the mirrored margin
        y0, x0 = (int(rng.integers(side - tile + 1)) for side in raw.shape)
        window = (slice(y0, y0 + tile), slice(x0, x0 + tile))
        return raw[window], code_targets(codes[window], item.weight)

    def _factor(self, shape: tuple[int, ...], box_size: float) -> float:
        return working_factor(shape, box_size, working_side=self.working_side)


def ignore_boundaries(codes: np.ndarray, width: float) -> np.ndarray:
    """``codes`` with the pixels within ``width`` of a boundary between two labelled classes set to
    IGNORE: a hand-drawn outline is a few pixels off, and the network should not learn its wobble."""
    labelled = codes != IGNORE
    size = 2 * int(math.ceil(width)) + 1
    highest = ndimage.maximum_filter(np.where(labelled, codes, 0), size=size)
    lowest = ndimage.minimum_filter(np.where(labelled, codes, IGNORE), size=size)
    return np.where(labelled & (highest != lowest) & (lowest != IGNORE), IGNORE, codes).astype(codes.dtype)


def freeze(model, part: str) -> None:
    """Make the layers of :data:`.recipes.FROZEN_PARTS` ``part`` untrainable (a frozen batch normalisation
    also keeps its moving statistics: Keras runs it in inference mode)."""
    for layer in model.layers:
        norm = isinstance(layer, keras.layers.BatchNormalization)
        if (part in ("norm", "encoder") and norm) or (part == "encoder" and layer.name.startswith("down")):
            layer.trainable = False


class TrainingBatches(keras.utils.PyDataset):
    """An endless, reproducible stream of augmented batches (one new scene per sample)."""

    def __init__(self, config: TrainingConfig, labelled: LabelledMicrographs | None, epoch: int = 0):
        super().__init__()
        self.config, self.labelled, self.epoch = config, labelled, epoch

    def __len__(self) -> int:
        return self.config.steps_per_epoch

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int):
        config = self.config
        first = TRAINING_SEEDS + (self.epoch * config.steps_per_epoch + index) * config.batch_size
        images, targets = [], []
        for seed in range(first, first + config.batch_size):
            rng = np.random.default_rng(seed)
            if self.labelled is not None and rng.random() >= config.simulated_fraction:
                raw, target = self.labelled.sample(rng, config.tile)
            else:
                raw, target = simulated_sample(seed, config.tile)
            image, target = augment(raw, target, rng)
            images.append(image[..., None])
            targets.append(target)
        return np.stack(images), np.stack(targets)


def validation_set(count: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed simulated scenes, never trained on, seen unaugmented."""
    pairs = [simulated_sample(VALIDATION_SEEDS + index, tile) for index in range(count)]
    return (np.stack([normalise_and_squash(raw)[..., None] for raw, _ in pairs]),
            np.stack([target for _, target in pairs]))


# ---------------------------------------------------------------------------------------------
# Loss and metrics


@keras.saving.register_keras_serializable(package="micrographcleaner")
def segmentation_loss(y_true, y_pred):
    """Weighted binary cross-entropy + soft Dice; channel 0 (any bad) counts most.

    ``y_true`` holds the targets and, last, a pixel weight (0 = ignore: borders, unlabelled
    areas; a labelled source's weight elsewhere). Targets of -1 mark pixels without a label for
    that channel (e.g. per-class channels of micrographs labelled only good/bad): they do not count.
    """
    ops = keras.ops
    y_pred = ops.cast(y_pred, "float32")
    weight, y_true = y_true[..., -1:], y_true[..., :-1]
    known = ops.cast(y_true >= 0, "float32") * weight
    y_true = ops.clip(y_true, 0.0, 1.0)
    n_channels = ops.shape(y_pred)[-1]
    channel_weight = ops.concatenate([ops.ones((1,)), 0.25 * ops.ones((n_channels - 1,))])
    p = ops.clip(y_pred, 1e-6, 1 - 1e-6)
    pixel_weight = known * (1.0 + 2.0 * y_true)  # bad pixels are the minority
    bce = -(y_true * ops.log(p) + (1 - y_true) * ops.log(1 - p)) * pixel_weight
    bce = ops.sum(bce, axis=(0, 1, 2)) / (ops.sum(known, axis=(0, 1, 2)) + 1.0)
    intersection = ops.sum(known * y_true * y_pred, axis=(0, 1, 2))
    total = ops.sum(known * (y_true + y_pred), axis=(0, 1, 2))
    dice = 1.0 - (2.0 * intersection + 1.0) / (total + 1.0)
    return ops.sum(channel_weight * (bce + dice)) / ops.sum(channel_weight)


class ValidationIoU(keras.callbacks.Callback):
    """Bad-region IoU on the validation scenes, logged every epoch (as ``val_iou``)."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, batch_size: int):
        super().__init__()
        self.images, self.targets, self.batch_size = images, targets, batch_size

    def on_epoch_end(self, epoch, logs=None):
        predicted = self.model.predict(self.images, batch_size=self.batch_size, verbose=0)[..., 0] > 0.5
        truth = self.targets[..., 0] > 0.5
        has_bad = truth.any(axis=(1, 2))
        scores = [iou(t, p) for t, p in zip(truth[has_bad], predicted[has_bad])]
        clean_flagged = predicted[~has_bad].mean() if (~has_bad).any() else 0.0
        if logs is not None:
            logs["val_iou"] = float(np.mean(scores)) if scores else 1.0
            logs["val_clean_flagged"] = float(clean_flagged)


class Clock:
    """Seconds of training, those of earlier (resumed) sessions included."""

    def __init__(self, seconds_before: float = 0.0):
        self.before, self.started = seconds_before, time.monotonic()

    def session(self) -> float:
        return time.monotonic() - self.started

    def seconds(self) -> float:
        return self.before + self.session()


class TimeBudget(keras.callbacks.Callback):
    """Stops the run once its minutes are spent, after the step under way (Keras then closes the
    epoch, so the checkpoint holds every step done); the learning rate follows a cosine over the
    budget, so a run ends at a low rate however many steps the machine managed."""

    FLOOR = 0.05  # of the starting rate, at the end of the budget (as CosineDecay's alpha)

    def __init__(self, minutes: float, learning_rate: float, clock: Clock):
        super().__init__()
        self.budget, self.rate, self.clock = minutes * 60.0, learning_rate, clock

    def spent(self) -> bool:
        return self.clock.seconds() >= self.budget

    def on_train_batch_begin(self, batch, logs=None):
        done = min(self.clock.seconds() / self.budget, 1.0)
        self.model.optimizer.learning_rate.assign(
            self.rate * (self.FLOOR + (1 - self.FLOOR) * 0.5 * (1 + math.cos(math.pi * done))))

    def on_train_batch_end(self, batch, logs=None):
        if self.spent():
            self.model.stop_training = True


class HeldOutIoU(keras.callbacks.Callback):
    """The live network's figures on the held-out labelled micrographs, every epoch (``held_out_iou``,
    ``held_out_carbon_iou``), with the calibration the run started with (the starting model's when
    fine-tuning, none for a new network): the final one is fitted once, at the end."""

    def __init__(self, frames: HeldOutMicrographs, card: ModelCard):
        super().__init__()
        self.frames, self.card = frames, card

    def on_epoch_end(self, epoch, logs=None):
        figures = self.frames.judged(self.model, self.card)
        if logs is not None:
            logs["held_out_iou"] = figures.bad_iou
            if figures.carbon_iou is not None:
                logs["held_out_carbon_iou"] = figures.carbon_iou


class ProgressBar(keras.callbacks.Callback):
    """One bar over every step of the run (Keras draws one per epoch), with the latest epoch's
    figures and the minutes left; in a log file (stderr not a terminal) one line per epoch instead."""

    def __init__(self, steps: int, quiet: bool, clock: Clock, epochs_left: int, budget: float | None):
        super().__init__()
        from tqdm import tqdm

        self.lines = not quiet and not sys.stderr.isatty()
        self.bar = tqdm(total=steps, unit="step", disable=quiet or self.lines, file=sys.stderr)
        self.quiet, self.clock, self.epochs_left, self.budget, self.epochs = quiet, clock, epochs_left, budget, 0

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        if self.budget is not None:
            left = max(0.0, self.budget * 60 - self.clock.seconds())
        else:
            left = self.clock.session() / self.epochs * (self.epochs_left - self.epochs)
        text = f"{epoch_text(epoch + 1, logs or {})}; {left / 60:.1f} min left"
        if self.lines:
            print(text, flush=True)
        else:
            self.bar.set_postfix_str(text, refresh=True)

    def on_train_end(self, logs=None):
        self.bar.close()


def epoch_text(epoch: int, figures: dict) -> str:
    """``epoch 3: loss 0.412, validation IoU 0.87, held-out IoU 0.71 (carbon 0.68)``: the figures a
    user follows, from Keras' logs or the log file."""
    text = f"epoch {epoch}: loss {float(figures['loss']):.3g}"
    if "val_iou" in figures:
        text += f", validation IoU {float(figures['val_iou']):.2f}"
    if figures.get("held_out_iou") not in (None, ""):
        text += f", held-out IoU {float(figures['held_out_iou']):.2f}"
        if figures.get("held_out_carbon_iou") not in (None, ""):
            text += f" (carbon {float(figures['held_out_carbon_iou']):.2f})"
    return text


class Checkpoint(keras.callbacks.Callback):
    """Model + optimiser after every epoch, the epoch count and seconds spent, architecture and
    working range, and the loss-curve picture (up to the epoch before: the log's row comes next)."""

    def __init__(self, output_dir: Path, unet: network.UNetConfig, working_side: tuple[float, float] | None,
                 clock: Clock):
        super().__init__()
        self.output_dir, self.unet, self.working_side, self.clock = output_dir, unet, working_side, clock

    def on_epoch_end(self, epoch, logs=None):
        self.model.save(self.output_dir / CHECKPOINT)
        state = {"epochs_done": epoch + 1, "seconds_done": self.clock.seconds(), "architecture": self.unet.to_dict(),
                 "working_side": list(self.working_side) if self.working_side else None}
        (self.output_dir / STATE).write_text(json.dumps(state) + "\n")
        plot_training_log(self.output_dir / LOG, self.output_dir / "training_curves.png")


def training_log(log_path: Path) -> list[dict[str, str]]:
    """The rows of the CSV log, one per epoch done (none before the first)."""
    if not log_path.is_file():
        return []
    with log_path.open() as lines:
        return list(csv.DictReader(lines))


def plot_training_log(log_path: Path, png_path: Path) -> None:
    """Loss, validation IoU (simulated scenes) and held-out IoU (labelled micrographs) per epoch, from the CSV log."""
    rows = training_log(log_path)
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(row["epoch"]) + 1 for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [float(row["loss"]) for row in rows], label="training loss")
    left.set_xlabel("epoch"), left.set_ylabel("loss"), left.legend()
    for column, colour, label in (("val_iou", "tab:green", "validation IoU (simulated)"),
                                  ("held_out_iou", "tab:orange", "held-out IoU (labelled)"),
                                  ("held_out_carbon_iou", "tab:red", "held-out carbon IoU")):
        if rows[0].get(column) not in (None, ""):
            right.plot(epochs, [float(row[column]) for row in rows], color=colour, label=label)
    right.set_ylim(0, 1)
    right.set_xlabel("epoch"), right.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)


# ---------------------------------------------------------------------------------------------
# The run


def _architecture(config: TrainingConfig, initial: ModelCard | None) -> network.UNetConfig:
    """The network a new run trains: when fine-tuning, the initial model's (its widths; the
    whole-image context if it has it or the run asks for it)."""
    if initial is None:
        return network.UNetConfig(filters=tuple(config.filters), n_outputs=1 + len(CLASSES),
                                  global_context=config.global_context)
    unet = network.UNetConfig.from_dict(initial.architecture)
    return replace(unet, global_context=unet.global_context or config.global_context)


def _training_data(config: TrainingConfig, labelled: LabelledMicrographs | None) -> list[dict]:
    """For the model's card: what a run learns from, with each part's share of the samples."""
    simulated = config.simulated_fraction if labelled else 1.0
    parts = [{"source": "simulated scenes", "share": simulated}] if simulated > 0 else []
    return parts + [{**part, "share": part["share"] * (1 - simulated)} for part in (labelled.described if labelled else [])]


def train(config: TrainingConfig, resume: bool = False, gpus: list[str] | None = None, quiet: bool = False) -> Path:
    """Train (or continue training) and save ``<output_dir>/model.keras`` with its card; a progress bar
    on stderr unless ``quiet``. With held-out micrographs, the model is calibrated on them (where they
    hold enough of both classes; else it keeps its start's calibration) and, when fine-tuning, kept only
    if it beats its starting model, as that model is, there (the card says which)."""
    import tensorflow as tf

    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = tf.distribute.MirroredStrategy() if gpus and len(gpus) > 1 else tf.distribute.get_strategy()
    epochs_done, seconds_done = 0, 0.0
    checkpoint = output / CHECKPOINT
    with strategy.scope():
        if resume and checkpoint.is_file():  # the network and range the run started with, whatever the flags now
            model = keras.saving.load_model(checkpoint, compile=True)
            state = json.loads((output / STATE).read_text())
            epochs_done, unet = state["epochs_done"], network.UNetConfig.from_dict(state["architecture"])
            seconds_done = state.get("seconds_done", 0.0)
            side = state.get("working_side", config.working_side)
        else:
            initial, initial_card = load_model(config.initial_model) if config.initial_model else (None, None)
            # a run's own range, else the initial model's: fine-tuning keeps how the model predicts
            side = config.working_side or (initial_card.working_side if initial_card else None)
            unet = _architecture(config, initial_card)
            model = network.build_unet(unet)
            if initial is not None:
                fresh = network.copy_matching_weights(initial, model)
                if fresh:
                    print(f"layers new to {config.initial_model}, trained from scratch: {', '.join(fresh)}")
                freeze(model, config.frozen)
            rate = (config.learning_rate if config.minutes else  # a time budget sets the rate as it goes
                    keras.optimizers.schedules.CosineDecay(config.learning_rate,
                                                           config.epochs * config.steps_per_epoch, alpha=0.05))
            model.compile(optimizer=keras.optimizers.Adam(rate), loss=segmentation_loss)
    config = replace(config, working_side=tuple(side) if side else None)
    (output / "training_config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")
    labelled = (LabelledMicrographs(labelled_sources(config.labelled, config.labelled_box_size),
                                    tuple(config.labelled_scale), config.working_side, config.boundary_ignore)
                if config.labelled else None)
    # the run's folder names the model in every summary that uses it
    card = ModelCard(name=output.name, version="1", classes=["bad", *CLASSES],
                     working_side=list(config.working_side) if config.working_side else None,
                     size_multiple=unet.size_multiple, architecture=unet.to_dict(),
                     training=config.command or "micrographcleaner train",
                     training_data=_training_data(config, labelled))
    if config.initial_model is not None:  # the start's mapping, unless the held-out frames refit it at the end
        card.calibration = load_card(config.initial_model).calibration
    held_out = (HeldOutMicrographs(labelled_sources(config.held_out, config.labelled_box_size), card)
                if config.held_out else None)
    clock = Clock(seconds_done)
    images, targets = validation_set(config.validation_count, config.tile)
    callbacks = [ValidationIoU(images, targets, config.batch_size)]
    callbacks += [HeldOutIoU(held_out, card)] if held_out else []
    # the checkpoint first: a run killed between the two leaves an epoch unlogged, never one done twice
    callbacks += [Checkpoint(output, unet, config.working_side, clock),
                  keras.callbacks.CSVLogger(str(output / LOG), append=epochs_done > 0)]
    budget = TimeBudget(config.minutes, config.learning_rate, clock) if config.minutes else None
    if epochs_done < config.epochs and not (budget and budget.spent()):
        callbacks += ([budget] if budget else []) + [ProgressBar((config.epochs - epochs_done) * config.steps_per_epoch,
                                                                 quiet, clock, config.epochs - epochs_done,
                                                                 config.minutes)]
        model.fit(TrainingBatches(config, labelled, epoch=epochs_done), epochs=config.epochs,
                  initial_epoch=epochs_done, callbacks=callbacks, verbose=0)
        plot_training_log(output / LOG, output / "training_curves.png")
    final = output / "model.keras"
    # a float32 copy without optimiser state: small, and it runs on any CPU after mixed precision
    keras.mixed_precision.set_global_policy("float32")
    inference = network.build_unet(unet)
    inference.set_weights(model.get_weights())
    if held_out is None:
        save_model(inference, final, card)
        return final
    record = {"held_out": held_out.names, "minutes": round(clock.seconds() / 60, 1),
              "trained_on": [name for part in (labelled.described if labelled else []) for name in part["micrographs"]]}
    card.calibration, after = held_out.calibrated(inference, card)  # else the start's, when fine-tuning
    save_model(inference, final, card)
    starting = config.initial_model
    if starting is None:
        update_card(final, lambda c: setattr(c, "fine_tuning", {**record, "after": asdict(after)}))
        return final
    initial, initial_card = load_model(starting)  # judged as it is: its calibration was chosen where it was made
    keep_the_better(final, Path(starting), held_out.judged(initial, initial_card), after,
                    {**record, "initial_model": str(starting), "initial_sha256": initial_card.sha256})
    return final
