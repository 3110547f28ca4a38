"""Turn raw columns from any reader into canonical, validated flows plus rejects."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from netrca.errors import InputError, MissingColumnsError, SchemaError
from netrca.io._text import by_value, spread
from netrca.io.connstate import map_conn_state
from netrca.netaddr import dotted_quads
from netrca.schema import (
    CANONICAL_COLUMNS,
    FLOAT_COLUMNS,
    GROUND_TRUTH_COLUMNS,
    INT_COLUMNS,
    REQUIRED_COLUMNS,
)

__all__ = [
    "COLUMN_ALIASES",
    "REJECT_COLUMNS",
    "CanonicalReader",
    "LimitedReader",
    "ReadResult",
    "canonicalize",
    "epoch_seconds",
    "normalise_name",
    "parse_numbers",
]

#: Columns of ``rejects.csv``.
REJECT_COLUMNS: tuple[str, ...] = ("file", "line", "reason", "raw")

#: Common alternative header names, matched after lower-casing and removing
#: spaces, dots, dashes and underscores.
COLUMN_ALIASES: dict[str, str] = {
    "timestamp": "timestamp",
    "time": "timestamp",
    "ts": "timestamp",
    "datetime": "timestamp",
    "starttime": "timestamp",
    "sourceip": "source_ip",
    "srcip": "source_ip",
    "srcaddr": "source_ip",
    "src": "source_ip",
    "saddr": "source_ip",
    "destinationip": "destination_ip",
    "dstip": "destination_ip",
    "destip": "destination_ip",
    "dstaddr": "destination_ip",
    "dst": "destination_ip",
    "daddr": "destination_ip",
    "sourceport": "source_port",
    "srcport": "source_port",
    "sport": "source_port",
    "destinationport": "destination_port",
    "dstport": "destination_port",
    "destport": "destination_port",
    "dport": "destination_port",
    "protocol": "protocol",
    "proto": "protocol",
    "bytessent": "bytes_sent",
    "sentbytes": "bytes_sent",
    "bytesout": "bytes_sent",
    "bytesreceived": "bytes_received",
    "receivedbytes": "bytes_received",
    "bytesin": "bytes_received",
    "packetssent": "packets_sent",
    "packetsreceived": "packets_received",
    "duration": "duration",
    "dur": "duration",
    "sbytes": "bytes_sent",
    "dbytes": "bytes_received",
    "spkts": "packets_sent",
    "dpkts": "packets_received",
    "dsport": "destination_port",
    "status": "status",
    "latency": "latency",
    "latencyms": "latency",
    "errorcode": "error_code",
    "error": "error_code",
    "label": "label",
    "rootcause": "root_cause",
}

_NULL_TOKENS = ("", "-", "(empty)", "null", "NULL", "None", "none", "NaN", "nan", "N/A", "n/a")
_SUCCESS = {"SUCCESS", "OK", "SUCCEEDED", "SUCCESSFUL", "ESTABLISHED", "ALLOWED", "PASS"}
_FAILED = {"FAILED", "FAIL", "FAILURE", "ERROR", "DENIED", "BLOCKED", "DROP", "DROPPED"}
_NO_ERROR = {"", "NONE", "NULL", "NAN", "N/A", "0", "-", "OK", "NO_ERROR", "SUCCESS"}


def normalise_name(name: str) -> str:
    """Lower-case a header name and strip separators, for alias matching."""
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


@dataclass
class ReadResult:
    """Canonical flows (input order) and the rows that could not be read."""

    flows: pd.DataFrame
    rejects: pd.DataFrame
    source: str
    fmt: str
    line_numbers: np.ndarray
    #: Ground-truth columns and label-derived metadata: never used as features.
    label_column: str = "label"
    category_column: str = "root_cause"
    excluded: tuple[str, ...] = ()
    #: Things the reader wants the user to know (shown on stderr by the pipeline).
    notes: list[str] = field(default_factory=list)
    #: Records a reader skipped on purpose, by kind (e.g. Suricata non-flow events).
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def n_read(self) -> int:
        """Rows accepted plus rows rejected."""
        return len(self.flows) + len(self.rejects)


class LimitedReader:
    """The input limits every reader honours: ``max_bytes`` (after decompression) and
    ``max_line_bytes`` (longer lines are rejected; unused by binary formats)."""

    def __init__(self, *, max_bytes: int = 8 * 2**30, max_line_bytes: int = 2**20) -> None:
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes


class CanonicalReader(LimitedReader):
    """Shared settings of the readers of netrca's own schema (CSV, JSON Lines, Parquet):
    the limits, plus ``mapping`` (``{canonical_name: input_column}`` overrides for files
    with other headers) and ``required`` (canonical columns that must be present)."""

    def __init__(
        self,
        *,
        mapping: Mapping[str, str] | None = None,
        required: tuple[str, ...] = REQUIRED_COLUMNS,
        max_bytes: int = 8 * 2**30,
        max_line_bytes: int = 2**20,
    ) -> None:
        super().__init__(max_bytes=max_bytes, max_line_bytes=max_line_bytes)
        self.mapping = dict(mapping or {})
        self.required = required


def empty_rejects() -> pd.DataFrame:
    """An empty rejects frame with the documented columns."""
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in REJECT_COLUMNS})


def epoch_seconds(ts: pd.Series) -> np.ndarray:
    """Seconds since the Unix epoch as float64, whatever the datetime unit."""
    values = pd.to_datetime(ts, utc=True)
    delta = values - pd.Timestamp(0, tz="UTC")
    return np.asarray(delta.dt.total_seconds(), dtype=np.float64)


class _Rejector:
    """Collects the first reason a row is rejected, vectorised."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self._bad = np.zeros(n, dtype=bool)  # where a reason is set

    def flag(self, mask: np.ndarray, column: str, values: pd.Series, what: str) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self._bad
        if not mask.any():
            return
        shown = values[mask].astype(str).str.slice(0, 60)
        self.reason[mask] = (f"{column}: {what}: '" + shown + "'").to_numpy()
        self._bad |= mask

    @property
    def bad(self) -> np.ndarray:
        return self._bad.copy()


