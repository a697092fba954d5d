"""Run each example's main() (loaded by path from ../examples) and check
what it claims."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    path = EXAMPLES / (name + ".py")
    if not path.exists():
        pytest.fail("example %s is missing" % path)
    spec = importlib.util.spec_from_file_location("example_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gradient_descent_reaches_two(capsys):
    theta, steps = load_example("gradient_descent").main(verbose=False)
    assert abs(theta - 2.0) < 1e-6
    # Each step shrinks the distance to 2 by 0.8 from |0 - 2| = 2: the first
    # step with 2 * 0.8^n < 1e-6 is n = 66.
    n = int(np.ceil(np.log(1e-6 / 2.0) / np.log(0.8)))
    assert steps == n
    assert capsys.readouterr().out == ""


def test_gradient_descent_prints_when_verbose(capsys):
    load_example("gradient_descent").main(max_steps=5, verbose=True)
    out = capsys.readouterr().out
    assert "step   1" in out and "reached theta" in out


def test_sigmoid_network_learns():
    losses, pred = load_example("sigmoid_network").main(verbose=False)
    losses = np.asarray(losses)
    assert len(losses) == 2000 and np.all(np.isfinite(losses))
    assert losses[-1] < 0.1 * losses[0]
    assert losses[-1] < 0.01
    assert np.all(np.diff(losses[::100]) < 0)      # decreasing overall
    pred = np.asarray(pred).ravel()
    assert pred.shape == (2,)
    assert pred[0] < 0.5 < pred[1]


def test_sigmoid_network_is_seeded():
    mod = load_example("sigmoid_network")
    a, _ = mod.main(epochs=50, verbose=False)
    b, _ = mod.main(epochs=50, verbose=False)
    assert a == b


def test_linear_network_loss_falls_every_epoch():
    losses = np.asarray(load_example("linear_network").main(verbose=False))
    assert len(losses) == 100
    assert np.all(np.diff(losses) < 0)
    # Closed form of the first loss: y_hat = 3 * (0.5 * 40 + 0.5 * 80) = 180.
    assert losses[0] == pytest.approx(0.5 * (180.0 - 60.0) ** 2, rel=1e-12)
    assert losses[-1] < 1e-3 * losses[0]


def test_digits_mlp_accuracy():
    pytest.importorskip("sklearn")
    acc, per_epoch, hist = load_example("digits_mlp").main(verbose=0)
    assert acc >= 0.97
    assert len(hist.epoch) == 30
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["val_accuracy"][-1] == pytest.approx(acc)
    assert per_epoch > 0


@pytest.mark.slow
def test_digits_cnn_accuracy():
    """issue 13: conv, batch norm, pooling, dropout and linear layers with
    the Trainer reach at least 98.5% on the held-out 25%."""
    pytest.importorskip("sklearn")
    acc, per_epoch, hist = load_example("digits_cnn").main(verbose=0)
    assert acc >= 0.985
    assert len(hist.epoch) == 20
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert hist["val_accuracy"][-1] == pytest.approx(acc)
    assert per_epoch > 0


def test_char_rnn_language_model(capsys):
    """issue 13: an LSTM language model on generated text; the training
    loss falls and the printed held-out cross-entropy is far below the
    unigram baseline; the sample is drawn from the model's alphabet."""
    import re
    res = load_example("char_rnn").main()
    out = capsys.readouterr().out
    m = re.search(r"held-out cross-entropy ([0-9.]+) nats/char \(unigram "
                  r"baseline ([0-9.]+)\)", out)
    assert m, out
    held, uni = float(m.group(1)), float(m.group(2))
    assert held == pytest.approx(res["held_out"], abs=5e-4)
    assert held < 0.5 and uni > 2.5
    assert res["losses"][-1] < 0.2 * res["losses"][0]
    assert res["sample"].startswith("the ") and len(res["sample"]) == 124
    assert "sample: " in out


