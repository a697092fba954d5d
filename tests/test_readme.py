"""The README's Python examples run and print what they claim, and so do
the code blocks of the Markdown pages under docs/ that show output.

A comment after a ``print(...)`` claims the printed output when it starts
with a value: a number, a list ``[...]``, ``True``/``False``, a
``tensor(...)``, or ``~`` / ``≈`` and a number.  The claim runs to the end of the comment or to
`` = ``, `` (``, ``, `` followed by prose, ``;``.  Its numbers are compared
with the first numbers printed: within half a unit of the claim's last
digit (the claim is the printed value rounded), one unit after ``~`` or
``≈``, or the tolerance stated after ``±``; its other tokens (``True``)
as text.  Comments that start with prose (``# 2w``, ``# ∂g/∂x = 2xy``)
claim nothing.
"""
import ast
import contextlib
import glob
import io
import os
import re
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
README = os.path.join(ROOT, "README.md")
DOC_PAGES = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def python_blocks(path=README):
    if not os.path.exists(path):
        return []
    text = open(path, encoding="utf-8").read()
    blocks = re.findall(r"^( *)```python\n(.*?)^ *```", text, re.S | re.M)
    return [textwrap.dedent(code) for _, code in blocks]


_NUM = r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?!\w)"
_CLAIM = re.compile(
    r"^(?P<approx>[~≈]\s*)?"
    r"(?P<value>(?:tensor\(.*\)|\[.*\]|\(?%s\)?|True|False)"
    r"(?:,? +(?:\[.*\]|%s|True|False))*)"
    r"(?:\s*\(?±\s*(?P<tol>%s)\)?)?"
    r"\s*(?:$|=|\(|;|,\s*[^\s\d\[-])" % (_NUM, _NUM, _NUM))


def parse_claim(comment):
    """(text, numbers, tolerances) claimed by a comment, or None."""
    m = _CLAIM.match(comment.strip())
    if not m:
        return None
    value = m.group("value")
    nums = re.findall(_NUM, value)
    tols = []
    for n in nums:
        if m.group("tol"):
            tols.append(float(m.group("tol")))
            continue
        mant = n.lower().split("e")[0]
        exp = int(n.lower().split("e")[1]) if "e" in n.lower() else 0
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        unit = 10.0 ** (exp - decimals)
        tols.append(unit if m.group("approx") else 0.5 * unit * (1 + 1e-9))
    words = re.sub(_NUM, " ", value).replace("[", " ").replace("]", " ")
    words = [w for w in re.split(r"[\s,()]+", words) if w]
    return value, [float(n) for n in nums], tols, words


def claims(code):
    """{line: (print statement's first line, comment)} of the print calls
    whose last line carries a comment."""
    comments = {}
    for i, line in enumerate(code.split("\n"), 1):
        if "#" in line:
            # a '#' inside a string literal is not a comment; the blocks
            # keep '#' out of their printed strings
            comments[i] = line.split("#", 1)[1]
    out = {}
    for node in ast.walk(ast.parse(code)):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "print"
                and node.end_lineno in comments):
            out[node.end_lineno] = (node.lineno, comments[node.end_lineno])
    return out


def run_recording_prints(code, name):
    """Run a block; returns {line of the print call: its last output}."""
    printed = {}

    def recording_print(*args, sep=" ", end="\n", file=None, flush=False):
        if file not in (None, sys.stdout):
            return print(*args, sep=sep, end=end, file=file, flush=flush)
        text = sep.join(str(a) for a in args)
        printed[sys._getframe(1).f_lineno] = text
        return None

    ns = {"print": recording_print}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, name, "exec"), ns)
    return printed


def check_claims(code, name):
    """Run code and compare every claimed print with its output; returns
    how many claims it checked."""
    printed = run_recording_prints(code, name)
    checked = 0
    for end, (start, comment) in sorted(claims(code).items()):
        claim = parse_claim(comment)
        if claim is None:
            continue
        value, nums, tols, words = claim
        got = [printed[k] for k in range(start, end + 1) if k in printed]
        assert got, "%s line %d: the print did not run" % (name, end)
        text = " ".join(got[-1].split())
        got_nums = [float(n) for n in re.findall(_NUM, text)]
        where = "%s line %d: printed %r, the comment claims %r" % (
            name, end, text, value)
        assert len(got_nums) >= len(nums), where
        for want, have, tol in zip(nums, got_nums, tols):
            assert abs(have - want) <= tol, where + " (tolerance %g)" % tol
        got_words = re.sub(_NUM, " ", text)
        got_words = [w for w in re.split(r"[\s,()\[\]]+", got_words) if w]
        assert got_words[:len(words)] == words, where
        checked += 1
    return checked


