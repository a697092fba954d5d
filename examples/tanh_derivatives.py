"""Second and third derivatives of tanh by nesting ad.elementwise_grad.

With t = tanh x:  tanh' = 1 - t²,  tanh'' = -2t(1 - t²) and
tanh''' = (6t² - 2)(1 - t²).  The nested derivatives are compared with
these closed forms over [-4, 4], and tanh with its first three
derivatives is plotted on one figure (tanh_derivatives.png in the output
directory: first argument, default the current directory).
"""
import os
import sys

import numpy as np

import autodiff as ad
from autodiff.plot import plot_derivatives


def main(outdir=".", num=2001, verbose=True):
    xs = np.linspace(-4.0, 4.0, num)
    d1 = ad.elementwise_grad(ad.tanh)
    d2 = ad.elementwise_grad(d1)
    d3 = ad.elementwise_grad(d2)

    t = np.tanh(xs)
    err2 = float(np.max(np.abs(d2(xs) - (-2 * t * (1 - t ** 2)))))
    err3 = float(np.max(np.abs(d3(xs) - (6 * t ** 2 - 2) * (1 - t ** 2))))
    if verbose:
        print("max |tanh''  - (-2 tanh (1 - tanh²))|     = %.3e" % err2)
        print("max |tanh''' - (6 tanh² - 2)(1 - tanh²)| = %.3e" % err3)

    path = os.path.join(outdir, "tanh_derivatives.png")
    plot_derivatives(ad.tanh, (-4.0, 4.0), orders=(0, 1, 2, 3), num=num,
                     path=path, name="tanh",
                     title="tanh and its first three derivatives")
    if verbose:
        print("saved %s" % path)
    return {"second_derivative_error": err2, "third_derivative_error": err3,
            "paths": [path]}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
