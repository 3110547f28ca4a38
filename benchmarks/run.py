"""Benchmark entry point: ``python benchmarks/run.py quality|speed|report|agent|stress``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import quality


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("suite", choices=["quality", "speed", "report", "agent", "stress"])
    ap.add_argument("--quick", action="store_true", help="stress: a short smoke run")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--sizes",
        default="10000,100000,1000000,5000000",
        help="speed: flows of the end-to-end files (comma-separated)",
    )
    ap.add_argument(
        "--parts",
        default="scorer,e2e,dask",
        help=(
            "speed or stress: which parts to run (others are kept from the last "
            "speed.json / stress.json)"
        ),
    )
    ap.add_argument(
        "--dask-rounds",
        type=int,
        default=5,  # speed.DASK_ROUNDS (not imported: it loads netrca)
        help="speed: rounds of the Dask 1-vs-2-worker comparison (median reported)",
    )
    ap.add_argument(
        "--e2e-rounds",
        type=int,
        default=3,
        help="speed: runs of each end-to-end size and mode (median reported)",
    )
    args = ap.parse_args()
    if args.suite == "quality":
        result = quality.run(args.out / "quality", range(args.seeds))
        print(f"machine: {result['machine']}")
        print(quality.render(result))
    elif args.suite == "report":
        from benchmarks import report

        result = report.run(args.out / "report")
        print(f"machine: {result['machine']}")
        print(report.render(result))
    elif args.suite == "stress":
        from benchmarks import stress

        parts = tuple(args.parts.split(",")) if args.parts else None
        print(stress.render(stress.run(args.out / "stress", quick=args.quick, parts=parts)))
    elif args.suite == "agent":
        from benchmarks import agent

        result = agent.run(args.out / "agent", range(args.seeds))
        print(f"machine: {result['machine']}")
        print(agent.render(result))
    else:
        from benchmarks import speed

        sizes = tuple(int(x) for x in args.sizes.split(","))
        parts = tuple(args.parts.split(","))
        print(
            speed.render(
                speed.run(args.out / "speed", sizes, parts, args.dask_rounds, args.e2e_rounds)
            )
        )


if __name__ == "__main__":
    main()