def _claim_blocks():
    out = []
    for path in [README] + DOC_PAGES:
        for i, code in enumerate(python_blocks(path)):
            if any(parse_claim(c) for _, c in claims(code).values()):
                out.append(pytest.param(path, i, id="%s-%d" % (
                    os.path.basename(path), i)))
    return out


@pytest.mark.parametrize("path, i", _claim_blocks())
def test_printed_values_match_the_comments(path, i, tmp_path, monkeypatch):
    """Every value a README or docs/*.md block claims to print is printed
    (the blocks with claims run; docs fragments without any do not)."""
    monkeypatch.chdir(tmp_path)
    name = "%s block %d" % (os.path.basename(path), i)
    assert check_claims(python_blocks(path)[i], name) > 0


def test_claim_parser():
    assert parse_claim(" [-17.  -16.8 -16.6] = 2x + 3")[1] == [-17, -16.8,
                                                                 -16.6]
    value, nums, tols, words = parse_claim(" ~4e-4")
    assert nums == [4e-4] and tols == [pytest.approx(1e-4)]
    assert parse_claim(" 0.97 (± 0.01)")[2] == [0.01]
    assert parse_claim(" 0.97")[2] == [pytest.approx(0.005)]
    assert parse_claim(" True, the refreshed loss")[3] == ["True"]
    assert parse_claim(" [[1.0, 2.0], [3.0, 4.5]]")[1] == [1, 2, 3, 4.5]
    assert parse_claim(" tensor([0., 1.], dtype=float64)")[3] == [
        "tensor", "dtype=float64"]
    assert parse_claim(" 1 - t², -2t(1 - t²)") is None
    assert parse_claim(" 2w") is None
    assert parse_claim(" ∂g/∂x = 2xy = 1.5") is None
    code = "x = 2\nprint(x * 0.5)  # 1.0\nprint(x)  # 3\n"
    with pytest.raises(AssertionError, match="claims '3'"):
        check_claims(code, "bad")
    assert check_claims(code.replace("# 3", "# 2"), "good") == 2


@pytest.mark.parametrize("i", range(len(python_blocks())))
def test_readme_block_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)             # blocks may write files
    code = python_blocks()[i]
    buf = io.StringIO()
    ns = {}
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "README block %d" % i, "exec"), ns)
    assert buf.getvalue().strip(), "README block %d printed nothing" % i


def test_readme_claims():
    blocks = python_blocks()
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(blocks[0], ns)
    x = ns["x"]
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 3, rtol=1e-12)
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(blocks[1], ns)
    assert ns["x"].grad.item() == pytest.approx(2 * 1.5 * 0.5)
    assert ns["y"].grad.item() == pytest.approx(1.5 ** 2 + np.cos(0.5))
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(blocks[3], ns)
    assert ns["loss"].item() < 1e-3


def test_readme_trainer_claim(tmp_path, monkeypatch):
    """The Trainer example prints the accuracy its comment states."""
    monkeypatch.chdir(tmp_path)
    block = next(b for b in python_blocks() if "ad.Trainer(" in b)
    claim = float(re.search(r"print\(round\(history\[\"val_accuracy\"\]"
                            r"\[-1\], 2\)\)\s+# ([0-9.]+)", block).group(1))
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(block, ns)
    assert abs(ns["history"]["val_accuracy"][-1] - claim) <= 0.01
    assert (tmp_path / "run.npz").exists()


def test_demo_runs():
    from autodiff import demo
    with contextlib.redirect_stdout(io.StringIO()):
        worst = demo.derivative_at_many_points()
        gx, gy = demo.partial_derivatives()
        losses, pred = demo.train_sigmoid_network(epochs=500)
    assert worst < 1e-12
    assert gx == pytest.approx(1.5) and gy == pytest.approx(2.25 + np.cos(0.5))
    assert losses[-1] < losses[0]
    assert pred[0, 0] < 0.5 < pred[1, 0]
