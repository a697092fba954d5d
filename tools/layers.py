#!/usr/bin/env python3
"""Layering check for the C engine: which csrc/*.c file uses which, and
the cycles among them.

    python3 tools/layers.py                  the layers and the cycles
    python3 tools/layers.py --quiet          only the cycles
    python3 tools/layers.py --json           the same, machine-readable
    python3 tools/layers.py --csrc DIR --cc clang

Each csrc/*.c is compiled on its own to an object file in a temporary
folder ($CC or cc, or --cc; -std=c11 -D_GNU_SOURCE -O0 -c -I<csrc>), and
`nm -P` (POSIX output, read the same from GNU binutils, llvm-nm and the BSD
and macOS nm; $NM or --nm) lists the global symbols each object defines and
the ones it leaves undefined.  An undefined symbol that another file
defines is an edge A -> B ("A uses B"); the ones no file defines (libc,
libm, pthread, the BLAS pointers set from Python) are left out.  A file
using its own symbols is no edge.

The strongly connected components of that graph with more than one file
are the cycles.  The layers are a topological order of the components,
bottom first: layer 0 uses no other file, and each file sits one layer
above the highest file it uses (the files of a cycle share one layer).
For every cycle, each edge inside it is printed with the symbols that make
it, e.g. "pool.c -> tape.c: ad_tape_count".

Exit status: 0 without cycles, 1 with cycles, 2 when the check cannot run
(a compile error, no compiler or nm, no csrc/*.c).

The functions (parse_nm, build_graph, find_cycles, layers, ...) need no
compiler and are importable from tests/test_layers.py.  Python 3 standard
library only.
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O0"]

# nm symbol types (the letter in `nm -P`'s second column).  Undefined: U,
# and the weak undefined w and v.  Defined and global: the upper-case
# letters but U (T text, D/G data, B/S bss, R read-only, C common, V/W
# weak, A absolute) and GNU's u (unique global).  Lower-case letters are
# local (static) symbols; N (debug) and I (indirect) are no definitions.
UNDEFINED_TYPES = frozenset("Uwv")
DEFINED_TYPES = frozenset("ABCDGRSTVWu")


class CheckError(Exception):
    """The check cannot run (exit status 2)."""


# --------------------------------------------------------------------------
# Compiling and reading symbols

def compile_units(cc, csrc, outdir, jobs=None):
    """Compile every csrc/*.c to outdir/<name>.o; {"x.c": Path(x.o)}.
    cc is the compiler command as a list.  Raises CheckError with every
    failing command and its messages."""
    sources = sorted(Path(csrc).glob("*.c"))
    if not sources:
        raise CheckError("no *.c files in %s" % csrc)
    outdir = Path(outdir)

    def one(src):
        obj = outdir / (src.stem + ".o")
        cmd = list(cc) + CFLAGS + ["-c", "-I" + str(csrc), str(src),
                                   "-o", str(obj)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            return src.name, obj, cmd, 127, str(e)
        return src.name, obj, cmd, r.returncode, r.stdout + r.stderr

    workers = jobs or min(len(sources), os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(one, sources))
    failed = [r for r in results if r[3] != 0]
    if failed:
        raise CheckError("\n".join(
            "compile error in %s (exit %d):\n$ %s\n%s" % (
                name, rc, " ".join(shlex.quote(c) for c in cmd),
                out.rstrip())
            for name, _, cmd, rc, out in failed))
    return {name: obj for name, obj, _, _, _ in results}


def parse_nm(text):
    """(defined, undefined): the global symbols `nm -P` output defines and
    the ones it leaves undefined, as sets of names."""
    defined, undefined = set(), set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        if fields[0].endswith(":"):      # "file.o:" header (archives)
            continue
        name, kind = fields[0], fields[1]
        if kind in UNDEFINED_TYPES:
            undefined.add(name)
        elif kind in DEFINED_TYPES:
            defined.add(name)
    return defined, undefined


def read_symbols(nm, obj):
    """(defined, undefined) global symbols of one object file."""
    cmd = list(nm) + ["-P", str(obj)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise CheckError("cannot run %s: %s" % (cmd[0], e))
    if r.returncode != 0:
        raise CheckError("%s failed (exit %d):\n%s" % (
            " ".join(cmd), r.returncode, r.stderr.rstrip()))
    defined, undefined = parse_nm(r.stdout)
    # a symbol both defined and referenced in one object is defined there
    return defined, undefined - defined


# --------------------------------------------------------------------------
# The graph

def build_graph(symbols):
    """symbols: {file: (defined, undefined)}.  Returns (graph, external,
    multiply_defined):
      graph             {file: {used_file: sorted [symbols]}}, every file a
                        key, no self-edges;
      external          {file: sorted [undefined symbols no file defines]};
      multiply_defined  {symbol: sorted [files]} for symbols more than one
                        file defines (weak definitions, or a link error).
    """
    definers = {}
    for f, (defined, _) in symbols.items():
        for s in defined:
            definers.setdefault(s, set()).add(f)
    graph = {f: {} for f in symbols}
    external = {}
    for f, (_, undefined) in symbols.items():
        for s in sorted(undefined):
            owners = definers.get(s)
            if not owners:
                external.setdefault(f, []).append(s)
                continue
            for g in owners:
                if g != f:
                    graph[f].setdefault(g, []).append(s)
    multiply = {s: sorted(fs) for s, fs in definers.items() if len(fs) > 1}
    return graph, external, dict(sorted(multiply.items()))


def _nodes(graph):
    nodes = set(graph)
    for targets in graph.values():
        nodes.update(targets)
    return sorted(nodes)


def strongly_connected_components(graph):
    """The strongly connected components of graph ({node: iterable of
    nodes}; targets need not be keys), each a sorted list, in reverse
    topological order: a component comes after every component it
    reaches (Tarjan's algorithm, iterative)."""
    index, low, on_stack = {}, {}, set()
    stack, components = [], []
    counter = 0
    succ = {n: sorted(graph.get(n, ())) for n in _nodes(graph)}
    for root in succ:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(succ[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                components.append(sorted(comp))
    return components


def find_cycles(graph):
    """The cycles of graph ({node: iterable of nodes}): its strongly
    connected components of more than one node, each a sorted list, sorted.
    A node using itself is no cycle."""
    return sorted(c for c in strongly_connected_components(graph)
                  if len(c) > 1)


def layers(graph):
    """The nodes of graph bottom to top: a list of layers, each a sorted
    list of nodes.  Layer 0 holds the nodes that use no other node; each
    node sits one layer above the highest node it uses, the nodes of a
    cycle in one layer."""
    comps = strongly_connected_components(graph)   # dependencies first
    comp_of = {n: i for i, c in enumerate(comps) for n in c}
    level = {}
    for i, comp in enumerate(comps):
        deps = {comp_of[t] for n in comp for t in graph.get(n, ())} - {i}
        level[i] = 1 + max((level[d] for d in deps), default=-1)
    out = [[] for _ in range(1 + max(level.values(), default=-1))]
    for i, comp in enumerate(comps):
        out[level[i]].extend(comp)
    return [sorted(layer) for layer in out]


def cycle_edges(graph, cycle):
    """The edges inside one cycle: [(from, to, symbols)], sorted."""
    members = set(cycle)
    return [(a, b, list(graph[a][b])) for a in sorted(cycle)
            for b in sorted(graph.get(a, {})) if b in members]


# --------------------------------------------------------------------------
# Reports

def analyse(symbols, csrc=""):
    """Everything the reports print, as one JSON-ready dict."""
    graph, external, multiply = build_graph(symbols)
    cycles = find_cycles(graph)
    return {
        "csrc": str(csrc),
        "files": sorted(graph),
        "graph": {f: {g: syms for g, syms in sorted(graph[f].items())}
                  for f in sorted(graph)},
        "layers": layers(graph),
        "cycles": [{"files": c,
                    "edges": [{"from": a, "to": b, "symbols": s}
                              for a, b, s in cycle_edges(graph, c)]}
                   for c in cycles],
        "external": {f: external[f] for f in sorted(external)},
        "multiply_defined": multiply,
    }


def format_cycles(result):
    lines = []
    cycles = result["cycles"]
    if not cycles:
        return lines
    lines.append("%d cycle%s:" % (len(cycles), "" if len(cycles) == 1
                                  else "s"))
    for i, c in enumerate(cycles, 1):
        lines.append("cycle %d (%d files): %s" % (i, len(c["files"]),
                                                  ", ".join(c["files"])))
        for e in c["edges"]:
            lines.append("  %s -> %s: %s" % (e["from"], e["to"],
                                             ", ".join(e["symbols"])))
    return lines


def format_report(result):
    graph = result["graph"]
    in_cycle = {f: i for i, c in enumerate(result["cycles"], 1)
                for f in c["files"]}
    nedges = sum(len(d) for d in graph.values())
    lines = ["csrc: %s (%d files, %d edges)" % (
        result["csrc"], len(result["files"]), nedges),
        "layers, bottom to top (each file -> the files it uses):"]
    width = max((len(f) for f in graph), default=0)
    for n, layer in enumerate(result["layers"]):
        lines.append("layer %d" % n)
        for f in layer:
            used = ", ".join(graph[f]) if graph[f] else "-"
            tag = "   [cycle %d]" % in_cycle[f] if f in in_cycle else ""
            lines.append("  %-*s -> %s%s" % (width, f, used, tag))
    for s, fs in result["multiply_defined"].items():
        lines.append("warning: %s is defined in %s" % (s, ", ".join(fs)))
    lines.append("")
    if result["cycles"]:
        lines.extend(format_cycles(result))
    else:
        lines.append("no cycles")
    return lines


# --------------------------------------------------------------------------

def _command(what, option, env_name, default):
    """A command given as an option, $env_name or default, as a list
    (it may carry arguments, e.g. CC="ccache gcc")."""
    text = option or os.environ.get(env_name) or default
    cmd = shlex.split(text)
    if not cmd or shutil.which(cmd[0]) is None:
        raise CheckError("%s not found: %r (from --%s, $%s or %s)" % (
            what, text, default, env_name, default))
    return cmd


def run(csrc, cc=None, nm=None, jobs=None):
    """Compile and read csrc; the analyse() dict."""
    csrc = Path(csrc).resolve()
    if not csrc.is_dir():
        raise CheckError("no such folder: %s" % csrc)
    cc_cmd = _command("C compiler", cc, "CC", "cc")
    nm_cmd = _command("nm", nm, "NM", "nm")
    with tempfile.TemporaryDirectory(prefix="layers-") as tmp:
        objects = compile_units(cc_cmd, csrc, tmp, jobs)
        symbols = {name: read_symbols(nm_cmd, obj)
                   for name, obj in sorted(objects.items())}
    return analyse(symbols, csrc)


def main(argv=None):
    default_csrc = Path(__file__).resolve().parent.parent / "csrc"
    p = argparse.ArgumentParser(
        description="Layering check of the C engine: the file dependency "
        "graph of csrc/*.c (through the symbols each object uses), its "
        "layers and its cycles.  Exit 0 without cycles, 1 with cycles, 2 "
        "when the check cannot run.")
    p.add_argument("--csrc", default=str(default_csrc),
                   help="the C sources (default: %(default)s)")
    p.add_argument("--cc", help="the C compiler (default: $CC, else cc)")
    p.add_argument("--nm", help="nm (default: $NM, else nm)")
    p.add_argument("-j", "--jobs", type=int,
                   help="parallel compiles (default: the CPU count)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--quiet", "-q", action="store_true",
                     help="print only the cycles")
    out.add_argument("--json", action="store_true",
                     help="print the graph, layers and cycles as JSON")
    args = p.parse_args(argv)
    try:
        result = run(args.csrc, args.cc, args.nm, args.jobs)
    except CheckError as e:
        print("layers: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        lines = format_cycles(result) if args.quiet else format_report(result)
        if lines:
            print("\n".join(lines))
    return 1 if result["cycles"] else 0


if __name__ == "__main__":
    sys.exit(main())
