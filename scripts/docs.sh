#!/usr/bin/env bash
# Builds the documentation (docs/) with warnings as errors, into build/docs/html (or $DOCS_OUT).
# Installs Sphinx and myst-parser into the engine's test venv ($VENV, default .venv; created here
# when missing). The contract page reads engine/src directly, so the engine need not be installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
OUT="${DOCS_OUT:-build/docs/html}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "sphinx>=7" "myst-parser>=2"
rm -rf "$OUT"
"$VENV/bin/python" -m sphinx -W --keep-going -q -b html docs "$OUT"
echo "docs: $OUT/index.html"
