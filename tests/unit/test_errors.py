"""Every netrca error reads as one line, whatever third-party text it carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrca.errors import InputError, ProviderError
from netrca.io import read_flows


def test_line_breaks_in_messages_are_folded() -> None:
    assert str(InputError("f.parquet: not readable (Invalid data\n)")) == (
        "f.parquet: not readable (Invalid data )"
    )
    assert str(ProviderError("HTTP 500:\r\n  body", reason="server_error")) == "HTTP 500: body"


def test_parquet_error_with_a_multiline_pyarrow_message_is_one_line(tmp_path: Path) -> None:
    """Found by fuzzing: pyarrow's thrift error ends in a newline."""
    import pandas as pd

    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": range(10)}).to_parquet(path)
    data = path.read_bytes()
    footer = int.from_bytes(data[-8:-4], "little")  # thrift footer length, then "PAR1"
    path.write_bytes(data[: -8 - footer] + b"\x15" * footer + data[-8:])
    with pytest.raises(InputError) as info:
        read_flows(path, "parquet")
    assert "thrift" in str(info.value) and "\n" not in str(info.value)
