"""Every public name has a docstring that documents its parameters, and
every docstring's examples run (issue 17: the API reference is generated
from these docstrings, NumPy style, by napoleon).

The public names: each module's ``__all__`` (``dir()`` without underscores
where there is none), and for classes their public methods and properties
defined in autodiff (not inherited from Python or numpy).  An object exported
under several names is checked once, under the first name in MODULES' order.  A
name's docstring must be non-empty and, when its signature has parameters, name
every one of them (but private ones, ``_weight``) as an entry of its
``Parameters`` section (``*args`` / ``**kwargs`` as such; a class's parameters
are its constructor's, documented in the class docstring). A method overriding
a documented method inherits its docstring (as Sphinx's autodoc shows it); a
Tensor method may instead point at the function it mirrors ("See
:func:`autodiff.exp`"). An nn layer's ``forward`` is documented by its class:
the class docstring has a ``Shape`` section (the input and output shapes), as
in PyTorch's reference, unless forward has its own docstring documenting its
parameters.

KNOWN_MISSING lets this test land before every docstring is written: it
may only shrink (test_known_missing_is_current fails for a name that is
documented now, or no longer exists, so the set cannot go stale).
"""
import doctest
import importlib
import inspect
import re
import types

import numpy as np
import pytest

import autodiff as ad

# The modules of the API reference, in the order their names are keyed.
MODULES = (
    "autodiff.callbacks", "autodiff.trainer", "autodiff", "autodiff.autograd",
    "autodiff.functional", "autodiff.linalg", "autodiff.gradcheck",
    "autodiff.checkpoint", "autodiff.metrics", "autodiff.cuda",
    "autodiff.nn", "autodiff.nn.functional", "autodiff.nn.init",
    "autodiff.nn.utils", "autodiff.optim", "autodiff.optim.lr_scheduler",
    "autodiff.data", "autodiff.distributed",
)

_SECTION = re.compile(r"^\s*([A-Z][A-Za-z ]+)\n\s*-{3,}\s*$", re.M)
_SEE = re.compile(r"See :(?:func|meth|class):`~?(autodiff[\w.]*)`")
_ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")


def _own_doc(obj):
    """The object's own docstring (not its class's, for instances)."""
    if _is_attribute(obj):
        return obj.__doc__ or ""
    doc = getattr(obj, "__doc__", None)
    if inspect.isclass(obj):
        return doc or ""
    if not callable(obj) and not isinstance(obj, types.ModuleType):
        return None                # a constant (dtype object, ...): skipped
    lines = (doc or "").strip().splitlines()
    if len(lines) == 1 and re.match(r"^[\w.]+\(.*\)$", lines[0]):
        return ""                  # only the signature Cython embeds
    return doc or ""


def sections(doc):
    """{section title: its text} of a NumPy-style docstring."""
    doc = inspect.cleandoc(doc)
    found = list(_SECTION.finditer(doc))
    out = {}
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(doc)
        out[m.group(1).strip()] = doc[m.end():end]
    return out


def documented_params(doc):
    """The parameter names the Parameters section has entries for."""
    sec = sections(doc)
    names = set()
    for title in ("Parameters", "Other Parameters", "Keyword Arguments"):
        text = sec.get(title)
        if not text:
            continue
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            continue
        base = min(len(ln) - len(ln.lstrip()) for ln in lines)
        for ln in lines:
            if len(ln) - len(ln.lstrip()) != base:
                continue
            m = _ENTRY.match(ln.strip())
            if m:
                for n in m.group(1).split(","):
                    names.add(n.strip().lstrip("*"))
    return names


def _signature_params(obj, is_method):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    ps = list(sig.parameters.values())
    if is_method and ps and ps[0].name in ("self", "cls"):
        ps = ps[1:]
    return [p.name for p in ps]


def _defined_in_autodiff(obj):
    mod = getattr(obj, "__module__", None) or ""
    return mod.split(".")[0] == "autodiff"


def _is_module_class(cls):
    return inspect.isclass(cls) and issubclass(cls, ad.nn.Module)


def _is_attribute(m):
    return isinstance(m, (property, types.GetSetDescriptorType,
                          types.MemberDescriptorType))


