import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from micrographcleaner.testing import (  # noqa: E402
    SHARED_DATA_VARIABLE,
    disc_micrograph,
    shared_real as find_shared_real,
    train_disc_model,
    write_mrc,
)

DISC = (200.0, 300.0, 90.0)  # x, y, radius of the dark disc in the standard test micrograph
BOX = 32  # particle box in pixels: working scale is half the micrograph's


@pytest.fixture(scope="session")
def shared_real() -> Path:
    """The shared real micrographs (not in the repository): tests that need them skip without them."""
    found = find_shared_real(__file__)
    if found is None:
        pytest.skip(f"no shared real micrographs (not in the repository): put shared/data/real beside the "
                    f"checkout or set {SHARED_DATA_VARIABLE}")
    return found


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """A tiny U-Net trained (in ~15 s) to flag dark discs, saved with its card."""
    path = tmp_path_factory.mktemp("models") / "discs.keras"
    train_disc_model(path)
    return path


@pytest.fixture(scope="session")
def two_class_model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models2") / "discs2.keras"
    train_disc_model(path, n_outputs=2)
    return path


@pytest.fixture(scope="session")
def legacy_model_path(tmp_path_factory) -> Path:
    """A stand-in for the original's defaultModel.h5: 256x256x1 in, one sigmoid channel out."""
    from micrographcleaner.network import UNetConfig, build_unet

    path = tmp_path_factory.mktemp("legacy") / "defaultModel.h5"
    build_unet(UNetConfig(filters=(4, 8), tile_size=256)).save(path)
    return path


@pytest.fixture
def disc_mrc(tmp_path) -> Path:
    image, _ = disc_micrograph((640, 640), [DISC], seed=5)
    return write_mrc(tmp_path / "disc.mrc", image, pixel_size=1.5)
