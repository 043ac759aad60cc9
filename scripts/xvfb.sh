#!/usr/bin/env bash
# Installs the system packages xvfb and xauth (a virtual display for the GUI tests: the viewer's
# windows, the demo's GUI command) when xvfb-run is missing and this runs as root with apt-get, and
# says so; otherwise says why those tests will be skipped. Never fails the caller.
if command -v xvfb-run >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "xvfb.sh: installing the system packages xvfb and xauth with apt-get (a virtual display for the GUI tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -qq xvfb xauth >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq xvfb xauth >/dev/null 2>&1; }; then
        exit 0
    fi
fi
echo "xvfb.sh: xvfb-run is not available (needs root and apt-get): the GUI tests will be skipped." >&2
