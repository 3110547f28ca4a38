"""Byte-level line splitting and delimited parsing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netrca.io._text import parse_delimited, split_lines


def test_split_lines_handles_crlf_and_final_newline() -> None:
    lines = split_lines(b"a,b\r\n1,2\r\n\r\n3,4")
    assert len(lines) == 4
    assert [lines.text(i) for i in range(4)] == ["a,b", "1,2", "", "3,4"]
    assert len(split_lines(b"x\n")) == 1


def test_field_count_rejects_keep_line_numbers_and_good_rows() -> None:
    data = b"h1,h2\n1,2\n3\n\n4,5,6\n7,8\n"
    lines = split_lines(data)
    parsed = parse_delimited(
        lines, np.arange(1, len(lines)), ["h1", "h2"], ",", quoted=False, max_line_bytes=100
    )
    assert parsed.frame["h1"].tolist() == ["1", "7"]
    assert parsed.line_numbers.tolist() == [2, 6]
    assert [(r.line, r.raw) for r in parsed.rejected] == [(3, "3"), (5, "4,5,6")]
    assert "expected 2 fields, found 3" in parsed.rejected[1].reason


def test_quoted_path_parses_each_line_alone() -> None:
    data = b'a,b\n"x,1",2\n"unterminated,3\n4,"5"\n'
    lines = split_lines(data)
    parsed = parse_delimited(
        lines, np.arange(1, len(lines)), ["a", "b"], ",", quoted=True, max_line_bytes=100
    )
    assert parsed.frame.values.tolist() == [["x,1", "2"], ["4", "5"]]
    assert parsed.line_numbers.tolist() == [2, 4]
    assert [r.line for r in parsed.rejected] == [3]


def test_invalid_utf8_nul_and_long_lines_are_rejected() -> None:
    data = b"a,b\n1,2\n\xff\xfe,3\n4\x00,5\n" + b"9" * 200 + b",1\n6,7\n"
    lines = split_lines(data)
    parsed = parse_delimited(
        lines, np.arange(1, len(lines)), ["a", "b"], ",", quoted=False, max_line_bytes=100
    )
    assert parsed.frame["a"].tolist() == ["1", "6"]
    reasons = {r.line: r.reason for r in parsed.rejected}
    assert "UTF-8" in reasons[3]
    assert "NUL" in reasons[4]
    assert "longer than 100" in reasons[5]


@pytest.mark.parametrize("dtype", ["string", object])
def test_conn_state_mapping_per_distinct_value_equals_row_by_row(dtype: object) -> None:
    from netrca.io.connstate import CONN_STATES, map_conn_state

    rng = np.random.default_rng(0)
    vocab = ["S0", "s0", " REJ ", "SF", "RSTO", "", "OTH", None, "int", "rstr\t"]
    rows = [vocab[i] for i in rng.integers(0, len(vocab), 5000)]
    state = pd.Series(rows, dtype=dtype, index=pd.RangeIndex(7, 5007))
    status, error = map_conn_state(state)
    for name, got, j, default in ((0, status, 0, "SUCCESS"), (1, error, 1, "NONE")):
        want = [
            default if v is None else CONN_STATES.get(v.upper().strip(), (None, None))[j] or default
            for v in rows
        ]
        assert got.index.equals(state.index), name
        assert str(got.dtype) == "string"
        assert got.tolist() == want, name
