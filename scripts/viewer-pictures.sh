#!/usr/bin/env bash
# Remakes the README's viewer pictures (docs/viewer_gallery.png, docs/viewer_histogram.png): the
# viewer's histogram and gallery drawn from the demo's runs (its real micrographs, bundled model).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/demo.sh" --pictures "$ROOT/docs"
