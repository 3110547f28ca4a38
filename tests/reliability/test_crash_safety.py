"""kill -9 at random points: every output folder is whole, or clearly incomplete; reruns heal.

A few trials here; `make stress` runs many more and records the counts in RELIABILITY.md.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from netrca.report.verify import verify_run


def _run(out: Path, flows: int = 4000) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "netrca",
        "run",
        "--flows",
        str(flows),
        "--output",
        str(out),
        "--quiet",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_trial(out: Path, delay: float) -> str:
    """Start a run, SIGKILL it after ``delay`` s; return 'complete', 'incomplete' or a problem."""
    proc = _run(out)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    check = verify_run(out)
    if check.ok:
        return "complete"
    if not check.complete:
        return "incomplete"
    return "INCONSISTENT: " + "; ".join(check.problems)


def test_killed_runs_leave_whole_or_marked_folders(tmp_path: Path) -> None:
    rng = random.Random(7)
    out = tmp_path / "run"
    outcomes = []
    for _ in range(4):
        outcomes.append(kill_trial(out, rng.uniform(0.5, 6.0)))
        assert not outcomes[-1].startswith("INCONSISTENT"), outcomes[-1]
    proc = _run(out)
    assert proc.wait(timeout=300) == 0
    assert verify_run(out).ok  # the next run starts clean and completes
    # The seed's delays (2.3, 1.3, 4.1, 0.9 s) put at least one kill inside a run, which
    # must then be reported as incomplete, not complete.
    assert "incomplete" in outcomes, outcomes


def test_verify_detects_tampering(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run(out, 2000).wait(timeout=300) == 0
    assert verify_run(out).ok
    with (out / "root_cause_analyses.json").open("a") as fh:
        fh.write(" ")
    check = verify_run(out)
    assert check.complete and not check.ok and "differs from the manifest" in check.problems[0]
    (out / "manifest.json").unlink()
    assert not verify_run(out).complete
