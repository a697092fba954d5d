"""Packaging: the one version, ``python -m autodiff``, the metadata of the
installed distribution and the message of an unbuilt source folder."""
import importlib.metadata as md
import os
import shutil
import subprocess
import sys

import pytest

import autodiff as ad

DIST = "autodiff-tape"


def _run(args, cwd=None):
    env = dict(os.environ)
    r = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_version_is_one_string():
    from autodiff import _version
    assert ad.__version__ is _version.__version__
    parts = ad.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts), ad.__version__


def test_python_m_autodiff_version():
    rc, out = _run(["-m", "autodiff", "--version"])
    assert rc == 0, out
    assert out.strip() == "autodiff " + ad.__version__


def test_python_m_autodiff_summary():
    rc, out = _run(["-m", "autodiff"])
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0] == f"autodiff {ad.__version__} ({DIST})"
    assert lines[1].strip() == ("installed at " +
                                os.path.dirname(ad.__file__))
    assert lines[3].strip().startswith(
        f"threads: {ad.get_num_threads()} ")


def test_python_m_autodiff_rejects_unknown_options():
    rc, out = _run(["-m", "autodiff", "--frobnicate"])
    assert rc == 2
    assert "unrecognized arguments: --frobnicate" in out


def _installed():
    try:
        return md.distribution(DIST)
    except md.PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed (running against the source "
                    "folder)")


def test_installed_metadata():
    d = _installed()
    meta = d.metadata
    assert meta["Name"] == DIST
    assert meta["Version"] == ad.__version__
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier")
    assert "Programming Language :: Python :: 3" in classifiers
    assert "Typing :: Typed" in classifiers
    assert meta["Summary"].startswith("Reverse-mode automatic differentiation")
    assert "# autodiff" in meta["Description"] or "# autodiff" in (
        d.read_text("METADATA") or "")
    extras = set(meta.get_all("Provides-Extra"))
    assert {"test", "oracle", "examples", "mpi", "plot", "io",
            "docs"} <= extras
    # [test] does not pull PyTorch; [oracle] does
    reqs = meta.get_all("Requires-Dist")
    # [docs]: what python -m sphinx -W -b html docs OUT needs
    docs_reqs = {r.split(">")[0].split(";")[0].strip() for r in reqs
                 if 'extra == "docs"' in r}
    assert {"sphinx", "sphinx-gallery", "myst-parser",
            "matplotlib"} <= docs_reqs
    torch_reqs = [r for r in reqs if r.startswith("torch")]
    assert torch_reqs and all('extra == "oracle"' in r or
                              'extra == "bench"' in r for r in torch_reqs)
    assert any(r.startswith("matplotlib") and 'extra == "examples"' in r
               for r in reqs)
    licenses = [f for f in d.files if f.name == "LICENSE"]
    assert licenses, "no LICENSE in the installed distribution"
    assert "MIT License" in licenses[0].read_text()


def test_unbuilt_source_folder_says_why(tmp_path):
    # A clone's autodiff/ without the compiled engine, found first because
    # Python starts in the clone.
    here = os.path.dirname(ad.__file__)
    pkg = tmp_path / "autodiff"
    pkg.mkdir()
    for name in ("__init__.py", "_version.py"):
        shutil.copy(os.path.join(here, name), pkg / name)
    (pkg / "_engine.pyx").write_text("# the Cython source\n")
    # -S: no site-packages, so an editable install's finder cannot win
    rc, out = _run(["-S", "-c", "import autodiff"], cwd=tmp_path)
    assert rc == 1
    assert ("ImportError: autodiff's compiled engine is not built in "
            + str(pkg)) in out
    assert "pip install -e ." in out
