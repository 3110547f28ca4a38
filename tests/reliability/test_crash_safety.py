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


def kill_trial(out: Path, delay: float) -> tuple[str, bool]:
    """Start a run, SIGKILL it after ``delay`` s; return ('complete', 'incomplete' or a
    problem) and whether the kill found the run still going."""
    proc = _run(out)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    check = verify_run(out)
    if check.ok:
        return "complete", killed
    if not check.complete:
        return "incomplete", killed
    return "INCONSISTENT: " + "; ".join(check.problems), killed


def test_killed_runs_leave_whole_or_marked_folders(tmp_path: Path) -> None:
    """Kills at random points of runs into one folder: after each the folder is whole (the
    last complete run's, or the new one's) or marked incomplete, never inconsistent."""
    rng = random.Random(7)
    out = tmp_path / "run"
    for _ in range(4):
        outcome, _ = kill_trial(out, rng.uniform(0.5, 6.0))
        assert not outcome.startswith("INCONSISTENT"), outcome
    proc = _run(out)
    assert proc.wait(timeout=300) == 0
    assert verify_run(out).ok  # the next run starts clean and completes


def test_a_run_killed_while_it_stages_leaves_an_incomplete_folder(tmp_path: Path) -> None:
    """The first run into a new folder, killed once it has started staging its outputs:
    the folder exists and says it is incomplete. (Kills into a folder that already holds
    a complete run leave that run whole unless they land in the moment of publishing, so
    the test above cannot count on an incomplete folder.)"""
    out = tmp_path / "run"
    proc = _run(out)
    deadline = time.monotonic() + 120
    while not any(out.glob(".staging-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never started staging"
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it was killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    check = verify_run(out)
    assert out.is_dir() and not check.complete and not check.ok
    assert any("no manifest" in p for p in check.problems), check.problems


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
