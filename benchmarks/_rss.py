"""Run the netrca CLI in this process and record its peak RSS (for the stress benchmark).

Usage: python benchmarks/_rss.py RSS_FILE netrca-args...
"""

from __future__ import annotations

import atexit
import resource
import sys
from pathlib import Path


def _record(path: Path) -> None:
    path.write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))  # KiB on Linux


if __name__ == "__main__":
    atexit.register(_record, Path(sys.argv[1]))
    from netrca.cli import main

    main(sys.argv[2:])
