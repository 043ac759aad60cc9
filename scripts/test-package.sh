#!/usr/bin/env bash
# The plugin installed as a Scipion user installs it, into a Scipion core environment of its own
# (not the checkout's; under .scipion3/package-test):
#   1. python -m build: one sdist and one wheel, the engine's source and the demo's data inside;
#   2. the wheel pip-installed, 'scipion installb micrographcleaner' builds the engine environment
#      from the copy in the wheel, and the demo runs the protocol on its real micrographs;
#   3. the plugin manager: the plugin removed, then installed again by pip name through the
#      catalogue (release/plugins.json as SCIPION_PLUGIN_JSON), pip finding the wheel through
#      PIP_FIND_LINKS (scripts/plugin_manager.py runs installp's own code); the engine environment
#      of step 2 is kept (its installer was tested there), so installp finds its binary installed.
# What it reuses from the last run: the Scipion core environment (0.7 GB; pip only updates it) and
# pip's download cache. The plugin, the engine environment (2.2 GB with TensorFlow), the project and
# the built files are made anew. Fails when any step fails. Needs PyPI (or a mirror) for Scipion's
# core and the engine's dependencies.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.scipion3/package-test"
export SCIPION_ROOT_DIR="$WORK" SCIPION_USER_DATA="$WORK/userdata"
source "$ROOT/scripts/env.sh"
PYTHON="${PYTHON:-python3}"
step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

step "build the plugin's sdist and wheel"
# everything but the Scipion core environment goes
find "$WORK" -mindepth 1 -maxdepth 1 ! -name "$(basename "$SCIPION_VENV")" -exec rm -rf {} + 2>/dev/null || true
mkdir -p "$WORK/dist" "$SCIPION_USER_DATA"
[ -x "$SCIPION_PYTHON" ] || "$PYTHON" -m venv "$SCIPION_VENV"
"$SCIPION_PYTHON" -m pip uninstall --quiet -y scipion-em-micrographcleaner 2>/dev/null || true
"$SCIPION_PYTHON" -m pip install --quiet "${SCIPION_CORE[@]}" "build>=1"
"$SCIPION_PYTHON" -m build --outdir "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; fail "python -m build"; }
WHEEL="$(ls "$WORK"/dist/*.whl)"
VERSION="$(basename "$WHEEL" | cut -d- -f2)"
ls "$WORK"/dist
[ "$(ls "$WORK"/dist | wc -l)" = 2 ] || fail "expected one sdist and one wheel"
for archive in "$WHEEL" "$WORK"/dist/*.tar.gz; do
    "$SCIPION_PYTHON" -c 'import sys, tarfile, zipfile
path = sys.argv[1]
names = zipfile.ZipFile(path).namelist() if path.endswith(".whl") else tarfile.open(path).getnames()
wanted = ("engine/pyproject.toml", "micrographcleaner/models/default.keras", "micrographcleaner/batch.py",
          "micrographcleaner/contract.py", "demo_data/ucsf/Ucsf_stack_1142_DW.mrc", "demo_data/empiar10017/LICENSE")
missing = [w for w in wanted if not any(n.endswith(w) for n in names)]
sys.exit("%s lacks %s" % (path, missing) if missing else 0)' "$archive"
done
write_hosts_conf
cd "$WORK"  # never beside a checkout's xmipp3_micrographcleaner/, which would be imported instead

check_installed() {  # the plugin from site-packages, its engine environment built for this version
    "$SCIPION_PYTHON" - "$VERSION" <<'PY'
import os, sys
from pyworkflow import Config
Config.getDomain().getPlugins()
import xmipp3_micrographcleaner as package
from xmipp3_micrographcleaner import Plugin
from xmipp3_micrographcleaner.constants import engineDir
version = sys.argv[1]
engine = Plugin.runPython("import micrographcleaner; print(micrographcleaner.__version__)", check=False)
print("plugin %s in %s; engine %s in %s" % (package.__version__, os.path.dirname(package.__file__),
                                           engine.stdout.strip(), Plugin.getHome()))
checks = [(package.__version__ == version, "the plugin is not the wheel's version %s" % version),
          ("site-packages" in str(engineDir()), "engine source %s is not inside the installed package" % engineDir()),
          (os.path.basename(Plugin.getHome()) == "micrographcleaner-" + version, "environment folder not named for the version"),
          (engine.stdout.strip() == version, "the engine in the environment: %s" % engine.stderr[-500:])]
problems = Plugin.validateInstallation() + [message for ok, message in checks if not ok]
sys.exit("\n".join(problems) or None)
PY
}

step "pip install the wheel, then scipion installb micrographcleaner"
"$SCIPION_PYTHON" -m pip install --quiet "$WHEEL"
# python -m scipion: scipion-app 3.8.3's 'scipion' console script fails at start here (importlib.util not imported)
"$SCIPION_PYTHON" -m scipion installb micrographcleaner > "$WORK/installb.log" 2>&1 || { tail -30 "$WORK/installb.log"; fail "installb"; }
check_installed

step "the demo: the protocol on the real micrographs that come with the plugin"
"$SCIPION_PYTHON" -m xmipp3_micrographcleaner.demo

step "the plugin manager: uninstall, then install by pip name from the catalogue"
"$SCIPION_PYTHON" -m pip uninstall --quiet -y scipion-em-micrographcleaner
SCIPION_PLUGIN_JSON="$ROOT/release/plugins.json" PIP_FIND_LINKS="$WORK/dist ${PIP_FIND_LINKS:-}" \
    "$SCIPION_PYTHON" "$ROOT/scripts/plugin_manager.py" "$WHEEL" > "$WORK/installp.log" 2>&1 \
    || { tail -30 "$WORK/installp.log"; fail "installp"; }
grep -q "Processing .*$(basename "$WHEEL")" "$WORK/installp.log" || { tail -30 "$WORK/installp.log"; fail "pip did not install the built wheel"; }
check_installed
step "package test passed"
