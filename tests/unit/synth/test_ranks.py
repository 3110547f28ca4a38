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


def test_the_gan_saves_and_applies_its_rank_matching(
    tiny_gan: FlowGAN, labelled_flows: pd.DataFrame, tmp_path: Path
) -> None:
    # the tiny model's classes are all below 5,000 flows: no matching unless asked for
    assert tiny_gan.rank_matcher_ is None
    gan = copy.deepcopy(tiny_gan)
    numbers, _, keep, times = gan._number_columns()
    gan.rank_matcher_ = RankMatcher().fit(
        labelled_flows,
        numbers,
        condition="root_cause",
        time_column=times[0],
        keep=keep,
        min_rows=290,
    )
    assert gan.rank_matcher_.classes == ["dos_flood", "normal"]
    plain = tiny_gan.sample(3000, random_state=2)
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
