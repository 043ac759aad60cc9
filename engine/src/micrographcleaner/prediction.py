"""Running the network over a working image: whole-image passes, seam-free tiles, and TTA.

A fully convolutional model sees the whole working image in one pass (a K3 micrograph at box 200
is only ~460x330 working pixels). Only when the image exceeds ``max_pixels`` (or the model has a
fixed input, like the original's 256x256) is it cut into overlapping tiles, whose predictions are
blended with a smooth window so that no seams appear. Test-time augmentation uses the exact
dihedral transforms (flips and 90-degree rotations), which need no interpolation.
"""
from __future__ import annotations

from typing import Callable, Literal

import numpy as np

from .calibration import Calibration, logit
from .contract import AUGMENTATIONS
from .model_files import ModelCard
from .preprocessing import Geometry, area_resize, companion_factor, preprocess, working_factor
from .scoring import BAD_LEVEL

Augmentation = Literal["none", "flips", "d8"]  # contract.AUGMENTATIONS

MIN_WORKING_SIDE = 16
"""A working image narrower than a particle box cannot be judged."""


class ScaleError(ValueError):
    """A micrograph that this model cannot see at the box given (it would be enlarged, or shrink to
    almost nothing); the message says which and what to change."""

# (rotations by 90 degrees, transpose) pairs; each is its own exact inverse when undone in reverse order
_TRANSFORMS: dict[str, list[tuple[int, bool]]] = {
    "none": [(0, False)],
    "flips": [(0, False), (2, False), (1, True), (3, True)],  # identity, both flips, up-down, left-right
    "d8": [(k, t) for t in (False, True) for k in range(4)],
}


def _forward(image: np.ndarray, rotations: int, transpose: bool) -> np.ndarray:
    if transpose:
        image = np.swapaxes(image, 0, 1)
    return np.rot90(image, rotations, axes=(0, 1))


def _inverse(image: np.ndarray, rotations: int, transpose: bool) -> np.ndarray:
    image = np.rot90(image, -rotations, axes=(0, 1))
    return np.swapaxes(image, 0, 1) if transpose else image


def blending_window(side: int, overlap: int) -> np.ndarray:
    """1-D tile weights: ~0 in the outer quarter of the overlap (where a tile lacks context), then a
    raised-cosine ramp to 1 over its middle half; the ramps of neighbouring tiles cross-fade."""
    weights = np.ones(side, dtype=np.float64)
    guard, ramp = overlap // 4, overlap - 2 * (overlap // 4)
    if ramp > 0:
        rising = np.concatenate([np.zeros(guard), 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)])
        weights[:len(rising)] = rising
        weights[side - len(rising):] = rising[::-1]
    return np.maximum(weights, 1e-6)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: stride ``tile - overlap``, the last tile flush with the end."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


