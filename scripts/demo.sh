#!/usr/bin/env bash
# Set-up command 1: build everything (scripts/setup.sh), then run the protocol on the bundled
# example (simulated micrographs and picks) in a real Scipion project and print where the results are.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$SCIPION_PYTHON" -m xmipp3_micrographcleaner.demo "$@"
