"""Quality-control pictures: the micrograph, its mask overlaid per class, and the particles.

Accepted particles are drawn as green circles, rejected ones red; each bad pixel is tinted in the
colour of its most likely class (the label map the scores use), with a legend on a dark box so
that it stays readable on bright micrographs and at gallery size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .images import atomic_path
from .scoring import BAD_LEVEL, class_labels

CLASS_COLOURS = [(255, 170, 0), (40, 120, 255), (255, 60, 200), (0, 220, 220), (170, 90, 255), (255, 255, 80)]
ACCEPTED = (40, 230, 40)
REJECTED = (255, 40, 40)
MIN_SIDE = 512
TINT = 0.45  # opacity of the class colour over a bad pixel


def render(working_image: np.ndarray, badness: np.ndarray, class_names: list[str],
           centres: np.ndarray | None = None, accepted: np.ndarray | None = None,
           radius: float = 8.0) -> Image.Image:
    """RGB picture at working scale (enlarged so its long side is at least 512 px).

    ``centres`` are working-image (x, y) positions; ``radius`` is in working pixels.
    """
    low, high = np.percentile(working_image, (1, 99))
    grey = np.clip((working_image - low) / max(high - low, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    labels = class_labels(badness)
    # label k is class k of a model with classes; a one-class model has only label 1, "bad"
    names = class_names[1:] if badness.shape[-1] > 1 else class_names[:1] or ["bad"]
    colours = [CLASS_COLOURS[index % len(CLASS_COLOURS)] for index in range(len(names))]
    palette = np.array([(0, 0, 0)] + colours, dtype=np.float64) / 255.0
    alpha = np.where(labels > 0, TINT, 0.0)[..., None]
    rgb = rgb * (1 - alpha) + palette[labels] * alpha
    picture = Image.fromarray((rgb * 255).astype(np.uint8))
    zoom = max(1.0, MIN_SIDE / max(picture.size))
    if zoom > 1:
        picture = picture.resize((round(picture.width * zoom), round(picture.height * zoom)), Image.BILINEAR)
    draw = ImageDraw.Draw(picture)
    if centres is not None and len(centres):
        kept = np.ones(len(centres), bool) if accepted is None else np.asarray(accepted, bool)
        r = max(2.0, radius * zoom)
        for (x, y), keep in zip(np.asarray(centres) * zoom, kept):
            x, y = x + zoom / 2, y + zoom / 2
            draw.ellipse((x - r, y - r, x + r, y + r), outline=ACCEPTED if keep else REJECTED, width=2)
    entries = names if len(names) > 1 else [f"{names[0]} (badness >= {BAD_LEVEL:g})"]
    _legend(draw, entries, colours, max(picture.size))
    return picture


def _legend(draw: ImageDraw.ImageDraw, names: list[str], colours: list[tuple[int, int, int]], side: int) -> None:
    """Colour swatches and class names on a dark, opaque box in the top-left corner, sized to the picture."""
    size = max(12, side // 32)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only its small bitmap font
        font = ImageFont.load_default()
    step = size + size // 3
    width = size + 2 * step // 3 + max(draw.textlength(name, font=font) for name in names)
    draw.rectangle((0, 0, width + step // 2, step * len(names) + step // 3), fill=(0, 0, 0))
    for row, (name, colour) in enumerate(zip(names, colours)):
        top = step // 3 + step * row
        draw.rectangle((step // 3, top, step // 3 + size, top + size), fill=colour, outline=(255, 255, 255))
        draw.text((step // 3 + size + step // 3, top), name, fill=(255, 255, 255), font=font)


def save_png(picture: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
