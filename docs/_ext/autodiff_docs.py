"""The ``autodiff-api`` directive: a module's public names, from the module.

``.. autodiff-api:: autodiff.nn`` documents every public name of the
module (its ``__all__``; a module without one: the functions and classes
it defines whose names do not start with ``_``) with autodoc, so a name
added to ``__all__`` is on the page at the next build.  Options:

``:only: a b c``
    document just these names (they must be public names of the module);
``:exclude: a b c``
    leave these out: they are documented by an ``:only:`` elsewhere.

At the end of the build every public name of every module given to the
directive must have been documented by some page, else a warning (an
error with -W) names the missing ones.  tests/test_docs.py checks the
same from the .rst sources without building.
"""
import importlib
import inspect

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from autodiff_names import escape_docstring, name_groups, public_names

logger = logging.getLogger(__name__)


def _alias_of(mod, name, obj):
    """The name this object has in its module when it differs (pow ->
    power), else None."""
    real = getattr(obj, "__name__", None)
    if real and real != name and getattr(mod, real, None) is obj:
        return real
    return None


class AutodiffAPI(SphinxDirective):
    required_arguments = 1
    has_content = False
    option_spec = {"only": directives.unchanged,
                   "exclude": directives.unchanged}

    def run(self):
        modname = self.arguments[0]
        mod = importlib.import_module(modname)
        names = public_names(modname)
        only = self.options.get("only", "").split()
        exclude = set(self.options.get("exclude", "").split())
        unknown = [n for n in only + sorted(exclude) if n not in names]
        if unknown:
            raise self.error("autodiff-api %s: %s not public names of the "
                             "module" % (modname, ", ".join(unknown)))
        chosen = only if only else [n for n in names if n not in exclude]
        if not hasattr(self.env, "autodiff_api"):
            self.env.autodiff_api = {}
        self.env.autodiff_api.setdefault(modname, set()).update(chosen)
        lines = [".. py:currentmodule:: " + modname, ""]
        submodules = [n for n in chosen if inspect.ismodule(getattr(mod, n))]
        groups = name_groups(modname, [n for n in chosen
                                       if n not in submodules])
        for heading, group in groups:
            if heading and len(groups) > 1:
                lines += [".. rubric:: " + heading[0].upper() + heading[1:],
                          ""]
            # a table of the group (name, signature, summary line), then
            # each entry in full
            lines += [".. autosummary::", ""]
            lines += ["   " + n for n in group] + [""]
            for name in group:
                lines += self._entry(mod, modname, name)
        if submodules:
            lines += [".. rubric:: Submodules", ""]
            for name in submodules:
                doc = inspect.getdoc(getattr(mod, name)) or ""
                lines += ["- ``%s.%s``: %s" % (modname, name,
                                               doc.strip().split("\n")[0])]
            lines += [""]
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]),
                                self.content_offset, node)
        return node.children

    @staticmethod
    def _entry(mod, modname, name):
        """The autodoc lines of one public name."""
        obj = getattr(mod, name)
        full = "%s.%s" % (modname, name)
        alias = _alias_of(mod, name, obj)
        if inspect.isclass(obj):
            lines = [".. autoclass:: " + full, "   :members:", ""]
            if alias:
                lines += ["   Alias of :class:`%s.%s`." % (modname, alias),
                          ""]
        elif callable(obj):
            lines = [".. autofunction:: " + full, ""]
            if alias:
                lines += ["   Alias of :func:`%s.%s`." % (modname, alias),
                          ""]
        else:
            lines = [".. py:data:: " + full,
                     "   :value: %s" % _short_repr(obj), "",
                     "   %s" % _data_doc(modname, name, obj), ""]
        return lines


def _short_repr(obj):
    r = repr(obj)
    return r if len(r) <= 60 else r[:57] + "..."


def _data_doc(modname, name, obj):
    mod = importlib.import_module(modname)
    same = [n for n in public_names(modname)
            if n != name and getattr(mod, n, None) is obj
            and not inspect.ismodule(obj)]
    kind = type(obj).__name__
    text = "A ``%s``." % kind
    if same:
        text += " The same object as %s." % ", ".join(
            "``%s``" % s for s in same)
    return text


def check_coverage(app, env):
    done = getattr(env, "autodiff_api", {})
    for modname, seen in sorted(done.items()):
        missing = [n for n in public_names(modname) if n not in seen]
        if missing:
            logger.warning("API reference: %s has public names documented "
                           "on no page: %s", modname, ", ".join(missing))


def merge_info(app, env, docnames, other):
    """Parallel reads: collect what each worker's pages documented."""
    if not hasattr(env, "autodiff_api"):
        env.autodiff_api = {}
    for mod, names in getattr(other, "autodiff_api", {}).items():
        env.autodiff_api.setdefault(mod, set()).update(names)


def _process_docstring(app, what, name, obj, options, lines):
    escape_docstring(lines)


# -- sphinx-gallery: the figures autodiff.plot returns ---------------------
#
# autodiff.plot draws on a fresh Figure with the Agg canvas, never pyplot,
# so the matplotlib scraper (which asks pyplot for its figures) misses
# them.  This scraper (listed before sphinx-gallery's "matplotlib") takes
# every Figure bound to a name of the example that pyplot does not hold
# and that was not shown yet; pyplot's figures it leaves to the other.

_shown = []         # the figures already scraped (kept alive: ids stay unique)


def figure_scraper(block, block_vars, gallery_conf):
    """sphinx-gallery image scraper for figures made outside pyplot."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst
    _shown.extend(plt.figure(n) for n in plt.get_fignums())
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if (isinstance(value, Figure)
                and not any(value is f for f in _shown)):
            _shown.append(value)
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=90)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])


def setup(app):
    app.connect("autodoc-process-docstring", _process_docstring)
    app.add_directive("autodiff-api", AutodiffAPI)
    app.connect("env-check-consistency", check_coverage)
    app.connect("env-merge-info", merge_info)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