def test_sine_gru_regression(capsys, tmp_path):
    """issue 13: a GRU predicting a noisy sine wave's next value; the
    printed held-out MSE against the clean wave is below the noise's own
    variance and far below repeating the last value; the plot is saved
    when matplotlib is there."""
    import re
    res = load_example("sine_gru").main(outdir=str(tmp_path))
    out = capsys.readouterr().out
    m = re.search(r"held-out MSE vs the clean wave ([0-9.]+) \(noise "
                  r"variance ([0-9.]+), repeating the last value ([0-9.]+)\)",
                  out)
    assert m, out
    mse, noise, last = (float(m.group(i)) for i in (1, 2, 3))
    assert mse == pytest.approx(res["mse"], abs=5e-5)
    assert mse < noise and mse < 0.1 * last
    assert res["losses"][-1] < 0.2 * res["losses"][0]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert res["path"] is None
    else:
        assert_pngs([res["path"]], tmp_path)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_pngs(paths, tmp_path):
    assert paths
    for p in paths:
        p = pathlib.Path(p)
        assert p.parent == tmp_path, p
        assert p.stat().st_size > 1000, p
        with open(p, "rb") as fh:
            assert fh.read(8) == PNG_MAGIC, p


def test_derivative_of_polynomial(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    res = load_example("derivative_of_polynomial").main(outdir=tmp_path)
    out = capsys.readouterr().out
    assert_pngs(res["paths"], tmp_path)
    np.testing.assert_allclose(res["grad"], 2 * res["x"] + 3, rtol=0,
                               atol=1e-12)
    assert len(res["x"]) == 2001
    # the forward quotient of x² + 3x + 2 is 2x + 3 + h exactly, up to
    # rounding: the discrepancy is h = 1e-5
    assert res["forward_difference_error"] == pytest.approx(1e-5, rel=1e-3)
    assert "forward difference" in out
    try:
        import sympy  # noqa: F401
    except ImportError:
        assert res["sympy_error"] is None and "sympy" in out
    else:
        assert res["sympy_error"] < 1e-12
        assert "autodiff - sympy" in out


def test_tangents(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    res = load_example("tangents").main(outdir=tmp_path)
    out = capsys.readouterr().out
    assert_pngs(res["paths"], tmp_path)
    assert [pathlib.Path(p).name for p in res["paths"]] == [
        "tangent_line.png", "tangent_plane.png"]
    assert res["slope"] == pytest.approx(2.0, abs=1e-12)
    assert res["gradient"] == pytest.approx((2.0, 2.0), abs=1e-12)
    assert "x = 1: 2\n" in out and "(1, 1): (2, 2)\n" in out


def test_tanh_derivatives(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    res = load_example("tanh_derivatives").main(outdir=tmp_path)
    out = capsys.readouterr().out
    assert_pngs(res["paths"], tmp_path)
    assert res["second_derivative_error"] < 1e-12
    assert res["third_derivative_error"] < 1e-12
    assert "tanh''" in out and "tanh'''" in out


def test_plot_examples_quiet(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    for name in ("derivative_of_polynomial", "tangents", "tanh_derivatives"):
        load_example(name).main(outdir=tmp_path, verbose=False)
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "derivative_of_polynomial.png", "tangent_line.png",
        "tangent_plane.png", "tanh_derivatives.png"]


@pytest.mark.parametrize("name", ["derivative_of_polynomial", "tangents",
                                  "tanh_derivatives"])
def test_plot_example_runs_as_script(name, tmp_path):
    pytest.importorskip("matplotlib")
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, str(EXAMPLES / (name + ".py")),
                           str(tmp_path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "saved" in proc.stdout
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())


def test_tiny_transformer_sorts_digits(capsys):
    """issue 13: a two-layer transformer encoder (compiled training step)
    sorts 8-digit sequences to at least 95% held-out token accuracy."""
    acc, seconds = load_example("tiny_transformer").main(verbose=False)
    assert acc >= 0.95
    assert capsys.readouterr().out == ""
