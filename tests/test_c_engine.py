"""The C engine's own tests (tests/c/test_engine.c), with no Python in them.

The program is compiled together with csrc/*.c from the source tree (the
parent of this tests/ folder) and run four ways: as it is, under valgrind
(when installed), built with -fsanitize=address,undefined and built with
-fsanitize=thread (each when the compiler can link that; the threads of
its thread-model tests share leaves, free each other's tensors and reset
.grad with no GIL at all, so ThreadSanitizer sees every overlap).  Each run must exit 0 and print "N checks, 0
failed".  Skipped when the source tree or a C compiler is missing, e.g.
when the tests run against an installed wheel without the sources.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
TEST_C = ROOT / "tests" / "c" / "test_engine.c"
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O1", "-g", "-fno-math-errno",
          "-fno-trapping-math"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
TSAN = ["-fsanitize=thread", "-fno-omit-frame-pointer"]
SUMMARY = re.compile(r"^(\d+) checks, (\d+) failed$", re.M)


def _compiler():
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _env(**extra):
    """The environment without any sanitizer runtime preloaded by the caller
    (tools/sanitize.sh runs pytest with libasan in LD_PRELOAD, which must
    not leak into the compiler or valgrind)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                        "LSAN_OPTIONS", "TSAN_OPTIONS")}
    env.update(extra)
    return env


def _build(tmp, name, extra=()):
    cc = _compiler()
    out = tmp / name
    cmd = ([cc] + CFLAGS + list(extra) + ["-I" + str(CSRC), str(TEST_C)]
           + sorted(str(p) for p in CSRC.glob("*.c"))
           + ["-lm", "-lpthread", "-o", str(out)])
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(),
                       timeout=300)
    assert r.returncode == 0, "compile failed:\n%s\n%s" % (
        " ".join(cmd), r.stderr[-5000:])
    return out


def _run(cmd, env=None, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True,
                       env=env or _env(), timeout=timeout)
    return r, r.stdout + r.stderr


def _assert_clean(r, text):
    m = SUMMARY.search(r.stdout)
    assert r.returncode == 0 and m and m.group(2) == "0", (
        "exit code %d\n%s" % (r.returncode, text[-8000:]))
    assert int(m.group(1)) > 1000, m.group(0)
    return int(m.group(1))


@pytest.fixture(scope="module")
def tmpdir_c(tmp_path_factory):
    if not CSRC.is_dir() or not TEST_C.is_file():
        pytest.skip("the C sources are not here (%s): running against an "
                    "installed package without its source tree" % CSRC)
    if _compiler() is None:
        pytest.skip("no C compiler (cc or gcc) found")
    return tmp_path_factory.mktemp("c_engine")


@pytest.fixture(scope="module")
def engine_test(tmpdir_c):
    return _build(tmpdir_c, "test_engine")


def test_c_engine(engine_test):
    r, text = _run([str(engine_test)])
    _assert_clean(r, text)


def test_c_engine_valgrind(engine_test):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    r, text = _run([valgrind, "-q", "--error-exitcode=99",
                    "--leak-check=full", "--errors-for-leak-kinds=definite",
                    str(engine_test), "--quick"])
    assert r.returncode != 99, "valgrind found errors:\n" + text[-12000:]
    _assert_clean(r, text)


def _can_link(tmpdir_c, flags):
    probe = tmpdir_c / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    r = subprocess.run([_compiler()] + flags
                       + [str(probe), "-o", str(tmpdir_c / "probe")],
                       capture_output=True, text=True, env=_env(),
                       timeout=120)
    if r.returncode != 0:
        pytest.skip("the compiler cannot link %s: %s"
                    % (" ".join(flags), r.stderr.strip()[-300:]))


@pytest.mark.slow
def test_c_engine_sanitizers(tmpdir_c):
    _can_link(tmpdir_c, SANITIZE)
    exe = _build(tmpdir_c, "test_engine_asan", SANITIZE)
    r, text = _run([str(exe)], env=_env(
        ASAN_OPTIONS="detect_leaks=1",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"))
    assert "runtime error:" not in text, text[-12000:]
    assert "ERROR: AddressSanitizer" not in text, text[-12000:]
    assert "ERROR: LeakSanitizer" not in text, text[-12000:]
    _assert_clean(r, text)


@pytest.mark.slow
def test_c_engine_thread_sanitizer(tmpdir_c):
    _can_link(tmpdir_c, TSAN)
    exe = _build(tmpdir_c, "test_engine_tsan", TSAN)
    r, text = _run([str(exe), "--quick"], env=_env(
        TSAN_OPTIONS="halt_on_error=0:report_signal_unsafe=0"))
    assert "WARNING: ThreadSanitizer" not in text, text[-12000:]
    _assert_clean(r, text)
