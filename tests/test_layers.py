"""The layering of the C engine: tools/layers.py compiles each csrc/*.c on
its own, reads the symbols each object defines and uses (nm), and reports
the cycles of the file dependency graph.  The engine's files must form
layers, with no cycle.

The unit tests of the graph functions need no compiler; the ones that
compile are skipped without a C compiler or nm, and all of them when the
source tree (the parent of this tests/ folder, with tools/ and csrc/) is
not here, e.g. when the tests run against an installed wheel without it.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
SCRIPT = ROOT / "tools" / "layers.py"


def _compiler():
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def _nm():
    for name in (os.environ.get("NM"), "nm"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def _env():
    """The environment without any sanitizer runtime preloaded by the caller
    (tools/sanitize.sh runs pytest with libasan in LD_PRELOAD, which must
    not leak into the compiler or nm)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                         "LSAN_OPTIONS", "TSAN_OPTIONS")}


@pytest.fixture(scope="module")
def layers():
    """tools/layers.py as a module."""
    if not SCRIPT.is_file():
        pytest.skip("tools/layers.py is not here (%s): running against an "
                    "installed package without its source tree" % SCRIPT)
    spec = importlib.util.spec_from_file_location("_tools_layers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(csrc):
    """tools/layers.py --json on csrc: (exit status, parsed output)."""
    if not SCRIPT.is_file():
        pytest.skip("tools/layers.py is not here (%s)" % SCRIPT)
    cc, nm = _compiler(), _nm()
    if cc is None:
        pytest.skip("no C compiler ($CC, cc, gcc or clang) found")
    if nm is None:
        pytest.skip("nm is not installed")
    cmd = [sys.executable, str(SCRIPT), "--json", "--csrc", str(csrc),
           "--cc", cc, "--nm", nm]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(),
                       timeout=300)
    assert r.returncode in (0, 1), "tools/layers.py failed (exit %d):\n%s" % (
        r.returncode, r.stderr[-5000:])
    return r.returncode, json.loads(r.stdout)


# -- the graph functions, on small made-up graphs --------------------------

def test_layers_find_cycles_synthetic(layers):
    # a -> b -> c -> a is a cycle; d uses it; e only uses itself; f and g
    # are a second cycle above it; h is a target only
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "h"}, "d": {"a"},
             "e": {"e"}, "f": {"g", "d"}, "g": {"f"}}
    assert layers.find_cycles(graph) == [["a", "b", "c"], ["f", "g"]]
    # a two-file cycle, with the symbol maps build_graph makes
    assert layers.find_cycles({"x.c": {"y.c": ["s"]},
                               "y.c": {"x.c": ["t"]}}) == [["x.c", "y.c"]]
    # no cycle: a chain, a diamond, self-edges, an empty graph
    assert layers.find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert layers.find_cycles({"a": {"b", "c"}, "b": {"d"}, "c": {"d"},
                               "a2": {"a"}}) == []
    assert layers.find_cycles({"a": {"a"}, "b": {"a", "b"}}) == []
    assert layers.find_cycles({}) == []


def test_layers_find_cycles_long_chain(layers):
    # deeper than Python's recursion limit: the finder must be iterative
    n = 5000
    chain = {i: {i + 1} for i in range(n)}
    assert layers.find_cycles(chain) == []
    chain[n] = {0}
    assert layers.find_cycles(chain) == [sorted(range(n + 1))]


def test_layers_layers_synthetic(layers):
    graph = {"top": {"mid", "low"}, "mid": {"low", "c1"}, "c1": {"c2"},
             "c2": {"c1", "low"}, "low": set(), "alone": set()}
    assert layers.layers(graph) == [["alone", "low"], ["c1", "c2"],
                                    ["mid"], ["top"]]
    assert layers.layers({}) == []


