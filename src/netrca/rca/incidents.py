"""Group anomalous flows into incidents by the entity their evidence points at, and time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from netrca.netaddr import subnet_key

__all__ = ["PIVOTS", "Incident", "group_incidents", "pivot_of"]

#: Which entity a flow's strongest detector points at: the incident is about that entity.
PIVOTS: dict[str, str] = {
    "scan": "source",
    "unsolicited": "destination",
    "flood": "service",
    "brute_force": "pair_service",
    "exfiltration": "source",
    "beacon": "pair",
    "outage": "service",
    "congestion": "path",
    "mismatch": "source",
    "failures": "source",
    "rarity": "source",
}


@dataclass
class Incident:
    """A set of anomalous flows (row positions) about one entity in one time span."""

    incident_id: str
    rows: np.ndarray  # positions into the flows frame, ascending
    pivot: str  # entity kind, e.g. "source"
    key: str  # the entity, e.g. "10.0.0.5"
    detector: str  # the detector that dominated the grouping


def pivot_of(reasons: list[str] | pd.Series) -> np.ndarray:
    """Dominant detector name per flow from its reasons string ("" → "rarity")."""
    arr = pc.fill_null(pa.array(list(reasons), type=pa.string(), from_pandas=True), "")
    # the text before the first ";" or ":" (Arrow kernels: no Python loop over flows)
    top = pc.list_element(pc.split_pattern_regex(arr, "[;:]", max_splits=1), 0)
    top = pc.if_else(pc.equal(top, ""), "rarity", top)
    return np.asarray(top.to_numpy(zero_copy_only=False), dtype=object)


def _text(values: pd.Series) -> np.ndarray:
    """Values as Python strings; missing ones as ""."""
    return values.astype("string").fillna("").to_numpy(dtype=object)


def _entity_keys(flows: pd.DataFrame, rows: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    sub = flows.iloc[rows]
    src = _text(sub["source_ip"])
    dst = _text(sub["destination_ip"])
    port = _text(sub["destination_port"].astype("Int64").astype("string"))
    src_net = subnet_key(sub["source_ip"]).to_numpy(dtype=object)
    # feature tables have no addresses: fall back to the protocol/service as the entity
    no_ip = sub["source_ip"].isna().to_numpy() | sub["destination_ip"].isna().to_numpy()
    proto_col = sub["protocol"] if "protocol" in sub else pd.Series("unknown", index=sub.index)
    proto = "service " + _text(proto_col)
    src = np.where(no_ip, proto, src)
    dst = np.where(no_ip, proto, dst)
    keys = np.empty(len(rows), dtype=object)
    table = {
        "source": src,
        "destination": dst,
        "service": dst + ":" + port,
        "pair": src + ">" + dst,
        "pair_service": src + ">" + dst + ":" + port,
        "path": src_net + ">*",
    }
    for kind, values in table.items():
        m = kinds == kind
        keys[m] = values[m]
    return keys


def group_incidents(
    flows: pd.DataFrame,
    is_anomaly: np.ndarray,
    reasons: list[str],
    ts: np.ndarray,
    *,
    gap_seconds: float = 3600.0,
    prefix: str = "INC",
) -> list[Incident]:
    """Every anomalous flow lands in exactly one incident.

    Flows are keyed by the entity their dominant detector points at (see
    :data:`PIVOTS`); a key's flows are split where consecutive flows are more than
    ``gap_seconds`` apart. Incident ids are numbered by first-flow time.
    """
    rows = np.flatnonzero(is_anomaly)
    if not len(rows):
        return []
    detector = pivot_of([reasons[i] for i in rows])
    kinds = np.asarray([PIVOTS.get(d, "source") for d in detector], dtype=object)
    keys = _entity_keys(flows, rows, kinds)
    frame = pd.DataFrame({"row": rows, "kind": kinds, "key": keys, "det": detector, "ts": ts[rows]})
    frame = frame.sort_values(["kind", "key", "ts", "row"], kind="stable")
    new_group = (
        (frame["kind"] != frame["kind"].shift())
        | (frame["key"] != frame["key"].shift())
        | (frame["ts"].diff().fillna(0) > gap_seconds)
    )
    starts = np.flatnonzero(new_group.to_numpy())
    gid = np.cumsum(new_group.to_numpy()) - 1  # 0, 1, ...: the groups lie in runs
    ts_sorted = frame["ts"].to_numpy()
    # incidents in order of their first flow's time, groups with the same time in order
    first_ts = np.fmin.reduceat(ts_sorted, starts)  # NaN skipped, as groupby.min
    order = np.argsort(first_ts, kind="stable")
    # each group's detector: its most frequent one, ties to the first seen (value_counts)
    det_codes, det_names = pd.factorize(frame["det"])
    n_det = max(1, len(det_names))
    combo, first, counts = np.unique(gid * n_det + det_codes, return_index=True, return_counts=True)
    owner = combo // n_det
    rank = np.lexsort((first, -counts, owner))
    lead = rank[np.r_[True, owner[rank][1:] != owner[rank][:-1]]]
    group_det = det_names.to_numpy(dtype=object)[combo[lead] % n_det]
    row_sorted = frame["row"].to_numpy()
    kind_sorted = frame["kind"].to_numpy(dtype=object)
    key_sorted = frame["key"].to_numpy(dtype=object)
    ends = np.r_[starts[1:], len(frame)]
    width = max(4, len(str(len(starts))))
    incidents: list[Incident] = []
    for n, g in enumerate(order, start=1):
        a, b = starts[g], ends[g]
        incidents.append(
            Incident(
                incident_id=f"{prefix}-{n:0{width}d}",
                rows=np.sort(row_sorted[a:b]),
                pivot=str(kind_sorted[a]),
                key=str(key_sorted[a]),
                detector=str(group_det[g]),
            )
        )
    return incidents
