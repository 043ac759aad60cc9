"""The U-Net that segments a working image into good (0) and bad (1) regions.

The network is fully convolutional: it accepts any height and width that are multiples of
``2 ** depth`` (the prediction code pads to that), so a whole working image goes through in one
pass. Output channel 0 is "bad, any class"; further channels, when present, are per-class
probabilities (independent sigmoids, so one pixel may belong to several classes).

With ``global_context`` the bottleneck is modulated by statistics pooled over the whole input
(FiLM: a per-channel scale and shift). A convolution sees a few hundred working pixels at most, but
whether a flat, particle-covered area is carbon can depend on a hole edge far away: on which side
of it the image is darker. The modulation starts as the identity, so a model without it can be
extended and fine-tuned (:func:`copy_matching_weights`).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a U-Net; ``filters[i]`` is the width of down block i (and its mirror)."""

    filters: tuple[int, ...] = (32, 64, 128, 256, 512)
    n_outputs: int = 1
    tile_size: int | None = None  # fixed input side (e.g. 256 for the original's contract); None = any
    global_context: bool = False  # FiLM of the bottleneck by whole-image statistics

    @property
    def depth(self) -> int:
        return len(self.filters)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** self.depth

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, content: dict) -> "UNetConfig":
        """The inverse of :meth:`to_dict` (JSON gives the widths as a list)."""
        return cls(**{**content, "filters": tuple(content["filters"])})


PRESETS: dict[str, UNetConfig] = {
    # the paper's network: 5 down + 5 up blocks, 32..512 filters, sigmoid output
    "paper": UNetConfig(filters=(32, 64, 128, 256, 512)),
    # a narrower network that trains in hours on a CPU
    "small": UNetConfig(filters=(16, 32, 64, 128)),
    # a tiny network for tests
    "tiny": UNetConfig(filters=(4, 8, 16)),
}


def build_unet(config: UNetConfig, name: str = "micrographcleaner_unet"):
    """Build (not train) a Keras U-Net for ``config``."""
    import keras
    from keras import layers

    side = config.tile_size
    inputs = keras.Input(shape=(side, side, 1), name="working_image")
    x = inputs
    skips = []
    for level, width in enumerate(config.filters):
        x = _conv_block(x, width, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = _conv_block(x, config.filters[-1], "bottom")
    if config.global_context:
        x = _global_context(x, config.filters[-1])
    for level in reversed(range(config.depth)):
        width = config.filters[level]
        x = layers.Conv2DTranspose(width, 2, strides=2, padding="same", name=f"up{level}_upsample")(x)
        x = layers.Concatenate(name=f"up{level}_skip")([x, skips[level]])
        x = _conv_block(x, width, f"up{level}")
    outputs = layers.Conv2D(config.n_outputs, 1, activation="sigmoid", dtype="float32", name="badness")(x)
    return keras.Model(inputs, outputs, name=name)


def copy_matching_weights(source, target) -> list[str]:
    """Copy weights layer by layer where names and shapes agree; return the target's other layers."""
    by_name = {layer.name: layer for layer in source.layers}
    fresh = []
    for layer in target.layers:
        old = by_name.get(layer.name)
        weights = old.get_weights() if old is not None else None
        if weights is not None and [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(weights)
        elif layer.weights:
            fresh.append(layer.name)
    return fresh


def _global_context(x, width: int):
    """x * (1 + gamma) + beta, with gamma and beta computed from the mean and max over the image."""
    from keras import layers

    pooled = layers.Concatenate(name="context_pool")([
        layers.GlobalAveragePooling2D(keepdims=True, name="context_mean")(x),
        layers.GlobalMaxPooling2D(keepdims=True, name="context_max")(x)])
    hidden = layers.Conv2D(64, 1, name="context_hidden")(pooled)
    hidden = layers.LeakyReLU(negative_slope=0.1, name="context_act")(hidden)
    gamma = layers.Conv2D(width, 1, kernel_initializer="zeros", name="context_scale")(hidden)
    beta = layers.Conv2D(width, 1, kernel_initializer="zeros", name="context_shift")(hidden)
    return layers.Add(name="context_film")([x, layers.Multiply(name="context_gain")([x, gamma]), beta])


def _conv_block(x, width: int, name: str):
    from keras import layers

    for index in range(2):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
        x = layers.BatchNormalization(name=f"{name}_norm{index}")(x)
        x = layers.LeakyReLU(negative_slope=0.1, name=f"{name}_act{index}")(x)
    return x
