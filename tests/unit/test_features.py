"""Feature building: numeric, finite, and fitted state reused unchanged."""

from __future__ import annotations

import copy
import sys

import numpy as np
import pandas as pd
import pytest

from netrca.features import FeatureBuilder, FeatureState, _zeros


def test_matrix_is_finite_and_named(sim_flows: pd.DataFrame) -> None:
    fb = FeatureBuilder().fit(sim_flows)
    X = fb.transform(sim_flows)
    assert len(X) == len(sim_flows)
    assert list(X.columns) == fb.state_.feature_names
    assert np.isfinite(X.to_numpy()).all()
    assert {"src_win_distinct_dport", "pair_interarrival_cv", "log_latency_ratio"} <= set(X.columns)


def test_transform_does_not_refit(sim_flows: pd.DataFrame) -> None:
    fb = FeatureBuilder().fit(sim_flows.iloc[:3000])
    state = copy.deepcopy(fb.state_.to_dict())
    other = sim_flows.iloc[3000:].reset_index(drop=True)
    X = fb.transform(other)
    assert fb.state_.to_dict() == state
    assert list(X.columns) == state["feature_names"]


def test_unseen_categories_and_missing_latency(sim_flows: pd.DataFrame) -> None:
    fb = FeatureBuilder().fit(sim_flows)
    new = sim_flows.head(50).copy()
    new["protocol"] = "GOPHER"
    new["error_code"] = "WEIRD"
    new["latency"] = np.nan
    X = fb.transform(new)
    assert np.isfinite(X.to_numpy()).all()
    assert (X[[c for c in X.columns if c.startswith("protocol=")]] == 0).all().all()


def test_state_round_trips_through_json(sim_flows: pd.DataFrame) -> None:
    import json

    fb = FeatureBuilder().fit(sim_flows)
    state = FeatureState.from_dict(json.loads(json.dumps(fb.state_.to_dict())))
    again = FeatureBuilder.from_state(state)
    assert np.array_equal(again.transform(sim_flows).to_numpy(), fb.transform(sim_flows).to_numpy())


def test_feature_frame_equals_the_dict_built_frame() -> None:
    from netrca.features import _feature_frame

    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(0, 500))
        f: dict[str, np.ndarray] = {}
        for i in range(int(rng.integers(1, 12))):
            kind = i % 3
            if kind == 0:
                v = rng.normal(size=n)
                v[rng.random(n) < 0.2] = np.nan
                v[rng.random(n) < 0.05] = np.inf
            elif kind == 1:
                v = rng.random(n) < 0.5
            else:
                v = rng.integers(0, 9, n)
            f[f"f{i}"] = v
        names = [k for k in f if rng.random() < 0.8] + ["absent"]
        rng.shuffle(names)
        want = pd.DataFrame(f).reindex(columns=names, fill_value=0.0)
        want = want.astype("float64").fillna(0.0)
        got = _feature_frame(dict(f), names, n)
        pd.testing.assert_frame_equal(got, want)
        plain = _feature_frame(dict(f), list(f), n)
        pd.testing.assert_frame_equal(plain, pd.DataFrame(f).astype("float64").fillna(0.0))


