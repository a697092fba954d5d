"""The README's Python examples run and print what they claim."""
import contextlib
import io
import os
import re
import textwrap

import numpy as np
import pytest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def python_blocks():
    if not os.path.exists(README):
        return []
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"^( *)```python\n(.*?)^ *```", text, re.S | re.M)
    return [textwrap.dedent(code) for _, code in blocks]


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