class Predictor:
    """Owns a loaded model and turns working images into badness maps (H, W, channels) in 0..1.

    Load it once per process and call :meth:`predict` for every micrograph.
    """

    def __init__(self, model, card: ModelCard, augmentation: Augmentation = "none", batch_size: int = 8,
                 max_pixels: int = 1024 * 1024, tile_size: int = 512, overlap: int = 128, margin: int = 16,
                 companion: bool = True):
        if augmentation not in _TRANSFORMS:
            raise ValueError(f"unknown test-time augmentation {augmentation!r}; choose from {AUGMENTATIONS}")
        self.model = model
        self.card = card
        self.calibration = Calibration.from_card(card.calibration)
        self.augmentation = augmentation
        self.batch_size = max(1, int(batch_size))
        self.max_pixels = max_pixels
        self.margin = margin
        self.companion = companion  # a second view at the companion scale (preprocessing.companion_factor)
        if card.tile_size:  # fixed-input model: tiles of its size, half overlapping as the original did
            self.tile_size, self.overlap = card.tile_size, card.tile_size // 2
        else:
            self.tile_size, self.overlap = tile_size, overlap

    def downsampling_factor(self, shape: tuple[int, ...], box_size: float, extra: float = 1.0) -> float:
        """Micrograph pixels per working pixel for a micrograph of ``shape``, by this model's scale rule."""
        side = self.card.working_side
        return working_factor(shape, box_size, extra, self.card.particle_pixels, tuple(side) if side else None)

    def working_image(self, image: np.ndarray, box_size: float, extra: float = 1.0) -> tuple[np.ndarray, Geometry]:
        """A micrograph brought to this model's working scale and preprocessing, with its geometry.

        The one road to the working image (cleaning, evaluation, calibration and the benchmarks all
        take it); a scale the model cannot judge raises :class:`ScaleError`.
        """
        factor = self.downsampling_factor(image.shape, box_size, extra)
        height, width = image.shape[:2]
        if factor < 1:
            raise ScaleError(f"{width}x{height} px would be enlarged at box size {box_size:g} with extra "
                             f"downsampling {extra:g} (downsampling {factor:g}): give a larger box or extra "
                             "downsampling")
        working = [int(side / factor) for side in (height, width)]
        if min(working) < MIN_WORKING_SIDE:
            raise ScaleError(f"{width}x{height} px shrinks to {working[1]}x{working[0]} working px at box size "
                             f"{box_size:g} (downsampling {factor:g}); at least {MIN_WORKING_SIDE} are needed: is "
                             "the box size in this micrograph's pixels?")
        return preprocess(image, factor, self.card.preprocessing)  # type: ignore[arg-type]

    def companion_factor(self, shape: tuple[int, ...], box_size: float, extra: float = 1.0) -> float | None:
        """Micrograph pixels per working pixel of the second view (:meth:`companion_image`); None when
        this predictor takes one view, or the model's range leaves no second scale."""
        if not self.companion:
            return None
        side = self.card.working_side
        factor = companion_factor(shape, self.downsampling_factor(shape, box_size, extra), tuple(side) if side else None)
        return None if factor is None or min(shape[:2]) / factor < MIN_WORKING_SIDE else factor

    def companion_image(self, image: np.ndarray, box_size: float, extra: float = 1.0) -> np.ndarray | None:
        """The micrograph's second working image, at the companion scale, for :meth:`predict` (or None)."""
        factor = self.companion_factor(image.shape, box_size, extra)
        return None if factor is None else preprocess(image, factor, self.card.preprocessing)[0]  # type: ignore[arg-type]

    def predict(self, image: np.ndarray, companion: np.ndarray | None = None) -> np.ndarray:
        """Badness (H, W, channels) for a working image (H, W), calibrated as the card says; with the
        micrograph's ``companion`` image (:meth:`companion_image`), both views together: the mean of
        their logits (where one view is sure a pixel is good, a doubt in the other leaves less haze
        than the mean of the two badnesses would), the classes sharing it as they share the mean.
        The companion raises a pixel's badness only where it calls the pixel bad itself: a view at
        another scale may confirm film, never add doubt (on binned K2 frames the finer view is hazy)."""
        badness = self._predict_view(image)
        if companion is None:
            return badness
        other = self._predict_view(companion)
        other = np.stack([area_resize(other[..., c], badness.shape[:2]) for c in range(other.shape[-1])], axis=-1)
        mean = (badness + other) / 2
        together = 1 / (1 + np.exp(-(logit(badness[..., 0]) + logit(other[..., 0])) / 2))
        doubt = (other[..., 0] > badness[..., 0]) & (other[..., 0] < BAD_LEVEL)
        together = np.where(doubt, badness[..., 0], together)
        mean[..., 1:] *= (together / np.maximum(mean[..., 0], 1e-6))[..., None]
        mean[..., 0] = together
        return mean.astype(np.float32)

    def _predict_view(self, image: np.ndarray) -> np.ndarray:
        # Mirrored context around the image, so that its borders are judged like its interior, and up
        # to the network's size multiple: whole-image and tiled passes then see the same canvas.
        margin, multiple = self.margin, self.card.size_multiple
        height, width = image.shape
        extra = [(-(side + 2 * margin)) % multiple for side in (height, width)]
        image = np.pad(np.asarray(image, dtype=np.float32),
                       [(margin, margin + extra[0]), (margin, margin + extra[1])], mode="reflect")
        variants = [_forward(image, *transform) for transform in _TRANSFORMS[self.augmentation]]
        plans = [self._plan(variant.shape) for variant in variants]
        pieces = [(index, piece) for index, (variant, plan) in enumerate(zip(variants, plans))
                  for piece in plan.pieces(variant)]
        outputs = self._run([piece for _, piece in pieces])
        total = None
        for index, (variant, plan) in enumerate(zip(variants, plans)):
            mine = [output for (owner, _), output in zip(pieces, outputs) if owner == index]
            stitched = _inverse(plan.stitch(mine), *_TRANSFORMS[self.augmentation][index])
            total = stitched if total is None else total + stitched
        total = total[margin:margin + height, margin:margin + width]
        return self.calibration.apply(np.clip(total / len(variants), 0.0, 1.0).astype(np.float32))

    def _plan(self, shape: tuple[int, int]) -> "_Plan":
        fits_whole = self.card.tile_size is None and shape[0] * shape[1] <= self.max_pixels
        if fits_whole:
            return _WholeImage()
        return _Tiles(shape, self.tile_size, self.overlap)

    def _run(self, pieces: list[np.ndarray]) -> list[np.ndarray]:
        """Run the model on equally shaped groups of pieces, ``batch_size`` at a time."""
        outputs: list[np.ndarray | None] = [None] * len(pieces)
        groups: dict[tuple[int, int], list[int]] = {}
        for index, piece in enumerate(pieces):
            groups.setdefault(piece.shape, []).append(index)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                batch = np.stack([pieces[i] for i in chunk])[..., np.newaxis]
                result = np.asarray(self.model.predict_on_batch(batch), dtype=np.float32)
                for i, output in zip(chunk, result):
                    outputs[i] = output
        return outputs  # type: ignore[return-value]