def _feature_frame_reference(by_name: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The dict-built frame's columns for ``names``: a repeated name is filled once (its
    first column), the others stay 0."""
    from netrca.features import _feature_frame

    f = {c: by_name[c].to_numpy() for c in by_name.columns}
    return _feature_frame(f, names, len(by_name)).to_numpy()


def test_features_written_into_rows_equal_the_frame_built_by_name(
    sim_flows: pd.DataFrame,
) -> None:
    """With fitted names, transform writes each feature into its matrix row; without,
    it keeps them by name and builds the frame (what fitting does). The same values bit
    for bit, a fitted name never produced is 0, a produced name not fitted is dropped."""
    from netrca.features import _FeatureRows

    fb = FeatureBuilder().fit(sim_flows)
    names = list(fb.state_.feature_names)
    rows = fb.transform(sim_flows)
    fb.state_.feature_names = []
    by_name = fb.transform(sim_flows)
    assert set(by_name.columns) == set(names)
    pd.testing.assert_frame_equal(rows, by_name[names])
    assert np.array_equal(rows.to_numpy(), by_name[names].to_numpy())
    fb.state_.feature_names = [names[3], "not-a-feature", *names[5:]]
    some = fb.transform(sim_flows)
    assert list(some.columns) == fb.state_.feature_names
    assert (some["not-a-feature"] == 0.0).all()
    assert np.array_equal(some[names[5:]].to_numpy(), rows[names[5:]].to_numpy())
    fb.state_.feature_names = [names[0], names[0], names[1]]  # a repeated name (crafted)
    assert np.array_equal(
        fb.transform(sim_flows).to_numpy(),
        _feature_frame_reference(by_name, fb.state_.feature_names),
    )
    sink = _FeatureRows(["a", "b"], 3)
    sink["b"] = np.array([True, False, True])
    sink["c"] = np.array([1.0, 2.0, 3.0])
    sink["a"] = np.array([np.nan, np.inf, -1.0])
    assert sink.frame().to_dict("list") == {"a": [0.0, np.inf, -1.0], "b": [1.0, 0.0, 1.0]}


@pytest.mark.parametrize("dtype", ["str", "object", "string"])
def test_flow_context_text_flags_equal_row_by_row(dtype: str) -> None:
    from netrca.features import _FAILED_CODES_UNANSWERED, flow_context
    from netrca.simulate import Scenario, simulate

    flows = simulate(Scenario(n_flows=5000), seed=2)
    rng = np.random.default_rng(0)
    for col in ("error_code", "protocol", "status"):
        flows.loc[rng.random(len(flows)) < 0.05, col] = pd.NA
    states = np.array(["S0", "REJ", "SF", "OTH", None], dtype=object)
    flows["conn_state"] = states[rng.integers(0, len(states), len(flows))]
    for col in ("status", "error_code", "protocol", "conn_state"):
        flows[col] = flows[col].astype(dtype)
    ctx = flow_context(flows, ["10.0.0.0/8"])
    status = flows["status"].astype(str).to_numpy()
    error = flows["error_code"].astype(str).to_numpy()
    state = flows["conn_state"].astype(str).to_numpy()
    no_reply = flows["bytes_received"].fillna(0).to_numpy(dtype=float) == 0
    failed = status == "FAILED"
    unanswered = failed & np.isin(error, _FAILED_CODES_UNANSWERED)
    unanswered |= np.isin(state, ("S0", "SH", "OTH")) & no_reply
    refused = failed & np.isin(error, ("CONNECTION_REFUSED", "RESET"))
    refused |= np.isin(state, ("REJ", "RSTOS0", "RSTRH"))
    assert (ctx.failed == failed).all()
    assert (ctx.unanswered == unanswered).all() and unanswered.any()
    assert (ctx.refused == refused).all() and refused.any()
    assert (ctx.service_failed == failed & (np.char.find(error.astype(str), "AUTH") < 0)).all()
    assert (ctx.auth_error == (np.char.find(error.astype(str), "AUTH") >= 0)).all()
    for name in (*{e for e in error.tolist() if isinstance(e, str)}, "NOT-AN-ERROR"):
        assert (ctx.error_is(name) == (error == name)).all(), name
    assert ctx.auth_error.any()
    protocol = flows["protocol"].astype(str).str.upper().to_numpy()
    assert ((ctx.protocol == protocol) | (pd.isna(ctx.protocol) & pd.isna(protocol))).all()
    for name in (*np.unique(protocol.astype(str)), "NOT-A-PROTOCOL"):
        assert (ctx.protocol_in(name) == (ctx.protocol == name)).all(), name
    some = {"HTTP", "SSH", "DNS"}
    assert (ctx.protocol_in(some) == np.isin(ctx.protocol, list(some))).all()
    mismatch = np.zeros(len(flows), dtype=bool)
    dport = flows["destination_port"].astype("float64").to_numpy()
    from netrca.features import EXPECTED_PORTS

    for proto, ports in EXPECTED_PORTS.items():  # the row-by-row definition
        m = ctx.protocol == proto
        mismatch[m] = ~np.isin(dport[m], list(ports)) & ~np.isnan(dport[m])
    assert (ctx.mismatch == mismatch).all() and mismatch.any()


def test_port_mismatch_equals_the_per_protocol_definition_on_odd_ports() -> None:
    """The (protocol, port) table lookup against the per-protocol pass it replaced, on
    every protocol with expected ports, unknown and missing protocols, and ports that
    are missing, negative, too large or fractional (none of them an expected port)."""
    from netrca.features import EXPECTED_PORTS, _port_mismatch

    rng = np.random.default_rng(3)
    names = np.array([*EXPECTED_PORTS, "TCP", "UDP", "ICMP", "<NA>", "nan", "http"], dtype=object)
    ports = sorted({p for ps in EXPECTED_PORTS.values() for p in ps})
    odd = [np.nan, -1.0, -0.0, 0.0, 65535.0, 65536.0, 1e9, 80.5, 443.0000001, 22.0]
    n = 20_000
    codes = rng.integers(0, len(names), n)
    dport = np.where(
        rng.random(n) < 0.5,
        rng.choice(np.array(ports, dtype=float), n),
        rng.choice(np.array(odd + list(rng.integers(0, 70000, 50).astype(float))), n),
    )
    expected = np.zeros(n, dtype=bool)
    protocol = names[codes]
    for proto, allowed in EXPECTED_PORTS.items():  # the definition, protocol by protocol
        m = protocol == proto
        expected[m] = ~np.isin(dport[m], list(allowed)) & ~np.isnan(dport[m])
    got = _port_mismatch(names, codes, dport)
    assert (got == expected).all()
    assert got.any() and (~got & (protocol == "HTTP")).any()
    assert not got[protocol == "TCP"].any() and not got[np.isnan(dport)].any()
    empty = _port_mismatch(names[:0], np.zeros(0, dtype=np.int64), np.zeros(0))
    assert empty.shape == (0,)


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process holding ``address`` (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as smaps:
        lines = smaps.readlines()
    for line in lines:
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    raise AssertionError("no mapping holds the address")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps")
def test_large_zero_matrix_is_zero_and_not_advised_into_huge_pages() -> None:
    """The 72 MB matrix is a zero, writable mapping not advised into huge pages ("hg")."""
    rows, cols = 9, 1_000_000
    mat = _zeros(rows, cols)
    assert mat.shape == (rows, cols) and mat.dtype == np.float64
    assert not mat.any()
    mat[3, 5] = 1.5
    assert mat.sum() == 1.5
    assert "hg" not in _vm_flags(mat.ctypes.data)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["1", "2.5", "", None, "abc", "1e5", "-3", "9007199254740993"], dtype="string"),
        pd.Series(["1", " 2", "3 ", "0x10", None], dtype=object),  # Arrow refuses: pandas reads
        pd.Series(["-0", "1.5", "-0.0"], dtype="string"),  # negative zero: pandas decides
        pd.Series([1, 2, 3, 2**60], dtype="int64"),
        pd.Series([1.5, np.nan, -2.0]),
        pd.Series([True, False, None], dtype="boolean"),
        pd.Series([1.5, "2", None], dtype=object),
    ],
)
def test_extra_columns_read_as_pandas_to_numeric(column: pd.Series) -> None:
    """Extra (table) columns parsed by Arrow where they are text: pd.to_numeric's values,
    bit for bit."""
    from netrca.features import _numeric

    expected = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
    got = _numeric(column)
    assert got.dtype == np.float64
    assert np.array_equal(got.view(np.int64), expected.view(np.int64)), (got, expected)
