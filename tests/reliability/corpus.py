"""Valid seed files for every reader, and mutations that turn them into hostile input."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from netrca.simulate import Scenario, simulate, to_zeek
from tests import samples

NSL_ROWS = (
    "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,"
    "0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19\n"
    "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,"
    "0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01,normal,21\n"
)


def seeds(tmp: Path) -> dict[str, bytes]:
    """One small valid file per (format, reader) pair, as bytes."""
    frame = simulate(Scenario(n_flows=300, incidents={"port_scan": 1}), seed=1).head(60)
    out: dict[str, bytes] = {
        "csv": frame.to_csv(index=False).encode(),
        "zeek": to_zeek(frame).encode(),
        "jsonl": "".join(
            json.dumps(r) + "\n" for r in frame.astype(str).to_dict("records")
        ).encode(),
        "table": NSL_ROWS.encode(),
    }
    zeek_json = []
    for line in to_zeek(frame).splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        zeek_json.append(
            json.dumps(
                {
                    "ts": float(f[0]),
                    "uid": f[1],
                    "id.orig_h": f[2],
                    "id.orig_p": int(f[3]),
                    "id.resp_h": f[4],
                    "id.resp_p": int(f[5]),
                    "proto": f[6],
                    "conn_state": f[11],
                }
            )
        )
    out["zeek_json"] = ("\n".join(zeek_json) + "\n").encode()
    for name, writer in (
        ("suricata", samples.write_eve),
        ("nfdump", samples.write_nfdump_classic),
        ("cicflowmeter", samples.write_cic),
    ):
        p = tmp / f"seed.{name}"
        writer(frame, p)  # type: ignore[operator]
        out[name] = p.read_bytes()
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    out["parquet"] = buf.getvalue()
    if importlib.util.find_spec("nfstream") is not None:  # the 'pcap' extra
        t0 = 1709510400.0
        convs = [
            samples.Conv(t0 + i, f"10.0.0.{5 + i % 3}", "10.0.0.80", 40000 + i, port, kind=kind)
            for i, (port, kind) in enumerate(
                [(80, "ok"), (1000, "refused"), (22, "unanswered"), (443, "ok")] * 3
            )
        ]
        p = tmp / "seed.pcap"
        samples.write_pcap(convs, p)
        out["pcap"] = p.read_bytes()
    return out


#: format name passed to read_flows for each seed
FORMAT = {
    "csv": "csv",
    "zeek": "zeek",
    "zeek_json": "zeek",
    "jsonl": "jsonl",
    "table": "table",
    "suricata": "suricata",
    "nfdump": "nfdump",
    "cicflowmeter": "cicflowmeter",
    "parquet": "parquet",
    "pcap": "pcap",  # fuzzed only where the 'pcap' extra (nfstream) is installed
}


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _dup_column(data: bytes) -> bytes:
    """Rename the header's third field to its second (for every delimiter style)."""
    head, _, rest = data.partition(b"\n")
    for sep in (b"\t", b","):
        parts = head.split(sep)
        if len(parts) > 3:
            parts[2] = parts[1]
            return sep.join(parts) + b"\n" + rest
    return data


def _reorder_columns(data: bytes, rng: random.Random) -> bytes:
    """Permute the columns of a delimited file, header and rows alike (Zeek: #fields/#types)."""
    crlf = b"\r\n" in data
    lines = data.split(b"\r\n" if crlf else b"\n")
    body = [ln for ln in lines if ln and not ln.startswith(b"#")]
    if not body or body[0].lstrip().startswith(b"{"):  # JSON has no column order
        return data
    sep = b"\t" if b"\t" in body[0] else b","
    width = len(body[0].split(sep))
    order = rng.sample(range(width), width)
    out = []
    for ln in lines:
        if ln.startswith((b"#fields", b"#types")):
            key, *fields = ln.split(b"\t")
            if len(fields) == width:
                ln = b"\t".join([key, *(fields[i] for i in order)])
        elif ln and not ln.startswith(b"#"):
            fields = ln.split(sep)
            if len(fields) == width:
                ln = sep.join(fields[i] for i in order)
        out.append(ln)
    return (b"\r\n" if crlf else b"\n").join(out)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip_bytes": lambda d, r: bytes(
        b ^ (1 << r.randrange(8)) if r.random() < 0.02 else b for b in d
    ),
    "truncate": lambda d, r: d[: r.randrange(len(d) + 1)],
    "random_bytes": lambda d, r: r.randbytes(r.randrange(1, 4096)),
    "insert_junk": lambda d, r: (
        d[: (i := r.randrange(len(d) + 1))] + r.randbytes(r.randrange(1, 64)) + d[i:]
    ),
    "latin1_line": lambda d, r: d + "café,naïve,\xff\n".encode("latin-1"),
    "extreme_numbers": lambda d, r: d.replace(
        b",1", r.choice([b",1e309", b",-1", b",nan", b",inf", b",99999999999999999999999"]), 3
    ),
    "long_line": lambda d, r: d + b"A" * r.choice([10_000, 2_000_000]) + b"\n",
    "duplicate_header": lambda d, r: _lines(d)[0] + b"\n" + d,
    "shuffle_lines": lambda d, r: b"\n".join(r.sample(_lines(d), len(_lines(d)))),
    "drop_fields": lambda d, r: b"\n".join(
        ln.rsplit(b",", 1)[0] if r.random() < 0.3 else ln for ln in _lines(d)
    ),
    "ipv6_and_junk_ips": lambda d, r: d.replace(b"10.0.", b"fe80::1%eth0.", 2).replace(
        b"10.1.", b"999.1.", 2
    ),
    "crlf": lambda d, r: d.replace(b"\n", b"\r\n"),
    "nul_bytes": lambda d, r: d[:20] + b"\x00" * r.randrange(1, 50) + d[20:],
    "duplicate_column": lambda d, r: _dup_column(d),
    "reorder_columns": _reorder_columns,
    "empty": lambda d, r: b"",
    "only_newlines": lambda d, r: b"\n" * r.randrange(1, 100),
}


def cli_outcome(path: Path, fmt: str, out: Path, timeout: float = 600) -> str:
    """Run ``netrca run`` on ``path``: 'ok' (exit 0, run folder verifies), 'error' (exit 2,
    one line on stderr, no traceback) or 'crash: …' for anything else."""
    from netrca.report.verify import verify_run

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "netrca",
            "run",
            "--input",
            str(path),
            "--format",
            fmt,
            "--output",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    err = proc.stderr.strip()
    if proc.returncode == 0:
        check = verify_run(out)
        return "ok" if check.ok else f"crash: exit 0 but {check.summary()}"
    if proc.returncode == 2 and err and "\n" not in err and "Traceback" not in err:
        return "error"
    return f"crash: exit {proc.returncode}: {err[-300:]}"