class _Plan:
    pieces: Callable[[np.ndarray], list[np.ndarray]]
    stitch: Callable[[list[np.ndarray]], np.ndarray]


class _WholeImage(_Plan):
    """One pass over the whole canvas (``predict`` already padded it to the network's size multiple)."""

    def pieces(self, image: np.ndarray) -> list[np.ndarray]:
        return [image]

    def stitch(self, outputs: list[np.ndarray]) -> np.ndarray:
        return outputs[0]


class _Tiles(_Plan):
    """Overlapping tiles blended with a smooth window; images smaller than a tile are padded."""

    def __init__(self, shape: tuple[int, int], tile: int, overlap: int):
        self.shape = shape
        self.tile = tile
        self.padded = (max(shape[0], tile), max(shape[1], tile))
        self.origins = [(y, x) for y in tile_starts(self.padded[0], tile, overlap)
                        for x in tile_starts(self.padded[1], tile, overlap)]
        ramp = blending_window(tile, overlap)
        self.window = np.outer(ramp, ramp)[..., np.newaxis]

    def pieces(self, image: np.ndarray) -> list[np.ndarray]:
        padding = [(0, self.padded[0] - self.shape[0]), (0, self.padded[1] - self.shape[1])]
        image = np.pad(image, padding, mode="reflect")
        return [image[y:y + self.tile, x:x + self.tile] for y, x in self.origins]

    def stitch(self, outputs: list[np.ndarray]) -> np.ndarray:
        channels = outputs[0].shape[-1]
        total = np.zeros(self.padded + (channels,), dtype=np.float64)
        weight = np.zeros(self.padded + (1,), dtype=np.float64)
        for (y, x), output in zip(self.origins, outputs):
            total[y:y + self.tile, x:x + self.tile] += output * self.window
            weight[y:y + self.tile, x:x + self.tile] += self.window
        return (total / weight)[:self.shape[0], :self.shape[1]]
