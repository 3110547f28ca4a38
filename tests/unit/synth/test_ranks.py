"""Rank-correlation matching: correlations restored, values kept, persistence, checks."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri
from scipy.stats import spearmanr

from netrca.errors import ModelError
from netrca.synth.gan import FlowGAN
from netrca.synth.persist import load_gan, save_gan
from netrca.synth.ranks import MIN_SAMPLE, RankMatcher, normal_scores

COLS = ["bytes_sent", "duration", "source_port"]


def _flows(n: int, rho: float, seed: int, cls: str = "normal") -> pd.DataFrame:
    """Flows whose bytes, duration and hour of the day are correlated by ``rho`` (through
    a Gaussian copula); a tenth of bytes are 0, some durations missing, ports 80 or
    ephemeral."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, rho, rho], [rho, 1.0, rho / 2], [rho, rho / 2, 1.0]])
    g = rng.multivariate_normal(np.zeros(3), cov, size=n)
    hours = (g[:, 2] - g[:, 2].min()) / np.ptp(g[:, 2]) * 23.9
    start = pd.Timestamp("2026-11-27", tz="UTC")
    ts = start + pd.to_timedelta(np.sort(hours * 3600.0 + rng.random(n)), unit="s")
    order = np.argsort(hours)  # rows in time order, as samples are
    bytes_sent = np.round(np.exp(6 + g[order, 0])).astype(np.int64)
    bytes_sent[rng.random(n) < 0.1] = 0
    duration = np.exp(g[order, 1])
    duration[rng.random(n) < 0.05] = np.nan
    port = np.where(rng.random(n) < 0.2, 80, rng.integers(32768, 61000, n))
    return pd.DataFrame(
        {
            "timestamp": ts,
            "bytes_sent": pd.array(bytes_sent, dtype="Int64"),
            "duration": duration,
            "source_port": pd.array(port, dtype="Int64"),
            "root_cause": cls,
        }
    )


def _spearman(frame: pd.DataFrame) -> np.ndarray:
    hour = (frame["timestamp"] - frame["timestamp"].dt.normalize()).dt.total_seconds()
    cols = np.column_stack([hour, frame[COLS].to_numpy(dtype=float, na_value=np.nan)])
    return np.asarray(spearmanr(cols, nan_policy="omit").statistic)


def _matcher(train: pd.DataFrame, min_rows: int = 1000) -> RankMatcher:
    return RankMatcher().fit(
        train,
        COLS,
        condition="root_cause",
        time_column="timestamp",
        keep={"bytes_sent": [0.0], "duration": [0.0], "source_port": [80.0]},
        min_rows=min_rows,
        time_min_rows=min_rows,  # number matching only (time matching: tests below)
    )


def test_normal_scores_share_ties_and_leave_missing_at_zero() -> None:
    z = normal_scores(np.array([3.0, 1.0, np.nan, 3.0, 2.0]))
    assert z[2] == 0.0 and z[0] == z[3] and z[1] < z[4] < z[0]
    # average ranks 3.5, 1, 3.5, 2 of 4 values: Phi^-1((rank - 1/2) / 4)
    assert z[[0, 1, 4]] == pytest.approx(ndtri(np.array([3.0, 0.5, 1.5]) / 4))


