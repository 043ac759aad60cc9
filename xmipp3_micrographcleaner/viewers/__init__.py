"""Viewers of the plugin: the deep micrograph screen's "Analyze results" form and its windows."""
from .viewer_screen import MicrographCleanerViewer
