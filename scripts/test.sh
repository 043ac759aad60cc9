#!/usr/bin/env bash
# Set-up command 2: build everything (scripts/setup.sh), then run every test: the engine's
# (in their own fresh venv, .venv), the plugin's (headless Scipion projects) and the package test
# (scripts/test-package.sh: the built wheel in a Scipion of its own). Fails when any fails; -rs prints
# why each skipped test was skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/xvfb.sh"  # as root with apt-get: installs xvfb and xauth, saying so (the GUI tests skip without)
cd "$ROOT"

VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "./engine[test]"
status=0
(cd engine && "../$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider tests) || status=$?
VENV="$VENV" bash scripts/docs.sh || status=$?  # the docs, warnings as errors
"$SCIPION_PYTHON" -m pytest -q -rs -p no:cacheprovider -W ignore::DeprecationWarning \
    xmipp3_micrographcleaner/tests || status=$?
bash scripts/test-package.sh || status=$?
exit $status
