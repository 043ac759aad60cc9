"""Sphinx configuration of MicrographCleaner's documentation (built by scripts/docs.sh)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the contract is standard library only: autodoc imports it from the source, no engine install needed
sys.path.insert(0, str(ROOT / "engine" / "src"))


def _version():
    for line in (ROOT / "engine" / "src" / "micrographcleaner" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


project = "MicrographCleaner for Scipion"
author = "MicrographCleaner for Scipion contributors"
copyright = "the MicrographCleaner for Scipion contributors"
version = release = _version()

extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = "MicrographCleaner for Scipion %s" % release
html_theme_options = {"page_width": "1280px", "body_max_width": "none"}