def _as_text(s: pd.Series) -> pd.Series:
    """String view of a column with the null tokens turned into NA."""
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        t = s.astype("string").str.strip()
        return t.mask(t.isin(_NULL_TOKENS))
    return s.astype("string")


def _texts(df: pd.DataFrame, columns: list[str]) -> dict[str, pd.Series]:
    """:func:`_as_text` of each column, two columns at a time where Arrow has two cores
    (its string kernels release the GIL: 0.5-0.9 s -> 0.26-0.4 s at 1M Zeek flows)."""
    if pa.cpu_count() < 2 or len(df) < 50_000:
        return {c: _as_text(df[c]) for c in columns}
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(columns, pool.map(lambda c: _as_text(df[c]), columns), strict=True))


def rename_aliases(columns: list[str], mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map input column names to canonical names (explicit mapping first, then aliases)."""
    rename: dict[str, str] = {}
    taken: set[str] = set()
    explicit = dict(mapping or {})
    inverse = {src: dst for dst, src in explicit.items()}
    for col in columns:
        if col in inverse:
            rename[col] = inverse[col]
            taken.add(inverse[col])
    for col in columns:
        if col in rename:
            continue
        target = col if col in CANONICAL_COLUMNS or col in GROUND_TRUTH_COLUMNS else None
        if target is None:
            target = COLUMN_ALIASES.get(normalise_name(col))
        if target is not None and target not in taken and target not in columns:
            rename[col] = target
            taken.add(target)
        elif target == col:
            taken.add(col)
    return rename


def _typed(s: pd.Series, kind: str) -> bool:
    """Whether ``s`` holds numbers that need no text parsing: 64-bit integers (``kind``
    "i") or float64 (``kind`` "f"), as a typed reader (Zeek TSV's numeric fields,
    Parquet) gives them. Their values are those the text of each would parse to."""
    dtype = s.dtype
    if kind == "i":
        return dtype == np.int64 or dtype == pd.Int64Dtype()
    return dtype == np.float64


def _parse_timestamp(text: pd.Series, rej: _Rejector, required: bool = True) -> pd.Series:
    """Epoch numbers (s, ms, µs or ns) or ISO 8601 text → UTC datetimes (µs precision).

    Everything is first brought to float seconds, so mixed units, offsets and
    resolutions never meet inside pandas; values outside years 1678-2261 are rejected.
    A float64 column is taken as the epoch numbers themselves (NaN: missing).
    """
    # NaN in a float64 column: missing, as the text "nan" is
    num = text.to_numpy(dtype=np.float64) if _typed(text, "f") else parse_numbers(text)
    is_num = ~np.isnan(num)
    secs = np.full(len(text), np.nan)
    if is_num.any():
        vals = num[is_num]
        with np.errstate(all="ignore"):
            scale = _epoch_scale(float(np.nanmedian(np.abs(vals))))
            secs[is_num] = vals / scale
    rest = ~is_num & text.notna().to_numpy()
    if rest.any():
        parsed = pd.to_datetime(text[rest], format="ISO8601", utc=True, errors="coerce")
        naive = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[us]")
        us = naive.astype(np.int64).astype(float)
        secs[rest] = np.where(np.isnat(naive), np.nan, us / 1e6)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(secs) & (secs > -9.2e9) & (secs < 9.2e9)
    micros = np.where(valid, np.round(np.where(valid, secs, 0.0) * 1e6), 0.0).astype(np.int64)
    stamps = pd.to_datetime(micros, unit="us", utc=True).as_unit("ns")  # one unit everywhere
    out = pd.Series(stamps, index=text.index)
    out = out.where(valid)
    missing = text.isna().to_numpy()
    if required and missing.any():  # shown as "" (the column may hold numbers)
        rej.flag(missing, "timestamp", pd.Series("", index=text.index), "missing")
    rej.flag(
        (out.isna() & text.notna()).to_numpy(), "timestamp", text, "not ISO 8601 or epoch seconds"
    )
    return out


def _epoch_scale(median: float) -> float:
    """Guess the unit of numeric timestamps: seconds, ms, µs or ns."""
    if median > 1e17:
        return 1e9
    if median > 1e14:
        return 1e6
    if median > 1e11:
        return 1e3
    return 1.0


def _valid_ips(text: pd.Series) -> pd.Series:
    """Normalised IP text, or NA where the value is not an IPv4/IPv6 address (worked out
    once per distinct value and spread onto the rows). Dotted quads in normal form are
    recognised by one regular expression over the distinct values (Arrow), the rest by
    :mod:`ipaddress`: a log with 100,000 distinct addresses spent 0.5 s here, value by
    value."""
    codes, values = by_value(text)
    out = values.to_numpy(dtype=object, copy=True)
    # a dotted quad in normal form is its own normal form; anything else (other text, a
    # number in an object column) goes to ipaddress
    _, quad = dotted_quads(out)
    same = text.dtype == "string"  # every address already in its normal form
    for i in np.flatnonzero(~quad):
        value = out[i]
        if pd.isna(value):
            out[i] = None
            continue
        try:
            normal = str(ipaddress.ip_address(value))
        except ValueError:
            normal = None
        out[i] = normal
        same = same and normal == value
    if same:  # the column as it is (dotted quads as logs write them): no gather
        return text
    return spread(pd.Series(out, dtype="string"), codes, text.index)


def _integer_text(text: pd.Series) -> np.ndarray | None:
    """int64 values (0 where null) when every value is integer text that fits int64,
    parsed exactly by Arrow (and much faster than pandas); else None."""
    try:
        ints = pc.cast(pa.array(text, type=pa.string(), from_pandas=True), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return np.asarray(ints.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _parse_int(column: str, text: pd.Series, rej: _Rejector) -> pd.Series:
    lo, hi = INT_COLUMNS[column]
    present = text.notna().to_numpy()
    if _typed(text, "i"):
        exact: np.ndarray | None = text.to_numpy(dtype=np.int64, na_value=0)
    else:
        exact = _integer_text(text)
    if exact is not None:  # integers kept exact (no trip through float64 above 2**53)
        out_of_range = present & ((exact < lo) | (exact > hi))
        rej.flag(out_of_range, column, text, f"outside {lo}..{hi}")
        keep = present & ~out_of_range
        return pd.Series(pd.arrays.IntegerArray(exact, ~keep), index=text.index)
    arr = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
    with np.errstate(invalid="ignore"):
        not_num = present & ~np.isfinite(arr)
        not_int = present & np.isfinite(arr) & (np.floor(arr) != arr)
        out_of_range = present & np.isfinite(arr) & ((arr < lo) | (arr > hi))
    rej.flag(not_num, column, text, "not a number")
    rej.flag(not_int, column, text, "not an integer")
    rej.flag(out_of_range, column, text, f"outside {lo}..{hi}")
    good = np.where(present & ~(not_num | not_int | out_of_range), arr, np.nan)
    return pd.Series(good, index=text.index).astype("Int64")


def parse_numbers(text: pd.Series) -> np.ndarray:
    """float64 of numeric text, NaN where missing or not a number: the values of
    ``pd.to_numeric(text, errors="coerce")``, parsed by Arrow (10x faster; both round
    correctly). A column Arrow refuses (``"1_000"``, ``"0x10"``…) goes to pandas, and
    so does one with a negative zero: pandas reads ``"-0"`` as 0.0 or -0.0 depending on
    the rest of the column."""
    try:
        arr = pc.cast(pa.array(text, type=pa.string(), from_pandas=True), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        arr = None
    if arr is not None:
        out = np.array(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
        if not ((out == 0) & np.signbit(out)).any():
            return out
    return np.asarray(pd.to_numeric(text, errors="coerce").astype("float64").to_numpy())


def _parse_float(column: str, text: pd.Series, rej: _Rejector) -> pd.Series:
    present = text.notna().to_numpy()
    arr = text.to_numpy(dtype=np.float64) if _typed(text, "f") else parse_numbers(text)
    with np.errstate(invalid="ignore"):
        not_num = present & ~np.isfinite(arr)
        negative = present & np.isfinite(arr) & (arr < 0)
    rej.flag(not_num, column, text, "not a finite number")
    rej.flag(negative, column, text, "negative")
    return pd.Series(np.where(present & ~(not_num | negative), arr, np.nan), index=text.index)


def _normalise_status(status: pd.Series | None, error: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (status, error_code) with status in {SUCCESS, FAILED} and NONE for no error;
    worked out once per distinct (status, error) pair and spread onto the rows."""
    e_codes, e_values = by_value(error.astype("string"))
    if status is None:
        s_codes, s_values = np.zeros(len(e_codes), dtype=np.int64), None
    else:
        s_codes, s_values = by_value(status.astype("string"))
    pairs, distinct = pd.factorize(s_codes * len(e_values) + e_codes)
    s_small = None if s_values is None else s_values.iloc[distinct // len(e_values)]
    e_small = e_values.iloc[distinct % len(e_values)]
    out, err = _normalise_pairs(s_small, e_small)
    if (
        status is not None
        and status.dtype == error.dtype == "string"
        and _same_text(out, s_small)
        and _same_text(err, e_small)
    ):  # already normal (Zeek's mapped states): the columns as they are, no gather
        return status, error
    return spread(out, pairs, error.index), spread(err, pairs, error.index)


def _same_text(a: pd.Series, b: pd.Series | None) -> bool:
    """Whether two text series hold the same values position by position (no NA)."""
    if b is None or len(a) != len(b) or a.isna().any() or b.isna().any():
        return False
    return bool((a.to_numpy(dtype=object) == b.to_numpy(dtype=object)).all())


def _normalise_pairs(status: pd.Series | None, error: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Row-by-row rules of :func:`_normalise_status` (on its distinct pairs)."""
    status = None if status is None else status.reset_index(drop=True)
    error = error.reset_index(drop=True)
    err = error.fillna("NONE").astype("string").str.upper().str.strip()
    err = err.mask(err.isin(_NO_ERROR), "NONE")
    derived = pd.Series(np.where(err.to_numpy() == "NONE", "SUCCESS", "FAILED"), index=err.index)
    if status is None:
        return derived.astype("string"), err
    up = status.astype("string").str.upper().str.strip()
    success = up.isin(_SUCCESS).to_numpy(dtype=bool, na_value=False)
    failed = up.isin(_FAILED).to_numpy(dtype=bool, na_value=False)
    out = pd.Series(
        np.where(success, "SUCCESS", np.where(failed, "FAILED", np.asarray(None, dtype=object))),
        index=up.index,
        dtype="object",
    )
    out = out.fillna(derived)
    err = err.mask((out == "FAILED") & (err == "NONE"), "UNKNOWN")
    return out.astype("string"), err


def canonicalize(
    raw: pd.DataFrame,
    line_numbers: np.ndarray,
    raw_text: Callable[[np.ndarray], list[str]],
    source: str,
    fmt: str,
    *,
    mapping: Mapping[str, str] | None = None,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
    header_line: int | None = None,
) -> ReadResult:
    """Validate ``raw`` columns into canonical flows; bad rows go to rejects.

    ``raw_text(idx)`` returns the original text of the rows at positions ``idx``.
    """
    rename = rename_aliases(list(raw.columns), mapping)
    df = raw.rename(columns=rename)
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise SchemaError(f"{source}: duplicate column(s) in header: {', '.join(dupes)}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        where = f" (header at line {header_line})" if header_line else ""
        have = ", ".join(map(str, list(raw.columns)[:12])) or "no columns"
        hint = ""
        if len(raw.columns) == 1 and any(d in str(raw.columns[0]) for d in ";|\t,"):
            hint = " - is the delimiter wrong?"
        raise MissingColumnsError(
            f"{source}: missing required column(s) {', '.join(missing)}{where}; found: {have}{hint}"
        )
    n = len(df)
    rej = _Rejector(n)
    df = df.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    numeric = {
        "timestamp": "f",
        **dict.fromkeys(INT_COLUMNS, "i"),
        **dict.fromkeys(FLOAT_COLUMNS, "f"),
    }
    typed = {c: df[c] for c in df.columns if c in numeric and _typed(df[c], numeric[c])}
    text = _texts(df, [c for c in df.columns if c in CANONICAL_COLUMNS and c not in typed])
    text.update(typed)  # numbers already: parsed as they are

    if "timestamp" in text:
        out["timestamp"] = _parse_timestamp(text["timestamp"], rej, "timestamp" in required)
    else:
        out["timestamp"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    for col in ("source_ip", "destination_ip"):
        if col not in text:
            out[col] = pd.Series(pd.NA, index=df.index, dtype="string")
            continue
        ips = _valid_ips(text[col])
        if col in required:
            rej.flag(text[col].isna().to_numpy(), col, text[col].fillna(""), "missing")
        rej.flag((ips.isna() & text[col].notna()).to_numpy(), col, text[col], "not an IP address")
        out[col] = ips
    for col in INT_COLUMNS:
        if col in text:
            out[col] = _parse_int(col, text[col], rej)
        else:
            out[col] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    if "protocol" in text:
        out["protocol"] = text["protocol"].str.upper().fillna("UNKNOWN")
    else:
        out["protocol"] = pd.Series("UNKNOWN", index=df.index, dtype="string")
    for col in FLOAT_COLUMNS:
        if col in text:
            out[col] = _parse_float(col, text[col], rej)
        else:
            out[col] = pd.Series(np.nan, index=df.index, dtype="float64")
    error = text.get("error_code", pd.Series(pd.NA, index=df.index, dtype="string"))
    if "status" not in text and "conn_state" in df.columns:
        out["status"], error = map_conn_state(_as_text(df["conn_state"]))
        out["error_code"] = error
    else:
        out["status"], out["error_code"] = _normalise_status(text.get("status"), error)

    flows = pd.DataFrame({c: out[c] for c in CANONICAL_COLUMNS})
    extras = [c for c in df.columns if c not in CANONICAL_COLUMNS]
    for c in extras:
        flows[c] = df[c]
    bad = rej.bad
    if bad.any():
        idx = np.flatnonzero(bad)
        rejects = pd.DataFrame(
            {
                "file": source,
                "line": line_numbers[idx],
                "reason": rej.reason[idx],
                "raw": raw_text(idx),
            }
        )
        flows = flows.loc[~bad].reset_index(drop=True)
        kept_lines = line_numbers[~bad]
    else:
        rejects = empty_rejects()
        kept_lines = line_numbers
    return ReadResult(flows=flows, rejects=rejects, source=source, fmt=fmt, line_numbers=kept_lines)


def merge_rejects(
    source: str, parsed: list[tuple[int, str, str]], rejects: pd.DataFrame
) -> pd.DataFrame:
    """Combine parser-level rejects (line, reason, raw) with value-level rejects, by line."""
    if not parsed:
        return rejects
    early = pd.DataFrame(
        {
            "file": source,
            "line": [p[0] for p in parsed],
            "reason": [p[1] for p in parsed],
            "raw": [p[2] for p in parsed],
        }
    )
    frames = [f for f in (early, rejects) if len(f)]
    merged = pd.concat(frames, ignore_index=True)
    return merged.sort_values("line", kind="stable").reset_index(drop=True)


def require_rows(result: ReadResult) -> ReadResult:
    """Raise :class:`InputError` when nothing usable was read."""
    if len(result.flows) == 0:
        if len(result.rejects):
            first = result.rejects.iloc[0]
            raise InputError(
                f"{result.source}: no usable row; {len(result.rejects)} row(s) rejected "
                f"(first at line {first['line']}: {first['reason']})"
            )
        raise InputError(f"{result.source}: no data rows")
    return result
