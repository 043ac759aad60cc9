"""Protocols registered by the plugin (pwem imports this module to find them)."""
from .protocol_screen import ProtMicrographCleanerScreen

__all__ = ["ProtMicrographCleanerScreen"]
