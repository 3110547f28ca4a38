"""`make stress`: fuzzing, kill -9 trials, resource limits, dependency audit — with counts.

Every figure comes from this run; results go to benchmarks/out/stress/stress.json and
render as the tables of RELIABILITY.md.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tests.reliability.corpus import FORMAT, MUTATIONS, cli_outcome, seeds

from netrca.errors import NetrcaError
from netrca.io import read_flows
from netrca.report.verify import verify_run
from netrca.simulate import Scenario, simulate, write_flows

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _readers(corpus: dict[str, bytes]) -> list[str]:
    """The readers to fuzz: all, or those named in NETRCA_STRESS_READERS (comma-separated;
    their results then replace only those readers' rows of the last stress.json)."""
    chosen = [r for r in os.environ.get("NETRCA_STRESS_READERS", "").split(",") if r]
    unknown = set(chosen) - set(corpus)
    if unknown:
        raise SystemExit(f"NETRCA_STRESS_READERS: unknown reader(s) {sorted(unknown)}")
    return chosen or sorted(corpus)


def corpus_fuzz(work: Path, n_seeds: int) -> dict[str, Any]:
    """Every mutation x seed on every reader (explicit and sniffed format)."""
    corpus = seeds(work)
    per: dict[str, dict[str, int]] = {}
    crashes: list[str] = []
    for name in _readers(corpus):
        counts = {"inputs": 0, "rows": 0, "clean_error": 0, "crash": 0}
        for mutation in sorted(MUTATIONS):
            for seed in range(n_seeds):
                data = MUTATIONS[mutation](corpus[name], random.Random(seed))
                path = work / f"in.{name}"
                path.write_bytes(data)
                for fmt in (FORMAT[name], "auto"):
                    counts["inputs"] += 1
                    try:
                        read_flows(path, fmt)
                        counts["rows"] += 1
                    except NetrcaError:
                        counts["clean_error"] += 1
                    except Exception as exc:  # a crash: record it, keep going
                        counts["crash"] += 1
                        crashes.append(
                            f"{name}/{mutation}/{seed}/{fmt}: {type(exc).__name__}: {exc}"[:300]
                        )
        per[name] = counts
    return {"per_reader": per, "crashes": crashes[:20]}


def cli_fuzz(work: Path) -> dict[str, Any]:
    """`netrca run` end to end on one mutation of each seed file per mutation (explicit
    format for even-numbered mutations, sniffed for odd)."""
    corpus = seeds(work)
    per: dict[str, dict[str, int]] = {}
    crashes: list[str] = []
    for name in _readers(corpus):
        counts = {"inputs": 0, "ok": 0, "clean_error": 0, "crash": 0}
        for i, mutation in enumerate(sorted(MUTATIONS)):
            path = work / f"cli.{name}"
            path.write_bytes(MUTATIONS[mutation](corpus[name], random.Random(i)))
            fmt = FORMAT[name] if i % 2 == 0 else "auto"
            result = cli_outcome(path, fmt, work / "cli-out")
            counts["inputs"] += 1
            key = "clean_error" if result == "error" else result.split(":")[0]
            counts[key] += 1
            if key == "crash":
                crashes.append(f"{name}/{mutation}/{fmt}: {result}"[:300])
        per[name] = counts
    return {"per_reader": per, "crashes": crashes[:20]}


def atheris_fuzz(work: Path, seconds: int) -> dict[str, Any]:
    """Coverage-guided fuzzing (atheris/libFuzzer), ``seconds`` per reader."""
    corpus = seeds(work)
    out: dict[str, Any] = {}
    for name in _readers(corpus):
        cdir = work / f"atheris-{name}"
        cdir.mkdir(exist_ok=True)
        (cdir / "seed").write_bytes(corpus[name])
        artifacts = work / f"crash-{name}-"
        cmd = [
            PY,
            str(ROOT / "benchmarks" / "fuzz_target.py"),
            FORMAT[name],
            str(cdir),
            f"-max_total_time={seconds}",
            f"-artifact_prefix={artifacts}",
            "-rss_limit_mb=4096",
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=ROOT, timeout=seconds * 3 + 120
        )
        log = proc.stdout + proc.stderr
        done = re.findall(r"Done (\d+) runs", log)
        execs = re.findall(r"#(\d+)\s", log)
        crashed = proc.returncode != 0 or "Uncaught Python exception" in log
        out[name] = {
            "runs": int(done[-1]) if done else (int(execs[-1]) if execs else 0),
            "crashes": int(crashed),
            "corpus_files": len(list(cdir.iterdir())),
            "detail": log[-1500:] if crashed else "",
        }
    return out


def kill_trials(work: Path, n: int, flows: int = 20000) -> dict[str, Any]:
    """SIGKILL `netrca run` at random times; every folder must be whole or marked."""
    rng = random.Random(11)
    out = work / "kill-run"
    cmd = [PY, "-m", "netrca", "run", "--flows", str(flows), "--output", str(out), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    full = time.perf_counter() - t0
    counts = {"trials": n, "complete": 0, "incomplete": 0, "inconsistent": 0, "rerun_ok": 0}
    problems: list[str] = []
    for i in range(n):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(rng.uniform(0.05, 1.05) * full)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        check = verify_run(out)
        if check.ok:
            counts["complete"] += 1
        elif not check.complete:
            counts["incomplete"] += 1
        else:
            counts["inconsistent"] += 1
            problems.append(f"trial {i}: {check.summary()}")
        if i % 10 == 9:  # the next run after a kill starts clean and completes
            subprocess.run(cmd, check=True, cwd=ROOT)
            counts["rerun_ok"] += int(verify_run(out).ok)
    return {"full_run_seconds": full, **counts, "problems": problems}


def _measured(
    work: Path, name: str, args: list[str], env: dict[str, str] | None = None
) -> dict[str, Any]:
    rss = work / f"{name}.rss"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PY, str(ROOT / "benchmarks" / "_rss.py"), str(rss), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=3600,
    )
    return {
        "exit": proc.returncode,
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mib": round(int(rss.read_text()) / 1024, 1) if rss.exists() else None,
        "stderr_last_line": (proc.stderr.strip().splitlines() or [""])[-1][:300],
    }


def resources(work: Path, big: int, distinct: int) -> dict[str, Any]:
    """Limits hit or honoured: a 100 MB line, a compression bomb, many distinct IPs, a
    large file."""
    out: dict[str, Any] = {}
    frame = simulate(Scenario(n_flows=2000), seed=3)
    path = work / "long_line.csv"
    write_flows(frame, path)
    with path.open("ab") as fh:
        fh.write(b"2024-03-04T00:00:00Z,10.0.0.1,10.0.0.2," + b"9" * 100_000_000 + b"\n")
    out["100 MB line (rejected, rest kept)"] = _measured(
        work, "longline", ["run", "--input", str(path), "--output", str(work / "ll"), "--quiet"]
    )
    rejects = work / "ll" / "rejects.csv"
    out["100 MB line (rejected, rest kept)"]["rejects"] = (
        sum(1 for _ in rejects.open()) - 1 if rejects.exists() else None
    )
    bomb = work / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(b"timestamp,source_ip,destination_ip\n")
        block = b"0" * (1 << 20)
        for _ in range(6 * 1024):  # 6 GiB of zeros, a few MB on disk
            fh.write(block)
    out["gzip bomb, 6 GiB unpacked (limit 1 GiB)"] = _measured(
        work,
        "bomb",
        ["run", "--input", str(bomb), "--output", str(work / "bomb"), "--quiet"],
        env={"NETRCA_MAX_INPUT_BYTES": str(2**30)},
    )
    out["gzip bomb"] = {"bytes_on_disk": bomb.stat().st_size}
    if distinct:
        frame = simulate(Scenario(n_flows=distinct), seed=6)
        ips = np.arange(len(frame), dtype=np.uint32) + np.uint32(0x0A000000)  # 10.0.0.0 + i
        frame["source_ip"] = [str(ipaddress.IPv4Address(int(v))) for v in ips]
        path = work / "distinct_ips.csv"
        write_flows(frame, path)
        case = f"{len(frame):,} flows from {len(frame):,} distinct source IPs"
        out[case] = _measured(
            work,
            "distinct",
            ["run", "--input", str(path), "--output", str(work / "dist"), "--quiet"],
        )
    if big:
        src = work / f"big_{big}.log"
        write_flows(simulate(Scenario(n_flows=big), seed=5), src, "zeek")
        out[f"{big:,}-flow Zeek file"] = _measured(
            work, "big", ["run", "--input", str(src), "--output", str(work / "big"), "--quiet"]
        )
        out[f"{big:,}-flow Zeek file"]["bytes"] = src.stat().st_size
        # the bounded-memory path for files this size: partitioned scoring of the same file
        base = work / "baseline.csv"
        write_flows(simulate(Scenario(n_flows=200_000, incidents={}), seed=8), base)
        model = work / "baseline.npz"
        subprocess.run(
            [PY, "-m", "netrca", "fit", "--input", str(base), "--output", str(model)],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        case = f"{big:,}-flow Zeek file, `detect --engine local --partition-flows 1000000`"
        out[case] = _measured(
            work,
            "bigpart",
            [
                "detect",
                "--input",
                str(src),
                "--model",
                str(model),
                "--output",
                str(work / "bigpart"),
                "--engine",
                "local",
                "--partition-flows",
                "1000000",
                "--quiet",
            ],
        )
    return out


def audit() -> dict[str, Any]:
    """pip-audit over the pinned constraints; reports what could not be audited."""
    proc = subprocess.run(
        [
            PY,
            "-m",
            "pip_audit",
            "-r",
            str(ROOT / "constraints.txt"),
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": (proc.stderr or proc.stdout)[-500:]}
    deps = data.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    vulns = [d for d in deps if d.get("vulns")]
    return {
        "packages": len(deps),
        "audited": len(deps) - len(skipped),
        "not_audited": len(skipped),
        "vulnerable": [
            {"name": d["name"], "version": d["version"], "ids": [v["id"] for v in d["vulns"]]}
            for d in vulns
        ],
        "skip_reason_example": skipped[0]["skip_reason"] if skipped else None,
    }


STAGES = ("corpus_fuzz", "cli_fuzz", "atheris", "kill_trials", "resources", "audit")


def run(
    out_dir: Path, *, quick: bool = False, parts: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Run the stages named in ``parts`` (all by default); the others are kept from the
    last stress.json, and each stage records when it ran."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = parts or STAGES
    unknown = set(parts) - set(STAGES)
    if unknown:
        raise SystemExit(f"unknown stress part(s) {sorted(unknown)}; choose from {STAGES}")
    path = out_dir / "stress.json"
    result: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    missing = [s for s in STAGES if s not in parts and s not in result]
    if missing:
        raise SystemExit(f"no earlier result for {missing}: run them too (--parts)")
    stages = {
        "corpus_fuzz": lambda: corpus_fuzz(out_dir, 5 if quick else 40),
        "cli_fuzz": lambda: cli_fuzz(out_dir) if not quick else {"per_reader": {}, "crashes": []},
        "atheris": lambda: atheris_fuzz(out_dir, 10 if quick else 120),
        "kill_trials": lambda: kill_trials(out_dir, 5 if quick else 60),
        "resources": lambda: resources(
            out_dir,
            0 if quick else int(os.environ.get("NETRCA_STRESS_FLOWS", "5000000")),
            10_000 if quick else int(os.environ.get("NETRCA_STRESS_DISTINCT", "1000000")),
        ),
        "audit": audit,
    }
    timings = result.get("stage_seconds", {})
    ran_at = result.get("stage_ran_at", {})
    partial = bool(os.environ.get("NETRCA_STRESS_READERS"))
    for name in STAGES:
        if name in parts:
            t0 = time.perf_counter()
            new = stages[name]()
            if partial and name in ("corpus_fuzz", "cli_fuzz") and name in result:
                new["per_reader"] = {**result[name]["per_reader"], **new["per_reader"]}
            elif partial and name == "atheris" and name in result:
                new = {**result[name], **new}
            result[name] = new
            timings[name] = round(time.perf_counter() - t0, 1)
            ran_at[name] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["stage_seconds"], result["stage_ran_at"] = timings, ran_at
    result["seconds"] = round(sum(timings.values()), 1)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, path)
    return result


def render(r: dict[str, Any]) -> str:
    lines = [
        "### Fuzzed inputs per reader",
        "",
        "| reader | mutation inputs | parsed | clean exit-2 errors | crashes | atheris runs | atheris crashes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in r["corpus_fuzz"]["per_reader"].items():
        a = r["atheris"].get(name, {})
        lines.append(
            f"| {name} | {c['inputs']:,} | {c['rows']:,} | {c['clean_error']:,} | {c['crash']} | "
            f"{a.get('runs', 0):,} | {a.get('crashes', 0)} |"
        )
    for line in r["corpus_fuzz"]["crashes"]:
        lines.append(f"- crash: {line}")
    cli = r.get("cli_fuzz", {}).get("per_reader", {})
    if cli:
        lines += [
            "",
            "### `netrca run` on fuzzed files (one input per reader and mutation)",
            "",
            "| reader | inputs | exit 0, folder verifies | clean exit 2 (one line) | crashes |",
            "|---|---|---|---|---|",
        ]
        for name, c in cli.items():
            lines.append(
                f"| {name} | {c['inputs']} | {c['ok']} | {c['clean_error']} | {c['crash']} |"
            )
        for line in r["cli_fuzz"]["crashes"]:
            lines.append(f"- crash: {line}")
    k = r["kill_trials"]
    lines += [
        "",
        "### kill -9 trials",
        "",
        f"{k['trials']} runs of `netrca run --flows 20000` killed with SIGKILL at a uniformly random "
        f"time in 5-105% of a full run ({k['full_run_seconds']:.1f} s): **{k['complete']} complete**, "
        f"**{k['incomplete']} marked incomplete** (no manifest), **{k['inconsistent']} inconsistent**; "
        f"the run after every 10th kill completed and verified {k['rerun_ok']} of "
        f"{k['trials'] // 10} times.",
    ]
    lines += [
        "",
        "### Resource limits",
        "",
        "| case | exit | seconds | peak RSS (MiB) | outcome |",
        "|---|---|---|---|---|",
    ]
    for case, m in r["resources"].items():
        if "exit" not in m:
            continue
        extra = f"; rejects: {m['rejects']}" if m.get("rejects") is not None else ""
        lines.append(
            f"| {case} | {m['exit']} | {m['seconds']} | {m['peak_rss_mib']} | "
            f"{m['stderr_last_line'] or 'ok'}{extra} |"
        )
    a = r["audit"]
    if "error" in a:
        lines += ["", f"### Dependency audit\n\npip-audit failed: {a['error']}"]
    else:
        lines += [
            "",
            "### Dependency audit",
            "",
            f"pip-audit over constraints.txt: {a['packages']} packages, {a['audited']} audited, "
            f"{a['not_audited']} could not be audited ({a['skip_reason_example'] or '-'}), "
            f"vulnerable: {a['vulnerable'] or 'none found among the audited'}.",
        ]
    times = r.get("stage_seconds", {})
    if times:
        ran = r.get("stage_ran_at", {})
        lines.append(
            "\nStage times: "
            + ", ".join(f"{k} {v:.0f} s (finished {ran.get(k, '?')})" for k, v in times.items())
            + "."
        )
    else:
        lines.append(f"\nTotal: {r['seconds']:.0f} s.")
    return "\n".join(lines)
