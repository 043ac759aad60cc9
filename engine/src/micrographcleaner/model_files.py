"""Finding, loading and saving models, each with the JSON card that says how to use it.

A model of ours is ``<name>.keras`` plus ``<name>.json`` (its card). The original
MicrographCleaner's ``defaultModel.h5``/``.keras`` (256x256x1 in, one sigmoid channel out) has no
card; it is recognised by that contract and run with the original's preprocessing.
Models are loaded with Keras' safe mode on: no pickled Python code is ever executed.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from . import network  # noqa: F401  (sets the Keras backend before keras is imported)
from .contract import BUNDLED_MODEL
from .images import file_sha256
from .preprocessing import PARTICLE_PIXELS

LEGACY_TILE = 256


class ModelFileError(ValueError):
    """A model that cannot be used; the message names the file and the reason."""


@dataclass
class ModelCard:
    """What a model is and how to feed it: saved beside every model of ours."""

    name: str
    version: str = "0"
    classes: list[str] = field(default_factory=lambda: ["bad"])  # channel order; channel 0 = any bad
    particle_pixels: float = PARTICLE_PIXELS  # working scale rule: a particle box becomes this many px
    working_side: list[float] | None = None  # and the working image's longer side stays in [low, high] px
    preprocessing: str = "area"  # "area" (ours) or "legacy" (the original's resize)
    tile_size: int | None = None  # fixed input side, None for fully convolutional models
    size_multiple: int = 32  # input sides must be multiples of this
    architecture: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)  # logit scale and shift fitted on real frames (calibration.py)
    training: str = ""
    training_data: list = field(default_factory=list)  # sources: what, how many, licence
    metrics: dict = field(default_factory=dict)
    fine_tuning: dict = field(default_factory=dict)  # held-out figures before and after, which was kept (held_out.py)
    sha256: str = ""

    @classmethod
    def from_dict(cls, content: dict) -> "ModelCard":
        known = {name: content[name] for name in cls.__dataclass_fields__ if name in content}
        return cls(**known)


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def bundled_model_path() -> Path | None:
    """The default model shipped in the package, or None while no trained model is bundled."""
    candidate = resources.files("micrographcleaner").joinpath(*BUNDLED_MODEL)
    path = Path(str(candidate))
    return path if path.is_file() else None


def resolve_model_path(path: str | Path | None) -> Path:
    if path is None:
        bundled = bundled_model_path()
        if bundled is None:
            raise ModelFileError("no bundled default model is installed; pass --model PATH")
        return bundled
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    return path


def load_model(path: str | Path | None = None):
    """Load a model and its card (a legacy model gets a card describing the original's contract)."""
    import keras

    path = resolve_model_path(path)
    card_file = card_path(path)
    card = None
    if card_file.is_file() and path.suffix == ".keras":
        card = ModelCard.from_dict(json.loads(card_file.read_text()))
        if not card.sha256:
            raise ModelFileError(f"{card_file}: has no sha256 checksum of {path.name}; a model cannot be "
                                 "checked without one (the engine writes it when it saves a model)")
        if card.sha256 != file_sha256(path):
            raise ModelFileError(f"{path}: checksum does not match its card {card_file}")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):  # Keras would call it "File not found"
        raise ModelFileError(f"{path}: cannot be loaded as a Keras model (not a zip archive, "
                             "which every .keras model is)")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True,
                                        custom_objects={"LeakyReLU": keras.layers.LeakyReLU})
    except Exception as error:
        raise ModelFileError(f"{path}: cannot be loaded as a Keras model ({error})") from error
    if card is None:
        card = _legacy_card(path, model)
    return model, card


def _legacy_card(path: Path, model) -> ModelCard:
    shape = tuple(model.input_shape)
    if shape[1:] != (LEGACY_TILE, LEGACY_TILE, 1) or tuple(model.output_shape)[-1] != 1:
        raise ModelFileError(
            f"{path}: no model card ({card_path(path).name}) and not the original MicrographCleaner "
            f"contract (input {shape}, expected (None, 256, 256, 1) with one output channel)")
    return ModelCard(name=path.name, classes=["bad"], preprocessing="legacy",
                     tile_size=LEGACY_TILE, size_multiple=1, training="original MicrographCleaner model")


def save_model(model, path: str | Path, card: ModelCard) -> ModelCard:
    """Save ``model`` as ``.keras`` with its card (the card's checksum is filled in)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: models of this project are saved as .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    card.sha256 = file_sha256(path)
    card_path(path).write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


def record_metrics(model_path: str | Path, name: str, figures: dict) -> None:
    """Store evaluation figures in a model's card under ``name`` (the model file is unchanged)."""
    update_card(model_path, lambda card: card.metrics.__setitem__(name, figures))


def update_card(model_path: str | Path, change) -> ModelCard:
    """Apply ``change(card)`` to a model's card and save it (the model file, and so its checksum,
    are unchanged: figures and calibration live in the card)."""
    card = load_card(model_path)
    change(card)
    card_path(resolve_model_path(model_path)).write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


def load_card(model_path: str | Path) -> ModelCard:
    """A model's card alone (no TensorFlow needed)."""
    path = resolve_model_path(model_path)
    card_file = card_path(path)
    if not card_file.is_file():
        raise ModelFileError(f"{path}: has no card ({card_file.name})")
    return ModelCard.from_dict(json.loads(card_file.read_text()))
