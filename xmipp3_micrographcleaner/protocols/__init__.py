"""Protocols registered by the plugin (pwem imports this module to find them)."""
from .protocol_deep_micrograph_screen import ProtDeepMicrographScreen

__all__ = ["ProtDeepMicrographScreen"]
