"""Validity rules, the metric view, fidelity metrics and both baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netrca.errors import InputError
from netrca.synth.baselines import IndependentSampler, SmoteSampler
from netrca.synth.fidelity import (
    ViewSpec,
    compare,
    fidelity_from_reference,
    summarize,
)
from netrca.synth.gan import FlowGAN
from netrca.synth.validity import ValidityRules


def _broken(flows: pd.DataFrame) -> pd.DataFrame:
    bad = flows.head(40).copy()
    bad["status"] = "SUCCESS"
    bad["error_code"] = "TIMEOUT"  # never SUCCESS/TIMEOUT in training
    bad.loc[bad.index[:10], "protocol"] = "DNS"
    bad.loc[bad.index[:10], "destination_port"] = 8080  # DNS never seen on 8080
    bad.loc[bad.index[10:20], "bytes_sent"] = 500
    bad.loc[bad.index[10:20], "packets_sent"] = 0
    return bad


def test_rules_flag_and_repair_every_violation(labelled_flows: pd.DataFrame) -> None:
    rules = ValidityRules(condition="root_cause").fit(labelled_flows)
    assert rules.rate(labelled_flows) == 1.0
    bad = _broken(labelled_flows)
    checks = rules.check(bad)
    assert checks["status_error"].all()
    assert checks["protocol_port"][:10].all()
    assert checks["bytes_packets"][10:20].all()
    fixed, counts = rules.repair(bad, np.random.default_rng(0))
    assert counts["status_error"] == 40 and counts["bytes_packets"] == 10
    assert rules.rate(fixed) == 1.0
    assert (fixed["status"] == "FAILED").all()  # the status that goes with TIMEOUT
    assert (fixed["destination_port"].iloc[:10] == 53).all()
    assert (fixed["packets_sent"].iloc[10:20] >= 1).all()
    # the caller's checks, when passed, give the same repair
    again, counts_again = rules.repair(bad, np.random.default_rng(0), checks)
    pd.testing.assert_frame_equal(again, fixed)
    assert counts_again == counts


def test_icmp_flows_lose_their_ports(labelled_flows: pd.DataFrame) -> None:
    flows = labelled_flows.copy()
    icmp = flows.index[:30]
    flows.loc[icmp, "protocol"] = "ICMP"
    flows["source_port"] = flows["source_port"].astype("Int64")
    flows["destination_port"] = flows["destination_port"].astype("Int64")
    flows.loc[icmp, ["source_port", "destination_port"]] = pd.NA
    rules = ValidityRules().fit(flows)
    bad = flows.loc[icmp].copy()
    bad["destination_port"] = 80
    assert rules.check(bad)["icmp_ports"].all()
    fixed, _ = rules.repair(bad, np.random.default_rng(0))
    assert fixed["destination_port"].isna().all() and rules.rate(fixed) == 1.0
    # the port check is redone once ICMP rows lost their ports: none is drawn for them
    assert rules.check(bad)["protocol_port"].all()
    fixed, _ = rules.repair(bad, np.random.default_rng(0), rules.check(bad))
    assert fixed["destination_port"].isna().all() and rules.rate(fixed) == 1.0


def test_rules_survive_their_json_state(labelled_flows: pd.DataFrame) -> None:
    rules = ValidityRules(condition="root_cause").fit(labelled_flows)
    again = ValidityRules.from_dict(rules.to_dict())
    bad = _broken(labelled_flows)
    for k, v in rules.check(bad).items():
        assert (again.check(bad)[k] == v).all()


def test_identical_flows_have_zero_marginal_distance(labelled_flows: pd.DataFrame) -> None:
    spec = ViewSpec().fit(labelled_flows)
    rules = ValidityRules(condition="root_cause").fit(labelled_flows)
    m = compare(labelled_flows, labelled_flows, spec, rules, seed=0)
    assert m["ks_mean"] == 0.0 and m["jsd_mean"] == pytest.approx(0.0, abs=1e-12)
    assert m["correlation_difference"] == 0.0 and m["contingency_difference"] == 0.0
    assert m["exact_copies"] == len(labelled_flows)
    assert m["dcr_zero_share"] == 1.0


def test_classifier_cannot_tell_two_halves_of_the_same_flows_apart(
    labelled_flows: pd.DataFrame,
) -> None:
    from netrca.synth.fidelity import classifier_auc

    shuffled = labelled_flows.sample(frac=1.0, random_state=4).reset_index(drop=True)
    half = len(shuffled) // 2
    spec = ViewSpec().fit(shuffled)
    a = spec.transform(shuffled.iloc[:half].reset_index(drop=True))
    b = spec.transform(shuffled.iloc[half:].reset_index(drop=True))
    assert 0.35 <= classifier_auc(a, b, seed=0) <= 0.65


def test_independent_marginals_lose_dependence(labelled_flows: pd.DataFrame) -> None:
    spec = ViewSpec().fit(labelled_flows)
    rules = ValidityRules(condition="root_cause").fit(labelled_flows)
    indep = IndependentSampler().fit(labelled_flows).sample(len(labelled_flows), 1)
    assert list(indep.columns) == list(labelled_flows.columns)
    m = compare(labelled_flows, indep, spec, rules, seed=0)
    assert m["jsd_mean"] < 0.02  # marginals are right ...
    assert m["contingency_difference"] > 0.1  # ... pairs are not
    assert m["validity"] < 0.9


def test_smote_interpolates_within_class(labelled_flows: pd.DataFrame) -> None:
    smote = SmoteSampler(condition="root_cause").fit(labelled_flows)
    out = smote.sample(500, random_state=2)
    assert list(out.columns) == list(labelled_flows.columns)
    assert out["root_cause"].isin(labelled_flows["root_cause"]).all()
    sent = pd.to_numeric(out["bytes_sent"])
    assert sent.min() >= labelled_flows["bytes_sent"].min()
    assert sent.max() <= labelled_flows["bytes_sent"].max()
    assert out["timestamp"].is_monotonic_increasing


def test_view_needs_the_columns_it_learned(labelled_flows: pd.DataFrame) -> None:
    spec = ViewSpec().fit(labelled_flows)
    with pytest.raises(InputError, match="bytes_sent"):
        spec.transform(labelled_flows.drop(columns="bytes_sent"))


def test_reference_histograms_give_plot_ready_columns(
    tiny_gan: FlowGAN, labelled_flows: pd.DataFrame
) -> None:
    ref = summarize(labelled_flows)
    assert "rows" in ref and all("synthetic" not in c for c in ref["columns"].values())
    out = fidelity_from_reference(tiny_gan.reference_, tiny_gan.sample(300))
    col = out["columns"]["bytes_sent"]
    assert col["kind"] == "continuous" and len(col["bin_edges"]) == len(col["real"]) + 1
    assert sum(col["synthetic"]) == 300
    cat = out["columns"]["protocol"]
    assert len(cat["categories"]) == len(cat["real"]) == len(cat["synthetic"])
    assert 0.0 <= out["metrics"]["jsd_mean"] <= 1.0


def test_empty_flows_check_clean_and_a_repaired_condition_rechecks_ports() -> None:
    flows = pd.DataFrame(
        {
            "status": ["OK"] * 20 + ["FAIL"] * 20,
            "error_code": ["none"] * 20 + ["E1"] * 20,
            "protocol": ["TCP"] * 40,
            "destination_port": pd.array([80] * 20 + [443] * 20, dtype="Int64"),
        }
    )
    rules = ValidityRules(condition="status").fit(flows)
    assert all(len(m) == 0 for m in rules.check(flows.iloc[:0]).values())
    assert rules.rate(flows.iloc[:0]) == 1.0
    # status repaired from the error code: the port tables are keyed by status, so the
    # port is checked (and drawn) for the repaired status
    bad = flows.iloc[:1].assign(error_code="E1")
    fixed, counts = rules.repair(bad, np.random.default_rng(0))
    assert counts["status_error"] == 1
    assert fixed["status"].tolist() == ["FAIL"] and fixed["destination_port"].tolist() == [443]
    assert rules.rate(fixed) == 1.0


def test_the_correlation_floor_is_the_noise_between_independent_samples() -> None:
    """The floor estimated from one sample's halves matches the mean difference between
    fresh independent samples of the same distribution and sizes (and so sits above what
    copying the real rows gives: zero)."""
    from netrca.synth.fidelity import _correlation_difference, correlation_floor

    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.0], [0.2, 0.0, 1.0]])

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame(rng.multivariate_normal(np.zeros(3), cov, n), columns=list("abc"))

    real = draw(6000)
    floors = [correlation_floor(real, 3000, seed=s) for s in range(3)]
    fresh = [_correlation_difference(real, draw(3000)) for _ in range(40)]
    assert all(f is not None and f > 0 for f in floors)
    assert 0.6 < float(np.mean(floors)) / float(np.mean(fresh)) < 1.6
    assert _correlation_difference(real, real) == 0.0
    assert correlation_floor(real[["a"]], 100) is None and correlation_floor(real[:3], 10) is None
