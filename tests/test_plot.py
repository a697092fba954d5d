"""autodiff.plot: every figure renders to a PNG, and what it draws equals
the analytic derivatives."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import autodiff as ad                                   # noqa: E402
from autodiff import plot as adplot                     # noqa: E402
from refs import SELU_ALPHA, SELU_SCALE                 # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def lines_by_label(ax):
    return {ln.get_label(): ln for ln in ax.get_lines()}


# ------------------------------------------------------- plot_derivatives

def test_derivatives_of_sin(tmp_path):
    path = tmp_path / "sin.png"
    fig = adplot.plot_derivatives(ad.sin, (-np.pi, np.pi), orders=(0, 1, 2),
                                  num=201, path=path)
    assert_png(path)
    assert len(fig.axes) == 1
    lines = lines_by_label(fig.axes[0])
    assert list(lines) == ["f", "f'", "f''"]
    x = np.linspace(-np.pi, np.pi, 201)
    for label, expected in (("f", np.sin(x)), ("f'", np.cos(x)),
                            ("f''", -np.sin(x))):
        xd, yd = lines[label].get_data()
        np.testing.assert_allclose(xd, x, rtol=0, atol=1e-15)
        np.testing.assert_allclose(yd, expected, rtol=0, atol=1e-10)
    data = fig.autodiff_data
    np.testing.assert_allclose(data["x"], x)
    assert sorted(data["derivatives"]) == [0, 1, 2]
    np.testing.assert_allclose(data["derivatives"][2], -np.sin(x), atol=1e-10)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["f", "f'", "f''"]


def test_derivative_labels_and_high_orders():
    assert [adplot.derivative_label(k) for k in range(6)] == [
        "f", "f'", "f''", "f'''", "f^(4)", "f^(5)"]
    fig = adplot.plot_derivatives(ad.exp, (-1, 1), orders=(4, 1), num=21,
                                  name="exp")
    lines = lines_by_label(fig.axes[0])
    assert list(lines) == ["exp^(4)", "exp'"]
    x = np.linspace(-1, 1, 21)
    for ln in lines.values():
        np.testing.assert_allclose(ln.get_ydata(), np.exp(x), rtol=1e-12)


def test_derivatives_of_polynomial_and_constant():
    fig = adplot.plot_derivatives(lambda x: x ** 3 - 2 * x, (-2, 2),
                                  orders=(0, 1, 2, 3, 4), num=41)
    x = np.linspace(-2, 2, 41)
    d = fig.autodiff_data["derivatives"]
    np.testing.assert_allclose(d[0], x ** 3 - 2 * x, atol=1e-12)
    np.testing.assert_allclose(d[1], 3 * x ** 2 - 2, atol=1e-12)
    np.testing.assert_allclose(d[2], 6 * x, atol=1e-12)
    np.testing.assert_allclose(d[3], 6.0, atol=1e-12)
    np.testing.assert_allclose(d[4], 0.0, atol=1e-12)
    # a function that ignores x is drawn as a constant with f' = 0
    fig = adplot.plot_derivatives(lambda x: 3.0, (0, 1), orders=(0, 1),
                                  num=5)
    d = fig.autodiff_data["derivatives"]
    np.testing.assert_array_equal(d[0], np.full(5, 3.0))
    np.testing.assert_array_equal(d[1], np.zeros(5))


def test_derivatives_on_given_axes(tmp_path):
    from matplotlib.figure import Figure
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    out = adplot.plot_derivatives(ad.tanh, (-2, 2), orders=(1,), num=11,
                                  ax=ax2, title="tanh'",
                                  path=tmp_path / "two.png")
    assert out is fig
    assert ax1.get_lines() == [] and len(ax2.get_lines()) == 1
    assert ax2.get_title() == "tanh'"
    assert_png(tmp_path / "two.png")


def test_derivatives_saves_other_formats(tmp_path):
    adplot.plot_derivatives(ad.sin, (0, 1), num=11, path=tmp_path / "s.svg")
    assert b"<svg" in (tmp_path / "s.svg").read_bytes()[:500]


@pytest.mark.parametrize("kwargs", [
    {"x_range": (1, 0)}, {"x_range": (0, np.inf)}, {"x_range": "ab"},
    {"x_range": (0, 1, 2)}, {"num": 1}, {"num": 2.5}, {"orders": ()},
    {"orders": (-1,)}, {"orders": (1.5,)}, {"orders": (True,)},
])
def test_derivatives_bad_arguments(kwargs):
    args = {"x_range": (0, 1)}
    args.update(kwargs)
    with pytest.raises(ValueError):
        adplot.plot_derivatives(ad.sin, **args)


# ------------------------------------------------------ plot_tangent_line

def test_tangent_line_of_cube(tmp_path):
    path = tmp_path / "tangent.png"
    fig = adplot.plot_tangent_line(lambda x: x ** 3, 0.5, (-1, 1), num=101,
                                   path=path)
    assert_png(path)
    data = fig.autodiff_data
    assert data["slope"] == pytest.approx(0.75, abs=1e-14)
    assert (data["x0"], data["y0"]) == (0.5, pytest.approx(0.125, abs=1e-15))
    lines = lines_by_label(fig.axes[0])
    assert set(lines) == {"f", "tangent", "point"}
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(lines["f"].get_ydata(), x ** 3, atol=1e-15)
    xt, yt = lines["tangent"].get_data()
    np.testing.assert_allclose(yt, 0.75 * (xt - 0.5) + 0.125, atol=1e-14)
    # the line passes through (0.5, 0.125) with slope 0.75
    slope = np.polyfit(xt, yt, 1)[0]
    assert slope == pytest.approx(0.75, rel=1e-12)
    assert np.interp(0.5, xt, yt) == pytest.approx(0.125, abs=1e-12)
    xp, yp = lines["point"].get_data()
    assert list(xp) == [0.5] and list(yp) == [pytest.approx(0.125)]


def test_tangent_line_at_a_tensor_point():
    fig = adplot.plot_tangent_line(ad.sin, ad.tensor(0.0, dtype=ad.float64),
                                   (-1, 1), num=11)
    assert fig.autodiff_data["slope"] == pytest.approx(1.0)
    assert fig.autodiff_data["y0"] == 0.0


# ----------------------------------------------------- plot_tangent_plane

def test_tangent_plane_of_paraboloid(tmp_path):
    path = tmp_path / "plane.png"
    fig = adplot.plot_tangent_plane(lambda x, y: x ** 2 + y ** 2, (1, 1),
                                    (-2, 2), num=15, path=path)
    assert_png(path)
    d = fig.autodiff_data
    X, Y = d["X"], d["Y"]
    assert X.shape == Y.shape == d["Z"].shape == d["plane"].shape == (15, 15)
    np.testing.assert_allclose(X[0], np.linspace(-2, 2, 15))
    np.testing.assert_allclose(Y[:, 0], np.linspace(-2, 2, 15))
    np.testing.assert_allclose(d["Z"], X ** 2 + Y ** 2, atol=1e-14)
    np.testing.assert_allclose(d["plane"], 2 + 2 * (X - 1) + 2 * (Y - 1),
                               atol=1e-13)
    assert d["gradient"] == pytest.approx((2.0, 2.0), abs=1e-14)
    assert d["point"] == pytest.approx((1.0, 1.0, 2.0), abs=1e-14)
    assert fig.axes[0].name == "3d"


def test_tangent_plane_separate_ranges_and_mixed_partials():
    def f(x, y):
        return ad.sin(x) * ad.exp(y)
    fig = adplot.plot_tangent_plane(f, (0.3, -0.2), ((-1, 1), (-2, 0)),
                                    num=7)
    d = fig.autodiff_data
    X, Y = d["X"], d["Y"]
    np.testing.assert_allclose(X[0], np.linspace(-1, 1, 7))
    np.testing.assert_allclose(Y[:, 0], np.linspace(-2, 0, 7))
    fx, fy = np.cos(0.3) * np.exp(-0.2), np.sin(0.3) * np.exp(-0.2)
    assert d["gradient"] == pytest.approx((fx, fy), rel=1e-12)
    np.testing.assert_allclose(
        d["plane"], np.sin(0.3) * np.exp(-0.2) + fx * (X - 0.3)
        + fy * (Y + 0.2), atol=1e-12)


def test_tangent_plane_bad_arguments():
    from matplotlib.figure import Figure

    def f(x, y):
        return x * y
    with pytest.raises(ValueError):
        adplot.plot_tangent_plane(f, (1, 2, 3), (-1, 1))
    with pytest.raises(ValueError):
        adplot.plot_tangent_plane(f, (0, 0), ((-1, 1), (1, -1)))
    with pytest.raises(ValueError, match="3-D"):
        adplot.plot_tangent_plane(f, (0, 0), (-1, 1),
                                  ax=Figure().add_subplot())


# ------------------------------------------------------- plot_activations

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


ACTIVATION_DERIVATIVES = {
    "sigmoid": lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "relu": lambda x: (x > 0).astype(float),
    "leaky_relu": lambda x: np.where(x > 0, 1.0, 0.01),
    "elu": lambda x: np.where(x > 0, 1.0, np.exp(x)),
    "softplus": _sigmoid,
    "silu": lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
}


def test_activations(tmp_path):
    from scipy.special import erf
    path = tmp_path / "act.png"
    fig = adplot.plot_activations(path=path, num=200)
    assert_png(path)
    names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus",
             "gelu", "silu"]
    assert len(fig.axes) == len(names)
    x = np.linspace(-4, 4, 200)
    assert not np.any(x == 0)        # the kinks are off the grid
    expected = dict(ACTIVATION_DERIVATIVES)
    expected["gelu"] = lambda x: (0.5 * (1 + erf(x / np.sqrt(2)))
                                  + x * np.exp(-x ** 2 / 2)
                                  / np.sqrt(2 * np.pi))
    for ax, nm in zip(fig.axes, names):
        assert ax.get_title() == nm
        lines = lines_by_label(ax)
        assert list(lines) == [nm, nm + "'"]
        np.testing.assert_allclose(lines[nm + "'"].get_xdata(), x)
        np.testing.assert_allclose(lines[nm + "'"].get_ydata(),
                                   expected[nm](x), rtol=1e-9, atol=1e-12,
                                   err_msg=nm)
        np.testing.assert_allclose(fig.autodiff_data["derivatives"][nm],
                                   expected[nm](x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lines_by_label(fig.axes[0])["sigmoid"]
                               .get_ydata(), _sigmoid(x), rtol=1e-12)
    np.testing.assert_allclose(fig.autodiff_data["values"]["relu"],
                               np.maximum(x, 0))


def test_activations_selected_and_selu():
    fig = adplot.plot_activations("selu", x_range=(-1, 1), num=11)
    assert len(fig.axes) == 1
    x = np.linspace(-1, 1, 11)
    alpha, scale = SELU_ALPHA, SELU_SCALE
    np.testing.assert_allclose(
        fig.autodiff_data["derivatives"]["selu"],
        np.where(x > 0, scale, scale * alpha * np.exp(x)), rtol=1e-7)
    fig = adplot.plot_activations(["tanh", "relu", "elu"], num=11, ncols=2)
    assert [ax.get_title() for ax in fig.axes] == ["tanh", "relu", "elu"]


def test_activations_unknown_name():
    with pytest.raises(ValueError) as exc:
        adplot.plot_activations(("sigmoid", "swish"))
    msg = str(exc.value)
    assert "'swish'" in msg
    for nm in adplot.ACTIVATIONS:
        assert nm in msg
    with pytest.raises(ValueError):
        adplot.plot_activations(())


# ---------------------------------------------------------- global state

def test_pyplot_untouched():
    # the module builds Figures directly: it never imports pyplot itself
    code = ("import sys, autodiff.plot as p\n"
            "p.plot_activations(('relu',), num=5)\n"
            "p.plot_tangent_plane(lambda x, y: x * y, (0, 0), (-1, 1),\n"
            "                     num=3)\n"
            "print('matplotlib.pyplot' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# ----------------------------------------------------- missing matplotlib

def test_import_without_matplotlib(monkeypatch):
    saved = {k: v for k, v in sys.modules.items()
             if k == "autodiff.plot" or k == "matplotlib"
             or k.startswith("matplotlib.") or k.startswith("mpl_toolkits")}
    for k in saved:
        monkeypatch.delitem(sys.modules, k)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    try:
        with pytest.raises(ImportError) as exc:
            import autodiff.plot  # noqa: F401
        assert str(exc.value) == ("autodiff.plot needs matplotlib: pip "
                                  "install 'autodiff-tape[plot]'")
        assert "autodiff.plot" not in sys.modules
    finally:
        monkeypatch.undo()
    # restored: the real module is back and usable
    assert sys.modules["autodiff.plot"] is adplot
    import autodiff.plot
    assert autodiff.plot.plot_derivatives is adplot.plot_derivatives


def test_import_without_matplotlib_subprocess():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "try:\n"
            "    import autodiff.plot\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("autodiff.plot needs matplotlib: pip "
                                   "install 'autodiff-tape[plot]'")
