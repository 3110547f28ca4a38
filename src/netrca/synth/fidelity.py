"""Fidelity of synthetic flows: marginals, pairs, detectability, privacy, validity, TSTR.

Every metric is computed on one *view* of the flows, learned from the real flows and
applied to real and synthetic alike:

- continuous: ``bytes_sent``, ``bytes_received``, ``packets_sent``, ``packets_received``,
  ``duration``, ``latency``, ``source_port``, ``time_of_day`` (hours),
  ``inter_arrival`` (seconds to the previous flow);
- categorical: ``protocol``, ``status``, ``error_code``, ``destination_port`` (the real
  data's 20 most frequent ports, others by IANA class), ``source_ip`` and
  ``destination_ip`` (the 20 most frequent addresses, others as internal/external),
  ``source_internal``, ``destination_internal``, ``root_cause``.

A view column that is constant or null in the real flows is listed under ``fixed`` and
left out of the means (matching a constant is not evidence of fidelity).

Metrics (lower is better unless noted): per-column two-sample KS statistic and
Wasserstein-1 distance (on ``log1p`` for heavy-tailed columns, divided by the real
column's standard deviation on that scale); per-column Jensen-Shannon divergence (base 2,
in [0, 1]); ``correlation_difference``: mean absolute difference of the Spearman
correlation matrices of the continuous columns; ``contingency_difference``: mean total
variation distance between the pairwise joint distributions of the categorical columns
(the report's ``floor`` gives the correlation difference that sampling noise alone leaves
between two independent samples of the real distribution of these sizes);
``classifier_auc``: out-of-fold ROC-AUC of a gradient-boosted classifier telling real from
synthetic rows (0.5 = indistinguishable); ``exact_copies``: synthetic rows equal to a
training row in every column; distance to closest record (DCR) against the training
rows, next to the real rows' own nearest-neighbour distance; ``validity``: share of rows
obeying the cross-field rules learned from the real flows; ``tstr``: ROC-AUC of netrca's
Detector fitted on synthetic flows vs fitted on the real flows, both scored on the same
held-out real flows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from netrca import __version__
from netrca.config import DEFAULT_INTERNAL_NETWORKS
from netrca.errors import InputError
from netrca.netaddr import internal_mask, parse_networks
from netrca.synth.encoders import PORT_CLASSES, TimeEncoder
from netrca.synth.validity import ValidityRules

if TYPE_CHECKING:
    from netrca.synth.gan import FlowGAN, SampleResult
    from netrca.synth.table import TrainingSchema

__all__ = [
    "CATEGORICAL",
    "CONTINUOUS",
    "TARGETS",
    "ViewSpec",
    "classifier_auc",
    "compare",
    "correlation_floor",
    "fidelity_file",
    "fidelity_from_reference",
    "fidelity_report",
    "summarize",
    "tstr",
]

CONTINUOUS: tuple[str, ...] = (
    "bytes_sent",
    "bytes_received",
    "packets_sent",
    "packets_received",
    "duration",
    "latency",
    "source_port",
    "time_of_day",
    "inter_arrival",
)
CATEGORICAL: tuple[str, ...] = (
    "protocol",
    "status",
    "error_code",
    "destination_port",
    "source_ip",
    "destination_ip",
    "source_internal",
    "destination_internal",
    "root_cause",
)
_LINEAR = ("time_of_day", "source_port")
_TOP = 20
_NULL = "<null>"
_MAX_ROWS = 20000
_DCR_ROWS = 2000

#: Targets of issue #3 on the GAN's metrics: (comparison, value).
TARGETS: dict[str, tuple[str, float]] = {
    "ks_mean": ("<=", 0.05),
    "jsd_mean": ("<=", 0.02),
    "correlation_difference": ("<=", 0.05),
    "classifier_auc": ("<=", 0.70),
    "exact_copies": ("==", 0),
    "raw_validity": (">=", 0.995),
    "tstr_ratio": (">=", 0.90),
}
#: Metrics on which the GAN must beat both baselines.
BEAT_BASELINES: tuple[str, ...] = (
    "correlation_difference",
    "contingency_difference",
    "classifier_auc",
)


# -- the view -----------------------------------------------------------------------------
def _text(s: pd.Series) -> pd.Series:
    t = s.astype("string").str.strip()
    return t.mask(t == "", None).fillna(_NULL).astype(object)


def _number(s: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan))


class ViewSpec:
    """The columns metrics are computed on, with vocabularies learned from real flows."""

    def __init__(self, internal_networks: list[str] | None = None) -> None:
        self.internal_networks = list(internal_networks or DEFAULT_INTERNAL_NETWORKS)
        self.ports: list[int] = []
        self.addresses: dict[str, list[str]] = {}
        self.continuous: list[str] = []
        self.categorical: list[str] = []
        self.fixed: list[str] = []

    def fit(self, real: pd.DataFrame) -> ViewSpec:
        """Learn the top ports and addresses and which view columns vary."""
        if "destination_port" in real:
            vc = pd.Series(_number(real["destination_port"])).dropna().value_counts()
            self.ports = sorted(int(p) for p in vc.head(_TOP).index)
        for c in ("source_ip", "destination_ip"):
            if c in real:
                vc = real[c].astype("string").dropna().value_counts()
                self.addresses[c] = sorted(str(a) for a in vc.head(_TOP).index)
        cont, cat = self._raw(real)
        self.continuous = [c for c in cont if cont[c].nunique(dropna=True) >= 2]
        self.categorical = [c for c in cat if cat[c].nunique() >= 2]
        self.fixed = [c for c in (*cont, *cat) if c not in self.continuous + self.categorical]
        return self

    def _raw(self, flows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cont: dict[str, np.ndarray] = {}
        cat: dict[str, Any] = {}
        nets = parse_networks(self.internal_networks)
        for c in CONTINUOUS[:7]:
            if c in flows:
                cont[c] = _number(flows[c])
        if "timestamp" in flows:
            t = TimeEncoder.epoch(flows["timestamp"], "timestamp")
            cont["time_of_day"] = np.mod(t, 86400.0) / 3600.0
            cont["inter_arrival"] = TimeEncoder.gaps(t)
        for c in ("protocol", "status", "error_code"):
            if c in flows:
                cat[c] = _text(flows[c]).to_numpy()
        if "destination_port" in flows:
            cat["destination_port"] = self._ports(_number(flows["destination_port"]))
        for c in ("source_ip", "destination_ip"):
            if c in flows:
                ip = flows[c].astype("string")
                inside = internal_mask(ip.fillna(""), nets)
                top = ip.isin(self.addresses.get(c, [])).to_numpy(dtype=bool, na_value=False)
                other = np.where(inside, "other_internal", "other_external")
                cat[c] = np.where(top, ip.fillna(_NULL).to_numpy(dtype=object), other)
                side = c.split("_")[0]
                cat[f"{side}_internal"] = np.where(inside, "internal", "external").astype(object)
        if "root_cause" in flows:
            cat["root_cause"] = _text(flows["root_cause"]).to_numpy()
        order_c = [c for c in CONTINUOUS if c in cont]
        order_k = [c for c in CATEGORICAL if c in cat]
        return (
            pd.DataFrame({c: cont[c] for c in order_c}),
            pd.DataFrame({c: np.asarray(cat[c], dtype=object) for c in order_k}),
        )

    def _ports(self, p: np.ndarray) -> np.ndarray:
        out = np.full(len(p), _NULL, dtype=object)
        ok = ~np.isnan(p)
        top = ok & np.isin(p, self.ports)
        out[top] = p[top].astype(np.int64).astype(str)
        cls = np.searchsorted([c[2] for c in PORT_CLASSES], p[ok & ~top])
        out[ok & ~top] = np.asarray([f"other_{c[0]}" for c in PORT_CLASSES], dtype=object)[cls]
        return out

    def transform(self, flows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(continuous, categorical) view of ``flows`` on the learned columns."""
        cont, cat = self._raw(flows)
        missing = [c for c in self.continuous if c not in cont] + [
            c for c in self.categorical if c not in cat
        ]
        if missing:
            raise InputError(f"flows lack view column(s) {', '.join(missing)}")
        return cont[self.continuous], cat[self.categorical]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "internal_networks": self.internal_networks,
            "ports": self.ports,
            "addresses": self.addresses,
            "continuous": self.continuous,
            "categorical": self.categorical,
            "fixed": self.fixed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViewSpec:
        """Rebuild from :meth:`to_dict`."""
        spec = cls(d["internal_networks"])
        spec.ports = [int(p) for p in d["ports"]]
        spec.addresses = {k: [str(a) for a in v] for k, v in d["addresses"].items()}
        spec.continuous = list(d["continuous"])
        spec.categorical = list(d["categorical"])
        spec.fixed = list(d["fixed"])
        return spec


