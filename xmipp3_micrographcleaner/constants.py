"""Names shared by the plugin, its protocol and its tests (no Scipion imports: setup.py reads it),
and the engine's :data:`contract`: what crosses the process boundary (output names, rejection
reasons, the manifest), read from the engine's source as the version is."""
import importlib.util
import re
import types
from pathlib import Path

ENGINE_COPY = "engine"  # folder of the engine's source in the plugin's wheel (setup.py) and in the environment's folder
ENGINE_FILES = ("pyproject.toml", "README.md", "src")  # what pip needs to install the engine


def engineDir():
    """The engine source the environment is built from: engine/ of a checkout beside the plugin,
    else the copy packaged inside the plugin."""
    package = Path(__file__).resolve().parent
    checkout = package.parent / "engine"
    return checkout if (checkout / "pyproject.toml").is_file() else package / ENGINE_COPY


def enginePackageDir():
    """The engine's Python package (``micrographcleaner``) in that source."""
    return engineDir() / "src" / "micrographcleaner"


def _loadContract():
    """The engine's contract (standard library only), loaded by path: the plugin never imports the
    engine, whose package needs TensorFlow. Its names are kept in a namespace, not as a module:
    Scipion's plugin manager reloads every module a plugin's modules hold after installing it, and
    a module loaded by path cannot be reloaded (it would retry for ever)."""
    spec = importlib.util.spec_from_file_location("micrographcleaner_contract", enginePackageDir() / "contract.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return types.SimpleNamespace(**{name: value for name, value in vars(module).items() if not name.startswith("__")})


contract = _loadContract()

# The engine's __version__ is the one place a version is written: the plugin's distribution, the
# engine's and the environment's folder all follow it, so a new version builds a new environment.
VERSION = re.search(r'^__version__ = "([^"]+)"', (enginePackageDir() / "__init__.py").read_text(), re.M).group(1)
BINARY = "micrographcleaner"  # the target of 'scipion3 installb'
ENV_NAME = "%s-%s" % (BINARY, VERSION)  # package folder under software/em and conda env name

HOME_VAR = "MICROGRAPHCLEANER_HOME"
ACTIVATION_VAR = "MICROGRAPHCLEANER_ENV_ACTIVATION"
TENSORFLOW_VAR = "MICROGRAPHCLEANER_TENSORFLOW"  # "cpu", "gpu" or "auto" (GPU build when CUDA is present)
INSTALLED_FLAG = "installed"  # written in the home folder once the environment is complete

# Model choices of the protocol
MODEL_BUNDLED, MODEL_ORIGINAL, MODEL_FILE, MODEL_FINE_TUNED = 0, 1, 2, 3

# The protocol's own rejection reason (the engine's are in the contract), written on each
# coordinate of a micrograph that its input set does not hold
MISSING_MICROGRAPH = "micrograph not found in the micrograph set"
