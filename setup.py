"""Build hook: the optional AVX-512 forest scorer (netrca.detect._simd); everything else is in pyproject.toml."""

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
        )
    ]
)
