#!/usr/bin/env bash
# Run the test suite against a build of the engine with AddressSanitizer
# and UndefinedBehaviorSanitizer.
#
#   bash tools/sanitize.sh                      the suite (-n auto; see below
#                                               for the three files/tests
#                                               it leaves out)
#   bash tools/sanitize.sh test_ops.py -x ...   a subset: arguments go to
#                                               pytest, run from tests/
#
# Steps:
#  1. copies the package sources to a temporary folder without build/,
#     dist/, in-place *.so and the generated autodiff/_engine.c, so nothing
#     compiled without the sanitizers can be reused;
#  2. makes a fresh virtual environment there and runs
#     AUTODIFF_SANITIZE=1 pip install --no-cache-dir "<copy>[test,oracle]"
#     (setup.py then adds -fsanitize=address,undefined
#     -fno-omit-frame-pointer -g to the compile and link flags), and checks
#     that the installed extension links libasan;
#  3. runs python -m pytest -q --import-mode=importlib -p no:cacheprovider
#     --capture=sys from tests/ with the sanitizer runtime preloaded:
#       LD_PRELOAD="<libasan.so> <libstdc++.so>"
#       ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:...
#       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
#     detect_leaks=0 because CPython itself leaks at exit (the C engine's
#     own leak checks are tests/test_c_engine.py: LeakSanitizer and
#     valgrind on tests/c/test_engine.c).  allocator_may_return_null=1
#     because tests ask for absurd sizes and expect MemoryError, where
#     ASan would otherwise abort.  libstdc++ is preloaded beside libasan
#     because ASan resolves its __cxa_throw interceptor when it starts:
#     without libstdc++ loaded by then, the first C++ exception of a later
#     extension module (matplotlib's ft2font, torch) dies in a "CHECK
#     failed: real___cxa_throw".  --capture=sys: pytest captures Python's
#     sys.stdout/err only, so a sanitizer report written to file
#     descriptor 2 by a dying test process reaches the log instead of
#     vanishing with pytest's capture file.  ASan reports also go to files
#     (log_path: they also catch reports of subprocesses whose output a
#     test captures), appended to the log at the end; UBSan's runtime
#     ignores log_path, its reports are on stderr.
#
# Fails (exit status 1) when pytest fails or when any "runtime error:"
# (UBSan), "ERROR: AddressSanitizer" or "ERROR: LeakSanitizer" line shows
# up.  The output is tee'd to $SANITIZE_LOG (default
# ${TMPDIR:-/tmp}/autodiff-sanitize.log).
#
# torch (the oracle of some tests) under a preloaded ASan runtime: the
# script first imports torch and runs a small op under the same settings.
# If that crashes, torch is hidden from the tests (a stub package that
# raises ImportError goes first on PYTHONPATH), so the torch-based oracle
# tests skip as they do where torch is not installed.  Force either way
# with SANITIZE_TORCH=1 (always use torch) or SANITIZE_TORCH=0 (hide it).
#
# Other knobs: CC (the compiler whose libasan is preloaded when the
# extension's own cannot be read from ldd), SANITIZE_KEEP=1 (keep the
# temporary folder with the venv, printed at the end).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/autodiff-sanitize.XXXXXX")"
log="${SANITIZE_LOG:-${TMPDIR:-/tmp}/autodiff-sanitize.log}"
cleanup() {
    if [ "${SANITIZE_KEEP:-0}" = 1 ]; then
        echo "sanitize: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
start=$(date +%s)
unset PYTHONPATH LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

echo "sanitize: copying the sources to $work/src"
mkdir "$work/src"
tar -C "$root" \
    --exclude=./.git --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude='*.so' --exclude='__pycache__' \
    --exclude=./autodiff/_engine.c --exclude=./tests --exclude=./bench \
    -cf - . | tar -C "$work/src" -xf -

echo "sanitize: building with AUTODIFF_SANITIZE=1 in a fresh venv"
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
AUTODIFF_SANITIZE=1 python -m pip install -q --no-cache-dir \
    "$work/src[test,oracle]" >"$work/pip.log" 2>&1 || {
    tail -60 "$work/pip.log"
    echo "sanitize: pip install failed"
    exit 1
}

# The extension, found without importing it (an unpreloaded import of an
# ASan-linked module aborts).
platlib="$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
so="$(ls "$platlib"/autodiff/_engine*.so 2>/dev/null | head -1)"
if [ -z "$so" ]; then
    echo "sanitize: no autodiff/_engine*.so under $platlib"
    exit 1
fi
# ldd's output read once, from a variable: with pipefail, `ldd | grep -q`
# fails at random when grep exits early and ldd dies of SIGPIPE.
deps="$(ldd "$so")"
libasan="$(awk '/libasan/ { print $3; exit }' <<<"$deps")"
if [ -z "$libasan" ]; then
    echo "sanitize: $so does not link libasan: the build was not sanitized"
    exit 1
fi
if ! grep -q libubsan <<<"$deps"; then
    echo "sanitize: $so does not link libubsan: the build was not sanitized"
    exit 1
fi
if [ ! -f "$libasan" ]; then
    libasan="$("${CC:-gcc}" -print-file-name=libasan.so)"
fi
preload="$libasan"
libstdcxx="$(readlink -f "$("${CC:-gcc}" -print-file-name=libstdc++.so.6)" \
             2>/dev/null || true)"
if [ -n "$libstdcxx" ] && [ -f "$libstdcxx" ]; then
    preload="$preload $libstdcxx"
fi
echo "sanitize: $so"
echo "sanitize: preloading $preload"

mkdir -p "$work/reports"
asan="detect_leaks=0:abort_on_error=0:halt_on_error=1"
asan="$asan:allocator_may_return_null=1:log_path=$work/reports/asan"
ubsan="halt_on_error=1:print_stacktrace=1"

torch_ok() {
    LD_PRELOAD="$preload" ASAN_OPTIONS="$asan" UBSAN_OPTIONS="$ubsan" \
        python -c 'import torch; assert float(torch.ones(3).sum()) == 3.0' \
        >"$work/torch-probe.log" 2>&1
}
hide_torch=0
case "${SANITIZE_TORCH:-auto}" in
    0) hide_torch=1 ;;
    1) ;;
    *)
        if python -c 'import torch' >/dev/null 2>&1 && ! torch_ok; then
            echo "sanitize: importing torch under ASan fails; hiding torch" \
                 "(torch oracle tests skip):"
            tail -5 "$work/torch-probe.log"
            hide_torch=1
        fi
        ;;
