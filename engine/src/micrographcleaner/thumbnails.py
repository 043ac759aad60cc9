"""Quality-control pictures: the micrograph, its mask overlaid per class, and the particles.

Accepted particles are drawn as green circles, rejected ones red; bad regions are tinted in a
colour per class, with a legend, so a user can judge the mask at a glance.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .images import atomic_path
from .scoring import BAD_LEVEL

CLASS_COLOURS = [(255, 170, 0), (40, 120, 255), (255, 60, 200), (0, 220, 220), (170, 90, 255), (255, 255, 80)]
ACCEPTED = (40, 230, 40)
REJECTED = (255, 40, 40)
MIN_SIDE = 512


def render(working_image: np.ndarray, badness: np.ndarray, class_names: list[str],
           centres: np.ndarray | None = None, accepted: np.ndarray | None = None,
           radius: float = 8.0) -> Image.Image:
    """RGB picture at working scale (enlarged so its long side is at least 512 px).

    ``centres`` are working-image (x, y) positions; ``radius`` is in working pixels.
    """
    low, high = np.percentile(working_image, (1, 99))
    grey = np.clip((working_image - low) / max(high - low, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    # per-class channels when the model has them, else the overall channel
    channels = range(1, badness.shape[-1]) if badness.shape[-1] > 1 else [0]
    legend = []
    for colour_index, channel in enumerate(channels):
        colour = np.array(CLASS_COLOURS[colour_index % len(CLASS_COLOURS)]) / 255.0
        alpha = 0.45 * np.clip((badness[..., channel] - 0.25) / (1 - 0.25), 0, 1)[..., None]
        rgb = rgb * (1 - alpha) + colour * alpha
        legend.append((class_names[channel] if channel < len(class_names) else "bad",
                       CLASS_COLOURS[colour_index % len(CLASS_COLOURS)]))
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
    for row, (name, colour) in enumerate(legend):
        top = 6 + 16 * row
        draw.rectangle((6, top, 18, top + 12), fill=colour, outline=(0, 0, 0))
        draw.text((22, top), f"{name} (badness >= {BAD_LEVEL:g} tinted)" if row == 0 else name, fill=(255, 255, 255))
    return picture


def save_png(picture: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
