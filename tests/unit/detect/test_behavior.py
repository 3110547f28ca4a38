"""Each behavioural detector fires on its own category and stays quiet on normal traffic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netrca.detect import Detector

EXPECTED = {
    "port_scan": "scan",
    "dos_flood": "flood",
    "brute_force": "brute_force",
    "data_exfiltration": "exfiltration",
    "c2_beaconing": "beacon",
    "service_outage": "outage",
    "network_congestion": "congestion",
    "protocol_violation": "mismatch",
}


@pytest.fixture(scope="module")
def behaviour(sim_flows: pd.DataFrame) -> pd.DataFrame:
    scores = Detector().fit(sim_flows).score(sim_flows)
    out = scores.behaviour.copy()
    out["root_cause"] = sim_flows["root_cause"].to_numpy()
    return out


@pytest.mark.parametrize(("category", "detector"), sorted(EXPECTED.items()))
def test_detector_fires_on_its_category(
    behaviour: pd.DataFrame, category: str, detector: str
) -> None:
    mine = behaviour.loc[behaviour["root_cause"] == category, detector]
    normal = behaviour.loc[behaviour["root_cause"] == "normal", detector]
    assert mine.mean() > 0.3, f"{detector} mean on {category} = {mine.mean():.3f}"
    assert mine.mean() > 5 * normal.mean() + 0.1
    assert (normal >= 0.5).mean() < 0.01


def _episodes_reference(key: np.ndarray, win: np.ndarray, bad_flow: np.ndarray) -> np.ndarray:
    """Episodes as first written: a frame of every flow, its first row per (key, window)
    cell by drop_duplicates, looked up per flow by reindex."""
    from netrca.groups import Groups

    g = Groups(key, win)
    bad_win = g.mean(bad_flow.astype(float)) >= 0.5
    table = pd.DataFrame({"g": g.ids, "k": pd.factorize(key)[0], "w": win, "bad": bad_win})
    cells = table.drop_duplicates("g").sort_values(["k", "w"], kind="stable")
    new = (
        (cells["k"] != cells["k"].shift())
        | (cells["w"] - cells["w"].shift() > 1)
        | ~cells["bad"].shift(fill_value=False).astype(bool)
    )
    episode = new.cumsum().where(cells["bad"], -1)
    lookup = pd.Series(episode.to_numpy(), index=cells["g"].to_numpy())
    return lookup.reindex(g.ids).to_numpy(dtype=np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_episodes_equal_the_frame_definition(seed: int) -> None:
    """The cells found from first-appearance ids equal drop_duplicates on the whole frame,
    on keys and windows in any order, gaps between windows, all or no flows bad."""
    from netrca.detect.behavior import _episodes

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    key = rng.integers(0, int(rng.integers(1, 40)), n) * 7 - 3
    win = rng.integers(0, int(rng.integers(1, 30)), n)
    if seed % 2:
        order = np.lexsort((win, key))
        key, win = key[order], win[order]
    share = [0.0, 1.0, 0.5, 0.7, 0.3, 0.9][seed]
    bad = rng.random(n) < share
    got = _episodes(key, win, bad)
    assert np.array_equal(got, _episodes_reference(key, win, bad))
    assert got.dtype == np.int64
    assert (got >= 0).any() == (share > 0.0)


def test_ramp_equals_its_definition_and_leaves_its_input() -> None:
    """ramp in place equals nan_to_num(clip((x - lo) / (hi - lo), 0, 1)) bit for bit
    (signed zeros included) on floats with NaN, infinities and -0.0, on integers, flags
    and scalars; the input is not changed."""
    from netrca.detect.behavior import _lramp, ramp

    def definition(x: object, lo: float, hi: float) -> np.ndarray:
        return np.nan_to_num(np.clip((np.asarray(x, dtype=float) - lo) / (hi - lo), 0.0, 1.0))

    rng = np.random.default_rng(5)
    x = rng.normal(size=10_000) * 3
    x[::7], x[::11], x[::13], x[::17], x[::19] = np.nan, np.inf, -np.inf, -0.0, 0.3
    kept = x.copy()
    cases = [x, rng.integers(-5, 50, 1000), rng.random(1000) < 0.4, 0.5, np.nan, -np.inf, 7]
    for case in cases:
        for lo, hi in ((0.3, 0.7), (-1.0, 2.0), (3, 20)):
            got, want = ramp(case, lo, hi), definition(case, lo, hi)
            assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
    assert np.array_equal(x, kept, equal_nan=True)
    assert isinstance(ramp(0.5, 0.0, 1.0), np.float64) and ramp(np.nan, 0, 1) == 0.0
    wide = ramp(np.arange(3.0), 0.0, np.ones((2, 1)))  # bounds broadcast as before
    assert np.array_equal(wide, definition(np.arange(3.0), 0.0, np.ones((2, 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = definition(np.log(np.maximum(x, 1e-12)), np.log(3), np.log(20))
    assert np.array_equal(_lramp(x, 3, 20), want)
