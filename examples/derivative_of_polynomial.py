"""The derivative of f(x) = x² + 3x + 2 over [-10, 10], three ways.

ad.elementwise_grad gives f'(x) = 2x + 3 at all 2001 points in one
backward pass.  It is compared with sympy's symbolic derivative (when
sympy is installed) and with the forward-difference quotient
(f(x + h) - f(x)) / h for h = 1e-5, whose error here is exactly h (the
f''/2 · h term) plus rounding.  The plot of f and f' is saved as
derivative_of_polynomial.png in the output directory (first argument,
default the current directory).
"""
import os
import sys

import numpy as np

import autodiff as ad
from autodiff.plot import plot_derivatives


def f(x):
    return x ** 2 + 3 * x + 2


def main(outdir=".", num=2001, h=1e-5, verbose=True):
    xs = np.linspace(-10.0, 10.0, num)
    df = ad.elementwise_grad(f)(xs)

    try:
        import sympy
    except ImportError:
        sympy_err = None
        if verbose:
            print("sympy is not installed: skipping the symbolic comparison")
    else:
        x = sympy.Symbol("x")
        dexpr = sympy.diff(f(x), x)
        d_sym = np.broadcast_to(sympy.lambdify(x, dexpr, "numpy")(xs),
                                xs.shape)
        sympy_err = float(np.max(np.abs(df - d_sym)))
        if verbose:
            print("sympy: f'(x) = %s" % dexpr)
            print("max |autodiff - sympy|              = %.3e" % sympy_err)

    fd = ad.numerical_grad(f, xs, eps=h, method="forward", elementwise=True)
    fd_err = float(np.max(np.abs(df - fd)))
    if verbose:
        print("max |autodiff - forward difference| = %.3e  (h = %g)"
              % (fd_err, h))

    path = os.path.join(outdir, "derivative_of_polynomial.png")
    plot_derivatives(f, (-10.0, 10.0), orders=(0, 1), num=num, path=path,
                     title="f(x) = x² + 3x + 2 and f'(x) = 2x + 3")
    if verbose:
        print("saved %s" % path)
    return {"x": xs, "grad": df, "sympy_error": sympy_err,
            "forward_difference_error": fd_err, "paths": [path]}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
