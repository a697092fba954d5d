"""Build the one extension module: the Cython boundary plus the C engine.

Switches (environment variables):
  AUTODIFF_DEBUG=1     -O0 -g, no optimisation
  AUTODIFF_SANITIZE=1  -fsanitize=address,undefined (preload the runtime)
  AUTODIFF_SANITIZE=thread
                       -fsanitize=thread (preload libtsan; tools/tsan.sh)
"""
import glob
import os

from concurrent.futures import ThreadPoolExecutor

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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



class ParallelBuildExt(build_ext):
    """Compile the extension's sources concurrently, one compiler process
    per available core (AUTODIFF_BUILD_JOBS overrides): the generated
    _engine.c alone is about half of a serial build.  The object files and
    the link are what a serial build gives."""

    def build_extension(self, ext):
        serial = self.compiler.compile
        try:
            jobs = int(os.environ.get("AUTODIFF_BUILD_JOBS", "0"))
        except ValueError:
            jobs = 0
        if jobs <= 0:
            jobs = (len(os.sched_getaffinity(0))
                    if hasattr(os, "sched_getaffinity") else os.cpu_count())

        def compile(sources, *args, **kwargs):
            if jobs == 1 or len(sources) < 2:
                return serial(sources, *args, **kwargs)
            with ThreadPoolExecutor(min(jobs, len(sources))) as pool:
                objs = pool.map(lambda s: serial([s], *args, **kwargs),
                                sources)
                return [o for one in objs for o in one]

        self.compiler.compile = compile
        try:
            super().build_extension(ext)
        finally:
            del self.compiler.compile


setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=cythonize(
        [ext],
        language_level=3,
        compiler_directives={
                             "cdivision": True, "embedsignature": True},
    ),
)
