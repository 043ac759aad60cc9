import os
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

from synthetic import disc_micrograph, train_disc_model  # noqa: E402

DISC = (200.0, 300.0, 90.0)  # x, y, radius of the dark disc in the standard test micrograph
BOX = 32  # particle box in pixels: working scale is half the micrograph's
# the shared real micrographs beside the repository (not in it): tests that need them skip without them
SHARED_REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def write_mrc(path: Path, data: np.ndarray, voxel_size: float = 0.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_size
    return path


@pytest.fixture(scope="session")
def shared_real() -> Path:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent (real micrographs are not in the repository)")
    return SHARED_REAL


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
    return write_mrc(tmp_path / "disc.mrc", image, voxel_size=1.5)
