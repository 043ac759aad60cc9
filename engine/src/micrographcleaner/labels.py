"""Real micrographs with human labels: finding them, reading them, and turning labels into classes.

Users and public data sets label micrographs in many ways; each becomes one map of class codes
(those of :mod:`micrographcleaner.classes`: 0 good, ``i + 1`` = ``CLASSES[i]``, with ``BAD`` for
bad of a class not stated, as a plain good/bad mask says, and ``IGNORE`` for borders and
unlabelled areas: no loss there, no score either).

Accepted label files:

* binary masks: MRC (0..1, 1 = bad), PNG/JPG/TIFF greyscale thresholded at ``threshold`` (a mask
  drawn in an image editor), Warp's TIFF (0 background, 1 particle, 2 artefact);
* label maps: RGB or indexed PNG/TIFF whose colours (or indices) a legend names, at the
  micrograph's size or at a smaller one of the same shape (the plugin's corrections are drawn at
  the working size; :data:`~.contract.CORRECTIONS_SOURCE`).

A *source* is one folder of images with their labels, described by a small JSON file (see
:class:`LabelSource`), so that a set can be held out by pattern and mixed with others at a stated
share and weight.
"""
from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classes import CLASS_CODES, CLASSES, GOOD, IGNORE, class_channels
from .images import MicrographError, read_bad_mask, read_micrograph
from .preprocessing import area_resize

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = (".mrc", ".tif", ".tiff", *PICTURE_SUFFIXES)


class LabelError(ValueError):
    """A label file or source description that cannot be used; the message names the file."""


