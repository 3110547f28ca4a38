"""Spread a Zeek conn.log's addresses over many hosts: a stress input for incident analysis.

Every line keeps its fields but ``id.orig_h``, drawn from ``--internal`` addresses in
10.0.0.0/8, and ``id.resp_h``, drawn from ``--external`` random addresses in 11.0.0.1 to
222.255.255.254 (seeded; most are public, a few fall in private or reserved ranges).
The traffic's structure is gone (a scan's flows no longer share a source), so anomalous
flows fall into thousands of small incidents: the case where per-incident costs show.
Used for the A/B runs of BENCHMARKS.md (#6, 2026-11-28); ``make bench`` simulates its
many-hosts network instead (benchmarks/speed.py, ``MANY_HOSTS``).

    python benchmarks/remap_hosts.py benchmarks/out/speed/sim_1000000.log /tmp/hc.log
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def remap(src: Path, dst: Path, internal: int, external: int, seed: int) -> int:
    """Write ``src`` with remapped addresses to ``dst``; returns the number of flows."""
    lines = src.read_bytes().split(b"\n")
    head = [line for line in lines if line.startswith(b"#")]
    fields = next(line for line in head if line.startswith(b"#fields")).decode().split("\t")[1:]
    orig, resp = fields.index("id.orig_h"), fields.index("id.resp_h")
    body = [line for line in lines if line and not line.startswith(b"#")]
    rng = np.random.default_rng(seed)
    inner = [f"10.{i // 250}.{i % 250}.{(i * 7) % 250 + 1}".encode() for i in range(internal)]
    low, high = [11, 0, 0, 1], [223, 256, 256, 255]
    outer = [".".join(map(str, row)).encode() for row in rng.integers(low, high, (external, 4))]
    pick_orig = rng.integers(0, internal, len(body))
    pick_resp = rng.integers(0, external, len(body))
    out = []
    for k, line in enumerate(body):
        values = line.split(b"\t")
        values[orig], values[resp] = inner[pick_orig[k]], outer[pick_resp[k]]
        out.append(b"\t".join(values))
    opening = [line for line in head if not line.startswith(b"#close")]
    closing = [line for line in head if line.startswith(b"#close")]
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(b"\n".join(opening + out + closing) + b"\n")
    tmp.replace(dst)
    return len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--internal", type=int, default=5000)
    parser.add_argument("--external", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n = remap(args.src, args.dst, args.internal, args.external, args.seed)
    print(f"{n:,} flows written to {args.dst}")


if __name__ == "__main__":
    main()
