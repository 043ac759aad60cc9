"""Names shared by the plugin, its protocol and its tests."""

VERSION = "0.1.0"  # of the plugin and of the engine it installs
ENGINE_DISTRIBUTION = "micrographcleaner"
ENV_NAME = "micrographcleaner-%s" % VERSION  # package folder under software/em and conda env name

HOME_VAR = "MICROGRAPHCLEANER_HOME"
ACTIVATION_VAR = "MICROGRAPHCLEANER_ENV_ACTIVATION"
TENSORFLOW_VAR = "MICROGRAPHCLEANER_TENSORFLOW"  # "cpu", "gpu" or "auto" (GPU build when CUDA is present)
INSTALLED_FLAG = "installed"  # written in the home folder once the environment is complete

# Model choices of the protocol
MODEL_BUNDLED, MODEL_ORIGINAL, MODEL_FILE = 0, 1, 2
# Micrograph source choices
MICS_FROM_COORDINATES, MICS_OTHER = 0, 1
TTA_CHOICES = ["none", "flips", "d8"]

ANY_CLASS = "any"  # the engine's name for "any bad class"