@dataclass
class LabelSource:
    """One folder of labelled micrographs and how to read it (the JSON keys are these fields).

    ``images`` is that folder, or ``micrographs`` names each micrograph file by stem (micrographs
    kept where they are, as a Scipion project keeps them); ``labels`` holds
    ``<image stem><label_suffix>.<any>`` for each of them; with a
    ``legend`` ({"R,G,B" or "index": class}) the labels are maps, without one they are binary masks
    whose bad side is class ``positive``. ``exclude`` holds stem patterns (held-out sets);
    ``skip_uniform`` drops labels of a single class (unreliable in hand-drawn sets).
    ``fraction`` and ``weight`` set how often a training sample comes from this source (relative
    to the other labelled sources) and how much its pixels count in the loss.
    """

    images: Path | None
    box_size: float  # the particle box (px) that suits these micrographs
    micrographs: dict[str, str] | None = None  # stem -> micrograph file, instead of the images folder
    labels: Path | None = None
    label_suffix: str = "_mask"
    legend: dict[str, str] | None = None
    positive: str = "bad"
    threshold: float = 0.5  # of the label file's range (MRC 0..1, 8-bit 0..255)
    ignore_border: int = 0  # px along every edge that the labels do not cover
    exclude: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=lambda: ["*"])
    skip_uniform: bool = False
    fraction: float = 1.0
    weight: float = 1.0
    name: str = ""
    reviews: dict = field(default_factory=dict)  # what the correction window records (not used here)

    @classmethod
    def from_json(cls, path: str | Path) -> "LabelSource":
        path = Path(path)
        try:
            content = json.loads(path.read_text())
            folder = path.parent
            content["images"] = folder / content["images"] if content.get("images") is not None else None
            if content.get("micrographs") is not None:
                content["micrographs"] = {stem: str(folder / file) for stem, file in content["micrographs"].items()}
            if content.get("labels") is not None:
                content["labels"] = folder / content["labels"]
            content.setdefault("name", path.stem)
            source = cls(**content)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise LabelError(f"{path}: not a usable label source ({error})") from error
        source.check(path)
        return source

    @classmethod
    def from_folder(cls, folder: str | Path, box_size: float) -> "LabelSource":
        """A plain folder: ``<stem>.<ext>`` beside ``<stem>_mask.<ext>``, binary masks."""
        folder = Path(folder)
        source = cls(images=folder, box_size=box_size, name=folder.name)
        source.check(folder)
        return source

    def check(self, where: Path) -> None:
        if (self.images is None) == (self.micrographs is None):
            raise LabelError(f"{where}: give either 'images' (a folder) or 'micrographs' (stem -> file)")
        if self.micrographs is not None and self.labels is None:
            raise LabelError(f"{where}: 'micrographs' needs a 'labels' folder")
        for folder in (self.images, self.labels or self.images):
            if folder is not None and not Path(folder).is_dir():
                raise LabelError(f"{where}: folder {folder} not found")
        if not (self.box_size > 0 and np.isfinite(self.box_size)):
            raise LabelError(f"{where}: box_size must be a positive number, got {self.box_size}")
        if not (self.fraction > 0 and self.weight > 0):
            raise LabelError(f"{where}: fraction and weight must be positive")
        classes = [self.positive, *(self.legend or {}).values()]
        unknown = sorted({name for name in classes if name not in CLASS_CODES})
        if unknown:
            raise LabelError(f"{where}: unknown class name(s) {unknown}; use {sorted(CLASS_CODES)}")

    def pairs(self) -> list[tuple[Path, Path]]:
        """(image, label file) pairs of this source, held-out stems left out."""
        labels = self.labels or self.images
        if self.micrographs is not None:
            images = [(stem, Path(file)) for stem, file in sorted(self.micrographs.items())]
        else:
            images = [(image.stem, image) for image in sorted(self.images.iterdir())
                      if image.suffix.lower() in IMAGE_SUFFIXES and not image.stem.endswith(self.label_suffix)]
        found = []
        for stem, image in images:
            if (not any(fnmatch.fnmatch(stem, pattern) for pattern in self.include)
                    or any(fnmatch.fnmatch(stem, pattern) for pattern in self.exclude)):
                continue
            candidates = [p for p in labels.glob(stem + self.label_suffix + ".*") if p.suffix.lower() in IMAGE_SUFFIXES]
            if candidates and candidates[0] != image:
                found.append((image, candidates[0]))
        return found

    def read(self, image: Path, label: Path) -> tuple[np.ndarray, np.ndarray]:
        """The image (float32) and its class-code map (uint8), same shape."""
        data = read_image(image)
        codes = read_labels(label, self.legend, self.positive, self.threshold)
        if codes.shape != data.shape and same_shape(codes.shape, data.shape):
            codes = codes_at(codes, data.shape)  # drawn at the working size
        if codes.shape != data.shape:
            raise LabelError(f"{label}: labels are {codes.shape[1]}x{codes.shape[0]} px, "
                             f"the micrograph {image.name} is {data.shape[1]}x{data.shape[0]}")
        if self.ignore_border:
            border = self.ignore_border
            codes = codes.copy()
            codes[:border], codes[-border:], codes[:, :border], codes[:, -border:] = IGNORE, IGNORE, IGNORE, IGNORE
        return data, codes

    def items(self) -> list[tuple[Path, np.ndarray, np.ndarray]]:
        """Every usable (image path, image, codes) of this source."""
        items, problems = [], []
        for image, label in self.pairs():
            try:
                data, codes = self.read(image, label)
            except (LabelError, MicrographError) as error:  # one broken pair does not stop the others
                problems.append(str(error))
                print(f"skipped: {error}", file=sys.stderr)
                continue
            labelled = codes[codes != IGNORE]
            if self.skip_uniform and (labelled.size == 0 or (labelled == labelled[0]).all()):
                continue
            items.append((image, data, codes))
        if not items:
            raise LabelError(f"{self.images or self.name}: no usable labelled micrographs "
                             + (f"({problems[0]})" if problems else
                                f"(<stem>{self.label_suffix}.* in {self.labels or self.images})"))
        return items


def read_image(path: str | Path) -> np.ndarray:
    """A micrograph as float32: MRC and TIFF through :func:`read_micrograph`, PNG/JPG as greyscale."""
    path = Path(path)
    if path.suffix.lower() in PICTURE_SUFFIXES:
        from PIL import Image

        return np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return read_micrograph(path).data


