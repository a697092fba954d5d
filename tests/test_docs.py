"""The documentation (docs/): the API pages document every public name,
the "Coming from PyTorch" table lists only names that exist (and every
shared one), the docstring escaping used by the Sphinx build, and the
tutorials check what they state.  The build itself (sphinx -W, with the
tutorials executed) runs in CI (.ci/run); the printed values of the
Markdown pages are checked by tests/test_readme.py."""
import ast
import glob
import importlib
import importlib.util
import inspect
import os
import re

import pytest

from conftest import require_torch

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs")
API = os.path.join(DOCS, "api")

if not os.path.isdir(API):      # pragma: no cover - a wheel-only checkout
    pytest.skip("docs/ is not next to tests/", allow_module_level=True)


def _names_module():
    spec = importlib.util.spec_from_file_location(
        "autodiff_names", os.path.join(DOCS, "_ext", "autodiff_names.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


names = _names_module()

# What issue 17 asks the reference to cover, and the rest of the API.
REQUIRED = {"autodiff", "autodiff.nn", "autodiff.nn.functional",
            "autodiff.nn.init", "autodiff.nn.utils", "autodiff.optim",
            "autodiff.optim.lr_scheduler", "autodiff.data",
            "autodiff.distributed", "autodiff.metrics", "autodiff.linalg",
            "autodiff.autograd", "autodiff.plot"}
TRAINER = {"Trainer", "History", "Callback", "EarlyStopping",
           "LRSchedulerCallback", "ModelCheckpoint"}


def test_api_pages_document_every_public_name():
    found = names.api_directives(API)
    assert REQUIRED <= {mod for _, mod, _, _ in found}
    assert names.undocumented(API) == {}
    trainer = [only for page, mod, only, _ in found if page == "trainer.rst"
               and mod == "autodiff"]
    assert trainer and TRAINER <= set(trainer[0])
    for _, mod, only, exclude in found:
        public = set(names.public_names(mod))
        assert set(only) <= public and set(exclude) <= public, mod


def test_public_names_of_a_module_without_all():
    got = names.public_names("autodiff.nn.init")
    assert "xavier_uniform_" in got and "kaiming_normal_" in got
    assert all(not n.startswith("_") for n in got)


def test_name_groups_follow_the_comments_of_all():
    public = names.public_names("autodiff")
    groups = dict(names.name_groups("autodiff", public))
    assert "exp" in groups["elementwise ops"]
    assert "sum" in groups["reductions"]
    assert sorted(n for g in groups.values() for n in g) == sorted(public)
    # no comments in the literal: one group
    nn_public = names.public_names("autodiff.nn.init")
    assert names.name_groups("autodiff.nn.init", nn_public) == [
        ("", nn_public)]


def test_every_api_page_is_in_the_toctree():
    index = open(os.path.join(API, "index.rst"), encoding="utf-8").read()
    listed = set(re.findall(r"^   (\w+)$", index, re.M))
    pages = {os.path.basename(p)[:-4]
             for p in glob.glob(os.path.join(API, "*.rst"))} - {"index"}
    assert pages == listed


def _porting_rows():
    text = open(os.path.join(DOCS, "porting.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| `([\w.]+)` \| `([\w.]+)`[^|]*\| (.*) \|$",
                      text, re.M)
    assert len(rows) >= 10
    return [(a, t, re.findall(r"`(\w+)`", cell)) for a, t, cell in rows]


def _resolve(path):
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, p in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, p)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[:i + 1]))
    return obj


def _listed_names(mod_path, mod):
    if inspect.isclass(mod):
        return [n for n in dir(mod) if not n.startswith("_")]
    return [n for n in names.public_names(mod_path)
            if not inspect.ismodule(getattr(mod, n))]


def test_porting_table_lists_only_names_that_exist():
    for ad_path, _, listed in _porting_rows():
        mod = _resolve(ad_path)
        missing = [n for n in listed if not hasattr(mod, n)]
        assert not missing, (ad_path, missing)
        assert len(set(listed)) == len(listed), ad_path


def test_porting_table_against_torch():
    """Every listed name is PyTorch's too, and every public name of the
    autodiff module that PyTorch also has is listed."""
    require_torch()
    for ad_path, torch_path, listed in _porting_rows():
        tmod = _resolve(torch_path)
        assert [n for n in listed if not hasattr(tmod, n)] == [], torch_path
        shared = [n for n in _listed_names(ad_path, _resolve(ad_path))
                  if hasattr(tmod, n)]
        assert sorted(set(shared) - set(listed)) == [], ad_path


@pytest.mark.parametrize("line, want", [
    ("x / (1 + |x|).", r"x / (1 + \|x\|)."),
    ("as torch does (kaiming_uniform_ with a = sqrt(5))",
     r"as torch does (kaiming_uniform\_ with a = sqrt(5))"),
    ("x (N, C, *) normalized", r"x (N, C, \*) normalized"),
    ("Tensor.reshape(self, *shape)", r"Tensor.reshape(self, \*shape)"),
    ("each process is a *rank*", "each process is a *rank*"),
    ("a **strong** word", "a **strong** word"),
    ("``|x|`` and :func:`clip_grad_norm_`", "``|x|`` and :func:`clip_grad_norm_`"),
    (r"napoleon's \*args", r"napoleon's \*args"),
    ("* *out* -- f's value.", "* *out* -- f's value."),
    ("  * **fn** (*callable*) -- f(*x)", r"  * **fn** (*callable*) -- f(\*x)"),
])
def test_docstring_escaping(line, want):
    lines = [line]
    names.escape_docstring(lines)
    assert lines == [want]


def test_docstring_escaping_leaves_blocks_alone():
    doc = ["Example::", "", "    y = |x| * 2_", "", ">>> abs(-1)  # |x|",
           "1", "", "| a line block |", "", "after |x|"]
    got = list(doc)
    names.escape_docstring(got)
    assert got[:9] == doc[:9]
    assert got[9] == r"after \|x\|"


def test_tutorials_check_what_they_state():
    scripts = sorted(glob.glob(os.path.join(DOCS, "tutorials", "plot_*.py")))
    assert len(scripts) >= 10
    for path in scripts:
        tree = ast.parse(open(path, encoding="utf-8").read())
        doc = ast.get_docstring(tree)
        assert doc and re.match(r".+\n=+\n", doc), path   # a title
        asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert asserts, "%s asserts nothing it states" % path
