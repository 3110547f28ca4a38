"""Calibration: quantile maps and token offsets per group, fallbacks, persistence, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, spearmanr

from netrca.errors import ModelError
from netrca.synth.calibrate import Calibrator, TokenCalibrator
from netrca.synth.gan import FlowGAN
from netrca.synth.persist import load_gan, save_gan


def _keys(skeleton: np.ndarray, coarse: np.ndarray, cls: np.ndarray) -> np.ndarray:
    return np.column_stack([skeleton, coarse, cls]).astype(np.int64)


def _pair(n_real: int = 4000, n_gen: int = 8000) -> tuple[pd.DataFrame, np.ndarray, ...]:
    """Real counts log-normal per skeleton (two skeletons of class 0, one of class 1) with
    30% zeros; generated ones with the wrong centre, spread and zero share."""
    rng = np.random.default_rng(0)

    def side(n: int, real: bool) -> tuple[pd.DataFrame, np.ndarray]:
        sk = rng.integers(0, 3, n)
        centre = np.array([3.0, 6.0, 9.0])[sk] + (0.0 if real else 0.7)
        spread = 0.5 if real else 1.1
        v = np.round(np.exp(centre + spread * rng.standard_normal(n)))
        v[rng.random(n) < (0.3 if real else 0.1)] = 0.0
        port = rng.integers(32768, 61000, n).astype(float) if real else rng.normal(47000, 9000, n)
        port = np.round(port)
        port[rng.random(n) < 0.05] = 53.0  # an exact port, never calibrated
        frame = pd.DataFrame(
            {
                "bytes": pd.array(v.astype(np.int64), dtype="Int64"),
                "latency": np.exp(centre / 3 + (1.0 if real else 0.5) * rng.standard_normal(n)),
                "source_port": pd.array(port.astype(np.int64), dtype="Int64"),
            }
        )
        return frame, _keys(sk, sk, (sk == 2).astype(np.int64))

    real, rk = side(n_real, True)
    gen, gk = side(n_gen, False)
    return real, rk, gen, gk


def _fitted() -> tuple[Calibrator, pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    real, rk, gen, gk = _pair()
    cal = Calibrator(min_rows=50).fit(
        real,
        rk,
        gen,
        gk,
        ["bytes", "latency", "source_port"],
        integer={"bytes": True, "source_port": True},
        skip={"source_port": [53.0], "bytes": [0.0]},
    )
    return cal, real, rk, gen, gk


def test_each_group_gets_the_training_marginal_and_keeps_its_ranks() -> None:
    cal, real, rk, _, _ = _fitted()
    _, _, fresh, fk = _pair(4000, 6000)  # new generated rows, same generator
    out = cal.apply(fresh, fk, np.random.default_rng(1))
    for s in range(3):
        r, o, f = (rk[:, 0] == s), (fk[:, 0] == s), fresh.loc[fk[:, 0] == s]
        for col in ("bytes", "latency"):
            x = real.loc[r, col].to_numpy(float)
            x, g, m = x[x > 0], f[col].to_numpy(float), out.loc[o, col].to_numpy(float)
            before = ks_2samp(x, g[g > 0]).statistic
            after = ks_2samp(x, m[m > 0]).statistic
            assert before > 0.2 and after < 0.05, (s, col, before, after)
        # skipped values (zero here) stay as generated
        assert ((out.loc[o, "bytes"] == 0) == (f["bytes"] == 0)).all()
        # monotone: ranks inside the group are kept (ties aside)
        pos = f["latency"].to_numpy(float)
        assert spearmanr(pos, out.loc[o, "latency"].to_numpy(float)).statistic > 0.999
    # integer columns stay integers, counts non-negative, dtypes unchanged
    assert (out["bytes"].dtype, out["source_port"].dtype) == ("Int64", "Int64")
    assert (out["bytes"] >= 0).all()
    # client ports land in the training range; the exact port is left alone
    tail = fresh["source_port"] != 53
    assert out.loc[tail, "source_port"].between(32768, 60999).all()
    assert (out.loc[~tail, "source_port"] == 53).all()


def test_groups_fall_back_to_coarser_levels_and_small_ones_stay_as_generated() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    # skeletons 6 and 7 have 20 and 40 rows (too few each), so their rows use coarse group
    # 1 (the 60 rows no skeleton group holds); class 5 has 10 rows, so they stay as they are
    sk = np.select([np.arange(n) < 20, np.arange(n) < 60], [7, 6], 8)
    coarse = np.ones(n, dtype=np.int64)
    cls = np.zeros(n, dtype=np.int64)
    cls[-10:], coarse[-10:], sk[-10:] = 5, 9, 9
    real = pd.DataFrame({"x": rng.lognormal(2.0, 0.5, n)})
    gen = pd.DataFrame({"x": rng.lognormal(4.0, 0.5, n)})
    keys = _keys(sk, coarse, cls)
    cal = Calibrator(min_rows=50).fit(real, keys, gen, keys, ["x"], integer={})
    assert sorted(zip(cal.level["x"].tolist(), cal.key["x"].tolist(), strict=True)) == [
        (0, 8),
        (1, 1),
    ]
    g = cal.groups("x", keys)
    assert (g[:60] == list(cal.key["x"]).index(1)).all()  # coarse group
    assert (g[-10:] == -1).all()
    out = cal.apply(gen, keys, np.random.default_rng(3))
    assert np.array_equal(out["x"].to_numpy()[-10:], gen["x"].to_numpy()[-10:])
    assert out["x"].to_numpy()[:-10].max() <= real["x"].to_numpy()[:-10].max()
    # nulls stay null
    gen.loc[3, "x"] = np.nan
    assert np.isnan(cal.apply(gen, keys, np.random.default_rng(3))["x"][3])


def test_arrays_round_trip_and_malformed_ones_are_refused() -> None:
    cal = _fitted()[0]
    state, arrays = cal.to_dict(), cal.arrays()
    back = Calibrator.from_parts(state, arrays, n_classes=2)
    for col in cal.columns:
        assert np.array_equal(back.real[col], cal.real[col])
        assert np.array_equal(back.gen[col], cal.gen[col])
    bad_rows = arrays["0.real"].copy()
    bad_rows[0, 5] = bad_rows[0, 4] - 1.0  # quantiles that go down
    nan_rows = arrays["0.gen"].copy()
    nan_rows[0, 0] = np.nan
    dup = arrays["0.key"].copy()
    dup[1] = dup[0]
    for bad in (
        {**arrays, "0.real": bad_rows},
        {**arrays, "0.gen": nan_rows},
        {**arrays, "0.level": np.full_like(arrays["0.level"], 3)},
        {**arrays, "0.key": dup, "0.level": np.zeros_like(arrays["0.level"])},
        {k: v for k, v in arrays.items() if k != "1.gen"},
    ):
        with pytest.raises(ModelError, match="calibration"):
            Calibrator.from_parts(state, bad, n_classes=2)
    level, key = arrays["0.level"].copy(), arrays["0.key"].copy()
    level[0], key[0] = 2, 5  # a class group for a class the model does not have
    with pytest.raises(ModelError, match="calibration"):
        Calibrator.from_parts(state, {**arrays, "0.level": level, "0.key": key}, n_classes=2)
    with pytest.raises(ModelError, match="calibration settings"):
        Calibrator.from_parts({**state, "quantiles": "many"}, arrays, n_classes=2)


def test_the_gan_calibrates_after_training(
    labelled_flows: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.synth.conftest import TINY

    on = FlowGAN(random_state=0, refiner=False, **TINY).fit(labelled_flows)
    off = FlowGAN(random_state=0, refiner=False, calibrate=False, **TINY).fit(labelled_flows)
    assert off.calibrator_ is None and "calibration_groups" not in off.training_
    a, b = on.generator_.state_dict(), off.generator_.state_dict()
    assert all((a[k] == b[k]).all() for k in a)  # training is the same
    cal = on.calibrator_
    assert cal is not None and {"bytes_sent", "duration", "source_port"} <= set(cal.columns)
    assert "destination_port" not in cal.columns  # in the coarse skeleton: never moved
    # (as generated: repairing rules would draw differently once numbers move)
    x = on.sample(3000, random_state=3, enforce_validity=False)
    y = off.sample(3000, random_state=3, enforce_validity=False)
    # the tiny generator's marginals are off; calibration brings the values it maps (all
    # but zeros) to the data's
    ks_on, ks_off = [], []
    for col in ("bytes_sent", "packets_sent", "duration", "latency", "source_port"):
        real = labelled_flows[col].dropna().to_numpy(float)
        on_v, off_v = x[col].dropna().to_numpy(float), y[col].dropna().to_numpy(float)
        ks_on.append(ks_2samp(real[real > 0], on_v[on_v > 0]).statistic)
        ks_off.append(ks_2samp(real[real > 0], off_v[off_v > 0]).statistic)
        assert ks_on[-1] <= ks_off[-1] + 0.02, (col, ks_on[-1], ks_off[-1])
    assert np.mean(ks_on) < 0.5 * np.mean(ks_off), (ks_on, ks_off)
    assert (x[["bytes_sent", "bytes_received", "packets_sent"]] >= 0).all().all()
    # the same classes and skeleton categories (ports and addresses outside the exact
    # tokens are generated after the client address, so they may move with it)
    for col in ("root_cause", "protocol", "status"):
        assert x[col].value_counts().sort_index().equals(y[col].value_counts().sort_index())
    # the client address is drawn with per-group offsets: its frequencies per skeleton
    # come closer to the training flows'
    tc = on.token_calibrator_
    assert off.token_calibrator_ is None and tc is not None
    assert tc.heads == ["source_ip.token"] and tc.fit_error["source_ip.token"] < 1e-3

    def per_group_l1(frame: pd.DataFrame) -> float:
        keys = ["root_cause", "destination_ip", "destination_port"]
        want = labelled_flows.groupby(keys)["source_ip"].value_counts(normalize=True)
        got = frame.groupby(keys)["source_ip"].value_counts(normalize=True)
        both = pd.concat([want, got], axis=1, keys=["want", "got"]).fillna(0.0)
        big = labelled_flows.groupby(keys).size()
        big = big[big >= 50].index
        l1 = (both["want"] - both["got"]).abs().groupby(level=[0, 1, 2]).sum()
        return float(l1[l1.index.isin(big)].mean())

    assert per_group_l1(x) < per_group_l1(y) - 0.1, (per_group_l1(x), per_group_l1(y))
    # saved and loaded: the same samples; a model without calibration stays without
    save_gan(on, tmp_path / "on.pt")
    save_gan(off, tmp_path / "off.pt")
    pd.testing.assert_frame_equal(
        load_gan(tmp_path / "on.pt").sample(500, random_state=4), on.sample(500, random_state=4)
    )
    assert load_gan(tmp_path / "off.pt").calibrator_ is None
    assert load_gan(tmp_path / "off.pt").token_calibrator_ is None
    # a calibration that reads a port as a timestamp is refused
    monkeypatch.setattr(on.calibrator_, "times", ["timestamp", "source_port"])
    save_gan(on, tmp_path / "bad_times.pt")
    with pytest.raises(ModelError, match="timestamp or number columns"):
        load_gan(tmp_path / "bad_times.pt")
    monkeypatch.undo()
    # token offsets and quantile arrays without their settings are refused
    monkeypatch.setattr(tc, "to_dict", lambda: None)
    save_gan(on, tmp_path / "bad_tokens.pt")
    with pytest.raises(ModelError, match="token calibration arrays without"):
        load_gan(tmp_path / "bad_tokens.pt")
    monkeypatch.undo()
    monkeypatch.setattr(on.calibrator_, "to_dict", lambda: None)
    save_gan(on, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="calibration arrays without"):
        load_gan(tmp_path / "bad.pt")


def test_the_vectorised_maps_equal_numpy_per_group() -> None:
    from netrca.synth.calibrate import _jump_levels, _quantile_at, _search, map_values

    rng = np.random.default_rng(0)
    n_groups, n_q, n = 12, 101, 20_000
    rows = []
    for _ in range(n_groups):  # counts with point masses (zeros, repeated integers)
        v = np.round(rng.lognormal(rng.uniform(0, 6), rng.uniform(0.1, 2), 300))
        rows.append(np.quantile(v * (rng.random(300) > 0.3), np.linspace(0, 1, n_q)))
    q = np.array(rows)
    real = np.sort(rng.lognormal(3, 1, (n_groups, n_q)), axis=1)
    g = rng.integers(0, n_groups, n)
    x = np.where(
        rng.random(n) < 0.5, np.round(rng.lognormal(3, 2, n)), q[g, rng.integers(0, n_q, n)]
    )
    x[:3] = [-1.0, 1e12, q[g[2], 0]]  # below, above and on the edge
    u01 = rng.random(n)
    levels = np.linspace(0, 1, n_q)
    u = _jump_levels(q, g, x, u01)
    for k in range(n_groups):
        m = g == k
        for side in ("left", "right"):
            expected = np.searchsorted(q[k], x[m], side)
            assert np.array_equal(_search(q, g[m], x[m], right=side == "right"), expected)
        # off the quantiles, np.interp's level; on them, inside the jump
        lo, hi = np.searchsorted(q[k], x[m], "left"), np.searchsorted(q[k], x[m], "right")
        off = hi == lo
        assert np.allclose(u[m][off], np.interp(x[m][off], q[k], levels), atol=1e-12)
        assert ((u[m] >= 0) & (u[m] <= 1)).all()
        assert np.allclose(_quantile_at(real, g[m], u[m]), np.interp(u[m], levels, real[k]))
    # the compiled row loop gives the numpy path's values to the last bit
    assert np.array_equal(map_values(q, real, g, x, u01), _quantile_at(real, g, u))
    assert map_values(q, real, g[:0], x[:0], u01[:0]).shape == (0,)


def test_the_row_loop_on_two_threads_gives_one_threads_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from netrca.synth import calibrate

    rng = np.random.default_rng(1)
    q = np.sort(rng.lognormal(2, 1, (5, 33)), axis=1)
    real = np.sort(rng.lognormal(3, 1, (5, 33)), axis=1)
    n = 2 * calibrate._ROWS_PER_THREAD + 7
    g, x, u01 = rng.integers(0, 5, n), rng.lognormal(2, 1.5, n), rng.random(n)
    two = calibrate.map_values(q, real, g, x, u01)
    monkeypatch.setattr(calibrate, "_THREADS", 1)
    assert np.array_equal(two, calibrate.map_values(q, real, g, x, u01))


def _token_problem(
    n_gen: int = 30_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logits of a 4-token head on generated rows of three groups (two skeletons of class
    0, one of class 1), skewed towards token 0; training codes per group with other
    frequencies; a fourth skeleton (class 0) with too few training rows."""
    rng = np.random.default_rng(1)
    sk = rng.integers(0, 4, n_gen)
    logits = rng.normal(0.0, 1.0, (n_gen, 4)) + np.array([1.5, 0.0, 0.0, -1.0])
    want = np.array([[0.1, 0.2, 0.3, 0.4], [0.05, 0.15, 0.5, 0.3], [0.25, 0.25, 0.25, 0.25]])
    codes, real_sk = [], []
    for g, n in ((0, 2000), (1, 2000), (2, 2000), (3, 10)):
        p = want[min(g, 2)]
        codes.append(rng.choice(4, size=n, p=p))
        real_sk.append(np.full(n, g))
    rs = np.concatenate(real_sk)
    # class 1 for skeleton 2, class 0 for the others
    real_keys = _keys(rs, rs, (rs == 2).astype(np.int64))
    gen_keys = _keys(sk, sk, (sk == 2).astype(np.int64))
    return logits, gen_keys, np.concatenate(codes), real_keys, want


