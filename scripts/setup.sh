#!/usr/bin/env bash
# Builds everything the plugin needs inside this checkout (.scipion3/): Scipion's core in a
# virtual environment, this plugin (editable), and the plugin-managed engine environment, which
# the plugin's own installer creates. Idempotent: a second run only redoes what changed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$SCIPION_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$SCIPION_VENV"
    "$SCIPION_VENV/bin/python" -m pip install --quiet --upgrade pip
fi
"$SCIPION_VENV/bin/python" -m pip install --quiet "${SCIPION_CORE[@]}" "pytest>=7" "build>=1"
"$SCIPION_VENV/bin/python" -m pip install --quiet --no-deps -e .

mkdir -p "$SCIPION_USER_DATA"
write_hosts_conf

# The engine environment is installed from engine/ of this checkout: rebuild it when its sources,
# models or packaging changed (build leftovers such as egg-info do not count). The installer itself
# rebuilds one that is marked installed but broken (e.g. its venv removed).
ENGINE_HOME="$("$SCIPION_PYTHON" -c 'from pyworkflow import Config; Config.getDomain().getPlugins()
from xmipp3_micrographcleaner import Plugin; print(Plugin.getHome())' 2>/dev/null | tail -1)"
REBUILD=()
if [ -f "$ENGINE_HOME/installed" ] && [ -n "$(find engine/src engine/pyproject.toml -newer "$ENGINE_HOME/installed" \
        \( -name '*.py' -o -name '*.keras' -o -name '*.json' -o -name pyproject.toml \) -print -quit)" ]; then
    echo "engine/ changed since its environment was built: rebuilding $ENGINE_HOME"
    REBUILD=(--rebuild)
fi
"$SCIPION_PYTHON" -m xmipp3_micrographcleaner.install "${REBUILD[@]}"
