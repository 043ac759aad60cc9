"""Protocols registered by the plugin (pwem imports this module to find them)."""
from .protocol_deep_micrograph_screen import ProtDeepMicrographScreen
from .protocol_fine_tune import ProtFineTuneModel

__all__ = ["ProtDeepMicrographScreen", "ProtFineTuneModel"]
