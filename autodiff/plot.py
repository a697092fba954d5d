"""Pictures of derivatives; needs matplotlib, the ``plot`` extra
(``pip install 'autodiff-tape[plot]'``).

    from autodiff.plot import plot_derivatives
    import autodiff as ad
    fig = plot_derivatives(ad.tanh, (-4, 4), orders=(0, 1, 2), path="tanh.png")

Every function draws on a fresh ``matplotlib.figure.Figure`` with the Agg
canvas -- never pyplot -- so it works headless and leaves matplotlib's
global state alone.  Each returns the Figure; ``path`` also saves it (the
format follows the extension).  The plotted numbers are kept on the figure
as ``fig.autodiff_data`` (a dict) and every line has a label, so a caller
can check what was drawn.

The functions passed in receive Tensors and should use ``ad`` ops or
Tensor operators, as for ``ad.grad``.
"""
import numbers
import os

import numpy as np

try:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
except ImportError as e:
    raise ImportError("autodiff.plot needs matplotlib: pip install "
                      "'autodiff-tape[plot]'") from e

from . import _creation
from . import _engine as E
from .functional import elementwise_grad, value_and_grad

__all__ = ["plot_derivatives", "plot_tangent_line", "plot_tangent_plane",
           "plot_activations", "ACTIVATIONS", "derivative_label"]

Tensor = E.Tensor

# name -> elementwise function (library defaults for the parameters:
# leaky_relu negative_slope=0.01, elu alpha=1.0)
ACTIVATIONS = {
    "sigmoid": E.sigmoid,
    "tanh": E.tanh,
    "relu": E.relu,
    "leaky_relu": lambda x: E.leaky_relu(x, 0.01),
    "elu": lambda x: E.elu(x, 1.0),
    "selu": E.selu,
    "softplus": E.softplus,
    "gelu": E.gelu,
    "silu": E.silu,
}


def derivative_label(order, name="f"):
    """The label of the order-th derivative of name: f, f', f'', f''',
    then f^(4), f^(5), ..."""
    if order <= 3:
        return name + "'" * order
    return "%s^(%d)" % (name, order)


# ---------------------------------------------------------------- helpers

def _new_figure(figsize):
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path, data):
    fig.autodiff_data = data
    if path is not None:
        fig.savefig(os.fspath(path))
    return fig


def _range(r, what):
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ValueError("%s must be a pair (min, max) of numbers, got %r"
                         % (what, r)) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError("%s must be finite with min < max, got %r"
                         % (what, r))
    return lo, hi


def _num(num, least=2):
    if (not isinstance(num, numbers.Integral) or isinstance(num, bool)
            or num < least):
        raise ValueError("num must be an integer >= %d, got %r"
                         % (least, num))
    return int(num)


def _as_array(v, shape):
    """v (a Tensor, array or number) as a float64 array of shape (a
    constant is broadcast)."""
    v = v.numpy() if isinstance(v, Tensor) else v
    return np.array(np.broadcast_to(np.asarray(v, dtype=np.float64), shape))


def _values(f, *arrays):
    """f on float64 Tensors holding arrays, as a float64 array of the
    arrays' shape."""
    return _as_array(
        f(*(_creation.tensor(a, dtype=E.float64) for a in arrays)),
        arrays[0].shape)


def _derivatives(f, xs, orders):
    """{order: f^(order)(xs)} by nested elementwise_grad."""
    res = {}
    d = f
    for k in range(max(orders) + 1):
        if k in orders:
            res[k] = (_values(f, xs) if k == 0
                      else _as_array(d(xs), xs.shape))
        d = elementwise_grad(d)
    return res


def _orders(orders):
    if isinstance(orders, numbers.Integral):
        orders = (orders,)
    orders = tuple(orders)
    if not orders:
        raise ValueError("orders must name at least one derivative order")
    for k in orders:
        if (not isinstance(k, numbers.Integral) or isinstance(k, bool)
                or k < 0):
            raise ValueError("orders must be non-negative integers, got %r"
                             % (orders,))
    return tuple(int(k) for k in orders)


# ---------------------------------------------------------------- plots

def plot_derivatives(f, x_range, orders=(0, 1, 2), num=400, path=None,
                     ax=None, title=None, name="f"):
    """f and its derivatives of the given orders over
    ``np.linspace(*x_range, num)`` on one axes, each by nested
    ``ad.elementwise_grad``.  Lines are labelled "f", "f'", "f''", "f'''",
    "f^(4)", ... (``name`` replaces "f").  Draws on ``ax`` if given, else
    on a new figure.  ``fig.autodiff_data``: {"x": grid, "derivatives":
    {order: values}}."""
    orders = _orders(orders)
    lo, hi = _range(x_range, "x_range")
    xs = np.linspace(lo, hi, _num(num))
    ders = _derivatives(f, xs, orders)
    fig = _new_figure((6.4, 4.4)) if ax is None else ax.figure
    if ax is None:
        ax = fig.add_subplot(1, 1, 1)
    for k in orders:
        ax.plot(xs, ders[k], label=derivative_label(k, name))
    ax.grid(alpha=0.3)
    ax.set_xlabel("x")
    ax.set_xlim(lo, hi)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return _finish(fig, path, {"x": xs, "derivatives": ders})


