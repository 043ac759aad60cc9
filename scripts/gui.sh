#!/usr/bin/env bash
# bash scripts/gui.sh [PROJECT]: Scipion's GUI on this checkout's set-up (scripts/setup.sh), from any
# shell: the project's window, or the project manager without PROJECT. The set-up has no 'scipion3'
# launcher, and Scipion re-launches its GUI with $SCIPION_PYTHON (a bare 'python3' when unset), so
# this sets what the launcher would. Needs a display.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ -n "${DISPLAY:-}" ] || { echo "gui.sh: no display (DISPLAY is not set): run it in a desktop session or with ssh -X" >&2; exit 2; }
[ -x "$SCIPION_PYTHON" ] || { echo "gui.sh: $SCIPION_PYTHON is missing: run bash scripts/setup.sh first" >&2; exit 2; }
unset MPLBACKEND  # env.sh's Agg is for headless runs; the viewer's plots open windows
export PATH="$SCIPION_VENV/bin:$PATH"
cd "$SCIPION_USER_DATA"  # never beside the checkout's package folder, which would shadow the installed plugin
# -O: Scipion opens the window in this process instead of starting itself again with -O
exec "$SCIPION_PYTHON" -O -m scipion ${1:+project "$1"}
