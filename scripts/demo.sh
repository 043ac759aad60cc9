#!/usr/bin/env bash
# Set-up command 1: build everything (scripts/setup.sh), then run the protocol on the real
# micrographs and picks that ship with the plugin (xmipp3_micrographcleaner/demo_data/) in a real
# Scipion project, and print what is in each beside what the screen made of it, where the results
# are and how to open the project (scripts/gui.sh). An existing demo project is kept (the run gets
# a new name) unless --force is given. Options: python -m xmipp3_micrographcleaner.demo --help.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$SCIPION_PYTHON" -m xmipp3_micrographcleaner.demo "$@"