def public_names():
    """[(key, object, kind, owner class or None)], deduplicated."""
    seen = set()
    out = []
    public = {}                    # id(class) -> its key

    def add(key, obj, kind, owner=None):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        out.append((key, obj, kind, owner))

    classes = []
    for modname in MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n in dir(mod) if not n.startswith("_")
                     and not isinstance(getattr(mod, n), types.ModuleType)]
        for name in names:
            obj = getattr(mod, name)
            if isinstance(obj, types.ModuleType):
                if obj.__name__.startswith("autodiff"):
                    add(obj.__name__, obj, "module")
                continue
            if _own_doc(obj) is None or not _defined_in_autodiff(obj):
                continue           # a constant, or a numpy / stdlib name
            key = modname + "." + name
            add(key, obj, "class" if inspect.isclass(obj) else "function")
            if inspect.isclass(obj) and id(obj) not in public:
                public[id(obj)] = key
                classes.append((key, obj))
    # methods: keyed under the public class defining them, else under the
    # first public subclass (a private base's methods)
    for key, cls in classes:
        for klass in cls.__mro__:
            if not (klass.__module__ or "").startswith("autodiff"):
                continue
            base = public.get(id(klass), key)
            for mname, m in vars(klass).items():
                if mname.startswith("_"):
                    continue
                if isinstance(m, (staticmethod, classmethod)):
                    m = m.__func__
                if not (callable(m) or _is_attribute(m)):
                    continue
                if not _is_attribute(m) and not _defined_in_autodiff(m):
                    continue
                if id(klass) not in public and \
                        inspect.getattr_static(cls, mname) is not vars(
                            klass)[mname]:
                    continue       # a private base's method, overridden
                add(base + "." + mname, m, "method",
                    klass if id(klass) in public else cls)
    return out


_NAMES = public_names()


def _inherited_doc(obj, owner):
    """The docstring of the method `obj` overrides (as Sphinx's
    autodoc_inherit_docstrings shows it), or ""."""
    name = getattr(obj, "__name__", None)
    for klass in owner.__mro__[1:]:
        base = vars(klass).get(name)
        if base is not None and getattr(base, "__doc__", None):
            return base.__doc__
    return ""


def problems(key, obj, kind, owner):
    """Why the docstring of `obj` is not complete ([] when it is)."""
    doc = _own_doc(obj)
    if kind == "method" and not doc and not _is_attribute(obj):
        doc = _inherited_doc(obj, owner)
    if isinstance(obj, types.MemberDescriptorType) and not doc:
        slots = getattr(owner, "__slots__", None)   # a dict: their docs
        doc = slots.get(obj.__name__, "") if isinstance(slots, dict) else ""
    if kind == "method" and getattr(obj, "__name__", "") == "forward" \
            and _is_module_class(owner):
        if doc and not _missing_params(obj, doc, True):
            return []
        cls_doc = owner.__doc__ or ""
        if "Shape" not in sections(cls_doc):
            return ["forward: no docstring and %s's docstring has no Shape "
                    "section" % owner.__name__]
        return []
    if not doc or not doc.strip():
        return ["no docstring"]
    if kind == "module":
        return []
    if _is_attribute(obj):
        return []
    see = _SEE.search(doc) if kind == "method" else None
    if see:                    # a Tensor method pointing at its function
        return [] if _resolve(see.group(1)) is not None else [
            "refers to %s, which does not exist" % see.group(1)]
    if kind == "class":
        target = obj
        if _is_module_class(obj) and obj is not ad.nn.Module \
                and "forward" in vars(obj) \
                and "Shape" not in sections(doc):
            missing = ["no Shape section"]
        else:
            missing = []
        return missing + _missing_params(target, doc, False)
    return _missing_params(obj, doc, kind == "method")


def _resolve(dotted):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p, None)
        return obj
    return None


def _missing_params(obj, doc, is_method):
    params = _signature_params(obj, is_method)
    if not params:
        return []
    have = documented_params(doc)
    return ["parameter %r not in Parameters" % p for p in params
            if p not in have and not p.startswith("_")]


def _report():
    return {key: problems(key, obj, kind, owner)
            for key, obj, kind, owner in _NAMES}


# Names whose docstrings are still to be written (only ever shrinks;
# `python tests/test_docstrings.py` prints the current list).
KNOWN_MISSING = frozenset("""
""".split())


