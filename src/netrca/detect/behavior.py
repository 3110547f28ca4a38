"""Behavioural detectors: one score in [0, 1] per flow for each taxonomy behaviour.

Each detector encodes how an analyst recognises a category (the Slips/RITA style of
evidence), comparing a host's behaviour with domain minimums and with the traffic's own
baseline, never with labels:

- ``scan``: many distinct ports on one host (vertical) or hosts on one port
  (horizontal) from one source, counted over *unestablished* probes only.
- ``unsolicited``: external sources trying internal ports that never serve anyone.
- ``flood``: a destination service receiving far more connections than its baseline.
- ``brute_force``: one source repeatedly connecting to one login service, with
  authentication failures or near-identical attempts.
- ``exfiltration``: uploads to external hosts far above the outbound baseline.
- ``beacon``: RITA-style periodicity: regular intervals, regular sizes, coverage.
- ``outage``: a service that normally answers now failing for many clients.
- ``congestion``: latency far above the path baseline for a whole group of flows.
- ``mismatch``: an application protocol on a port that belongs to another.
- ``failures``: feature tables only (no hosts or times to group by): a connection that
  failed, in a table whose own windowed error-rate columns (e.g. NSL-KDD's
  ``serror_rate``) say most connections around it failed too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, cast

import numpy as np
import pandas as pd

from netrca.features import FlowContext, pair_order
from netrca.groups import Groups
from netrca.netaddr import infrastructure_of_unique, subnet_key

__all__ = [
    "AUTH_PORTS",
    "DETECTORS",
    "FAILURE_RATE_HINTS",
    "BehaviourBaseline",
    "beacon_scores",
    "behaviour_frame",
    "behaviour_tasks",
    "failure_rate_columns",
    "failure_score",
    "ramp",
]

#: Detector names, in report order.
DETECTORS: tuple[str, ...] = (
    "scan",
    "unsolicited",
    "flood",
    "brute_force",
    "exfiltration",
    "beacon",
    "outage",
    "congestion",
    "mismatch",
    "failures",
)

#: Normalised column-name fragments that mark a windowed failure/error rate in a table.
FAILURE_RATE_HINTS = ("serror", "rerror", "errorrate", "failrate", "failratio", "failurerate")

#: Ports of services that authenticate users (brute-force targets).
AUTH_PORTS = frozenset(
    {21, 22, 23, 25, 110, 143, 389, 445, 465, 587, 993, 995, 1433, 3306, 3389, 5432, 5900, 8080}
)
_AUTH_PROTOCOLS = frozenset(
    {
        "SSH",
        "FTP",
        "RDP",
        "TELNET",
        "SMTP",
        "POP3",
        "IMAP",
        "LDAP",
        "SMB",
        "MYSQL",
        "VNC",
        "MSSQL",
        "POSTGRES",
    }
)


def ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear between (NaN → 0).

    Clipped and cleaned in place: clipping leaves no infinity, so only NaN needs
    replacing (what ``nan_to_num`` of the clipped values did in three more passes and a
    copy; the same values, 22 -> 6 ms per million). Broadcasts as the expression does;
    a scalar gives a scalar."""
    v = np.asarray((np.asarray(x, dtype=float) - lo) / (hi - lo))  # new, 0-d for a scalar
    np.clip(v, 0.0, 1.0, out=v)
    v[np.isnan(v)] = 0.0
    return v if v.ndim else v[()]


