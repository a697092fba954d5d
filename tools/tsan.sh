#!/usr/bin/env bash
# Run the thread and re-entrancy tests against a ThreadSanitizer build of
# the engine.
#
#   bash tools/tsan.sh                   test_threads.py test_reentrancy.py
#                                        test_num_threads.py test_replicas.py
#                                        test_flush_denormal.py
#   bash tools/tsan.sh test_x.py -k ...  other tests: arguments go to
#                                        pytest, run from tests/
#
# Steps:
#  1. copies the package sources to a temporary folder without build/,
#     dist/, in-place *.so and the generated autodiff/_engine.c, so nothing
#     compiled without the sanitizer can be reused;
#  2. makes a fresh virtual environment there and runs
#     AUTODIFF_SANITIZE=thread pip install --no-cache-dir "<copy>" pytest
#     (setup.py then adds -fsanitize=thread -fno-omit-frame-pointer -g to
#     the compile and link flags), and checks that the installed
#     extension links libtsan;
#  3. runs python -m pytest -q --import-mode=importlib -p no:cacheprovider
#     from tests/ with libtsan preloaded (CPython itself is not
#     instrumented: TSan sees the engine's memory accesses and, through
#     its interceptors, the pthread locks and condition variables that
#     the GIL is made of, so the GIL's ordering is known to it):
#       LD_PRELOAD=<libtsan.so>
#       TSAN_OPTIONS=suppressions=tools/tsan.supp:halt_on_error=0:
#                    exitcode=0:report_signal_unsafe=0:log_path=...
#       OPENBLAS_NUM_THREADS=1 AUTODIFF_THREAD_ITERS=30
#     exitcode=0 and log_path: the tests run their cases in subprocesses;
#     a report must not change a child's exit status (the test would fail
#     for the wrong reason), and goes to a file per process, read here.
#     report_signal_unsafe=0: CPython's signal handling calls functions
#     TSan considers signal-unsafe; that is not the engine's business.
#     OPENBLAS_NUM_THREADS=1: OpenBLAS's worker threads hand results back
#     through spin loops on plain variables, which TSan cannot see, so
#     every threaded matrix product would be reported as a race on the
#     engine's buffers (tools/tsan.supp also suppresses those, for a BLAS
#     that ignores the variable).  AUTODIFF_THREAD_ITERS: the sanitizer
#     slows the engine down 5-15x; fewer iterations keep this to a few
#     minutes and still overlap every thread pair many times.
#
# Fails (exit status 1) when pytest fails or when any ThreadSanitizer
# report that is not suppressed has a frame in the engine (csrc/, the
# Cython module autodiff/_engine, or the extension module itself).
# Reports about CPython or numpy alone are printed but do not fail the
# run; tools/tsan.supp lists (and explains) the known ones.  The output is
# tee'd to $TSAN_LOG (default ${TMPDIR:-/tmp}/autodiff-tsan.log).
#
# Other knobs: CC (the compiler whose libtsan is preloaded when the
# extension's own cannot be read from ldd), TSAN_KEEP=1 (keep the
# temporary folder with the venv, printed at the end).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/autodiff-tsan.XXXXXX")"
log="${TSAN_LOG:-${TMPDIR:-/tmp}/autodiff-tsan.log}"
cleanup() {
    if [ "${TSAN_KEEP:-0}" = 1 ]; then
        echo "tsan: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
start=$(date +%s)
unset PYTHONPATH LD_PRELOAD TSAN_OPTIONS

echo "tsan: copying the sources to $work/src"
mkdir "$work/src"
tar -C "$root" \
    --exclude=./.git --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude='*.so' --exclude='__pycache__' \
    --exclude=./autodiff/_engine.c --exclude=./tests --exclude=./bench \
    -cf - . | tar -C "$work/src" -xf -

echo "tsan: building with AUTODIFF_SANITIZE=thread in a fresh venv"
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
AUTODIFF_SANITIZE=thread python -m pip install -q --no-cache-dir \
    "$work/src" pytest >"$work/pip.log" 2>&1 || {
    tail -60 "$work/pip.log"
    echo "tsan: pip install failed"
    exit 1
}

# The extension, found without importing it.
platlib="$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
so="$(ls "$platlib"/autodiff/_engine*.so 2>/dev/null | head -1)"
if [ -z "$so" ]; then
    echo "tsan: no autodiff/_engine*.so under $platlib"
    exit 1
fi
# ldd's output read once, from a variable: with pipefail, a pipe into a
# reader that exits early fails at random (ldd dies of SIGPIPE).
deps="$(ldd "$so")"
libtsan="$(awk '/libtsan/ { print $3; exit }' <<<"$deps")"
if [ -z "$libtsan" ]; then
    echo "tsan: $so does not link libtsan: the build was not sanitized"
    exit 1
fi
if [ ! -f "$libtsan" ]; then
    libtsan="$("${CC:-gcc}" -print-file-name=libtsan.so)"
fi
echo "tsan: $so"
echo "tsan: preloading $libtsan"

mkdir -p "$work/reports"
opts="suppressions=$root/tools/tsan.supp:halt_on_error=0:exitcode=0"
opts="$opts:report_signal_unsafe=0:log_path=$work/reports/tsan"

cd "$root/tests"
if [ $# -eq 0 ]; then
    set -- test_threads.py test_reentrancy.py test_num_threads.py \
        test_replicas.py test_flush_denormal.py
fi
echo "tsan: python -m pytest -q --import-mode=importlib -p no:cacheprovider $*"
set +e
LD_PRELOAD="$libtsan" TSAN_OPTIONS="$opts" OPENBLAS_NUM_THREADS=1 \
    AUTODIFF_THREAD_ITERS="${AUTODIFF_THREAD_ITERS:-30}" \
    python -m pytest -q --import-mode=importlib -p no:cacheprovider "$@" \
    2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# Sort the reports: the engine's (a frame in csrc/, autodiff/_engine or
# the extension module) fail the run; the others are shown.
engine=0
other=0
for f in "$work/reports"/*; do
    [ -e "$f" ] || continue
    counts="$(python - "$f" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
blocks = re.findall(r"WARNING: ThreadSanitizer.*?(?:SUMMARY:[^\n]*|\Z)",
                    text, re.S)
mine = [b for b in blocks
        if re.search(r"csrc/|autodiff/_engine|_engine\.cpython", b)]
print(len(mine), len(blocks) - len(mine))
PY
)"
    e=${counts% *}
    o=${counts#* }
    engine=$((engine + e))
    other=$((other + o))
    { echo "---- ThreadSanitizer report $(basename "$f")" \
           "($e in the engine, $o elsewhere)"; cat "$f"; } | tee -a "$log"
done
status=0
if [ "$rc" -ne 0 ]; then
    echo "tsan: pytest exited with $rc"
    status=1
fi
if [ "$engine" -ne 0 ]; then
    echo "tsan: $engine ThreadSanitizer report(s) involve the engine"
    status=1
fi
if [ "$other" -ne 0 ]; then
    echo "tsan: $other report(s) outside the engine (not failing; add an" \
         "explained entry to tools/tsan.supp if they are CPython's or numpy's)"
fi
echo "tsan: $( [ $status = 0 ] && echo clean || echo FAILED )" \
     "in $(( $(date +%s) - start )) s; log: $log"
exit $status
