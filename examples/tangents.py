"""Tangent line to y = x² at x = 1 and tangent plane to z = x² + y² at
(1, 1).

ad.grad gives the slope f'(1) = 2, so the tangent line is y = 2x - 1;
ad.grad(g, argnums=(0, 1)) gives the gradient (2, 2), so the tangent
plane is z = 2 + 2(x - 1) + 2(y - 1) = 2x + 2y - 2.  Both pictures are
saved (tangent_line.png, tangent_plane.png) in the output directory
(first argument, default the current directory).
"""
import os
import sys

import autodiff as ad
from autodiff.plot import plot_tangent_line, plot_tangent_plane


def f(x):
    return x ** 2


def g(x, y):
    return x ** 2 + y ** 2


def main(outdir=".", verbose=True):
    slope = ad.grad(f)(1.0)
    gradient = ad.grad(g, argnums=(0, 1))(1.0, 1.0)
    if verbose:
        print("slope of x² at x = 1: %g" % slope)
        print("  tangent line:  y = %g + %g (x - 1)" % (f(1.0), slope))
        print("gradient of x² + y² at (1, 1): (%g, %g)" % gradient)
        print("  tangent plane: z = %g + %g (x - 1) + %g (y - 1)"
              % ((g(1.0, 1.0),) + gradient))

    line_path = os.path.join(outdir, "tangent_line.png")
    plane_path = os.path.join(outdir, "tangent_plane.png")
    plot_tangent_line(f, 1.0, (-1.0, 3.0), path=line_path, name="x²")
    plot_tangent_plane(g, (1.0, 1.0), (-2.0, 2.0), path=plane_path)
    if verbose:
        print("saved %s and %s" % (line_path, plane_path))
    return {"slope": slope, "gradient": gradient,
            "paths": [line_path, plane_path]}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