def _lramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """:func:`ramp` in log space."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return ramp(np.log(np.maximum(x, 1e-12)), np.log(lo), np.log(hi))


@dataclass
class BehaviourBaseline:
    """What normal looks like, learned in ``fit`` (JSON-serialisable)."""

    window_seconds: float
    served: list[str] = field(default_factory=list)  # "ip|port" answered at least once
    key_rate_median: dict[str, float] = field(default_factory=dict)  # "ip|port" → flows/window
    global_rate_p95: float = 10.0
    dst_fail_ratio: dict[str, float] = field(default_factory=dict)  # "ip|port" → ratio
    outbound_log_sent_median: float = 7.0
    outbound_log_sent_mad: float = 1.0
    failure_rate: float = 0.02

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BehaviourBaseline:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class _ServiceKeys:
    """Each flow's ``"address|port"`` service key: per flow (``keys``), as a number per
    distinct key by first appearance (``codes``) and the distinct texts (``texts``)."""

    keys: np.ndarray
    codes: np.ndarray
    texts: np.ndarray


def _services(ctx: FlowContext) -> _ServiceKeys:
    """The flows' service keys, each distinct text built once (kept on ``ctx``)."""

    def make() -> _ServiceKeys:
        dport = np.nan_to_num(ctx.dport, nan=-1).astype(np.int64)
        port_code, ports = pd.factorize(dport, sort=False)
        code, uniques = pd.factorize(ctx.dst.astype(np.int64) * (len(ports) + 1) + port_code)
        rep = np.empty(len(uniques), dtype=np.int64)  # one row of each (destination, port)
        rep[code] = np.arange(len(code))
        texts = ctx.dst_names[ctx.dst[rep]].astype(str).astype(object) + "|"
        texts = texts + dport[rep].astype(str).astype(object)
        return _ServiceKeys(texts[code], np.asarray(code, dtype=np.int64), texts)

    return cast(_ServiceKeys, ctx.cached("service_keys", make))


def _service_keys(ctx: FlowContext) -> np.ndarray:
    """``"address|port"`` per flow."""
    return np.asarray(_services(ctx).keys)


def _service_codes(ctx: FlowContext) -> np.ndarray:
    """Per flow, a number for its service key (one per distinct key, by first
    appearance): what grouping and counting need, without hashing a million texts."""
    return _services(ctx).codes


