"""The real CLI on simulated and real files: output contracts, exit codes, bad input."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from netrca.report import read_manifest
from netrca.report.verify import verify_run
from netrca.schema import OUTPUT_COLUMNS, Analysis
from tests.conftest import CTU_NJRAT, CTU_NORMAL, NMAP, cli, need

OUTPUT_FILES = {
    "network_logs.csv",
    "network_logs_with_predictions.csv",
    "network_logs_with_predictions.parquet",
    "rejects.csv",
    "anomaly_detector.npz",
    "root_cause_analyses.json",
    "analysis_summary.json",
    "manifest.json",
}


def netrca(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netrca", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def check_contract(out: Path, n_input: int) -> tuple[pd.DataFrame, list[Analysis]]:
    assert {p.name for p in out.iterdir()} >= OUTPUT_FILES
    assert read_manifest(out) is not None
    preds = pd.read_csv(out / "network_logs_with_predictions.csv", low_memory=False)
    assert len(preds) == n_input
    assert set(OUTPUT_COLUMNS) <= set(preds.columns)
    assert preds["flow_id"].tolist() == list(range(n_input))
    assert preds["anomaly_score"].between(0, 1).all()
    parquet = pd.read_parquet(out / "network_logs_with_predictions.parquet")
    assert len(parquet) == n_input and list(parquet.columns) == list(preds.columns)
    analyses = [
        Analysis.model_validate(a)
        for a in json.loads((out / "root_cause_analyses.json").read_text())
    ]
    flagged = preds.loc[preds["is_anomaly"], "flow_id"].tolist()
    assert sorted(f for a in analyses for f in a.flow_ids) == flagged
    assert preds.loc[~preds["is_anomaly"], "incident_id"].isna().all()
    by_id = {a.incident_id: a.category.value for a in analyses}
    sub = preds[preds["is_anomaly"]]
    assert (sub["incident_id"].map(by_id) == sub["predicted_category"]).all()
    summary = json.loads((out / "analysis_summary.json").read_text())
    assert summary["incidents"] == len(analyses)
    assert summary["anomalous_flows"] == len(flagged)
    return preds, analyses


def test_run_on_simulated_defaults(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli("run", "--output", str(out), "--flows", "4000", "--seed", "1", "--quiet") == 0
    _, analyses = check_contract(out, len(pd.read_csv(out / "network_logs.csv")))
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["roc_auc"] > 0.9 and ev["root_cause"]["accuracy"] > 0.8
    assert {a.category.value for a in analyses} >= {"port_scan", "brute_force"}


def test_simulate_fit_detect_analyze_evaluate(tmp_path: Path) -> None:
    base, new = tmp_path / "base.csv", tmp_path / "new.csv"
    assert cli("simulate", "-n", "3000", "--seed", "2", "-o", str(base), "--anomalies", "") == 0
    assert cli("simulate", "-n", "3000", "--seed", "3", "-o", str(new)) == 0
    assert pd.read_csv(base)["label"].sum() == 0
    model = tmp_path / "m.npz"
    assert cli("fit", "--input", str(base), "--output", str(model), "--quiet") == 0
    out = tmp_path / "out"
    assert (
        cli("detect", "--input", str(new), "--model", str(model), "--output", str(out), "--quiet")
        == 0
    )
    check_contract(out, len(pd.read_csv(new)))
    summary = json.loads((out / "analysis_summary.json").read_text())
    assert summary["run"]["mode"] == "baseline"
    # baseline mode keeps the very model file that scored the flows
    assert (out / "anomaly_detector.npz").read_bytes() == model.read_bytes()
    assert cli("analyze", str(out), "--quiet") == 0
    check_contract(out, len(pd.read_csv(new)))
    assert cli("evaluate", str(out)) == 0
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["roc_auc"] > 0.85


@pytest.mark.parametrize("path", [CTU_NORMAL, CTU_NJRAT, NMAP], ids=["ctu_normal", "njrat", "nmap"])
def test_run_on_real_zeek_logs(tmp_path: Path, path: Path) -> None:
    need(path)
    out = tmp_path / "out"
    assert cli("run", "--input", str(path), "--output", str(out), "--quiet") == 0
    preds, analyses = check_contract(
        out, sum(1 for line in path.open() if not line.startswith("#"))
    )
    assert {"uid", "conn_state"} <= set(preds.columns)  # Zeek extras kept
    if path == NMAP:
        top = preds.groupby("source_ip")["anomaly_score"].mean().idxmax()
        assert top == "172.16.1.11"
        scanner = [a for a in analyses if "172.16.1.11" in a.entities.sources]
        assert max(scanner, key=lambda a: a.flow_count).category.value == "port_scan"
    if path == CTU_NORMAL:
        ev = json.loads((out / "evaluation.json").read_text())
        assert ev["roc_auc"] > 0.9


BAD_INPUTS = {
    "empty.csv": b"",
    "header_only.csv": b"timestamp,source_ip,destination_ip\n",
    "junk.bin": bytes(range(256)) * 50,
    "missing_column.csv": b"a,b\n1,2\n",
    "all_negative.csv": b"timestamp,source_ip,destination_ip,bytes_sent\n1,10.0.0.1,10.0.0.2,-5\n",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(BAD_INPUTS[name])
    res = netrca("run", "--input", str(p), "--output", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netrca: error:") and str(p) in lines[0]
    assert "Traceback" not in res.stderr
    assert read_manifest(tmp_path / "out") is None


def test_a_failed_run_leaves_the_previous_run_in_its_folder_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert netrca("run", "--flows", "600", "--output", str(out), "--quiet").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "junk.bin"
    bad.write_bytes(BAD_INPUTS["junk.bin"])
    for args in (["--input", str(bad)], ["--input", str(tmp_path / "nope.csv")]):
        res = netrca("run", *args, "--output", str(out), "--quiet")
        assert res.returncode == 2 and "Traceback" not in res.stderr
        after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        assert after == before and not list(out.glob(".staging-*"))
    assert verify_run(out).ok


def test_missing_file_and_usage_errors(tmp_path: Path) -> None:
    # in a scratch folder: the default output folder is ./data
    res = netrca("run", "--input", str(tmp_path / "nope.csv"), "--quiet", cwd=tmp_path)
    assert res.returncode == 2 and "no such file" in res.stderr and "Traceback" not in res.stderr
    res = netrca("run", "--contamination", "lots", cwd=tmp_path)
    assert res.returncode == 2 and "contamination" in res.stderr
    res = netrca("frobnicate")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_partly_bad_file_keeps_every_good_row(tmp_path: Path, sim_csv: Path) -> None:
    lines = sim_csv.read_text().splitlines()
    header, body = lines[0], lines[1:801]
    bad = {
        5: body[5].replace(",SUCCESS,", ",SUCCESS,extra,"),
        17: "garbage",
        42: body[42].replace("10.", "999.", 1),
    }
    for i, text in bad.items():
        body[i] = text
    p = tmp_path / "mixed.csv"
    p.write_text("\n".join([header, *body]) + "\n")
    out = tmp_path / "out"
    assert cli("run", "--input", str(p), "--output", str(out), "--quiet") == 0
    rejects = pd.read_csv(out / "rejects.csv")
    assert sorted(rejects["line"].tolist()) == sorted(i + 2 for i in bad)
    preds = pd.read_csv(out / "network_logs_with_predictions.csv")
    assert len(preds) == 800 - len(bad)


def test_truncated_zeek_keeps_every_complete_row(tmp_path: Path) -> None:
    p = need(CTU_NORMAL)
    text = p.read_text()
    cut = tmp_path / "cut.log"
    cut.write_text(text[: len(text) // 2])
    out = tmp_path / "out"
    assert cli("run", "--input", str(cut), "--output", str(out), "--quiet") == 0
    rejects = pd.read_csv(out / "rejects.csv")
    assert len(rejects) <= 1
    preds = pd.read_csv(out / "network_logs_with_predictions.csv", low_memory=False)
    assert len(preds) + len(rejects) == sum(
        1 for line in cut.read_text().splitlines() if not line.startswith("#")
    )


def test_version_and_help() -> None:
    res = netrca("--help")
    assert res.returncode == 0 and "simulate" in res.stdout and "evaluate" in res.stdout
    res = netrca("version")
    assert res.returncode == 0 and res.stdout.strip().count(".") == 2


def test_detect_partitioned_engine_on_a_zeek_log(tmp_path: Path) -> None:
    base, new = tmp_path / "base.log", tmp_path / "new.log"
    args = ("-n", "3000", "--format", "zeek", "-o")
    assert cli("simulate", *args, str(base), "--seed", "2", "--anomalies", "") == 0
    assert cli("simulate", *args, str(new), "--seed", "3") == 0
    model = tmp_path / "m.npz"
    assert cli("fit", "--input", str(base), "--output", str(model), "--quiet") == 0
    out = tmp_path / "out"
    code = cli(
        "detect", "-i", str(new), "-m", str(model), "-o", str(out),
        "--engine", "local", "--partition-flows", "1000", "--quiet",
    )  # fmt: skip
    assert code == 0
    parts = sorted((out / "predictions").glob("part-*.parquet"))
    assert len(parts) >= 3
    preds = pd.concat(pd.read_parquet(p) for p in parts)
    summary = json.loads((out / "partitions.json").read_text())
    assert summary["rows"] == len(preds) == preds["flow_id"].max() + 1
    assert {"anomaly_score", "is_anomaly", "reasons"} <= set(preds.columns)
    assert (
        preds.loc[preds["label"] != "Benign", "anomaly_score"].mean()
        > preds.loc[preds["label"] == "Benign", "anomaly_score"].mean()
    )
    bad = netrca("detect", "-i", str(new), "-m", str(model), "--engine", "spark")
    assert bad.returncode == 2 and "engine" in bad.stderr


def test_detect_with_a_model_imports_no_training_libraries(tmp_path: Path) -> None:
    """Start-up cost: scoring with a saved model needs neither scikit-learn (the fitter),
    scipy, torch nor the fake LLM server; importing them cost ~1.4 s per command."""
    logs = tmp_path / "flows.csv"
    assert netrca("simulate", "-n", "3000", "--seed", "4", "-o", str(logs)).returncode == 0
    model = tmp_path / "model.npz"
    assert netrca("fit", "-i", str(logs), "-o", str(model)).returncode == 0
    probe = (
        "import sys\n"
        "from netrca.cli import main\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] in {'sklearn',"
        " 'scipy', 'torch'} or m in {'netrca.dev.fake_llm', 'netrca.synth.gan'})\n"
        "print('after import:', loaded())\n"
        "try:\n"
        f"    main(['detect', '-i', {str(logs)!r}, '-m', {str(model)!r}, '-o', "
        f"{str(tmp_path / 'out')!r}, '--quiet'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('after detect:', loaded())\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in proc.stdout.strip().splitlines())
    assert lines["after import"] == "[]"
    # numba's first call of a cached kernel loads scipy's BLAS bindings: allowed
    after = [m for m in ast.literal_eval(lines["after detect"]) if not m.startswith("scipy")]
    assert after == [], after
    assert (tmp_path / "out" / "network_logs_with_predictions.parquet").exists()


def test_the_command_freezes_what_it_leaves_before_exit(tmp_path: Path) -> None:
    """The console script and ``python -m netrca`` run ``entry``: main, then gc.freeze
    so the interpreter's teardown collections skip the run's objects; exit codes and
    output are main's. ``main`` itself, which tests call in-process, freezes nothing."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "netrca"]
    assert script.value == "netrca.__main__:entry"
    probe = (
        "import gc, sys\n"
        "from netrca.cli import entry, main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('after main:', gc.get_freeze_count())\n"
        "sys.argv = ['netrca', 'detect', '-i', 'missing.log', '-m', 'missing.npz']\n"
        "try:\n"
        "    entry()\n"
        "except SystemExit as exc:\n"
        "    print('exit:', exc.code)\n"
        "print('after entry:', gc.get_freeze_count())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    lines = dict(line.split(": ", 1) for line in proc.stdout.strip().splitlines() if ": " in line)
    assert lines["after main"] == "0", proc.stdout
    assert lines["exit"] == "2" and "missing" in proc.stderr
    assert int(lines["after entry"]) > 1000
    # python -m netrca goes through entry too: same exit code and message
    bad = netrca("detect", "-i", "missing.log", "-m", "missing.npz", cwd=tmp_path)
    assert bad.returncode == 2 and "missing" in bad.stderr


@pytest.mark.parametrize(
    ("argv", "preset", "expected"),
    [
        (["detect", "--help"], None, "1"),
        (["fit", "--help"], None, "1"),
        (["--help"], None, None),
        (["synth", "--help"], None, None),
        (["run", "--help"], None, None),
        (["detect", "--help"], "3", "3"),
    ],
)
def test_the_command_holds_openblas_to_one_thread_before_numpy_loads(
    argv: list[str], preset: str | None, expected: str | None
) -> None:
    """detect and fit set OPENBLAS_NUM_THREADS=1 before anything imports numpy (its
    spinning worker thread took a core while the input was read); the other commands
    (synth and run --synthetic gan multiply matrices) keep the default, and the user's
    own setting always wins."""
    import os

    probe = (
        "import os, sys\n"
        f"sys.argv = ['netrca', *{argv!r}]\n"
        "import netrca.__main__ as m\n"
        "assert 'numpy' not in sys.modules\n"
        "try:\n"
        "    m.entry()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('threads:', os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == f"threads: {expected}"