def test_sampled_numbers_get_the_training_correlations_and_keep_their_values() -> None:
    train = pd.concat([_flows(6000, 0.7, 1), _flows(800, 0.7, 2, "port_scan")])
    # a "generator" that got the marginals but not the dependence: independent columns
    sample = pd.concat([_flows(5000, 0.0, 3), _flows(400, 0.0, 4, "port_scan")])
    sample = sample.sort_values("timestamp", kind="stable", ignore_index=True)
    m = _matcher(train)
    assert m.classes == ["normal"] and m.rows == [6000]  # port_scan is below min_rows
    out = m.apply(sample)
    assert out["timestamp"].equals(sample["timestamp"])
    assert (out["root_cause"] == sample["root_cause"]).all()
    assert out.dtypes.equals(sample.dtypes)
    want = _spearman(train[train.root_cause == "normal"])
    normal = (sample.root_cause == "normal").to_numpy()
    before = _spearman(sample[normal])
    after = _spearman(out[normal])
    iu = np.triu_indices(4, 1)
    assert np.abs(before - want)[iu].max() > 0.4
    assert np.abs(after - want)[iu].max() < 0.05, (after - want)[iu]
    for c in COLS:
        a, b = sample[c].to_numpy(float, na_value=np.nan), out[c].to_numpy(float, na_value=np.nan)
        # each class keeps its multiset of values; zeros, missing values and the exact
        # port stay on their rows; the small class is left as it was
        for cls in ("normal", "port_scan"):
            rows = (sample.root_cause == cls).to_numpy()
            assert np.array_equal(np.sort(a[rows]), np.sort(b[rows]), equal_nan=True)
        stay = np.isnan(a) | (a == 0) | ((a == 80) if c == "source_port" else False)
        assert np.array_equal(a[stay], b[stay], equal_nan=True)
        assert np.array_equal(a[~normal], b[~normal], equal_nan=True)
        assert (a[normal & ~stay] != b[normal & ~stay]).mean() > 0.5  # rows did move
    assert (out["source_port"][normal & (sample["source_port"] != 80).to_numpy()] != 80).all()
    # nothing random: the same frame gives the same result
    pd.testing.assert_frame_equal(m.apply(sample), out)


def test_small_samples_and_unmatched_classes_stay_as_generated() -> None:
    train = _flows(3000, 0.7, 1)
    m = _matcher(train)
    small = _flows(MIN_SAMPLE - 1, 0.0, 5)
    pd.testing.assert_frame_equal(m.apply(small), small)
    other = _flows(800, 0.0, 6, "dos_flood")
    pd.testing.assert_frame_equal(m.apply(other), other)
    assert not _matcher(train, min_rows=5000).classes  # no class large enough
    empty = _flows(400, 0.0, 7).iloc[:0]
    assert m.apply(empty).empty
    # without a condition column: one group
    whole = RankMatcher().fit(
        train.drop(columns="root_cause"), COLS, time_column="timestamp", min_rows=1000
    )
    assert whole.classes == [""] and whole.rows == [3000]
    sample = _flows(1000, 0.0, 8).drop(columns="root_cause")
    want = _spearman(train)
    iu = np.triu_indices(4, 1)
    assert np.abs(_spearman(whole.apply(sample)) - want)[iu].max() < 0.03
    # without a time column: the numbers only
    plain = RankMatcher().fit(train, COLS, condition="root_cause", min_rows=1000)
    sample = _flows(1000, 0.0, 9)
    iu3 = np.triu_indices(3, 1)
    assert np.abs(_spearman(sample) - want)[1:, 1:][iu3].max() > 0.3
    assert np.abs(_spearman(plain.apply(sample)) - want)[1:, 1:][iu3].max() < 0.06


def test_matrices_round_trip_and_malformed_ones_are_refused() -> None:
    m = _matcher(pd.concat([_flows(3000, 0.7, 1), _flows(2500, 0.2, 2, "c2_beaconing")]))
    back = RankMatcher.from_parts(m.to_dict(), m.arrays())
    sample = _flows(1000, 0.0, 3)
    pd.testing.assert_frame_equal(back.apply(sample), m.apply(sample))
    bad_shape = {"targets": m.targets[:, :-1]}
    too_big = {"targets": m.targets * 2.0}
    skew = m.targets.copy()
    skew[0, 1, 2] += 0.1
    for arrays in (bad_shape, too_big, {"targets": skew}, {}):
        with pytest.raises(ModelError, match="rank matching"):
            RankMatcher.from_parts(m.to_dict(), arrays)
    d = m.to_dict()
    d["classes"] = d["classes"][:1]
    with pytest.raises(ModelError, match="rank matching"):
        RankMatcher.from_parts(d, m.arrays())


