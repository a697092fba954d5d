"""The package ships type information: py.typed and autodiff/_engine.pyi.

The stub is the only type information for the compiled module, so these
tests check it from both sides: mypy type-checks a typed program using the
API (tests/typed/usage.py, which is also run) and the stub itself, must
reject a snippet with type errors, and stubtest compares the stub with the
runtime module; an AST walk checks that no public name is missing.

mypy runs in a subprocess in tmp_path with its own config and cache, so no
user or project configuration leaks in.  Flags: --strict, except
--allow-untyped-calls because the Python layers (nn, optim, functional,
autograd) are not annotated, and --follow-imports=silent so that mypy reads
those modules for their types without reporting their missing annotations:
only the files named on the command line are checked.
"""
import ast
import os
import re
import site
import subprocess
import sys
import sysconfig
import types
from pathlib import Path

import pytest

import autodiff
import autodiff._engine as E

PKG_DIR = Path(autodiff.__file__).resolve().parent
STUB = PKG_DIR / "_engine.pyi"
TYPED_DIR = Path(__file__).resolve().parent / "typed"
USAGE = TYPED_DIR / "usage.py"
ALLOWLIST = TYPED_DIR / "stubtest_allowlist.txt"

MYPY_FLAGS = ["--strict", "--allow-untyped-calls", "--follow-imports=silent",
              "--show-error-codes", "--no-color-output", "--no-pretty"]


def _site_dirs():
    dirs = set(site.getsitepackages()) | {site.getusersitepackages()}
    dirs |= {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    return {Path(d).resolve() for d in dirs if d}


def _env():
    """Run where mypy finds the package.  An installed package is found in
    site-packages through its py.typed (PEP 561); a source tree (or an
    editable install, whose import hook mypy cannot follow) is put on
    MYPYPATH and PYTHONPATH."""
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    root = PKG_DIR.parent
    if root not in _site_dirs():
        env["MYPYPATH"] = str(root)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                           else []))
    return env


def _mypy(tmp_path, *files):
    pytest.importorskip("mypy")
    cfg = tmp_path / "mypy.ini"
    cfg.write_text("[mypy]\n")
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(cfg),
           "--cache-dir", str(tmp_path / "mypy_cache"), *MYPY_FLAGS,
           *map(str, files)]
    r = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True,
                       text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


# ------------------------------------------------------------------- mypy

def test_typed_usage_passes_mypy(tmp_path):
    code, out = _mypy(tmp_path, USAGE)
    assert code == 0, out
    assert "Success" in out, out


def test_stub_passes_mypy(tmp_path):
    # A copy outside site-packages: mypy refuses to check a file by path
    # inside site-packages (it would shadow the installed modules there).
    copy = tmp_path / "stubcheck" / "_engine.pyi"
    copy.parent.mkdir()
    copy.write_text(STUB.read_text())
    code, out = _mypy(tmp_path, copy)
    assert code == 0, out


BAD = '''\
import autodiff as ad
x = ad.tensor([1.0, 2.0], requires_grad=True)
n = x.shape + 1
x.backward(retain_graph="yes")
ad.tensor("abc")
i: int = x.sum().item()
g = x.grad.numpy()
ad.mse_loss(x, x, reduction="avg")
m: int = x > 1
ad.Tensor("abc")
ad.zeros(2, 3.5)
x.requires_grad_().reshape(2, 1).no_such_method()
'''
# (line, error code) for every line of BAD after the second
BAD_ERRORS = {
    (3, "operator"),        # shape is a tuple of ints
    (4, "arg-type"),        # retain_graph is bool | None
    (5, "arg-type"),        # a string is not tensor data
    (6, "assignment"),      # item() is a float
    (7, "union-attr"),      # grad may be None
    (8, "arg-type"),        # reduction is "mean", "sum" or "none"
    (9, "assignment"),      # comparisons give bool tensors
    (10, "call-overload"),  # Tensor(data) takes numbers, not strings
    (11, "call-overload"),  # shape entries are integers
    (12, "attr-defined"),
}


