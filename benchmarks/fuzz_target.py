"""Coverage-guided fuzzing of one reader with atheris (run by benchmarks/stress.py).

Usage: python benchmarks/fuzz_target.py FORMAT CORPUS_DIR -max_total_time=60
An input passes when the reader returns rows or raises a netrca error; any other
exception is a crash (atheris stops and saves the input).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["netrca"]):
    from netrca.config import Settings
    from netrca.errors import NetrcaError
    from netrca.io import read_flows

FORMAT = sys.argv[1]
_TMP = Path(tempfile.mkdtemp(prefix=f"netrca-fuzz-{FORMAT}-"))
_SETTINGS = Settings(max_input_bytes=4 * 2**20, max_line_bytes=2**16)


def test_one_input(data: bytes) -> None:
    path = _TMP / "input"
    path.write_bytes(data)
    with contextlib.suppress(NetrcaError):  # clean errors are a pass; anything else crashes
        read_flows(path, FORMAT, settings=_SETTINGS)


def main() -> None:
    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
