"""Build the one extension module: the Cython boundary plus the C engine.

Switches (environment variables):
  AUTODIFF_DEBUG=1     -O0 -g, no optimisation
  AUTODIFF_SANITIZE=1  -fsanitize=address,undefined (preload the runtime)
  AUTODIFF_SANITIZE=thread
                       -fsanitize=thread (preload libtsan; tools/tsan.sh)
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

cflags = ["-std=c11", "-D_GNU_SOURCE", "-fno-math-errno", "-fno-trapping-math",
          "-Wall", "-Wno-unused-function"]
ldflags = []
if os.environ.get("AUTODIFF_DEBUG"):
    cflags += ["-O0", "-g"]
else:
    cflags += ["-O3"]
sanitize = os.environ.get("AUTODIFF_SANITIZE", "")
if sanitize == "thread":
    san = ["-fsanitize=thread", "-fno-omit-frame-pointer", "-g"]
    cflags += san
    ldflags += san
elif sanitize:
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    cflags += san
    ldflags += san

ext = Extension(
    "autodiff._engine",
    sources=["autodiff/_engine.pyx"] + sorted(glob.glob("csrc/*.c")),
    include_dirs=["csrc"],
    depends=(glob.glob("csrc/*.h") + glob.glob("csrc/*.inc") +
             glob.glob("autodiff/*.pxi") + ["autodiff/_capi.pxd"]),
    extra_compile_args=cflags,
    extra_link_args=ldflags,
)

setup(
    ext_modules=cythonize(
        [ext],
        language_level=3,
        compiler_directives={
                             "cdivision": True, "embedsignature": True},
    ),
)