# -- per-column metrics -------------------------------------------------------------------
def _scale(c: str, v: np.ndarray) -> np.ndarray:
    return v if c in _LINEAR else np.log1p(np.maximum(v, 0.0))


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) or not len(b):
        return float(len(a) != len(b))
    return float(ks_2samp(a, b).statistic)


def _wasserstein(c: str, a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import wasserstein_distance

    a, b = _scale(c, a[~np.isnan(a)]), _scale(c, b[~np.isnan(b)])
    if not len(a) or not len(b):
        return float("nan")
    sd = float(np.std(a))
    return float(wasserstein_distance(a, b) / (sd if sd > 0 else 1.0))


def _jsd(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon

    cats = pd.Index(pd.unique(np.concatenate([a, b])))
    p = np.bincount(cats.get_indexer(a), minlength=len(cats)).astype(np.float64)
    q = np.bincount(cats.get_indexer(b), minlength=len(cats)).astype(np.float64)
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def _correlation_difference(a: pd.DataFrame, b: pd.DataFrame) -> float | None:
    if a.shape[1] < 2:
        return None
    ca = a.corr(method="spearman").to_numpy()
    cb = b.corr(method="spearman").to_numpy()
    iu = np.triu_indices(a.shape[1], 1)
    return float(np.mean(np.abs(np.nan_to_num(ca[iu]) - np.nan_to_num(cb[iu]))))


def correlation_floor(real: pd.DataFrame, n: int, seed: int = 0, splits: int = 4) -> float | None:
    """The correlation difference a perfect generator would still show against ``real``
    (continuous view columns) with ``n`` rows: the mean difference between random halves
    of ``real``, scaled from two samples of ``len(real) / 2`` rows to ``len(real)``
    against ``n`` (sampling noise of a correlation shrinks as one over the root of the
    rows). ``None`` for fewer than two columns or four rows."""
    m = len(real)
    if real.shape[1] < 2 or m < 4 or n < 1:
        return None
    rng = np.random.default_rng(seed)
    half = m // 2
    diffs = []
    for _ in range(splits):
        idx = rng.permutation(m)
        d = _correlation_difference(real.iloc[idx[:half]], real.iloc[idx[half : 2 * half]])
        diffs.append(0.0 if d is None else d)
    return float(np.mean(diffs) * np.sqrt((1.0 / m + 1.0 / n) / (2.0 / half)))


def _contingency_difference(a: pd.DataFrame, b: pd.DataFrame) -> float | None:
    cols = list(a.columns)
    if len(cols) < 2:
        return None
    out = []
    for i, x in enumerate(cols):
        for y in cols[i + 1 :]:
            ja = (a[x].astype(str) + "\x1f" + a[y].astype(str)).value_counts(normalize=True)
            jb = (b[x].astype(str) + "\x1f" + b[y].astype(str)).value_counts(normalize=True)
            joint = pd.concat([ja, jb], axis=1).fillna(0.0)
            out.append(0.5 * float(np.abs(joint.iloc[:, 0] - joint.iloc[:, 1]).sum()))
    return float(np.mean(out))


def _sample_rows(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=m, replace=False)) if n > m else np.arange(n)


def classifier_auc(
    real: tuple[pd.DataFrame, pd.DataFrame], syn: tuple[pd.DataFrame, pd.DataFrame], seed: int
) -> float:
    """ROC-AUC of gradient-boosted trees telling ``real`` from ``syn`` views (3-fold
    cross-validated; up to ``_MAX_ROWS`` rows a side; 0.5 = indistinguishable)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    m = min(len(real[0]), len(syn[0]), _MAX_ROWS)
    ra = _sample_rows(len(real[0]), m, rng)
    sa = _sample_rows(len(syn[0]), m, rng)
    cont = pd.concat([real[0].iloc[ra], syn[0].iloc[sa]], ignore_index=True)
    cat = pd.concat([real[1].iloc[ra], syn[1].iloc[sa]], ignore_index=True)
    codes = {c: pd.factorize(cat[c].astype(str))[0] for c in cat.columns}
    X = np.column_stack([cont.to_numpy(dtype=np.float64)] + [codes[c] for c in cat.columns])
    mask = np.r_[np.zeros(cont.shape[1], bool), np.ones(cat.shape[1], bool)]
    y = np.r_[np.zeros(m), np.ones(m)]
    clf = HistGradientBoostingClassifier(
        max_iter=300,
        early_stopping=True,
        categorical_features=mask if mask.any() else None,
        random_state=seed,
    )
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):  # reproducible, and no OpenMP thrashing on busy CPUs
        proba = cross_val_predict(clf, X, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def _dcr_features(
    spec: ViewSpec, view: tuple[pd.DataFrame, pd.DataFrame], ref: dict[str, Any]
) -> np.ndarray:
    cont = np.column_stack(
        [_scale(c, view[0][c].to_numpy(dtype=np.float64)) for c in spec.continuous]
        or [np.zeros(len(view[0]))]
    )
    cont = np.nan_to_num((cont - ref["mean"]) / ref["std"], nan=0.0)
    onehot = [
        (view[1][c].to_numpy()[:, None] == np.asarray(ref["cats"][c], dtype=object)[None, :])
        / np.sqrt(2.0)
        for c in spec.categorical
    ]
    return np.column_stack([cont, *onehot]) if onehot else cont


def _nearest(a: np.ndarray, b: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """Euclidean distance from each row of ``a`` to its nearest row of ``b`` (chunked)."""
    out = np.empty(len(a))
    bb = (b * b).sum(axis=1)
    for s in range(0, len(a), 256):
        x = a[s : s + 256]
        d2 = (x * x).sum(axis=1)[:, None] + bb[None, :] - 2.0 * x @ b.T
        if exclude_self:
            d2[np.arange(len(x)), np.arange(s, s + len(x))] = np.inf
        out[s : s + len(x)] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def _row_hashes(flows: pd.DataFrame, cols: list[str]) -> np.ndarray:
    norm = {}
    for c in cols:
        s = flows[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
            norm[c] = pd.to_datetime(s, utc=True).astype("datetime64[ns, UTC]").astype("int64")
        elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            norm[c] = pd.to_numeric(s).astype("float64").fillna(-1.0)
        else:
            norm[c] = s.astype("string").fillna(_NULL).astype(object)
    frame = pd.DataFrame(norm)
    return np.asarray(pd.util.hash_pandas_object(frame, index=False).to_numpy())


def _privacy(
    real: pd.DataFrame,
    syn: pd.DataFrame,
    spec: ViewSpec,
    views: tuple[tuple[pd.DataFrame, pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]],
    seed: int,
) -> dict[str, Any]:
    cols = [c for c in real.columns if c in syn.columns]
    rh = _row_hashes(real, cols)
    sh = _row_hashes(syn, cols)
    no_time = [c for c in cols if c != "timestamp"]
    copies_nt = int(np.isin(_row_hashes(syn, no_time), _row_hashes(real, no_time)).sum())
    rv, sv = views
    cont = np.column_stack(
        [_scale(c, rv[0][c].to_numpy(dtype=np.float64)) for c in spec.continuous]
        or [np.zeros(len(rv[0]))]
    )
    ref = {
        "mean": np.nanmean(cont, axis=0),
        "std": np.where(np.nanstd(cont, axis=0) > 0, np.nanstd(cont, axis=0), 1.0),
        "cats": {c: sorted(set(rv[1][c]) | set(sv[1][c])) for c in spec.categorical},
    }
    rng = np.random.default_rng(seed)
    rows_r = _sample_rows(len(real), 50000, rng)
    fr = _dcr_features(spec, (rv[0].iloc[rows_r], rv[1].iloc[rows_r]), ref)
    s_rows = _sample_rows(len(syn), _DCR_ROWS, rng)
    fs = _dcr_features(spec, (sv[0].iloc[s_rows], sv[1].iloc[s_rows]), ref)
    dcr = _nearest(fs, fr)
    q_rows = np.arange(min(_DCR_ROWS, len(fr)))
    real_nn = _nearest(fr[q_rows], fr, exclude_self=True)
    return {
        "exact_copies": int(np.isin(sh, rh).sum()),
        "exact_copies_without_timestamp": copies_nt,
        "dcr_median": float(np.median(dcr)),
        "dcr_p05": float(np.quantile(dcr, 0.05)),
        "dcr_zero_share": float(np.mean(dcr < 1e-6)),
        "real_nn_median": float(np.median(real_nn)),
        "real_nn_p05": float(np.quantile(real_nn, 0.05)),
    }


def compare(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    spec: ViewSpec,
    rules: ValidityRules,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """All fidelity metrics of ``synthetic`` against ``real`` (see the module docstring)."""
    rv = spec.transform(real)
    sv = spec.transform(synthetic)
    ks = {c: _ks(rv[0][c].to_numpy(float), sv[0][c].to_numpy(float)) for c in spec.continuous}
    wd = {
        c: _wasserstein(c, rv[0][c].to_numpy(float), sv[0][c].to_numpy(float))
        for c in spec.continuous
    }
    jsd = {c: _jsd(rv[1][c].to_numpy(), sv[1][c].to_numpy()) for c in spec.categorical}
    out: dict[str, Any] = {
        "ks_mean": float(np.mean(list(ks.values()))) if ks else None,
        "wasserstein_mean": float(np.nanmean(list(wd.values()))) if wd else None,
        "jsd_mean": float(np.mean(list(jsd.values()))) if jsd else None,
        "correlation_difference": _correlation_difference(rv[0], sv[0]),
        "contingency_difference": _contingency_difference(rv[1], sv[1]),
        "classifier_auc": classifier_auc(rv, sv, seed),
        "validity": rules.rate(synthetic),
        "ks": ks,
        "wasserstein": wd,
        "jsd": jsd,
    }
    out.update(_privacy(real, synthetic, spec, (rv, sv), seed))
    return out


# -- plot-ready columns -------------------------------------------------------------------
def _edges(values: np.ndarray) -> np.ndarray:
    v = values[~np.isnan(values)]
    edges = np.unique(np.quantile(v, np.linspace(0, 1, 31))) if len(v) else np.zeros(0)
    return edges if len(edges) >= 2 else np.asarray([v.min() - 0.5, v.max() + 0.5])


def _hist(values: np.ndarray, edges: np.ndarray) -> list[int]:
    v = values[~np.isnan(values)]
    return np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)[0].astype(int).tolist()


def _columns(
    spec: ViewSpec,
    real: tuple[pd.DataFrame, pd.DataFrame] | None,
    syn: tuple[pd.DataFrame, pd.DataFrame],
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in spec.continuous:
        s = syn[0][c].to_numpy(dtype=np.float64)
        if real is not None:
            r = real[0][c].to_numpy(dtype=np.float64)
            edges = _edges(r)
            real_counts = _hist(r, edges)
        else:
            assert stored is not None
            edges = np.asarray(stored[c]["bin_edges"])
            real_counts = stored[c]["real"]
        out[c] = {
            "kind": "continuous",
            "bin_edges": edges.tolist(),
            "real": real_counts,
            "synthetic": _hist(s, edges),
        }
    for c in spec.categorical:
        s = pd.Series(syn[1][c]).value_counts()
        if real is not None:
            r = pd.Series(real[1][c]).value_counts()
        else:
            assert stored is not None
            r = pd.Series(stored[c]["real"], index=stored[c]["categories"])
        cats = list(r.index) + [k for k in s.index if k not in r.index]
        out[c] = {
            "kind": "categorical",
            "categories": [str(k) for k in cats],
            "real": [int(r.get(k, 0)) for k in cats],
            "synthetic": [int(s.get(k, 0)) for k in cats],
        }
    return out


def summarize(flows: pd.DataFrame, schema: TrainingSchema | None = None) -> dict[str, Any]:
    """Histograms of the training flows' view (stored in a model; no rows are kept)."""
    spec = ViewSpec().fit(flows)
    view = spec.transform(flows)
    cols = _columns(spec, view, view)
    for v in cols.values():
        v.pop("synthetic")
    return {"view": spec.to_dict(), "columns": cols, "rows": len(flows)}


def fidelity_from_reference(reference: dict[str, Any], synthetic: pd.DataFrame) -> dict[str, Any]:
    """``fidelity.json`` content from a model's stored training histograms (no real rows).

    Only marginal metrics can be computed this way: JSD per categorical column and a KS
    statistic on the binned distributions (``ks_binned``, a lower bound of the exact KS).
    """
    spec = ViewSpec.from_dict(reference["view"])
    sv = spec.transform(synthetic)
    cols = _columns(spec, None, sv, reference["columns"])
    ks, jsd = {}, {}
    for c, v in cols.items():
        r, s = np.asarray(v["real"], float), np.asarray(v["synthetic"], float)
        r, s = r / max(r.sum(), 1.0), s / max(s.sum(), 1.0)
        if v["kind"] == "continuous":
            ks[c] = float(np.max(np.abs(np.cumsum(r) - np.cumsum(s))))
        else:
            from scipy.spatial.distance import jensenshannon

            jsd[c] = float(jensenshannon(r, s, base=2) ** 2)
    metrics = {
        "source": "training histograms stored in the model (no real rows available)",
        "ks_binned_mean": float(np.mean(list(ks.values()))) if ks else None,
        "jsd_mean": float(np.mean(list(jsd.values()))) if jsd else None,
        "ks_binned": ks,
        "jsd": jsd,
    }
    return {"metrics": metrics, "columns": cols}


# -- TSTR ---------------------------------------------------------------------------------
def tstr(
    train_real: pd.DataFrame,
    synthetic: dict[str, pd.DataFrame],
    test_real: pd.DataFrame,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Detector ROC-AUC on ``test_real`` when fitted on real vs on each synthetic set."""
    from sklearn.metrics import roc_auc_score

    from netrca.detect import Detector
    from netrca.evaluate import ground_truth

    truth = ground_truth(test_real)
    if truth is None or len(np.unique(truth)) < 2:
        raise InputError("TSTR needs held-out flows with both normal and anomalous labels")

    def auc(train: pd.DataFrame) -> float:
        det = Detector(random_state=seed).fit(train)
        return float(roc_auc_score(truth, det.score_samples(test_real)))

    real_auc = auc(train_real)
    out: dict[str, Any] = {"real_roc_auc": real_auc, "test_rows": len(test_real)}
    for name, frame in synthetic.items():
        a = auc(frame)
        out[name] = {"roc_auc": a, "ratio": a / real_auc if real_auc else None}
    return out


# -- the report ---------------------------------------------------------------------------
def _check(metrics: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (op, target) in TARGETS.items():
        v = metrics.get(name)
        if v is None:
            out[name] = {"target": f"{op} {target}", "value": None, "met": None}
            continue
        met = v <= target if op == "<=" else v >= target if op == ">=" else v == target
        out[name] = {"target": f"{op} {target}", "value": v, "met": bool(met)}
    for name in BEAT_BASELINES:
        v = metrics.get(name)
        others = {b: m.get(name) for b, m in baselines.items()}
        met = v is not None and all(o is not None and v < o for o in others.values())
        out[f"{name}_beats_baselines"] = {"value": v, "baselines": others, "met": bool(met)}
    return out


def fidelity_report(
    real: pd.DataFrame,
    model: FlowGAN,
    *,
    n: int | None = None,
    seed: int = 0,
    holdout: pd.DataFrame | None = None,
    baselines: bool = True,
    sample: SampleResult | None = None,
    candidates: int | None = None,
) -> dict[str, Any]:
    """Sample ``n`` flows (default: as many as ``real``) and measure them against ``real``.

    ``real`` should be the flows the model was trained on. Both baselines are fitted on
    ``real`` and measured the same way in the same call. With ``holdout`` (labelled real
    flows not used for training) TSTR is measured for the GAN and both baselines. A
    ``sample`` already drawn from ``model`` is measured instead of drawing a new one;
    ``candidates`` is passed to the sampling (default: the model's).
    """
    from netrca.synth.baselines import IndependentSampler, SmoteSampler

    model.schema_.check_frame(real, "the real flows")
    real = real.reset_index(drop=True)
    n = n or len(real)
    t0 = time.perf_counter()
    result = sample or model.sample_result(n, random_state=seed, candidates=candidates)
    n = len(result.flows)
    sample_s = time.perf_counter() - t0
    cols = [c for c in result.flows.columns if c in real.columns]
    real = real[cols]
    spec = ViewSpec().fit(real)
    rules = ValidityRules(condition=model.table_.condition_).fit(real)
    frames = {"gan": result.flows[cols]}
    if baselines:
        frames["independent_marginals"] = IndependentSampler().fit(real).sample(n, seed)
        cond = model.table_.condition_
        frames["smote"] = SmoteSampler(condition=cond).fit(real).sample(n, seed)
    metrics = {k: compare(real, v, spec, rules, seed=seed) for k, v in frames.items()}
    metrics["gan"]["raw_validity"] = result.raw_validity
    metrics["gan"]["raw_validity_named_rules"] = result.raw_validity_named_rules
    metrics["gan"]["violations"] = result.violations
    tstr_out = None
    if holdout is not None:
        tstr_out = tstr(real, frames, holdout.reset_index(drop=True), seed=seed)
        for k in frames:
            metrics[k]["tstr_ratio"] = tstr_out[k]["ratio"]
    base = {k: v for k, v in metrics.items() if k != "gan"}
    real_view = spec.transform(real)
    training = {k: v for k, v in getattr(model, "training_", {}).items() if k != "history"}
    return {
        "netrca_version": __version__,
        "real_rows": len(real),
        "synthetic_rows": n,
        "seed": seed,
        "training": training,
        "sampling": None
        if sample is not None
        else {
            "seconds": round(sample_s, 4),
            "flows_per_second": n / max(sample_s, 1e-9),
            "candidates": model.candidates if candidates is None else candidates,
        },
        "view": spec.to_dict(),
        "floor": {
            # what a generator drawing fresh flows from the real flows' own distribution
            # would still show: sampling noise (baselines that copy or interpolate real
            # rows can go below it)
            "correlation_difference": correlation_floor(real_view[0], n, seed),
        },
        "metrics": metrics,
        "tstr": tstr_out,
        "targets": _check(metrics["gan"], base),
        "columns": _columns(spec, real_view, spec.transform(frames["gan"])),
    }


def fidelity_file(report: dict[str, Any]) -> dict[str, Any]:
    """The ``fidelity.json`` layout the HTML report reads, from a full report."""
    floor = (report.get("floor") or {}).get("correlation_difference")
    metrics: dict[str, Any] = {}
    for k, v in report["metrics"]["gan"].items():
        metrics[k] = v
        if k == "correlation_difference" and floor is not None:
            # next to the figure it qualifies (the HTML report lists metrics in order)
            metrics["correlation_difference_floor"] = floor
    metrics["baselines"] = {k: v for k, v in report["metrics"].items() if k != "gan"}
    return {
        "metrics": metrics,
        "targets": report.get("targets"),
        "tstr": report.get("tstr"),
        "columns": report["columns"],
    }
