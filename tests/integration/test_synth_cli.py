"""`netrca synth fit/sample/report` and `netrca run --synthetic gan` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from netrca.io import read_flows
from netrca.simulate import Scenario, simulate, write_flows
from netrca.synth.persist import load_gan
from tests.conftest import cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A labelled flow file and a quickly trained model (CLI defaults, 25 steps)."""
    d = tmp_path_factory.mktemp("synth")
    flows = d / "flows.csv"
    write_flows(simulate(Scenario(n_flows=800), seed=11), flows)
    model = d / "gan.pt"
    code = cli(
        "synth",
        "fit",
        "-i",
        str(flows),
        "-o",
        str(model),
        "--max-steps",
        "25",
        "--threads",
        "1",
        "-q",
    )
    assert code == 0 and model.exists()
    return flows, model


def test_sample_writes_the_requested_class_mix(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, model = trained
    out = tmp_path / "s.csv"
    code = cli(
        "synth",
        "sample",
        "-m",
        str(model),
        "-n",
        "300",
        "--anomalies",
        "port_scan=40,dos_flood=10",
        "-o",
        str(out),
        "-q",
    )
    assert code == 0
    read = read_flows(out)
    assert len(read.flows) == 300 and not len(read.rejects)
    counts = read.flows["root_cause"].value_counts().to_dict()
    assert counts == {"normal": 250, "port_scan": 40, "dos_flood": 10}
    again = tmp_path / "again.csv"
    cli(
        "synth",
        "sample",
        "-m",
        str(model),
        "-n",
        "300",
        "--anomalies",
        "port_scan=40,dos_flood=10",
        "-o",
        str(again),
        "-q",
    )
    assert out.read_bytes() == again.read_bytes()


def test_sample_and_report_with_candidates(trained: tuple[Path, Path], tmp_path: Path) -> None:
    flows, model = trained
    out = tmp_path / "refined.csv"
    args = ["synth", "sample", "-m", str(model), "-n", "200", "--anomalies", "port_scan=30"]
    assert cli(*args, "--candidates", "3", "-o", str(out), "-q") == 0
    read = read_flows(out)
    assert read.flows["root_cause"].value_counts().to_dict() == {"normal": 170, "port_scan": 30}
    plain = tmp_path / "plain.csv"
    assert cli(*args, "-o", str(plain), "-q") == 0
    assert out.read_bytes() != plain.read_bytes()
    rep = tmp_path / "r.json"
    code = cli(
        "synth", "report", "-i", str(flows), "-m", str(model), "-o", str(rep), "--candidates", "2"
    )
    assert code == 0
    assert json.loads(rep.read_text())["sampling"]["candidates"] == 2
    assert load_gan(model).refiner_.stages == 3  # the CLI's default
    one = tmp_path / "one_stage.pt"
    args = ["synth", "fit", "-i", str(flows), "-o", str(one), "--max-steps", "25", "--threads", "1"]
    assert cli(*args, "--refiner-stages", "1", "-q") == 0
    assert load_gan(one).refiner_.stages == 1


def test_fit_reports_and_stores_time_pooling_and_calibration(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows, model = trained
    pooling = load_gan(model).training_["time_pooling"]["classes"]
    assert pooling["normal"]["pooling"] in ("class", "skeleton")  # 800 flows: ~340 a side
    args = ["synth", "fit", "-i", str(flows), "--max-steps", "5", "--threads", "1"]
    capsys.readouterr()
    assert cli(*args, "-o", str(tmp_path / "a.pt"), "--no-refiner") == 0
    err = capsys.readouterr().err
    assert f"normal by {pooling['normal']['pooling']}" in err
    # calibration is on by default and says how many groups each column got
    assert "calibrated columns (groups by skeleton/coarse skeleton/class): " in err
    assert "calibrated tokens (groups by skeleton/coarse skeleton/class): source_ip" in err
    fitted = load_gan(tmp_path / "a.pt")
    # classes under 5,000 flows (and at least 100) are matched in time, and named
    timed = fitted.rank_matcher_.timed
    assert timed and all(f"{c} (" in err for c in timed)
    assert "gap correlations matched in time for: " in err
    assert fitted.calibrator_ is not None and fitted.token_calibrator_ is not None
    assert "bytes_sent|packets_sent" in fitted.calibrator_.maps
    args += ["--no-refiner", "--no-pool-time", "--no-calibrate", "--no-match-ranks"]
    assert cli(*args, "-o", str(tmp_path / "b.pt")) == 0
    err = capsys.readouterr().err
    assert "positions in time pooled" not in err and "calibrated" not in err
    assert "matched" not in err
    off = load_gan(tmp_path / "b.pt")
    assert off.pool_time is False and not off.time_pooling_.any()
    assert off.calibrate is False and off.calibrator_ is None


def test_report_compares_with_both_baselines(trained: tuple[Path, Path], tmp_path: Path) -> None:
    flows, model = trained
    rep, fid = tmp_path / "r.json", tmp_path / "fidelity.json"
    code = cli(
        "synth",
        "report",
        "-i",
        str(flows),
        "-m",
        str(model),
        "-o",
        str(rep),
        "--fidelity-json",
        str(fid),
        "-q",
    )
    assert code == 0
    report = json.loads(rep.read_text())
    assert set(report["metrics"]) == {"gan", "independent_marginals", "smote"}
    for m in report["metrics"].values():
        assert 0.0 <= m["ks_mean"] <= 1.0 and 0.0 <= m["classifier_auc"] <= 1.0
    assert report["targets"]["classifier_auc_beats_baselines"]["met"] in (True, False)
    # sampling noise alone: above zero, far below what independent columns lose
    floor = report["floor"]["correlation_difference"]
    assert 0.0 < floor < report["metrics"]["independent_marginals"]["correlation_difference"] / 3
    fidelity = json.loads(fid.read_text())
    assert fidelity["metrics"]["correlation_difference_floor"] == floor
    col = fidelity["columns"]["bytes_sent"]
    assert len(col["bin_edges"]) == len(col["real"]) + 1 == len(col["synthetic"]) + 1
    assert set(fidelity["metrics"]["baselines"]) == {"independent_marginals", "smote"}


def test_run_uses_the_gan_end_to_end(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, model = trained
    out = tmp_path / "run"
    code = cli(
        "run",
        "--synthetic",
        "gan",
        "--gan-model",
        str(model),
        "--flows",
        "600",
        "-o",
        str(out),
        "-q",
    )
    assert code == 0
    assert (out / "manifest.json").exists() and (out / "root_cause_analyses.json").exists()
    preds = pd.read_csv(out / "network_logs_with_predictions.csv")
    assert len(preds) == 600 and preds["root_cause"].notna().all()
    fidelity = json.loads((out / "fidelity.json").read_text())
    assert fidelity["columns"] and fidelity["metrics"]["jsd_mean"] is not None


def test_run_fits_a_gan_on_simulated_flows_when_none_is_given(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = cli(
        "run", "--synthetic", "gan", "--gan-steps", "10", "--flows", "500", "-o", str(out), "-q"
    )
    assert code == 0
    fidelity = json.loads((out / "fidelity.json").read_text())
    assert set(fidelity["metrics"]["baselines"]) == {"independent_marginals", "smote"}
    assert json.loads((out / "evaluation.json").read_text())["n_flows"] == 500
    # the HTML report lists the noise floor right after the figure it qualifies
    html = (out / "report.html").read_text()
    at = html.index("correlation_difference_floor")
    assert html.rindex("correlation_difference<", 0, at) > html.index("GAN fidelity")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synth", "sample", "-m", "MODEL", "--anomalies", "alien=3"], "unknown root_cause"),
        (["synth", "sample", "-m", "MODEL", "--anomalies", "port_scan"], "NAME=COUNT"),
        (["synth", "sample", "-m", "JUNK"], "not a readable netrca GAN model"),
        (["synth", "sample", "-m", "MODEL", "--candidates", "0"], "--candidates"),
        (
            ["synth", "fit", "-i", "FLOWS", "-o", "x.pt", "--refiner-stages", "0"],
            "--refiner-stages",
        ),
        (["synth", "fit", "-i", "ONE_ROW", "-o", "x.pt"], "need at least 10 flows"),
        (
            ["synth", "fit", "-i", "FLOWS", "-o", "x.pt", "--skeleton-weighting", "uniform"],
            "skeleton_weighting must be one of sqrt, frequency, log",
        ),
        (["run", "--synthetic", "vae"], "unknown synthetic source 'vae'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    trained: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    flows, model = trained
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    one = tmp_path / "one.csv"
    pd.read_csv(flows).head(1).to_csv(one, index=False)
    subst = {"MODEL": str(model), "JUNK": str(junk), "ONE_ROW": str(one), "FLOWS": str(flows)}
    code = (
        cli(*[subst.get(a, a) for a in args], "-o", str(tmp_path / "o"))
        if args[0] == "run"
        else cli(*[subst.get(a, a) for a in args])
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0]
