"""Build hook: the optional C helpers (forest scorer, line scanner); the rest is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "netrca.detect._simd",
            ["src/netrca/detect/_simd.c"],
            extra_compile_args=["-O3", "-std=c11"],
            # a machine without a C compiler still installs netrca; scoring then uses
            # the numba kernel (netrca.detect._native.available() says which runs)
            optional=True,
        ),
        Extension(
            "netrca.io._lines",
            ["src/netrca/io/_lines.c"],
            extra_compile_args=["-O3", "-std=c11"],
            # without it the text readers split lines with numpy (netrca.io._text)
            optional=True,
        ),
    ]
)