def _per_service(ctx: FlowContext, fn: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """``fn`` of each flow's service key, worked out once per distinct key (a dict lookup
    per row over a million object keys took ~0.4 s)."""
    services = _services(ctx)
    return np.asarray(fn(pd.Series(services.texts, dtype=object)))[services.codes]


def _probe_like(ctx: FlowContext) -> np.ndarray:
    """Connection attempts that exchanged (almost) nothing: the stuff of scans."""
    return ctx.failed | ctx.unanswered | ctx.refused | ((ctx.sent + ctx.received) < 120)


def fit_baseline(
    ctx: FlowContext, window_seconds: float, max_keys: int = 200_000
) -> BehaviourBaseline:
    """Learn the behaviour baseline from (mostly normal) traffic."""
    base = BehaviourBaseline(window_seconds=window_seconds)
    keys = _service_keys(ctx)
    answered = ~ctx.failed & (ctx.received > 0)
    served = pd.unique(keys[answered])
    base.served = [str(s) for s in served[:max_keys]]
    win = np.floor(ctx.ts / window_seconds).astype(np.int64)
    frame = pd.DataFrame({"k": keys, "w": win, "f": ctx.failed.astype(float)})
    per_win = frame.groupby(["k", "w"], sort=False).size()
    if len(per_win):
        base.global_rate_p95 = float(max(5.0, np.percentile(per_win.to_numpy(), 95)))
        by_key = per_win.groupby(level=0).agg(["median", "size"])
        by_key = by_key[by_key["size"] >= 4].sort_values("size", ascending=False).head(max_keys)
        base.key_rate_median = {str(k): float(v) for k, v in by_key["median"].items()}
        fail = frame.groupby("k", sort=False)["f"].agg(["mean", "size"])
        fail = fail[fail["size"] >= 5].sort_values("size", ascending=False).head(max_keys)
        base.dst_fail_ratio = {str(k): float(v) for k, v in fail["mean"].items()}
    if len(ctx.failed):
        base.failure_rate = float(ctx.service_failed.mean())
    out = _outbound(ctx) & ~ctx.failed & (ctx.sent > 0)
    if out.sum() >= 20:
        ls = np.log1p(ctx.sent[out])
        med = float(np.median(ls))
        base.outbound_log_sent_median = med
        base.outbound_log_sent_mad = float(max(np.median(np.abs(ls - med)) * 1.4826, 0.5))
    return base


def _outbound(ctx: FlowContext) -> np.ndarray:
    """Flows leaving the network. When a capture has (almost) no external destinations,
    internal/external carries no information and every flow counts."""
    external = ~ctx.dst_internal
    return external if external.mean() >= 0.01 else np.ones(len(external), dtype=bool)


def scan_score(ctx: FlowContext, win: np.ndarray) -> np.ndarray:
    """Vertical/horizontal scan evidence over unestablished probes, per window and overall."""
    probe = _probe_like(ctx)
    n = len(ctx.ts)
    if not probe.any():
        return np.zeros(n)
    dport = np.nan_to_num(ctx.dport, nan=-1).astype(np.int64)
    idx = np.flatnonzero(probe)
    src, dst, port, w = ctx.src[idx], ctx.dst[idx], dport[idx], win[idx]
    vertical = Groups(src, dst, w).nunique(port)
    horizontal = Groups(src, port, w).nunique(dst)
    targets = Groups(src, w).nunique(dst * (int(port.max(initial=0)) + 2) + port)
    overall = Groups(src).nunique(dst * (int(port.max(initial=0)) + 2) + port)
    # share of the source's flows that are probes: scanners barely complete anything
    share = Groups(ctx.src).mean(probe.astype(float))[idx]
    burst = np.maximum.reduce(
        [_lramp(vertical, 5, 25), _lramp(horizontal, 5, 25), _lramp(targets, 10, 50)]
    )
    # slow scans: many distinct failed targets over the whole capture, from a source that
    # does little else (a busy host collects failed connections over a day too)
    slow = _lramp(overall, 10, 50) * ramp(share, 0.6, 0.9)
    out = np.zeros(n)
    out[idx] = np.maximum(burst * (0.4 + 0.6 * ramp(share, 0.3, 0.8)), slow)
    return out


def unsolicited_score(ctx: FlowContext, served: set[str]) -> np.ndarray:
    """Unanswered external attempts at internal ports that serve no one."""
    cand = ~ctx.src_internal & ctx.dst_internal & (ctx.unanswered | ctx.refused)
    out = np.zeros(len(ctx.ts))
    if not cand.any():
        return out
    keys = _service_codes(ctx)
    idx = np.flatnonzero(cand)
    not_served = ~_per_service(ctx, lambda t: t.isin(served).to_numpy())[idx]
    targets = Groups(ctx.src[idx]).nunique(keys[idx])
    out[idx] = not_served * (0.7 + 0.25 * _lramp(targets, 1, 10))
    return out


def flood_score(ctx: FlowContext, win: np.ndarray, base: BehaviourBaseline) -> np.ndarray:
    """Connections to one service far above its usual rate, with strain (failures/latency)."""
    g = Groups(_service_codes(ctx), win)
    count = g.count()
    typical = _per_service(ctx, lambda t: t.map(base.key_rate_median).to_numpy(dtype=float))
    typical = np.where(np.isnan(typical), base.global_rate_p95, typical)
    ratio = count / np.maximum(typical, 1.0)
    sources = g.nunique(ctx.src)
    fail = g.mean(ctx.failed.astype(float))
    rate = _lramp(ratio, 3, 20) * _lramp(count, 30, 150)
    strain = np.maximum(ramp(fail, 0.1, 0.5), _lramp(sources, 3, 20))
    return rate * (0.6 + 0.4 * strain)


def brute_force_score(ctx: FlowContext, win: np.ndarray) -> np.ndarray:
    """Many attempts from one source at one login service, failing or near-identical."""
    dport = np.nan_to_num(ctx.dport, nan=-1).astype(np.int64)
    auth = np.isin(dport, list(AUTH_PORTS)) | ctx.protocol_in(_AUTH_PROTOCOLS)
    is_auth_fail = ctx.auth_error
    # a login attempt needs a session: unanswered probes are scanning, not guessing
    session = (~_probe_like(ctx) | is_auth_fail).astype(float)
    logs = np.log1p(ctx.sent)
    best = np.zeros(len(ctx.ts))
    # per window pair (burst) and over the whole capture (slow, persistent guessing)
    for g, lo, hi in (
        (Groups(ctx.src, ctx.dst, dport, win // 2), 6, 24),
        (Groups(ctx.src, ctx.dst, dport), 30, 150),
    ):
        auth_fail = g.mean(is_auth_fail.astype(float))
        regular = 1.0 - ramp(g.std(logs), 0.05, 0.5)
        evidence = np.maximum(ramp(auth_fail, 0.2, 0.6), regular)
        sessions = ramp(g.mean(session), 0.3, 0.7)
        count = g.count()
        best = np.maximum(best, _lramp(count, lo, hi) * evidence * sessions)
        # failed logins are the strongest evidence: fewer of them suffice, however slow
        best = np.maximum(best, _lramp(count, 5, 25) * ramp(auth_fail, 0.5, 0.8))
    return best * np.where(auth, 1.0, 0.5)


def exfiltration_score(ctx: FlowContext, base: BehaviourBaseline) -> np.ndarray:
    """Uploads to external hosts far above the outbound baseline, per flow and per pair."""
    out_flow = _outbound(ctx) & ~ctx.failed
    z = (np.log1p(ctx.sent) - base.outbound_log_sent_median) / base.outbound_log_sent_mad
    ratio = np.log1p(ctx.sent) - np.log1p(ctx.received)
    flow = ramp(z, 3.0, 6.0) * _lramp(ctx.sent, 1e6, 1e7) * ramp(ratio, 0.0, 2.3)
    g = Groups(ctx.src, ctx.dst)
    total = g.sum(ctx.sent * out_flow)
    pair_ratio = np.log1p(total) - np.log1p(g.sum(ctx.received * out_flow))
    pair = _lramp(total, 2e7, 2e8) * ramp(pair_ratio, 0.0, 2.3) * ramp(z, 1.0, 3.0)
    return np.where(out_flow, np.maximum(flow, pair), 0.0)


def beacon_scores(ctx: FlowContext, min_flows: int = 8) -> np.ndarray:
    """RITA-style beacon score per flow (its src→dst pair's score; 0 for small pairs)."""
    n = len(ctx.ts)
    pair, order = pair_order(ctx)
    p, t, size = pair[order], ctx.ts[order], ctx.sent[order]
    # a pair of at most min_flows flows scores 0 whatever its regularity (the size ramp
    # below): only the larger pairs' statistics are worked out
    first = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    lengths = np.diff(np.r_[first, len(p)])
    large = np.repeat(lengths > min_flows, lengths)
    p, t, size = p[large], t[large], size[large]
    same = p[1:] == p[:-1]
    gaps = pd.DataFrame({"p": p[1:][same], "gap": np.diff(t)[same]})
    q = gaps.groupby("p")["gap"].quantile([0.25, 0.5, 0.75]).unstack()
    if q.empty:
        return np.zeros(n)
    q.columns = ["q1", "q2", "q3"]
    gaps = gaps.join(q["q2"], on="p")
    madm = (gaps["gap"] - gaps["q2"]).abs().groupby(gaps["p"]).median()
    sizes = pd.DataFrame({"p": p, "s": size})
    sq = sizes.groupby("p")["s"].quantile([0.25, 0.5, 0.75]).unstack()
    sq.columns = ["q1", "q2", "q3"]
    sizes = sizes.join(sq["q2"], on="p")
    smadm = (sizes["s"] - sizes["q2"]).abs().groupby(sizes["p"]).median()
    span = pd.Series(t).groupby(p).agg(["min", "max", "size"])
    stats = q.join(madm.rename("madm")).join(span)
    stats = stats.join(sq.add_prefix("s_")).join(smadm.rename("smadm"))
    with np.errstate(invalid="ignore", divide="ignore"):
        iqr = stats["q3"] - stats["q1"]
        skew = np.where(iqr > 0, (stats["q3"] + stats["q1"] - 2 * stats["q2"]) / iqr, 0.0)
        ts_reg = 0.5 * (1 - np.abs(skew)) + 0.5 * (1 - np.clip(stats["madm"] / stats["q2"], 0, 1))
        siqr = stats["s_q3"] - stats["s_q1"]
        sskew = np.where(siqr > 0, (stats["s_q3"] + stats["s_q1"] - 2 * stats["s_q2"]) / siqr, 0.0)
        ds_reg = 0.5 * (1 - np.abs(sskew)) + 0.5 * (
            1 - np.clip(stats["smadm"] / np.maximum(stats["s_q2"], 1.0), 0, 1)
        )
        total_span = max(float(ctx.ts.max() - ctx.ts.min()), 1.0)
        coverage = np.clip((stats["max"] - stats["min"]) / total_span, 0, 1)
    score = 0.55 * np.nan_to_num(ts_reg) + 0.35 * np.nan_to_num(ds_reg) + 0.1 * coverage
    score = ramp(score, 0.6, 0.8) * _lramp(stats["size"].to_numpy(float), min_flows, 3 * min_flows)
    per_pair = pd.Series(np.asarray(score, dtype=float), index=stats.index)
    out = per_pair.reindex(pair).fillna(0.0).to_numpy()
    # a beacon calls one service; regular connections to many ports are a sweep (scan)
    ports = Groups(pair).nunique(np.nan_to_num(ctx.dport, nan=-1))
    out = out * (1.0 - 0.8 * _lramp(ports, 2, 10))
    # multicast, broadcast and link-local peers are periodic by design (neighbour
    # discovery, name service announcements) and cannot be a command server
    infra = infrastructure_of_unique(np.asarray(ctx.dst_names, dtype=object))[ctx.dst]
    out = np.where(infra, 0.0, out)
    internal_pair = ctx.dst_internal & ctx.src_internal & (~ctx.dst_internal).any()
    return np.where(internal_pair, 0.5 * out, out)


def _episodes(
    key: np.ndarray, win: np.ndarray, bad_flow: np.ndarray, n_keys_hint: int = 0
) -> np.ndarray:
    """Episode id per flow: runs of consecutive windows (per key) in which most flows are
    bad; -1 for flows outside any episode."""
    g = Groups(key, win)
    bad_win = g.mean(bad_flow.astype(float)) >= 0.5
    # one row per (key, window) cell: its first flow. Group ids count up by first
    # appearance, so a flow is its cell's first where its id exceeds all before it; the
    # cells' key codes (numbered by first appearance) are those of the whole column,
    # since a key's first flow is the first of its cell
    ids = g.ids
    seen = np.maximum.accumulate(ids)
    first = np.flatnonzero(ids > np.concatenate(([-1], seen[:-1])))
    cells = pd.DataFrame(
        {"g": ids[first], "k": pd.factorize(key[first])[0], "w": win[first], "bad": bad_win[first]}
    ).sort_values(["k", "w"], kind="stable")
    new = (
        (cells["k"] != cells["k"].shift())
        | (cells["w"] - cells["w"].shift() > 1)
        | ~cells["bad"].shift(fill_value=False).astype(bool)
    )
    episode = new.cumsum().where(cells["bad"], -1)
    per_cell = np.empty(g.n_groups, dtype=np.int64)
    per_cell[cells["g"].to_numpy()] = episode.to_numpy(dtype=np.int64)
    return per_cell[ids]


def outage_score(
    ctx: FlowContext, win: np.ndarray, base: BehaviourBaseline, served: set[str]
) -> np.ndarray:
    """A normally answering service (or host) failing for its clients: an episode of
    consecutive windows in which most of its connections fail, or, over the whole capture,
    failures far above the baseline rate."""
    keys = _service_codes(ctx)
    is_served = _per_service(ctx, lambda t: t.isin(served).to_numpy())
    failed = ctx.service_failed
    usual = _per_service(
        ctx, lambda t: t.map(base.dst_fail_ratio).fillna(0.0).to_numpy(dtype=float)
    )
    s = np.zeros(len(keys))
    # per service, and per host (a host that is down fails on every port it serves)
    for key in (keys, ctx.dst):
        ep = _episodes(key, win, failed)
        inside = np.flatnonzero(ep >= 0)  # the flows of episodes: few (~1% at 1M)
        if not len(inside):
            continue
        g = Groups(ep[inside])
        f_ep = g.sum(failed[inside].astype(float))
        ratio = f_ep / g.count()
        clients = g.nunique(ctx.src[inside])
        term = ramp(ratio - usual[inside], 0.3, 0.7) * _lramp(f_ep, 3, 10)
        term = term * np.where(clients >= 2, 1.0, 0.6)
        s[inside] = np.maximum(s[inside], term)
    # Whole-capture excess (binomial z), for outages whose failures are not bunched in
    # time. Episodes already explained are left out, so the background failures of a
    # service that had one bunched outage are not blamed on it.
    rest = ~(s >= 0.3)
    p0 = min(max(base.failure_rate, 0.005), 0.5)
    excess = np.zeros(len(keys))
    for key in (keys, ctx.dst):
        whole = Groups(key)
        n_key = whole.sum(rest.astype(float))
        f_key = whole.sum((failed & rest).astype(float))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (f_key - n_key * p0) / np.sqrt(n_key * p0 * (1.0 - p0))
        excess = np.maximum(excess, ramp(np.nan_to_num(z), 4.0, 8.0) * _lramp(f_key, 5, 20))
    excess = np.where(rest, excess, 0.0)
    return np.where(failed & is_served, np.maximum(s, excess), 0.0)


def congestion_score(ctx: FlowContext, win: np.ndarray, latency_ratio: np.ndarray) -> np.ndarray:
    """Latency far above the path baseline, shared by many flows on the same path."""
    if np.all(np.isnan(ctx.latency)):
        return np.zeros(len(ctx.ts))
    r = np.nan_to_num(latency_ratio, nan=1.0)
    src_net = subnet_key(pd.Series(ctx.src_names)).to_numpy(dtype=object)[ctx.src]
    dst_net = subnet_key(pd.Series(ctx.dst_names)).to_numpy(dtype=object)[ctx.dst]
    lr = np.log(np.maximum(r, 1e-6))
    ok = ~ctx.failed
    lr_ok = np.where(ok, lr, np.nan)  # failed flows have no meaningful latency
    shared = np.zeros(len(r))
    for g in (
        Groups(src_net, ctx.dst_internal, win),
        Groups(src_net, ctx.dst_internal, win // 4),
        Groups(dst_net, win),
        Groups(dst_net, win // 4),
    ):
        med = np.exp(g.median(lr_ok))
        size = g.sum(ok.astype(float))
        shared = np.maximum(shared, _lramp(med, 1.8, 4.0) * ramp(size, 2, 6))
    flow = np.where(ok, _lramp(r, 2.0, 5.0), 0.8)
    return flow * shared


def mismatch_score(ctx: FlowContext) -> np.ndarray:
    """Protocol/port mismatches, stronger when a source repeats them."""
    if not ctx.mismatch.any():
        return np.zeros(len(ctx.ts))
    idx = np.flatnonzero(ctx.mismatch)
    g = Groups(ctx.src[idx])
    repeats = g.count()
    # a tunnel keeps to one port; a source whose mismatches spread over many ports is
    # probing (the scan detector's job), so its mismatch evidence is discounted
    spread = g.nunique(np.nan_to_num(ctx.dport[idx], nan=-1))
    consistent = 1.0 - 0.7 * _lramp(spread, 3, 10)
    out = np.zeros(len(ctx.ts))
    out[idx] = (0.55 + 0.4 * _lramp(repeats, 1, 10)) * consistent
    return out


def failure_rate_columns(names: list[str]) -> list[str]:
    """Columns whose names mark a windowed failure/error rate (see FAILURE_RATE_HINTS)."""
    from netrca.io.canonical import normalise_name

    return [n for n in names if any(h in normalise_name(n) for h in FAILURE_RATE_HINTS)]


def failure_score(ctx: FlowContext, flows: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Table-mode failure evidence: the table's own error rates, and the flow's outcome."""
    own = 0.5 * (ctx.unanswered | ctx.refused).astype(float)
    if not columns:
        return own
    rates = flows[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    scale = np.where(np.nanmax(np.abs(rates), axis=0, initial=0.0) > 1.0, 100.0, 1.0)
    top = np.nan_to_num(np.nanmax(np.abs(rates) / scale, axis=1, initial=0.0))
    return np.maximum(ramp(top, 0.5, 0.9), own)


#: Detectors from the most to the least work at 1M flows (a worker thread takes them in
#: this order; the caller's thread, once done with its own work, takes any not started
#: from the other end).
_BY_COST = (
    "outage",
    "beacon",
    "brute_force",
    "flood",
    "exfiltration",
    "unsolicited",
    "scan",
    "congestion",
    "mismatch",
    "failures",
)


def behaviour_tasks(
    ctx: FlowContext,
    base: BehaviourBaseline,
    latency_ratio: np.ndarray,
    *,
    mode: str = "flows",
    flows: pd.DataFrame | None = None,
    failure_columns: list[str] | None = None,
) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """Each detector's score as a task of its own, most work first: independent of
    one another (they share ``ctx``, read-only but for its cache, filled under a lock by
    :meth:`~netrca.features.FlowContext.cached`), so they may run on any threads in any
    order.
    :func:`behaviour_frame` puts their results together. In ``"table"`` mode (no hosts or
    timestamps) only the detectors that need neither run (``mismatch``, ``failures``);
    the others score 0."""
    n = len(ctx.ts)
    zeros: Callable[[], np.ndarray] = partial(np.zeros, n)
    if mode == "table":
        tasks: dict[str, Callable[[], np.ndarray]] = dict.fromkeys(DETECTORS, zeros)
        tasks["mismatch"] = partial(mismatch_score, ctx)
        if flows is not None:
            tasks["failures"] = partial(failure_score, ctx, flows, failure_columns or [])
    else:
        win = np.floor(ctx.ts / base.window_seconds).astype(np.int64)
        served = set(base.served)
        tasks = {
            "scan": partial(scan_score, ctx, win),
            "unsolicited": partial(unsolicited_score, ctx, served),
            "flood": partial(flood_score, ctx, win, base),
            "brute_force": partial(brute_force_score, ctx, win),
            "exfiltration": partial(exfiltration_score, ctx, base),
            "beacon": partial(beacon_scores, ctx),
            "outage": partial(outage_score, ctx, win, base, served),
            "congestion": partial(congestion_score, ctx, win, latency_ratio),
            "mismatch": partial(mismatch_score, ctx),
            "failures": zeros,
        }
    return [(d, tasks[d]) for d in _BY_COST]


def behaviour_frame(scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """The detectors' scores, one column each in :data:`DETECTORS` order, within [0, 1]."""
    return pd.DataFrame({d: scores[d] for d in DETECTORS}).clip(0.0, 1.0)
