"""Each behavioural detector fires on its own category and stays quiet on normal traffic."""

from __future__ import annotations

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
