"""What the API pages document, without Sphinx (tests/test_docs.py uses
it too): the public names of a module, the directives of the .rst pages,
and the escaping of plain-text docstrings for reStructuredText."""
import importlib
import inspect
import os
import re


def public_names(modname):
    """The public names of module modname, in their order."""
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, v in vars(mod).items()
            if not n.startswith("_")
            and (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", None) == modname]


def name_groups(modname, names):
    """[(heading, [names])]: the names in the groups that the comments
    inside the module's ``__all__ = [...]`` literal head (autodiff's
    ``# elementwise ops``); names outside any group (or a module without
    such comments) come in one group headed "".  Order as in names."""
    mod = importlib.import_module(modname)
    try:
        source = inspect.getsource(mod)
    except (OSError, TypeError):
        return [("", list(names))]
    m = re.search(r"^__all__ = \[\n(.*?)^\]", source, re.S | re.M)
    if not m:
        return [("", list(names))]
    group_of = {}
    heading = ""
    for line in m.group(1).split("\n"):
        comment = re.match(r"\s*#\s*(.+)", line)
        if comment:
            heading = comment.group(1).strip()
            continue
        for n in re.findall(r"\"(\w+)\"", line):
            group_of.setdefault(n, heading)
    groups = {}
    for n in names:
        groups.setdefault(group_of.get(n, ""), []).append(n)
    return sorted(groups.items(), key=lambda kv: kv[0] == "")   # stable


def api_directives(api_dir):
    """[(page, module, only, exclude)] of every ``autodiff-api`` directive
    in the .rst files of api_dir."""
    found = []
    for page in sorted(os.listdir(api_dir)):
        if not page.endswith(".rst"):
            continue
        with open(os.path.join(api_dir, page), encoding="utf-8") as f:
            text = f.read()
        for m in re.finditer(r"^\.\. autodiff-api:: *(\S+)\n((?:   :\w+:.*\n)*)",
                             text, re.M):
            opts = dict(re.findall(r":(\w+): *(.*)", m.group(2)))
            found.append((page, m.group(1), opts.get("only", "").split(),
                          opts.get("exclude", "").split()))
    return found


def undocumented(api_dir):
    """{module: [public names no page documents]} over the modules that
    some page gives to ``autodiff-api``."""
    done = {}
    for _, mod, only, exclude in api_directives(api_dir):
        names = public_names(mod)
        done.setdefault(mod, set()).update(
            only if only else [n for n in names if n not in exclude])
    return {mod: [n for n in public_names(mod) if n not in seen]
            for mod, seen in done.items()
            if any(n not in seen for n in public_names(mod))}


# -- docstrings written for help() read as reStructuredText ---------------
#
# The docstrings are plain text first (``help(ad.softsign)``): |x| is an
# absolute value, kaiming_uniform_ a name, (N, C, *) a shape.  docutils
# reads those as a substitution, a hyperlink reference and an unfinished
# emphasis, and -W fails the build.  Outside literals (``...``, roles,
# literal blocks after "::", doctest blocks) such characters are escaped;
# a matched *emphasis* or **strong** is left alone.

_LITERAL = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]*`_{0,2})")
_EMPHASIS = re.compile(r"(?<![\w*\\])(\*\*?)(?=[^\s*])(.+?)(?<=[^\s\\])\1"
                       r"(?![\w*])")
_REFNAME = re.compile(r"(?<=\w)_(?=$|[\s.,;:!?)\]'\"])")


def _escape_prose(text):
    out = []
    pos = 0
    for m in _EMPHASIS.finditer(text):
        out.append(_escape_plain(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text):
    # a '*' followed by a space starts no markup (a bullet, "2 * x")
    text = re.sub(r"(?<!\\)\*(?=\S)", r"\\*", text)
    text = re.sub(r"(?<!\\)\|", r"\\|", text)
    return _REFNAME.sub(r"\\_", text)


def escape_docstring(lines):
    """Escape, in place, the prose of a docstring's lines (see above)."""
    literal_indent = None       # inside a literal block indented past this
    prev_indent = 0
    doctest = False
    expect_literal = False
    table = False               # a paragraph that is a table or line block
    para_start = True
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped:
            doctest = table = False
            para_start = True
            continue
        starts, para_start = para_start, False
        if literal_indent is not None:
            if indent > literal_indent:
                continue
            literal_indent = None
        if expect_literal:
            expect_literal = False
            if indent > prev_indent:
                literal_indent = prev_indent
                continue
        if doctest or stripped.startswith(">>>"):
            doctest = True
            continue
        prev_indent = indent
        if stripped.endswith("::"):
            expect_literal = True
        if starts and stripped.startswith(("|", "+-", "+=")):
            table = True
        if table or stripped.startswith(".. "):
            continue
        parts = _LITERAL.split(line)
        lines[i] = "".join(p if k % 2 else _escape_prose(p)
                           for k, p in enumerate(parts))