esac
# A failed probe is not a finding about autodiff.
rm -f "$work/reports"/*
if [ "$hide_torch" = 1 ]; then
    mkdir -p "$work/notorch/torch"
    echo 'raise ImportError("torch is hidden by tools/sanitize.sh")' \
        >"$work/notorch/torch/__init__.py"
    export PYTHONPATH="$work/notorch"
fi

cd "$root/tests"
python - <<'PY'
import importlib.util, sys
spec = importlib.util.find_spec("autodiff")
assert spec and "site-packages" in spec.origin, spec
print("sanitize: testing the installed autodiff at", spec.origin)
PY
if [ $# -eq 0 ]; then
    # The whole suite on every core (pytest-xdist, from the test extra):
    # each worker is its own process under the preloaded runtime, and its
    # stderr (UBSan's reports) is this script's.  Left out, as they do not
    # exercise the sanitized extension: test_c_engine.py (it builds its
    # own binaries from csrc/ and runs them under ASan/UBSan, TSan and
    # valgrind itself, in the plain pass) and test_typing.py (mypy on the
    # stubs); and the 20-epoch digits CNN example, whose ops the conv,
    # norm and pool tests cover under the sanitizers in a fraction of its
    # time (about a third of this pass on a 2-core machine).
    set -- -n auto --ignore=test_c_engine.py --ignore=test_typing.py \
        -k "not test_digits_cnn_accuracy" .
fi
echo "sanitize: python -m pytest -q --import-mode=importlib" \
     "-p no:cacheprovider --capture=sys $*"
set +e
LD_PRELOAD="$preload" ASAN_OPTIONS="$asan" UBSAN_OPTIONS="$ubsan" \
    python -m pytest -q --import-mode=importlib -p no:cacheprovider \
    --capture=sys "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
for f in "$work/reports"/*; do
    [ -e "$f" ] || continue
    { echo "---- sanitizer report $(basename "$f")"; cat "$f"; } | tee -a "$log"
done
status=0
if [ "$rc" -ne 0 ]; then
    echo "sanitize: pytest exited with $rc"
    status=1
fi
if grep -qE 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer' \
        "$log"; then
    echo "sanitize: the sanitizers reported errors:"
    grep -nE 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer' \
        "$log" | head -20
    status=1
fi
echo "sanitize: $( [ $status = 0 ] && echo clean || echo FAILED )" \
     "in $(( $(date +%s) - start )) s; log: $log"
exit $status
