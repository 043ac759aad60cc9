"""Quality-control pictures: the micrograph, its mask overlaid per class, and the particles.

Accepted particles are drawn as green circles, rejected ones red; each bad pixel is tinted in the
colour of its most likely class (the label map the scores use). The colours are the contract's, so
a class looks the same here as in the plugin's plots. The key sits in a dark strip below the
micrograph, so that it hides no pick and stays readable when the picture is shown as a small
gallery tile.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from .contract import ACCEPTED_COLOUR, REJECTED_COLOUR, class_colour
from .images import atomic_path
from .scoring import class_labels

MIN_SIDE = 512
TINT = 0.45  # opacity of the class colour over a bad pixel
KEY_BACKGROUND = (24, 24, 24)
KEY_TEXT = (255, 255, 255)
KEY_FONT_FRACTION = 1 / 20  # of the picture's long side: about 11 px when a 512 px picture is shown 220 px wide

RGB = tuple[int, int, int]


def rgb(colour: str) -> RGB:
    """A contract colour ("#rrggbb") as Pillow's RGB triple."""
    return ImageColor.getrgb(colour)[:3]


def label_names(class_names: list[str], channels: int) -> list[str]:
    """The class name of each label of :func:`class_labels`, from label 1 on.

    Label k is ``class_names[k]`` for a model with classes; a one-class model's only label, 1, is
    ``class_names[0]`` (usually "bad").
    """
    return class_names[1:] if channels > 1 else class_names[:1] or ["bad"]


def render(working_image: np.ndarray, badness: np.ndarray, class_names: list[str],
           centres: np.ndarray | None = None, accepted: np.ndarray | None = None,
           radius: float = 8.0) -> Image.Image:
    """RGB picture at working scale (enlarged so its long side is at least 512 px), key strip below.

    ``centres`` are working-image (x, y) positions; ``radius`` is in working pixels; ``accepted``
    (None: all) says which centres are drawn green. The key lists the classes present in the
    picture with the percentage of its area each covers and, when centres are given, how many
    were accepted and rejected.
    """
    low, high = np.percentile(working_image, (1, 99))
    grey = np.clip((working_image - low) / max(high - low, 1e-6), 0, 1)
    image = np.repeat(grey[..., None], 3, axis=2)
    labels = class_labels(badness)
    names = label_names(class_names, badness.shape[-1])
    colours = [rgb(class_colour(name)) for name in names]
    palette = np.array([(0, 0, 0)] + colours, dtype=np.float64) / 255.0
    alpha = np.where(labels > 0, TINT, 0.0)[..., None]
    image = image * (1 - alpha) + palette[labels] * alpha
    picture = Image.fromarray((image * 255).astype(np.uint8))
    zoom = max(1.0, MIN_SIDE / max(picture.size))
    if zoom > 1:
        picture = picture.resize((round(picture.width * zoom), round(picture.height * zoom)), Image.BILINEAR)

    entries: list[tuple[str, RGB | None, str]] = []  # (text, colour, swatch: "box", "ring" or "")
    counts = np.bincount(labels.ravel(), minlength=len(names) + 1)
    for label, (name, colour) in enumerate(zip(names, colours), start=1):
        if counts[label]:
            entries.append((f"{name} {_percent(counts[label] / labels.size)}", colour, "box"))
    if not entries:
        entries.append(("no bad region", None, ""))
    if centres is not None:
        kept = np.ones(len(centres), bool) if accepted is None else np.asarray(accepted, bool)
        _circles(picture, np.asarray(centres, dtype=np.float64).reshape(-1, 2), kept, radius, zoom)
        entries.append((f"accepted {int(kept.sum())}", rgb(ACCEPTED_COLOUR), "ring"))
        entries.append((f"rejected {int((~kept).sum())}", rgb(REJECTED_COLOUR), "ring"))
    return _with_key(picture, entries)


def _percent(fraction: float) -> str:
    """A present class never reads "0%"."""
    return "<1%" if fraction < 0.01 else f"{100 * fraction:.0f}%"


def _circles(picture: Image.Image, centres: np.ndarray, kept: np.ndarray, radius: float, zoom: float) -> None:
    """One ring per centre, green if kept, red if not, thick enough to see at gallery size."""
    draw = ImageDraw.Draw(picture)
    r, width = max(2.0, radius * zoom), max(2, round(max(picture.size) / 200))
    for (x, y), keep in zip(centres * zoom + zoom / 2, kept):
        draw.ellipse((x - r, y - r, x + r, y + r), outline=rgb(ACCEPTED_COLOUR if keep else REJECTED_COLOUR),
                     width=width)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only its small bitmap font
        return ImageFont.load_default()


def _with_key(picture: Image.Image, entries: list[tuple[str, RGB | None, str]]) -> Image.Image:
    """``picture`` with a dark strip below it holding ``entries``, wrapped onto as many lines as they need.

    The font is a fixed fraction of the picture's long side, shrunk only where one entry alone would
    not fit across a narrow picture.
    """
    measure = ImageDraw.Draw(picture)
    size = max(12, round(max(picture.size) * KEY_FONT_FRACTION))
    widest = max(_entry_width(measure, text, swatch, size) for text, _, swatch in entries)
    if widest > picture.width - size:  # margins of size / 2
        size = max(8, int(size * (picture.width - size) / widest))
    margin, gap, line = size // 2, size, round(size * 1.4)
    rows: list[list[tuple[int, str, RGB | None, str]]] = [[]]  # per line: (x, text, colour, swatch)
    x = margin
    for text, colour, swatch in entries:
        width = _entry_width(measure, text, swatch, size)
        if rows[-1] and x + width > picture.width - margin:
            rows.append([])
            x = margin
        rows[-1].append((x, text, colour, swatch))
        x += width + gap
    keyed = Image.new("RGB", (picture.width, picture.height + 2 * margin + size + line * (len(rows) - 1)),
                      KEY_BACKGROUND)
    keyed.paste(picture, (0, 0))
    draw = ImageDraw.Draw(keyed)
    font = _font(size)
    ink = draw.textbbox((0, 0), "Ag", font=font)
    for row, items in enumerate(rows):
        top = picture.height + margin + line * row
        for x, text, colour, swatch in items:
            if swatch == "box":
                draw.rectangle((x, top, x + size, top + size), fill=colour, outline=KEY_TEXT)
            elif swatch == "ring":
                draw.ellipse((x, top, x + size, top + size), outline=colour, width=max(2, size // 8))
            left = x + (_swatch_width(size) if swatch else 0)
            draw.text((left, top + (size - ink[1] - ink[3]) / 2), text, fill=KEY_TEXT, font=font)
    return keyed


def _swatch_width(size: int) -> int:
    """A swatch and the space between it and its text."""
    return size + size // 3


def _entry_width(draw: ImageDraw.ImageDraw, text: str, swatch: str, size: int) -> int:
    return (_swatch_width(size) if swatch else 0) + round(draw.textlength(text, font=_font(size)))


def save_png(picture: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
