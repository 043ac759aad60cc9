"""Names shared by the plugin, its protocol and its tests (no Scipion imports: setup.py reads it)."""
import re
from pathlib import Path

ENGINE_COPY = "engine"  # folder of the engine's source in the plugin's wheel (setup.py) and in the environment's folder
ENGINE_FILES = ("pyproject.toml", "README.md", "src")  # what pip needs to install the engine


def engineDir():
    """The engine source the environment is built from: engine/ of a checkout beside the plugin,
    else the copy packaged inside the plugin."""
    package = Path(__file__).resolve().parent
    checkout = package.parent / "engine"
    return checkout if (checkout / "pyproject.toml").is_file() else package / ENGINE_COPY


# The engine's __version__ is the one place a version is written: the plugin's distribution, the
# engine's and the environment's folder all follow it, so a new version builds a new environment.
VERSION = re.search(r'^__version__ = "([^"]+)"',
                    (engineDir() / "src" / "micrographcleaner" / "__init__.py").read_text(), re.M).group(1)
BINARY = "micrographcleaner"  # the target of 'scipion3 installb'
ENV_NAME = "%s-%s" % (BINARY, VERSION)  # package folder under software/em and conda env name

HOME_VAR = "MICROGRAPHCLEANER_HOME"
ACTIVATION_VAR = "MICROGRAPHCLEANER_ENV_ACTIVATION"
TENSORFLOW_VAR = "MICROGRAPHCLEANER_TENSORFLOW"  # "cpu", "gpu" or "auto" (GPU build when CUDA is present)
INSTALLED_FLAG = "installed"  # written in the home folder once the environment is complete

# Model choices of the protocol
MODEL_BUNDLED, MODEL_ORIGINAL, MODEL_FILE = 0, 1, 2
TTA_CHOICES = ["none", "flips", "d8"]

ANY_CLASS = "any"  # the engine's name for "any bad class"
