#!/usr/bin/env bash
# Remakes the README's viewer pictures (docs/viewer_gallery.png, docs/viewer_histogram.png): they are
# the figures that the viewer tests draw from a real screen of generated micrographs and check.
# Needs the plugin's Scipion set up under .scipion3/ (see the README).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$SCIPION_PYTHON" -m pytest -q -p no:cacheprovider xmipp3_micrographcleaner/tests/test_viewer.py -k "histogram or gallery"
PICTURES="$SCIPION_USER_DATA/projects/TestViewer/pictures"
mkdir -p docs
cp "$PICTURES/gallery.png" docs/viewer_gallery.png
cp "$PICTURES/histogram.png" docs/viewer_histogram.png
echo "docs/viewer_gallery.png and docs/viewer_histogram.png updated"