def read_labels(path: str | Path, legend: dict[str, str] | None = None, positive: str = "bad",
                threshold: float = 0.5) -> np.ndarray:
    """Class codes from a binary mask (bad = ``positive``) or, with a legend, from a label map."""
    path = Path(path)
    if legend is not None:
        return _codes_from_legend(path, legend)
    suffix = path.suffix.lower()
    if suffix == ".mrc":
        bad = read_bad_mask(path) >= threshold
    elif suffix in (".tif", ".tiff") and _is_warp_labels(path):
        bad = read_bad_mask(path) >= 0.5
    else:
        grey = _read_label_pixels(path)
        if grey.ndim == 3:
            grey = grey[..., :3].mean(axis=-1)
        bad = grey >= threshold * (255 if grey.max() > 1 else 1)
    return np.where(bad, CLASS_CODES[positive], GOOD).astype(np.uint8)


def _is_warp_labels(path: Path) -> bool:
    """Warp writes 0/1/2 label images; a greyscale mask has other values."""
    values = np.unique(_read_label_pixels(path))
    return values.max() == 2 and set(values.tolist()) <= {0, 1, 2}


def _read_label_pixels(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            return np.squeeze(tifffile.imread(path))
        from PIL import Image

        with Image.open(path) as picture:
            # indexed pictures keep their indices (a legend names them); others become RGB or grey
            if picture.mode not in ("P", "L", "1", "I", "I;16"):
                picture = picture.convert("RGB")
            return np.asarray(picture)
    except Exception as error:  # PIL and tifffile raise many types for damaged files
        raise LabelError(f"{path}: not a readable label image ({error})") from error


def _codes_from_legend(path: Path, legend: dict[str, str]) -> np.ndarray:
    """Each legend entry ("R,G,B" or an index) to its class code; colours not listed are ignored."""
    pixels = _read_label_pixels(path)
    codes = np.full(pixels.shape[:2], IGNORE, np.uint8)
    for key, name in legend.items():
        value = [int(part) for part in key.split(",")]
        if pixels.ndim == 3:
            if len(value) != 3:
                raise LabelError(f"{path}: RGB labels need 'R,G,B' legend keys, got {key!r}")
            hit = (pixels[..., :3] == np.array(value)).all(axis=-1)
        else:
            if len(value) != 1:
                raise LabelError(f"{path}: indexed labels need index legend keys, got {key!r}")
            hit = pixels == value[0]
        codes[hit] = CLASS_CODES[name]
    return codes


def code_targets(codes: np.ndarray, weight: float = 1.0, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Class codes to training targets: any bad, one channel per class, then the pixel weight.

    A per-class target of -1 means "not known" (a plain bad mask says nothing of the class); the
    last channel is 0 where the labels are to be ignored and ``weight`` elsewhere.
    """
    known_class = (codes <= n_classes)[..., None]
    classes = np.where(known_class, class_channels(codes, n_classes), -1)
    weights = np.where(codes == IGNORE, 0.0, weight)
    return np.concatenate([labelled_bad(codes)[..., None], classes, weights[..., None]], axis=-1).astype(np.float32)


def labelled_bad(codes: np.ndarray) -> np.ndarray:
    """Where the labels say bad, of any class or of none stated (ignored pixels are not bad)."""
    return (codes != GOOD) & (codes != IGNORE)


def codes_at(codes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Class codes at another size, each output pixel taking the code under its centre."""
    rows = ((np.arange(shape[0]) + 0.5) * codes.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * codes.shape[1] / shape[1]).astype(int)
    return codes[np.ix_(rows, cols)]


def same_shape(small: tuple[int, ...], large: tuple[int, ...]) -> bool:
    """Whether ``small`` is ``large`` scaled down (each side rounded, as the working size is)."""
    factor = large[1] / small[1]
    return small[0] <= large[0] and abs(large[0] / factor - small[0]) <= 1


def at_working_scale(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A full-size boolean mask at the working scale: a working pixel is in when half of it is."""
    return area_resize(mask.astype(np.float32), shape) >= 0.5


def labelled_sources(paths: list[Path], box_size: float | None) -> list[LabelSource]:
    """A source per JSON description, or per plain folder of ``<stem>`` + ``<stem>_mask`` files."""
    sources = []
    for path in paths:
        if Path(path).suffix.lower() == ".json":
            sources.append(LabelSource.from_json(path))
        else:
            if not box_size:
                raise LabelError(f"{path}: a plain folder needs --labelled-box-size (or describe it in a JSON)")
            sources.append(LabelSource.from_folder(path, box_size))
    return sources