def test_mypy_catches_type_errors(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    code, out = _mypy(tmp_path, bad)
    assert code == 1, out
    found = {(int(m.group(1)), m.group(2)) for m in re.finditer(
        r"^bad\.py:(\d+): error: .*\[([\w-]+)\]$", out, re.M)}
    assert found == BAD_ERRORS, out


def test_stubtest_matches_runtime(tmp_path):
    """mypy's stubtest: every runtime name and signature (argument names,
    kinds, defaults) against the stub; the allowlist lists the intended
    differences."""
    pytest.importorskip("mypy")
    stubtest = pytest.importorskip("mypy.stubtest")
    cfg = tmp_path / "mypy.ini"
    # silent: stubtest stops on any mypy error, including the unannotated
    # Python modules the stub's package brings in.
    cfg.write_text("[mypy]\nfollow_imports = silent\n")
    cmd = [sys.executable, "-m", "mypy.stubtest", "--concise",
           "--mypy-config-file", str(cfg), "--allowlist", str(ALLOWLIST),
           "--ignore-unused-allowlist"]
    if hasattr(stubtest.parse_options([]), "ignore_disjoint_bases"):
        # The cdef classes are PEP 800 disjoint bases, but the decorator
        # marking them exists only in the newest typeshed: using it would
        # break the stub for older mypy.
        cmd.append("--ignore-disjoint-bases")
    cmd.append("autodiff._engine")
    r = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_typed_usage_runs():
    r = subprocess.run([sys.executable, str(USAGE)], env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------ consistency

def _stub_names():
    """The stub's top-level names and the names in its Tensor class."""
    tree = ast.parse(STUB.read_text())

    def names(body):
        out = set()
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                 ast.ClassDef)):
                out.add(node.name)
            elif isinstance(node, ast.Assign):
                out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(
                    node.target, ast.Name):
                out.add(node.target.id)
        return out

    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    return names(tree.body), {c: names(n.body) for c, n in classes.items()}


def test_shipped_files_exist():
    assert (PKG_DIR / "py.typed").is_file()
    assert STUB.is_file()
    pyproject = PKG_DIR.parent / "pyproject.toml"
    if pyproject.is_file():         # a source tree: the wheel ships both
        text = pyproject.read_text()
        data = re.search(r"^\[tool\.setuptools\.package-data\]\n"
                         r"autodiff = \[(.*)\]$", text, re.M)
        assert data is not None
        assert '"py.typed"' in data.group(1)
        assert '"*.pyi"' in data.group(1)


def test_stub_covers_module():
    top, _ = _stub_names()
    runtime = {n for n in dir(E) if not n.startswith("_")
               and not isinstance(getattr(E, n), types.ModuleType)}
    assert runtime - top == set(), "public names missing from the stub"
    public_stub = {n for n in top if not n.startswith("_")}
    assert public_stub - runtime == set(), "stub names absent at runtime"


def test_stub_covers_classes():
    _, classes = _stub_names()
    for cls in (E.Tensor, E.FusedUpdate, E.Program):
        runtime = {n for n in dir(cls) if not n.startswith("_")}
        stub = {n for n in classes[cls.__name__] if not n.startswith("_")}
        assert runtime - stub == set(), cls.__name__
        assert stub - runtime == set(), cls.__name__


def test_stub_covers_private_helpers():
    """Every engine name the package's Python modules use is typed."""
    top, _ = _stub_names()
    used = set()
    for path in PKG_DIR.rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"\b(?:E|_engine)\.(\w+)", text))
        blocks = re.findall(r"from \.+_engine import \(([^)]*)\)", text)
        blocks += re.findall(r"from \.+_engine import ([^(\n]*)$", text,
                             re.M)
        for block in blocks:
            used |= set(re.findall(r"\w+", re.sub(r"#.*", "", block)))
    assert {"_node", "_custom", "_as_subclass", "Tensor", "memory_stats",
            "mse_loss"} <= used
    assert used - top == set()


def test_all_is_complete():
    """autodiff.__all__ is spelled out for type checkers (a computed one
    hides the re-exports from mypy --strict); it must still list every
    public name, as seen by a fresh import."""
    r = subprocess.run(
        [sys.executable, "-c",
         "import autodiff as ad; "
         "print(sorted(n for n in dir(ad) if not n.startswith('_'))); "
         "print(sorted(ad.__all__)); print(len(ad.__all__))"],
        env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    public, listed, n = r.stdout.splitlines()
    assert public == listed
    assert int(n) == len(eval(listed))      # no duplicates
