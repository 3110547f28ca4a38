"""Cross-field validity of flows: rules learned from training data, measured and enforced.

Rules (each active only when its columns exist and the training flows obey it):

- ``status_error``: the (status, error_code) pair was seen in training (e.g. no
  SUCCESS/TIMEOUT unless the training data had one);
- ``protocol_port``: the destination port was seen with that protocol (for that
  condition class, else for any class), or the protocol takes any port (more than
  ``max_ports`` distinct ports in training, e.g. plain TCP);
- ``icmp_ports``: ICMP flows have no ports;
- ``bytes_packets``: a direction with bytes has at least one packet.

:meth:`ValidityRules.check` measures violations per rule; :meth:`ValidityRules.repair`
fixes violating rows with the smallest change that satisfies the rule (the status
that goes with the error code, a port drawn from the protocol's training ports, null
ICMP ports, enough packets to carry the bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NAMED_RULES", "RULES", "ValidityRules"]

#: Rule names in report order.
RULES: tuple[str, ...] = ("status_error", "protocol_port", "icmp_ports", "bytes_packets")
#: The rules issue #3 names; ``bytes_packets`` (and the address-class check of the IP
#: encoder) are stricter additions, counted in the overall raw validity.
NAMED_RULES: tuple[str, ...] = ("status_error", "protocol_port", "icmp_ports")
_ANY = "*"
_TOLERANCE = 0.001  # a fixed rule is active when training violates it in at most 0.1% of rows
_MTU = 1500.0


def _text(s: pd.Series) -> np.ndarray:
    return np.asarray(s.astype("string").fillna("<null>").to_numpy(dtype=object))


def _text_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(_text(s))`` without making a Python string of every row."""
    codes, uniques = pd.factorize(s.astype("string").fillna("<null>"))
    return codes, np.asarray(uniques, dtype=object)


def _num(s: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan))


