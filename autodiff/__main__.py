"""``python -m autodiff``: the version, and what this installation runs on.

    python -m autodiff --version     autodiff 0.1.0
    python -m autodiff               the version, where it is installed,
                                     numpy / scipy versions, threads
"""
import argparse
import sys

from ._version import __version__

DISTRIBUTION = "autodiff-tape"   # the name on the package index


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m autodiff",
        description="autodiff (distribution " + DISTRIBUTION + "): "
                    "reverse-mode automatic differentiation on a compiled C "
                    "tape. Without options: the version and what this "
                    "installation runs on.")
    ap.add_argument("--version", action="version",
                    version="autodiff " + __version__)
    ap.parse_args(argv)
    import os
    import platform

    import numpy
    import scipy

    import autodiff
    print("autodiff " + __version__ + " (" + DISTRIBUTION + ")")
    print("  installed at " + os.path.dirname(autodiff.__file__))
    print("  Python " + platform.python_version() + ", numpy " +
          numpy.__version__ + ", scipy " + scipy.__version__)
    print("  threads: " + str(autodiff.get_num_threads()) +
          " (autodiff.set_num_threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