def _timed(n: int, rho: float, seed: int, cls: str = "port_scan") -> pd.DataFrame:
    """Flows in time order whose bytes follow the gap to the previous flow by ``rho``
    (through a Gaussian copula); durations and ports independent of both."""
    rng = np.random.default_rng(seed)
    gap = rng.exponential(10.0, n)
    start = pd.Timestamp("2026-11-28", tz="UTC")
    ts = start + pd.to_timedelta(np.cumsum(gap), unit="s")
    g = ndtri((np.argsort(np.argsort(gap)) + 0.5) / n)
    noise = rng.standard_normal(n)
    bytes_sent = np.round(np.exp(6 + rho * g + np.sqrt(1 - rho**2) * noise)).astype(np.int64)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "bytes_sent": pd.array(bytes_sent, dtype="Int64"),
            "duration": np.exp(rng.standard_normal(n)),
            "source_port": pd.array(rng.integers(32768, 61000, n), dtype="Int64"),
            "source_ip": [f"10.0.{i // 250}.{i % 250}" for i in range(n)],
            "root_cause": cls,
        }
    )


def _gap_spearman(frame: pd.DataFrame, column: str) -> float:
    t = frame["timestamp"].astype("int64").to_numpy() / 1e9
    gap = np.diff(t, prepend=t[0])
    return float(spearmanr(gap[1:], frame[column].to_numpy(float)[1:]).statistic)


def _time_matcher(train: pd.DataFrame) -> RankMatcher:
    return RankMatcher().fit(train, COLS, condition="root_cause", time_column="timestamp")


def test_a_small_class_moves_whole_rows_in_time_to_the_training_gap_correlations() -> None:
    train = _timed(800, -0.6, 1)
    m = _time_matcher(train)
    assert m.classes == m.timed == ["port_scan"] and m.rows == [800]
    sample = _timed(900, 0.0, 2)
    out, order = m.match(sample)
    assert order is not None
    assert out["timestamp"].equals(sample["timestamp"])
    assert out.dtypes.equals(sample.dtypes)
    assert np.array_equal(np.sort(order), np.arange(len(sample)))  # a permutation
    rest = [c for c in sample.columns if c != "timestamp"]
    # every other column moved with its row, as one
    pd.testing.assert_frame_equal(out[rest], sample[rest].iloc[order].reset_index(drop=True))
    # within windows of ceil(sqrt(900)) = 30 consecutive flows
    assert np.abs(order - np.arange(len(sample))).max() < 30
    assert (order != np.arange(len(sample))).mean() > 0.5
    want = _gap_spearman(train, "bytes_sent")
    assert want < -0.5 and abs(_gap_spearman(sample, "bytes_sent")) < 0.1
    assert abs(_gap_spearman(out, "bytes_sent") - want) < 0.1, _gap_spearman(out, "bytes_sent")
    # the other numbers' relation to the gap is not significant in training: left alone
    assert abs(_gap_spearman(out, "duration")) < 0.1
    pd.testing.assert_frame_equal(m.apply(sample), out)  # nothing random


def test_time_matching_moves_nothing_without_a_significant_training_correlation() -> None:
    m = _time_matcher(_timed(800, 0.0, 3))
    assert m.timed == ["port_scan"]
    sample = _timed(900, 0.0, 2)
    out, order = m.match(sample)
    assert order is None
    pd.testing.assert_frame_equal(out, sample)


def test_time_matching_bounds_and_other_classes() -> None:
    train = pd.concat([_timed(800, -0.6, 1), _timed(99, -0.6, 4, "dos_flood")])
    m = _time_matcher(train)
    assert m.classes == ["port_scan"]  # dos_flood is below MIN_TIME_ROWS
    assert not RankMatcher().fit(train, COLS, condition="root_cause").classes  # no time
    small = _timed(MIN_SAMPLE - 1, 0.0, 2)
    pd.testing.assert_frame_equal(m.apply(small), small)
    # other classes' rows stay where they are; the class's rows move among its own
    mixed = pd.concat([_timed(600, 0.0, 5), _timed(600, 0.0, 6, "dos_flood")])
    mixed = mixed.sort_values("timestamp", kind="stable", ignore_index=True)
    out, order = m.match(mixed)
    assert order is not None
    scan = (mixed["root_cause"] == "port_scan").to_numpy()
    assert np.array_equal(order[~scan], np.flatnonzero(~scan))
    assert scan[order[scan]].all()
    pd.testing.assert_frame_equal(out[~scan], mixed[~scan])