def test_public_names_found():
    keys = {k for k, *_ in _NAMES}
    for k in ("autodiff.trainer.Trainer", "autodiff.trainer.Trainer.fit",
              "autodiff.Tensor.sum", "autodiff.nn.Module.parameters",
              "autodiff.tensor", "autodiff.nn.Linear",
              "autodiff.nn.functional.conv2d", "autodiff.optim.SGD",
              "autodiff.data.DataLoader", "autodiff.callbacks.EarlyStopping",
              "autodiff.distributed.DistributedOptimizer"):
        assert k in keys, k
    assert len(keys) == len(_NAMES) > 500


def test_every_public_name_is_documented():
    report = _report()
    bad = {k: v for k, v in report.items() if v and k not in KNOWN_MISSING}
    assert not bad, "\n".join("%s: %s" % (k, "; ".join(v))
                              for k, v in sorted(bad.items()))


def test_known_missing_is_current():
    report = _report()
    gone = sorted(KNOWN_MISSING - set(report))
    assert not gone, "KNOWN_MISSING names that no longer exist: %s" % gone
    done = sorted(k for k in KNOWN_MISSING if not report[k])
    assert not done, ("documented now: remove them from KNOWN_MISSING: %s"
                      % done)


# napoleon's NumPy-style sections, and PyTorch's "Shape" (a custom section
# of the API reference: napoleon_custom_sections in docs/conf.py)
SECTIONS = frozenset({
    "Parameters", "Other Parameters", "Keyword Arguments", "Returns",
    "Yields", "Raises", "Warns", "Attributes", "Examples", "Notes",
    "References", "See Also", "Methods", "Warnings", "Shape"})


def test_section_titles_are_known():
    """A misspelt title ("Return", "Example") would render as plain text;
    every section of every public docstring is one napoleon knows."""
    bad = {}
    for key, obj, kind, owner in _NAMES:
        doc = _own_doc(obj)
        if doc:
            odd = set(sections(doc)) - SECTIONS
            if odd:
                bad[key] = sorted(odd)
    assert not bad, bad


def test_parameters_parser():
    doc = """Summary.

    Parameters
    ----------
    x : Tensor
        The input; ``y : z`` inside the text is no entry.
    a, b : int
        Two.
    *tensors : Tensor
    **kwargs
        Passed on.

    Returns
    -------
    out : Tensor
    """
    assert documented_params(doc) == {"x", "a", "b", "tensors", "kwargs"}
    assert set(sections(doc)) == {"Parameters", "Returns"}

    def f(x, a, b=1, *tensors, c, **kwargs):
        pass
    f.__doc__ = doc
    assert _missing_params(f, doc, False) == [
        "parameter 'c' not in Parameters"]


# -------------------------------------------------------------- examples
def _doctests():
    finder = doctest.DocTestFinder(recurse=False)
    out = []
    for key, obj, kind, owner in _NAMES:
        target = getattr(obj, "fget", obj)
        doc = _own_doc(obj)
        if not doc or ">>>" not in doc:
            continue
        try:
            tests = finder.find(target, key, globs={})
        except ValueError:
            tests = []
        if not tests:
            # builtins (Cython functions) are not found by the finder
            parser = doctest.DocTestParser()
            tests = [parser.get_doctest(doc, {}, key, None, 0)]
        out.extend(t for t in tests if t.examples)
    return out


_DOCTESTS = _doctests()


@pytest.mark.parametrize("test", _DOCTESTS, ids=[t.name for t in _DOCTESTS])
def test_docstring_examples(test):
    """Each docstring's examples, run with ``ad`` (autodiff), ``np``
    (numpy), ``nn`` (autodiff.nn) and ``F`` (autodiff.nn.functional)
    imported and the generators seeded with 0; the output must be exactly
    the printed one (float32 values are printed rounded, so that another
    SIMD kernel cannot change them)."""
    test.globs = {"ad": ad, "np": np, "nn": ad.nn, "F": ad.nn.functional}
    ad.manual_seed(0)
    np.random.seed(0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)


def test_examples_exist():
    assert len(_DOCTESTS) >= 1


if __name__ == "__main__":
    for k, v in sorted(_report().items()):
        if v:
            print(k)