def _draw(tc: TokenCalibrator, head: str, logits: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Tokens as the generator draws them with ``tc``'s offsets (argmax elsewhere)."""
    g = tc.groups(head, keys)
    noise = np.random.default_rng(7).gumbel(size=logits.shape)
    z = logits / tc.temperature + tc.offset[head][np.maximum(g, 0)] / tc.temperature + noise
    return np.where(g >= 0, z.argmax(axis=1), logits.argmax(axis=1))


def test_token_offsets_give_each_group_the_training_frequencies() -> None:
    logits, gk, codes, rk, want = _token_problem()
    tc = TokenCalibrator(prior_rows=0.0)
    tc.fit_head("source_ip.token", logits, gk, codes, rk)
    assert tc.fit_error["source_ip.token"] < 1e-3
    # skeletons 0-2 have their own groups; skeleton 3 (10 training rows, and none left
    # over in class 0 once its skeletons took theirs) has none
    assert tc.level["source_ip.token"].tolist() == [0, 0, 0]
    assert tc.key["source_ip.token"].tolist() == [0, 1, 2]
    drawn = _draw(tc, "source_ip.token", logits, gk)
    sk = gk[:, 0]
    for g in range(3):
        freq = np.bincount(drawn[sk == g], minlength=4) / (sk == g).sum()
        before = np.bincount(logits[sk == g].argmax(1), minlength=4) / (sk == g).sum()
        assert np.abs(freq - want[g]).max() < 0.025, (g, freq)
        assert np.abs(before - want[g]).max() > 0.15  # the generator's own were far off
    # rows of no group keep the generator's own choice
    assert np.array_equal(drawn[sk == 3], logits[sk == 3].argmax(axis=1))
    class0 = np.bincount(codes[rk[:, 2] == 0], minlength=4) / (rk[:, 2] == 0).sum()
    # a prior of pseudo-rows pulls a group towards its class's frequencies
    shrunk = TokenCalibrator(prior_rows=2000.0)
    shrunk.fit_head("source_ip.token", logits, gk, codes, rk)
    freq0 = np.bincount(_draw(shrunk, "source_ip.token", logits, gk)[sk == 0], minlength=4)
    freq0 = freq0 / (sk == 0).sum()
    assert np.abs(freq0 - (want[0] + class0) / 2).max() < 0.03
    with pytest.raises(ValueError, match="outside"):
        tc.fit_head("other", logits, gk, codes + 4, rk)


def test_token_offsets_round_trip_and_malformed_ones_are_refused() -> None:
    logits, gk, codes, rk, _ = _token_problem(5000)
    tc = TokenCalibrator()
    tc.fit_head("source_ip.token", logits, gk, codes, rk)
    state, arrays = tc.to_dict(), tc.arrays()
    dims = {"source_ip.token": 4}
    back = TokenCalibrator.from_parts(state, arrays, n_classes=2, dims=dims)
    assert back.to_dict() == state
    for k in ("level", "key", "offset"):
        assert np.array_equal(
            getattr(back, k)["source_ip.token"], getattr(tc, k)["source_ip.token"]
        )
    bad = arrays["0.offset"].copy()
    bad[0, 0] = np.nan
    cases = [
        ({**arrays, "0.offset": bad}, dims, "malformed token calibration"),
        ({**arrays, "0.offset": arrays["0.offset"][:, :3]}, dims, "malformed token calibration"),
        (arrays, {"destination_ip.token": 4}, "not a generated token head"),
        ({k: v for k, v in arrays.items() if k != "0.key"}, dims, "do not match"),
    ]
    for arr, d, match in cases:
        with pytest.raises(ModelError, match=match):
            TokenCalibrator.from_parts(state, arr, n_classes=2, dims=d)
    for bad_t in ("hot", float("nan"), float("inf")):
        with pytest.raises(ModelError, match="settings"):
            TokenCalibrator.from_parts({**state, "temperature": bad_t}, arrays, 2, dims)


def _pair_and_times(n: int, real: bool, rng: np.random.Generator) -> pd.DataFrame:
    """Bytes tied to packets (real) or drawn apart from them (generated, same marginal
    roughly); timestamps in a ten-minute window (real) or over the whole day."""
    packets = rng.integers(1, 40, n)
    per = rng.normal(100.0, 3.0, n)
    bytes_ = np.round(packets * per) if real else np.round(rng.permutation(packets) * per)
    start = pd.Timestamp("2024-03-04T10:00:00Z")
    spread = 600.0 if real else 86_400.0
    offset = rng.uniform(0.0, spread, n) - (0.0 if real else 36_000.0)
    return pd.DataFrame(
        {
            "bytes": pd.array(bytes_.astype(np.int64), dtype="Int64"),
            "packets": pd.array(packets.astype(np.int64), dtype="Int64"),
            "timestamp": start + pd.to_timedelta(offset, unit="s"),
        }
    )


def test_second_maps_restore_a_pair_and_timestamps_are_mapped() -> None:
    rng = np.random.default_rng(2)
    real, gen = _pair_and_times(6000, True, rng), _pair_and_times(12_000, False, rng)
    rk, gk = _keys(*[np.zeros(6000, np.int64)] * 3), _keys(*[np.zeros(12_000, np.int64)] * 3)
    common = {"integer": {"bytes": True, "packets": True}, "skip": {"bytes": [0.0]}}
    cols = ["timestamp", "bytes", "packets"]
    plain = Calibrator().fit(real, rk, gen, gk, cols, times=["timestamp"], **common)
    cal = Calibrator().fit(
        real, rk, gen, gk, cols, given={"bytes": "packets"}, times=["timestamp"], **common
    )
    assert cal.maps == [*cols, "bytes|packets"] and len(cal.edges["packets"]) == 15
    want = spearmanr(real["bytes"], real["packets"]).statistic
    before = plain.apply(gen, gk, np.random.default_rng(3))
    after = cal.apply(gen, gk, np.random.default_rng(3))
    assert spearmanr(before["bytes"], before["packets"]).statistic < 0.1
    assert spearmanr(after["bytes"], after["packets"]).statistic > want - 0.05
    # each column's own distribution stays the training one
    assert ks_2samp(after["bytes"], real["bytes"]).statistic < 0.05
    assert after["packets"].equals(before["packets"])
    # generated times spread over the day move into the training window, as timestamps
    assert after["timestamp"].dtype == gen["timestamp"].dtype
    lo, hi = real["timestamp"].min(), real["timestamp"].max()
    assert after["timestamp"].between(lo, hi).all()
    assert (
        ks_2samp(after["timestamp"].astype("int64"), real["timestamp"].astype("int64")).statistic
        < 0.05
    )
    # seconds back to timestamps: to the microsecond, NaN as NaT
    from netrca.synth.encoders import TimeEncoder

    back_t = TimeEncoder.from_epoch(np.array([1.5e9 + 0.1234567, np.nan]))
    assert back_t.iloc[0] == pd.Timestamp("2017-07-14T02:40:00.123457Z")
    assert back_t.isna().tolist() == [False, True]
    # round trip, and malformed bins refused
    state, arrays = cal.to_dict(), cal.arrays()
    back = Calibrator.from_parts(state, arrays, n_classes=1)
    pd.testing.assert_frame_equal(
        back.apply(gen, gk, np.random.default_rng(3)), after, check_exact=True
    )
    edges = arrays["edges.0"].copy()
    edges[[0, 1]] = edges[[1, 0]]
    with pytest.raises(ModelError, match="bins"):
        Calibrator.from_parts(state, {**arrays, "edges.0": edges}, n_classes=1)
    with pytest.raises(ModelError, match="do not match"):
        Calibrator.from_parts(state, {k: v for k, v in arrays.items() if k != "edges.0"}, 1)
    with pytest.raises(ValueError, match="second maps"):
        Calibrator().fit(real, rk, gen, gk, ["packets"], given={"bytes": "packets"}, **common)
    chain = {"bytes": "packets", "packets": "timestamp"}  # packets both mapped and binned on
    with pytest.raises(ValueError, match="second maps"):
        Calibrator().fit(real, rk, gen, gk, cols, given=chain, times=["timestamp"], **common)
    with pytest.raises(ValueError, match="second maps"):  # a time column nothing uses
        Calibrator().fit(real, rk, gen, gk, ["bytes"], times=["timestamp"], **common)
    with pytest.raises(ModelError, match="second maps"):
        Calibrator.from_parts({**state, "times": ["elsewhere"]}, arrays, n_classes=1)


def test_second_maps_chain_in_order_and_new_timelines_follow_the_chain() -> None:
    """Responses follow requests: packets back tied to packets out, bytes back to packets
    back. Generated columns are drawn apart; a chain of second maps, fitted and applied in
    order, restores both links and so the one between bytes back and packets out."""
    rng = np.random.default_rng(5)

    def side(n: int, real: bool) -> pd.DataFrame:
        out_ = rng.integers(1, 60, n)
        back = np.maximum(np.round(out_ * rng.uniform(0.7, 1.3, n)), 1)
        if not real:
            back = rng.permutation(back)
        bytes_back = np.round((back if real else rng.permutation(back)) * rng.normal(90, 3, n))
        return pd.DataFrame(
            {
                c: pd.array(v.astype(np.int64), dtype="Int64")
                for c, v in (("out", out_), ("back", back), ("bytes_back", bytes_back))
            }
        )

    real, gen = side(8000, True), side(16_000, False)
    rk, gk = _keys(*[np.zeros(8000, np.int64)] * 3), _keys(*[np.zeros(16_000, np.int64)] * 3)
    cols = ["out", "back", "bytes_back"]
    common = {"integer": dict.fromkeys(cols, True)}
    one = Calibrator().fit(real, rk, gen, gk, cols, given={"bytes_back": "back"}, **common)
    chain = {"back": "out", "bytes_back": "back"}
    cal = Calibrator().fit(real, rk, gen, gk, cols, given=chain, **common)
    assert cal.maps == [*cols, "back|out", "bytes_back|back"]

    def rho(frame: pd.DataFrame, a: str, b: str) -> float:
        return float(spearmanr(frame[a], frame[b]).statistic)

    single = one.apply(gen, gk, np.random.default_rng(6))
    after = cal.apply(gen, gk, np.random.default_rng(6))
    for a, b in (("back", "out"), ("bytes_back", "back"), ("bytes_back", "out")):
        assert abs(rho(after, a, b) - rho(real, a, b)) < 0.05, (a, b)
    assert rho(single, "back", "out") < 0.1 and rho(single, "bytes_back", "out") < 0.1
    # persisted in order
    back = Calibrator.from_parts(cal.to_dict(), cal.arrays(), n_classes=1)
    pd.testing.assert_frame_equal(back.apply(gen, gk, np.random.default_rng(6)), after)
    # out of order (the link binned on a column mapped only later) is refused
    with pytest.raises(ValueError, match="second maps"):
        Calibrator().fit(real, rk, gen, gk, cols, given=dict(reversed(chain.items())), **common)
    # a new timeline re-maps what is binned on time, and what is binned on that
    t = real.assign(ts=pd.Timestamp("2024-03-04T10:00:00Z") + pd.to_timedelta(real["out"], "s"))
    g = gen.assign(ts=pd.Timestamp("2024-03-04T10:00:00Z") + pd.to_timedelta(gen["out"], "s"))
    timed = Calibrator().fit(
        t, rk, g, gk, cols, given={"back": "ts", "bytes_back": "back"}, times=["ts"], **common
    )
    assert timed.timed() == ([], ["back|ts", "bytes_back|back"])


def _first_group(level: np.ndarray, key: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Reference lookup, one row at a time: the finest level whose key has a group."""
    where = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(level, key, strict=True))}
    out = np.full(len(keys), -1, dtype=np.int64)
    for r, row in enumerate(keys):
        for li, k in enumerate(row):
            if k >= 0 and (li, int(k)) in where:
                out[r] = where[(li, int(k))]
                break
    return out


def test_group_lookups_equal_a_row_by_row_search() -> None:
    """The table lookups the maps and token heads use give every row the group a plain
    row-by-row search gives: plain and binned keys (one map's groups alone, or placed among
    several maps' keys), rows with no key (-1), keys no group has, and keys too large to
    combine with a bin."""
    from netrca.synth.calibrate import _Placed, lookup_groups

    rng = np.random.default_rng(11)
    n, width = 5000, 18
    keys = rng.integers(-1, 40, (n, 3)).astype(np.int64)
    keys[rng.random(n) < 0.01, 0] = np.iinfo(np.int64).max // 4  # too large to combine
    bins = rng.integers(0, width, n)
    cal = Calibrator(bins=width - 2)
    fits = [cal._fits(keys[:, li]) for li in range(3)]
    binned = np.where(np.column_stack(fits), keys * width + bins[:, None], -1)
    plain_groups, bin_groups = [], []
    for li, count in enumerate((30, 10, 3)):
        base = rng.choice(40, count, replace=False)
        plain_groups += [(li, int(k)) for k in base]
        bin_groups += [(li, int(k) * width + int(b)) for k in base for b in rng.choice(width, 4)]
    bin_groups = list(dict.fromkeys(bin_groups))
    maps = []
    for groups in (plain_groups, bin_groups):
        arr = np.asarray(groups, dtype=np.int64)
        maps.append((arr[:, 0], arr[:, 1]))
    bases = [
        np.unique(
            np.concatenate([maps[0][1][maps[0][0] == li], maps[1][1][maps[1][0] == li] // width])
        )
        for li in range(3)
    ]
    placed = _Placed(keys, bases)
    want_plain = _first_group(*maps[0], keys)
    want_binned = _first_group(*maps[1], binned)
    assert np.array_equal(placed.groups(*maps[0]), want_plain)
    assert np.array_equal(placed.groups(*maps[1], width, bins, fits), want_binned)
    assert np.array_equal(lookup_groups(*maps[0], keys), want_plain)
    assert np.array_equal(lookup_groups(*maps[1], binned), want_binned)
    assert (want_plain >= 0).mean() > 0.5 and 0.05 < (want_binned >= 0).mean() < 0.95