def test_layers_parse_nm_build_graph(layers):
    # `nm -P` output (GNU binutils) of three objects
    a = ("_GLOBAL_OFFSET_TABLE_ U\nalloc_buf T 0 10\nhelper t 10 8\n"
         "tape_count U\nmalloc U\ng_pool b 0 8\n")
    b = ("tape_count T 0 20\ntape_new T 20 30\nalloc_buf U\ng_tapes D 0 8\n"
         "weak_hook w\n")
    c = "tape_new U\ng_tapes U\nalloc_buf U\nuse_c T 0 4\nuse_c U\n"
    assert layers.parse_nm(a) == ({"alloc_buf"},
                                  {"_GLOBAL_OFFSET_TABLE_", "tape_count",
                                   "malloc"})
    symbols = {"a.c": layers.parse_nm(a), "b.c": layers.parse_nm(b),
               "c.c": layers.parse_nm(c)}
    graph, external, multiply = layers.build_graph(symbols)
    assert graph == {"a.c": {"b.c": ["tape_count"]},
                     "b.c": {"a.c": ["alloc_buf"]},
                     "c.c": {"a.c": ["alloc_buf"],
                             "b.c": ["g_tapes", "tape_new"]}}
    assert external == {"a.c": ["_GLOBAL_OFFSET_TABLE_", "malloc"],
                        "b.c": ["weak_hook"]}
    assert multiply == {}
    result = layers.analyse(symbols)
    assert result["cycles"] == [{"files": ["a.c", "b.c"], "edges": [
        {"from": "a.c", "to": "b.c", "symbols": ["tape_count"]},
        {"from": "b.c", "to": "a.c", "symbols": ["alloc_buf"]}]}]
    assert result["layers"] == [["a.c", "b.c"], ["c.c"]]
    text = "\n".join(layers.format_report(result))
    assert "a.c -> b.c: tape_count" in text
    assert "b.c -> a.c: alloc_buf" in text


# -- the script, compiling ---------------------------------------------------

def test_layers_script_reports_cycle(tmp_path):
    """The whole script on a made-up csrc: compile, nm, graph, exit code."""
    (tmp_path / "low.h").write_text("int low(int);\nint mid(int);\n"
                                    "int top(int);\nextern int counter;\n")
    (tmp_path / "low.c").write_text(
        '#include "low.h"\n#include <stdlib.h>\n'
        "int counter;\n"
        "static int helper(int x) { return x + (getenv(\"X\") != 0); }\n"
        "int low(int x) { return helper(x) + mid(x); }\n")
    (tmp_path / "mid.c").write_text(
        '#include "low.h"\nint mid(int x) { return counter + x; }\n')
    (tmp_path / "top.c").write_text(
        '#include "low.h"\nint top(int x) { return low(x) + mid(x); }\n')
    rc, out = _run(tmp_path)
    assert rc == 1, out
    assert out["cycles"] == [{"files": ["low.c", "mid.c"], "edges": [
        {"from": "low.c", "to": "mid.c", "symbols": ["mid"]},
        {"from": "mid.c", "to": "low.c", "symbols": ["counter"]}]}]
    assert out["graph"]["top.c"] == {"low.c": ["low"], "mid.c": ["mid"]}
    assert out["layers"] == [["low.c", "mid.c"], ["top.c"]]
    assert "getenv" in out["external"]["low.c"]

    # break the cycle: no cycle, exit 0
    (tmp_path / "low.c").write_text(
        '#include "low.h"\nint counter;\nint low(int x) { return x; }\n')
    rc, out = _run(tmp_path)
    assert rc == 0 and out["cycles"] == [], out
    assert out["layers"] == [["low.c"], ["mid.c"], ["top.c"]]


def test_layers_csrc_has_no_cycles():
    """The engine's files form layers: no cycle among csrc/*.c."""
    if not CSRC.is_dir():
        pytest.skip("the C sources are not here (%s): running against an "
                    "installed package without its source tree" % CSRC)
    rc, out = _run(CSRC)
    edges = sum(len(used) for used in out["graph"].values())
    assert len(out["files"]) > 1 and edges > 0, (
        "no dependency found among %s: the check reads nothing" % out["files"])
    report = []
    for i, cycle in enumerate(out["cycles"], 1):
        report.append("cycle %d: %s" % (i, ", ".join(cycle["files"])))
        report.extend("  %s -> %s: %s" % (e["from"], e["to"],
                                          ", ".join(e["symbols"]))
                      for e in cycle["edges"])
    if out["cycles"]:
        pytest.fail("the C engine's files have %d cycle(s) (python3 "
                    "tools/layers.py prints the layers):\n%s"
                    % (len(out["cycles"]), "\n".join(report)),
                    pytrace=False)
    assert rc == 0
