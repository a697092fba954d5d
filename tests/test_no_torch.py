"""The suite without PyTorch runs every test that does not compare with it
(the [test] extra has no torch): no test module skips whole for want of
torch, and conftest's stand-in for torch skips only the test touching it,
with the one TORCH_MISSING line."""
import ast
import pathlib

import pytest

import conftest

HERE = pathlib.Path(__file__).parent
SKIP = pytest.skip.Exception


def _import_time_nodes(tree):
    """Every node run when the module is imported: the top-level statements
    and class bodies, not the bodies of functions (tests, fixtures)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.Lambda)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def whole_module_torch_skips(source):
    """What, in `source`, would skip a whole test module without torch: a
    require_torch() or importorskip("torch...") run at import, or a
    pytestmark naming torch (needs_torch, torch is None)."""
    found = []
    for node in _import_time_nodes(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            arg = (node.args[0].value if node.args
                   and isinstance(node.args[0], ast.Constant) else "")
            if name == "require_torch" or (
                    name == "importorskip" and str(arg).startswith("torch")):
                found.append("line %d: %s()" % (node.lineno, name))
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark"
                for t in node.targets):
            if any("torch" in (getattr(n, "id", "") or getattr(n, "attr", ""))
                   for n in ast.walk(node.value)):
                found.append("line %d: pytestmark" % node.lineno)
    return found


def test_the_check_finds_a_whole_module_skip():
    assert whole_module_torch_skips("torch = require_torch()\n") == [
        "line 1: require_torch()"]
    assert whole_module_torch_skips(
        "import pytest\nT = pytest.importorskip('torch.nn')\n") == [
        "line 2: importorskip()"]
    assert whole_module_torch_skips("pytestmark = needs_torch\n") == [
        "line 1: pytestmark"]
    assert whole_module_torch_skips(
        "pytestmark = pytest.mark.skipif(torch is None, reason='x')\n") == [
        "line 1: pytestmark"]
    assert whole_module_torch_skips(
        "try:\n    torch = require_torch()\nexcept ImportError:\n    pass\n"
        ) == ["line 2: require_torch()"]
    # inside a test or fixture it skips only that test
    assert whole_module_torch_skips(
        "def test_a():\n    torch = require_torch()\n\n"
        "@pytest.fixture\ndef T():\n    return require_torch()\n"
        "pytestmark = [pytest.mark.filterwarnings(\n"
        "    # torch's warning\n"
        "    'ignore:torch')]\n") == []


@pytest.mark.parametrize("path", sorted(p.name for p in HERE.glob("*.py")
                                        if p.name != "conftest.py"))
def test_no_module_skips_whole_without_torch(path):
    """Each test module runs without torch; its tests that need torch call
    require_torch(), take a fixture that does, carry needs_torch, or use
    lazy_torch()'s stand-in."""
    source = (HERE / path).read_text(encoding="utf-8")
    assert whole_module_torch_skips(source) == [], path


def test_stand_in_skips_the_test_touching_it():
    stand = conftest._NoTorch("torch.nn")
    for touch in (lambda: stand.Linear, lambda: stand.functional.relu,
                  lambda: getattr(stand, "tensor")):
        with pytest.raises(SKIP) as info:
            touch()
        assert str(info.value) == conftest.TORCH_MISSING
        # a plain skip: at import time it is a collection error instead
        assert info.value.allow_module_level is False
    assert repr(stand) == "<torch.nn: not installed>"


def test_stand_in_answers_pytests_probes_with_attribute_error():
    stand = conftest._NoTorch("torch")
    for name in ("__test__", "_pytestfixturefunction",
                 "_fixture_function_marker", "__wrapped__"):
        with pytest.raises(AttributeError):
            getattr(stand, name)
        assert getattr(stand, name, "absent") == "absent"


def test_lazy_torch_is_torch_when_installed():
    for name in ("torch", "torch.nn", "torch.nn.functional",
                 "torch.optim.lr_scheduler"):
        got = conftest.lazy_torch(name)
        if conftest.HAVE_TORCH:
            import importlib
            assert got is importlib.import_module(name)
        else:
            assert isinstance(got, conftest._NoTorch)
            assert repr(got) == "<%s: not installed>" % name