class ValidityRules:
    """Cross-field rules learned from training flows."""

    def __init__(self, *, condition: str | None = None, max_ports: int = 256) -> None:
        self.condition = condition
        self.max_ports = max_ports

    # -- fitting -----------------------------------------------------------------------------
    def _keys(self, flows: pd.DataFrame) -> np.ndarray:
        if self.condition and self.condition in flows.columns:
            return _text(flows[self.condition])
        return np.full(len(flows), "", dtype=object)

    def _key_codes(self, flows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``pd.factorize(self._keys(flows))``, from the column's string array."""
        if self.condition and self.condition in flows.columns:
            return _text_codes(flows[self.condition])
        return np.zeros(len(flows), dtype=np.intp), np.array([""], dtype=object)

    def fit(self, flows: pd.DataFrame) -> ValidityRules:
        """Learn allowed pairs and port tables from ``flows``."""
        cols = set(flows.columns)
        self.status_error_: dict[str, str] | None = None
        self.pairs_: set[tuple[str, str]] = set()
        if {"status", "error_code"} <= cols:
            st, er = _text(flows["status"]), _text(flows["error_code"])
            pairs = pd.DataFrame({"s": st, "e": er})
            self.pairs_ = {(a, b) for a, b in pairs.drop_duplicates().itertuples(index=False)}
            mode = pairs.groupby("e")["s"].agg(lambda x: x.value_counts().index[0])
            self.status_error_ = {str(k): str(v) for k, v in mode.items()}
        self.ports_: dict[str, dict[str, list[Any]]] | None = None
        if {"protocol", "destination_port"} <= cols:
            self.ports_ = self._port_tables(flows)
        self.icmp_active_ = False
        if "protocol" in cols and ({"source_port", "destination_port"} & cols):
            self.icmp_active_ = self._share(self._icmp_violations(flows), len(flows)) <= _TOLERANCE
        self.packets_active_ = False
        if {"bytes_sent", "packets_sent"} <= cols or {"bytes_received", "packets_received"} <= cols:
            bad = self._packet_violations(flows)
            self.packets_active_ = self._share(bad, len(flows)) <= _TOLERANCE
        return self

    @staticmethod
    def _share(mask: np.ndarray, n: int) -> float:
        return float(mask.sum()) / max(n, 1)

    def _port_tables(self, flows: pd.DataFrame) -> dict[str, dict[str, list[Any]]]:
        proto = _text(flows["protocol"])
        port = _num(flows["destination_port"])
        frame = pd.DataFrame(
            {"k": self._keys(flows), "p": proto, "port": np.where(np.isnan(port), -1, port)}
        )
        tables: dict[str, dict[str, list[Any]]] = {}
        for scope, data in (("class", frame), ("any", frame.assign(k=_ANY))):
            counts = data.groupby(["k", "p", "port"]).size()
            table: dict[str, list[Any]] = {}
            for (k, p), grp in counts.groupby(level=[0, 1]):
                ports = grp.droplevel([0, 1]).sort_values(ascending=False, kind="stable")
                key = f"{k}\x1f{p}"
                if len(ports) > self.max_ports:
                    table[key] = [_ANY]
                else:
                    table[key] = [[int(v), int(c)] for v, c in ports.items()]
            tables[scope] = table
        return tables

    # -- checking ----------------------------------------------------------------------------
    def _icmp_violations(self, flows: pd.DataFrame) -> np.ndarray:
        codes, names = _text_codes(flows["protocol"])  # per distinct protocol
        icmp = (np.char.upper(np.asarray(names, dtype=str)) == "ICMP")[codes]
        has_port = np.zeros(len(flows), dtype=bool)
        for c in ("source_port", "destination_port"):
            if c in flows.columns:
                has_port |= ~np.isnan(_num(flows[c]))
        return np.asarray(icmp & has_port)

    def _packet_violations(self, flows: pd.DataFrame) -> np.ndarray:
        bad = np.zeros(len(flows), dtype=bool)
        for b, p in (("bytes_sent", "packets_sent"), ("bytes_received", "packets_received")):
            if b in flows.columns and p in flows.columns:
                bad |= (_num(flows[b]) > 0) & (_num(flows[p]) == 0)
        return bad

    def _port_violations(self, flows: pd.DataFrame) -> np.ndarray:
        assert self.ports_ is not None
        port = _num(flows["destination_port"])
        port = np.where(np.isnan(port), -1, port).astype(np.int64)
        bad = np.zeros(len(flows), dtype=bool)
        if not len(flows):
            return bad
        # rows grouped by (condition key, protocol) through codes, not per-row strings
        kc, ku = self._key_codes(flows)
        pc, pu = _text_codes(flows["protocol"])
        combo = kc.astype(np.int64) * len(pu) + pc
        order = np.argsort(combo, kind="stable")
        sorted_combo = combo[order]
        starts = np.flatnonzero(np.r_[True, sorted_combo[1:] != sorted_combo[:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], len(order)], strict=True):
            c = int(sorted_combo[lo])
            k, p = ku[c // len(pu)], pu[c % len(pu)]
            allowed = self.ports_["class"].get(f"{k}\x1f{p}") or self.ports_["any"].get(
                f"{_ANY}\x1f{p}"
            )
            if allowed is None:
                continue  # a protocol never seen in training: no port knowledge to check
            if allowed == [_ANY]:
                continue
            idx = order[lo:hi]
            bad[idx] = ~np.isin(port[idx], [v for v, _ in allowed])
        return bad

    def check(self, flows: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per active rule, a boolean mask of the rows that violate it."""
        out: dict[str, np.ndarray] = {}
        if self.status_error_ is not None and {"status", "error_code"} <= set(flows.columns):
            # per distinct (status, error code) pair
            sc, su = _text_codes(flows["status"])
            ec, eu = _text_codes(flows["error_code"])
            allowed = np.array([[(a, b) in self.pairs_ for b in eu] for a in su], dtype=bool)
            allowed = allowed.reshape(len(su), len(eu))
            out["status_error"] = ~allowed[sc, ec]
        if self.ports_ is not None and {"protocol", "destination_port"} <= set(flows.columns):
            out["protocol_port"] = self._port_violations(flows)
        if self.icmp_active_:
            out["icmp_ports"] = self._icmp_violations(flows)
        if self.packets_active_:
            out["bytes_packets"] = self._packet_violations(flows)
        return out

    def rate(self, flows: pd.DataFrame) -> float:
        """Share of rows that satisfy every active rule."""
        masks = list(self.check(flows).values())
        if not masks or not len(flows):
            return 1.0
        return float(1.0 - np.logical_or.reduce(masks).mean())

    # -- repairing ---------------------------------------------------------------------------
    def repair(
        self,
        flows: pd.DataFrame,
        rng: np.random.Generator,
        checks: dict[str, np.ndarray] | None = None,
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """A copy of ``flows`` with every violation fixed, and the count fixed per rule
        (``checks``: :meth:`check` of ``flows``, when the caller has it already)."""
        out = flows.copy()
        checks = self.check(out) if checks is None else checks
        counts = {k: int(v.sum()) for k, v in checks.items()}
        if counts.get("status_error") and self.status_error_ is not None:
            m = checks["status_error"]
            err = _text(out.loc[m, "error_code"])
            out.loc[m, "status"] = [self.status_error_.get(e, "SUCCESS") for e in err]
        if counts.get("icmp_ports"):
            m = checks["icmp_ports"]
            for c in ("source_port", "destination_port"):
                if c in out.columns:
                    out.loc[m, c] = pd.NA
        if self.ports_ is not None and {"protocol", "destination_port"} <= set(out.columns):
            # checked again when ICMP rows lost their ports or the condition the port
            # tables are keyed by was repaired; nothing else moves the check's inputs
            bad = checks.get("protocol_port")
            keyed = counts.get("status_error") and self.condition in ("status", "error_code")
            if bad is None or counts.get("icmp_ports") or keyed:
                bad = self._port_violations(out)
            if bad.any():
                out.loc[bad, "destination_port"] = self._draw_ports(out.loc[bad], rng)
        if counts.get("bytes_packets"):
            self._repair_packets(out)
        return out, counts

    def _draw_ports(self, rows: pd.DataFrame, rng: np.random.Generator) -> pd.array:
        assert self.ports_ is not None
        proto = _text(rows["protocol"])
        keys = self._keys(rows)
        draws = np.full(len(rows), -1, dtype=np.int64)
        frame = pd.DataFrame({"k": keys, "p": proto})
        for (k, p), idx in frame.groupby(["k", "p"]).indices.items():
            allowed = self.ports_["class"].get(f"{k}\x1f{p}") or self.ports_["any"].get(
                f"{_ANY}\x1f{p}"
            )
            assert allowed is not None
            assert allowed != [_ANY]
            vals = np.asarray([v for v, _ in allowed], dtype=np.int64)
            w = np.asarray([c for _, c in allowed], dtype=np.float64)
            draws[idx] = vals[rng.choice(len(vals), size=len(idx), p=w / w.sum())]
        return pd.array(np.where(draws < 0, np.nan, draws.astype(np.float64)), dtype="Int64")

    @staticmethod
    def _repair_packets(out: pd.DataFrame) -> None:
        for b, p in (("bytes_sent", "packets_sent"), ("bytes_received", "packets_received")):
            if b in out.columns and p in out.columns:
                nb, np_ = _num(out[b]), _num(out[p])
                m = (nb > 0) & (np_ == 0)
                if m.any():
                    out.loc[m, p] = np.ceil(nb[m] / _MTU).astype(np.int64)

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "condition": self.condition,
            "max_ports": self.max_ports,
            "pairs": sorted([list(p) for p in self.pairs_]),
            "status_error": self.status_error_,
            "ports": self.ports_,
            "icmp_active": self.icmp_active_,
            "packets_active": self.packets_active_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidityRules:
        """Rebuild from :meth:`to_dict`."""
        rules = cls(condition=d["condition"], max_ports=int(d["max_ports"]))
        rules.pairs_ = {(str(a), str(b)) for a, b in d["pairs"]}
        rules.status_error_ = d["status_error"]
        rules.ports_ = d["ports"]
        rules.icmp_active_ = bool(d["icmp_active"])
        rules.packets_active_ = bool(d["packets_active"])
        return rules
