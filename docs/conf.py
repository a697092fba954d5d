"""Sphinx configuration: the API reference from the docstrings, the
tutorials (docs/tutorials/*.py, executed by sphinx-gallery), the Markdown
pages (ARCHITECTURE.md, distributed.md, porting.md) through myst-parser.

Build with ``python -m sphinx -W -b html docs OUT`` (``pip install
'autodiff-tape[docs]'``).  The pages document the autodiff that Python
imports: run the build outside the source tree to document an installed
wheel (CI does), or from an in-place build (``pip install -e .``).  This
file adds only docs/_ext to sys.path, never the repository root.

Links to NumPy and PyTorch are plain URLs (``:torch:`` and ``:numpy:``
roles, sphinx.ext.extlinks): intersphinx would fetch inventories over the
network at every build, which fails offline and, with -W, fails the build.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "_ext"))

import autodiff  # noqa: E402  (the package being documented)

project = "autodiff"
author = "the autodiff developers"
copyright = "the autodiff developers (MIT)"
release = autodiff.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "autodiff_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "tutorials/README.rst",
                    "auto_tutorials/*.ipynb", "auto_tutorials/*.py",
                    "auto_tutorials/*.zip", "auto_tutorials/*.codeobj.json",
                    "auto_tutorials/*.md5"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "reverse-mode autodiff, C engine",
                      "fixed_sidebar": True}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}

# autodoc: members in source order; signatures of the Cython functions come
# from their embedded first docstring line.
autodoc_member_order = "bysource"
autodoc_docstring_signature = True
autodoc_typehints = "none"
autodoc_default_options = {}
autosummary_generate = False        # the tables link to the entries below
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# "Attributes" as fields of the class: a NamedTuple's fields are also
# members, and two descriptions of one attribute are a warning
napoleon_use_ivar = True
# PyTorch's "Shape" section (inputs and outputs of a layer or an op)
napoleon_custom_sections = ["Shape"]

extlinks = {
    "torch": ("https://docs.pytorch.org/docs/stable/generated/%s.html", "%s"),
    "numpy": ("https://numpy.org/doc/stable/reference/generated/%s.html",
              "%s"),
}

myst_heading_anchors = 3
# The Markdown pages link to files of the repository (../README.md,
# ../autodiff/compile.py): those are not pages of the site.
suppress_warnings = ["myst.xref_missing"]

sphinx_gallery_conf = {
    "examples_dirs": "tutorials",
    "gallery_dirs": "auto_tutorials",
    "filename_pattern": r"/plot_",       # execute every tutorial
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("autodiff_docs.figure_scraper", "matplotlib"),
    "show_memory": False,
    "plot_gallery": "True",
    # execute every tutorial at every build, changed or not: the numbers
    # they assert are the installed package's, not a cached run's
    "run_stale_examples": True,
}