def plot_tangent_line(f, x0, x_range, num=400, path=None, ax=None,
                      title=None, name="f"):
    """The curve y = f(x) over x_range, the point (x0, f(x0)) and the
    tangent y = f'(x0)(x - x0) + f(x0), with f'(x0) from ``ad.grad``.
    Lines: "f" (``name``), "tangent", "point".  ``fig.autodiff_data``:
    {"x", "y", "tangent", "x0", "y0", "slope"}."""
    lo, hi = _range(x_range, "x_range")
    x0 = float(x0)
    xs = np.linspace(lo, hi, _num(num))
    ys = _values(f, xs)
    y0, slope = value_and_grad(f)(x0)
    y0, slope = float(y0), float(slope)
    tangent = slope * (xs - x0) + y0
    fig = _new_figure((6.4, 4.4)) if ax is None else ax.figure
    if ax is None:
        ax = fig.add_subplot(1, 1, 1)
    ax.plot(xs, ys, label=name)
    ax.plot(xs, tangent, "--", label="tangent")
    ax.plot([x0], [y0], "o", color="black", label="point")
    ax.grid(alpha=0.3)
    ax.set_xlabel("x")
    ax.set_xlim(lo, hi)
    ax.legend()
    ax.set_title(title if title is not None else
                 "tangent at x0 = %g: slope %.6g" % (x0, slope))
    return _finish(fig, path, {"x": xs, "y": ys, "tangent": tangent,
                               "x0": x0, "y0": y0, "slope": slope})


def plot_tangent_plane(f, point, xy_range, num=40, path=None, ax=None,
                       title=None):
    """The surface z = f(x, y) over a num x num grid and its tangent plane
    z = f(p) + fx (x - px) + fy (y - py) at ``point`` = (px, py), with
    (fx, fy) from ``ad.grad(f, argnums=(0, 1))``.  xy_range is
    ((xmin, xmax), (ymin, ymax)) or one (min, max) for both.  f takes x
    and y and must act elementwise.  ``ax`` must be a 3-D axes if given.
    ``fig.autodiff_data``: {"X", "Y", "Z", "plane", "point": (px, py, pz),
    "gradient": (fx, fy)}."""
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers "3d")
    from matplotlib.patches import Patch

    try:
        px, py = (float(v) for v in point)
    except (TypeError, ValueError):
        raise ValueError("point must be a pair (x, y) of numbers, got %r"
                         % (point,)) from None
    try:
        pair = len(xy_range) == 2 and all(
            not isinstance(r, numbers.Number) for r in xy_range)
    except TypeError:
        pair = False
    if pair:
        xr = _range(xy_range[0], "xy_range[0]")
        yr = _range(xy_range[1], "xy_range[1]")
    else:
        xr = yr = _range(xy_range, "xy_range")
    n = _num(num)
    X, Y = np.meshgrid(np.linspace(*xr, n), np.linspace(*yr, n))
    Z = _values(f, X, Y)
    pz, (fx, fy) = value_and_grad(f, argnums=(0, 1))(px, py)
    pz, fx, fy = float(pz), float(fx), float(fy)
    plane = pz + fx * (X - px) + fy * (Y - py)

    if ax is None:
        fig = _new_figure((7.0, 5.6))
        ax = fig.add_subplot(1, 1, 1, projection="3d")
    else:
        if getattr(ax, "name", None) != "3d":
            raise ValueError("plot_tangent_plane needs a 3-D axes "
                             "(projection='3d')")
        fig = ax.figure
    ax.plot_surface(X, Y, Z, cmap="viridis", alpha=0.75, linewidth=0)
    ax.plot_surface(X, Y, plane, color="tab:orange", alpha=0.45,
                    linewidth=0)
    ax.scatter([px], [py], [pz], color="black", s=30, depthshade=False)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    ax.legend(handles=[Patch(color=matplotlib.colormaps["viridis"](0.6),
                             label="f(x, y)"),
                       Patch(color="tab:orange", label="tangent plane")],
              loc="upper left")
    ax.set_title(title if title is not None else
                 "tangent plane at (%g, %g): gradient (%.6g, %.6g)"
                 % (px, py, fx, fy))
    return _finish(fig, path, {"X": X, "Y": Y, "Z": Z, "plane": plane,
                               "point": (px, py, pz),
                               "gradient": (fx, fy)})


def plot_activations(names=("sigmoid", "tanh", "relu", "leaky_relu", "elu",
                            "softplus", "gelu", "silu"),
                     x_range=(-4, 4), num=400, path=None, ncols=4):
    """A grid of subplots, one per activation in ``names`` (keys of
    ``ACTIVATIONS``; leaky_relu uses slope 0.01 and elu alpha 1), each
    with its derivative from ``ad.elementwise_grad``: lines "<name>" and
    "<name>'", subplot i is names[i].  ``fig.autodiff_data``: {"x",
    "values": {name: array}, "derivatives": {name: array}}."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise ValueError("plot_activations: names is empty; choose from %s"
                         % ", ".join(ACTIVATIONS))
    unknown = [nm for nm in names if nm not in ACTIVATIONS]
    if unknown:
        raise ValueError("plot_activations: unknown activation %s; valid "
                         "names are %s" % (", ".join(map(repr, unknown)),
                                           ", ".join(ACTIVATIONS)))
    lo, hi = _range(x_range, "x_range")
    xs = np.linspace(lo, hi, _num(num))
    ncols = max(1, min(int(ncols), len(names)))
    nrows = -(-len(names) // ncols)
    fig = _new_figure((3.2 * ncols, 2.8 * nrows))
    values, ders = {}, {}
    for i, nm in enumerate(names):
        f = ACTIVATIONS[nm]
        d = _derivatives(f, xs, (0, 1))
        values[nm], ders[nm] = d[0], d[1]
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.plot(xs, d[0], label=nm)
        ax.plot(xs, d[1], "--", label=nm + "'")
        ax.grid(alpha=0.3)
        ax.set_xlim(lo, hi)
        ax.set_title(nm)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return _finish(fig, path, {"x": xs, "values": values,
                               "derivatives": ders})
