#!/usr/bin/env bash
# Installs Xvfb (a virtual display for the viewer's window test) when it is missing and this runs
# as root with apt-get; otherwise says why that one test will be skipped. Never fails the caller.
if command -v xvfb-run >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -qq xvfb xauth >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq xvfb xauth >/dev/null 2>&1; }; then
        exit 0
    fi
fi
echo "xvfb.sh: xvfb-run is not available (needs root and apt-get); the viewer's window test will be skipped." >&2
