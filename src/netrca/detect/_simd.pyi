"""Type stub of the AVX-512 forest scorer (C source: _simd.c)."""

from typing_extensions import Buffer

BLOCK: int
MIN_DEPTH: int
MAX_DEPTH: int
PAD: int
LUT_LEAVES: int
LUT_VALUES: int

def level() -> int: ...
def score(
    X: Buffer,
    n: int,
    n_features: int,
    row_step: int,
    col_step: int,
    column: Buffer,
    threshold: Buffer,
    leaf: Buffer,
    node_off: Buffer,
    leaf_off: Buffer,
    depth: Buffer,
    leaf_code: Buffer,
    leaf_table: Buffer,
    coded: Buffer,
    out: Buffer,
    begin: int,
    end: int,
    level: int = 0,
    /,
) -> int: ...
def top_deviation(
    X: Buffer,
    n: int,
    n_features: int,
    row_step: int,
    col_step: int,
    center: Buffer,
    scale: Buffer,
    out: Buffer,
    /,
) -> None: ...