def test_time_matching_persists_and_older_states_load() -> None:
    m = _time_matcher(pd.concat([_timed(800, -0.6, 1), _flows(300, 0.5, 2, "dos_flood")]))
    assert m.timed == ["dos_flood", "port_scan"]
    back = RankMatcher.from_parts(m.to_dict(), m.arrays())
    assert back.timed == m.timed
    sample = _timed(900, 0.0, 2)
    pd.testing.assert_frame_equal(back.apply(sample), m.apply(sample))
    older = m.to_dict()
    del older["timed"]  # states saved before time matching: every class by numbers
    assert RankMatcher.from_parts(older, m.arrays()).timed == []
    for bad in (["c2_beaconing"], ["port_scan", "port_scan"]):
        d = m.to_dict()
        d["timed"] = bad
        with pytest.raises(ModelError, match="rank matching"):
            RankMatcher.from_parts(d, m.arrays())
    # a timed class without a time column: the matrices fit the columns, the class cannot
    d = m.to_dict()
    d["time_column"] = None
    numbers_only = {"targets": m.arrays()["targets"][:, 2:, 2:]}
    assert RankMatcher.from_parts({**d, "timed": []}, numbers_only).timed == []
    with pytest.raises(ModelError, match="rank matching"):
        RankMatcher.from_parts(d, numbers_only)


def test_the_gan_saves_and_applies_its_rank_matching(
    tiny_gan: FlowGAN, labelled_flows: pd.DataFrame, tmp_path: Path
) -> None:
    # the tiny model's classes are all below 5,000 flows: those with 100 or more training
    # flows are matched in time only
    fitted = tiny_gan.rank_matcher_
    assert fitted is not None and fitted.classes and fitted.timed == fitted.classes
    counts = labelled_flows["root_cause"].value_counts()
    assert sorted(fitted.classes) == sorted(counts.index[counts >= 100])
    assert tiny_gan.training_["time_matching_classes"] == dict(
        zip(fitted.classes, fitted.rows, strict=True)
    )
    bare = copy.deepcopy(tiny_gan)
    bare.rank_matcher_ = None
    gan = copy.deepcopy(tiny_gan)
    numbers, _, keep, times = gan._number_columns()
    gan.rank_matcher_ = RankMatcher().fit(
        labelled_flows,
        numbers,
        condition="root_cause",
        time_column=times[0],
        keep=keep,
        min_rows=290,
        time_min_rows=290,
    )
    assert gan.rank_matcher_.classes == ["dos_flood", "normal"] and not gan.rank_matcher_.timed
    plain = bare.sample(3000, random_state=2)
    matched = gan.sample(3000, random_state=2)
    cls = plain["root_cause"].to_numpy(dtype=str)
    assert (matched["root_cause"].to_numpy(dtype=str) == cls).all()
    assert (pd.Series(cls).value_counts()[["dos_flood", "normal"]] >= MIN_SAMPLE).all()
    for c in numbers:
        a = plain[c].to_numpy(float, na_value=np.nan)
        b = matched[c].to_numpy(float, na_value=np.nan)
        for name in np.unique(cls):  # values stay in their class; others do not move
            rows = cls == name
            assert np.array_equal(np.sort(a[rows]), np.sort(b[rows]), equal_nan=True)
            if name not in ("dos_flood", "normal"):
                assert np.array_equal(a[rows], b[rows], equal_nan=True)
    assert not plain[numbers].equals(matched[numbers])
    save_gan(gan, tmp_path / "m.pt")
    pd.testing.assert_frame_equal(
        load_gan(tmp_path / "m.pt").sample(800, random_state=3), gan.sample(800, random_state=3)
    )
    # matching a column the model does not generate is refused on load
    gan.rank_matcher_.columns = [*numbers[:-1], "label"]
    gan.rank_matcher_.keep = {}
    save_gan(gan, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="rank matching names columns"):
        load_gan(tmp_path / "bad.pt")


def test_match_ranks_false_fits_no_matcher(labelled_flows: pd.DataFrame) -> None:
    from tests.unit.synth.conftest import TINY

    gan = FlowGAN(random_state=0, refiner=False, calibrate=False, match_ranks=False, **TINY)
    gan.fit(labelled_flows.iloc[:300])
    assert gan.rank_matcher_ is None and "rank_matching_classes" not in gan.training_
    assert gan.get_params()["match_ranks"] is False
    with pytest.raises(Exception, match="match_ranks"):
        FlowGAN(match_ranks="yes").fit(labelled_flows)  # type: ignore[arg-type]
