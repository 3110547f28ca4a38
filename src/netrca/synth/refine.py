"""Discriminator-guided resampling: keep the most real-looking of several generated flows.

After the GAN is trained, :class:`Refiner` fits scikit-learn's histogram gradient
boosting to tell the training flows from as many generated ones, on each flow's own
view: its counts, duration, latency, source port, time of day, inter-arrival time
relative to the local rate, protocol, status, error code, top ports and addresses and
internal/external sides. The classifier's log-odds estimate log p_real(x) / p_gen(x);
sampling ``k`` candidates per flow and keeping, per skeleton, as many as were asked for
with the largest ``logit + Gumbel noise`` draws them without replacement in proportion
to that ratio (discriminator rejection sampling, Azadi et al. 2019), which moves the
sample towards the real distribution. Picking from finitely many candidates with an
imperfect classifier leaves a difference, so later *stages* (:meth:`Refiner.add_stage`)
each learn the real flows against what the refiner so far picks, and the stages'
log-odds are added: each stage estimates the ratio the previous ones left.
Inter-arrival times are compared relative to the local rate, so a candidate's score
does not depend on how densely the candidates were laid out. Categorical columns (top
addresses and ports, protocol, status, ...) are split as categories, a subset of values
to each side, as the fidelity report's classifier does, not by their arbitrary codes.

The trees are stored as plain arrays (no pickle). Loading checks that every child
index stays inside its tree and comes after its parent (no cycles), every feature
index inside the view and every categorical split's bitset and feature inside their
arrays, before the arrays are evaluated with scikit-learn's compiled tree predictor,
the code its classifier itself predicts with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from netrca.errors import ModelError
from netrca.synth.encoders import TimeEncoder
from netrca.synth.fidelity import ViewSpec

__all__ = ["PARAMS", "Refiner"]

#: Node fields stored per tree node (the others of scikit-learn's record are zero).
_FIELDS: dict[str, str] = {
    "value": "float64",
    "feature_idx": "int64",
    "num_threshold": "float64",
    "missing_go_to_left": "uint8",
    "left": "uint32",
    "right": "uint32",
    "is_leaf": "uint8",
    "is_categorical": "uint8",
    "bitset_idx": "uint32",
}

#: Node fields that refiners saved before categorical splits lack (all zero there).
_LATER_FIELDS = ("is_categorical", "bitset_idx")

#: Categories a column may have to be split as categories (scikit-learn's bin limit).
_MAX_CATEGORIES = 255


#: The classifier's settings (scikit-learn defaults otherwise; early stopping on a tenth).
PARAMS: dict[str, Any] = {"max_iter": 300, "early_stopping": True}


class Refiner:
    """A real-vs-generated classifier over flows, stored as arrays."""

    def __init__(self) -> None:
        self.view = ViewSpec()
        self.categories: dict[str, list[str]] = {}
        self.baseline = 0.0
        self.nodes: dict[str, np.ndarray] = {}
        self.tree_starts = np.zeros(1, dtype=np.int64)
        self.log_loss = float("nan")
        self.stage_log_loss: list[float] = []
        # Categorical splits. The columns split as categories come first in what each
        # stage's classifier sees; scikit-learn numbers the codes each stage saw 0..k-1
        # (``cat_maps[stage, column, code]``, -1 for unseen codes, which go the way of
        # missing values); ``cat_bitsets`` holds, per categorical split, the categories
        # sent left; ``stage_trees`` bounds each stage's trees.
        self.categorical_splits: list[str] = []
        self.cat_maps = np.zeros((0, 0, 0), dtype=np.int64)
        self.cat_bitsets = np.zeros((0, 8), dtype=np.uint32)
        self.stage_trees = np.zeros(1, dtype=np.int64)
        self._trees: list[Any] | None = None
        self._known: list[np.ndarray] | None = None  # per stage, with the trees

    # -- features --------------------------------------------------------------------------
    def features(self, flows: pd.DataFrame) -> np.ndarray:
        """One float row per flow: the view's numbers, then category codes (NaN unseen)."""
        cont, cat = self.view.transform(flows)
        cont = cont.copy()
        if "inter_arrival" in cont.columns:
            t = TimeEncoder.epoch(flows["timestamp"], "timestamp")
            cont["inter_arrival"] = TimeEncoder.relative_gaps(t)
        cols = [cont.to_numpy(dtype=np.float64)]
        for c in cat.columns:
            codes = pd.Index(self.categories[c]).get_indexer(cat[c].astype(str))
            cols.append(np.where(codes < 0, np.nan, codes).astype(np.float64)[:, None])
        return np.ascontiguousarray(np.column_stack(cols), dtype=np.float64)

    def _split_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Feature indices split as categories, then the others: the stages' order."""
        n_num = len(self.view.continuous)
        splits = set(self.categorical_splits)
        cat = [n_num + i for i, c in enumerate(self.view.categorical) if c in splits]
        rest = [i for i in range(n_num + len(self.view.categorical)) if i not in cat]
        return np.asarray(cat, dtype=np.int64), np.asarray(rest, dtype=np.int64)

    def _map_width(self) -> int:
        return max((len(self.categories[c]) for c in self.categorical_splits), default=0)

    def _stage_matrix(self, x: np.ndarray) -> np.ndarray:
        """``x`` in the stages' column order: the categorical splits' raw codes first,
        then the other features (what a stage is fitted on)."""
        cat, rest = self._split_columns()
        return np.ascontiguousarray(np.column_stack([x[:, cat], x[:, rest]]), dtype=np.float64)

    def _map_codes(self, raw: np.ndarray, stage: int, out: np.ndarray) -> None:
        """Write into ``out`` the raw codes ``raw`` as the stage's classifier numbered
        them (NaN for codes it never saw, and for unseen categories)."""
        for j in range(raw.shape[1]):
            col = raw[:, j]
            known = ~np.isnan(col)
            mapped = np.full(len(col), -1, dtype=np.int64)
            mapped[known] = self.cat_maps[stage, j, col[known].astype(np.int64)]
            out[:, j] = np.where(mapped < 0, np.nan, mapped)

    def _known_bitsets(self, stage: int) -> np.ndarray:
        """Per categorical split column, the bitset of the codes the stage had seen."""
        counts = (self.cat_maps[stage] >= 0).sum(axis=1)
        out = np.zeros((len(counts), 8), dtype=np.uint32)
        for j, k in enumerate(counts):
            for i in range(int(k)):
                out[j, i // 32] |= np.uint32(1 << (i % 32))
        return out

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self, real: pd.DataFrame, generated: pd.DataFrame, seed: int, n_threads: int = 1
    ) -> Refiner:
        """Learn to tell ``real`` from ``generated`` flows (early-stopped boosting)."""
        self.view = ViewSpec().fit(real)
        _, cat = self.view.transform(real)
        self.categories = {c: sorted(cat[c].astype(str).unique()) for c in cat.columns}
        self.categorical_splits = [
            c for c in self.view.categorical if len(self.categories[c]) <= _MAX_CATEGORIES
        ]
        self.nodes, self.tree_starts, self.baseline = {}, np.zeros(1, dtype=np.int64), 0.0
        self.cat_maps = np.zeros(
            (0, len(self.categorical_splits), self._map_width()), dtype=np.int64
        )
        self.cat_bitsets = np.zeros((0, 8), dtype=np.uint32)
        self.stage_trees = np.zeros(1, dtype=np.int64)
        self.stage_log_loss = []
        return self.add_stage(real, generated, seed, n_threads)

    def add_stage(
        self, real: pd.DataFrame, generated: pd.DataFrame, seed: int, n_threads: int = 1
    ) -> Refiner:
        """Fit one more classifier, ``real`` against ``generated``, and add its log-odds.

        ``generated`` is meant to be what this refiner already picks from candidates: the
        new stage then estimates log p_real / p_picked, and the sum of the stages' log-odds
        corrects the first stage's estimate of log p_real / p_generated where picking
        still leaves a difference. The view and categories stay those of :meth:`fit`.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        x = self._stage_matrix(np.concatenate([self.features(real), self.features(generated)]))
        y = np.r_[np.ones(len(real)), np.zeros(len(generated))]
        n_cat = len(self.categorical_splits)
        clf = HistGradientBoostingClassifier(
            **PARAMS,
            categorical_features=(np.arange(x.shape[1]) < n_cat) if n_cat else None,
            random_state=seed,
        )
        with threadpool_limits(limits=n_threads):
            clf.fit(x, y)
        scores = clf.validation_score_  # negative log loss on the held-out tenth
        self.stage_log_loss.append(-float(scores[np.argmax(scores)]) if len(scores) else np.nan)
        self.log_loss = self.stage_log_loss[0]
        maps = np.full((1, n_cat, self._map_width()), -1, dtype=np.int64)
        if n_cat:  # scikit-learn's ordinal encoder numbered the codes it saw, in order
            seen_codes = clf._preprocessor.named_transformers_["encoder"].categories_
            for j, seen in enumerate(seen_codes):
                seen = np.asarray(seen, dtype=np.float64)
                seen = seen[~np.isnan(seen)].astype(np.int64)
                maps[0, j, seen] = np.arange(len(seen))
        self.cat_maps = np.concatenate([self.cat_maps, maps])
        trees, bitsets, n_bits = [], [self.cat_bitsets], len(self.cat_bitsets)
        for p in (p[0] for p in clf._predictors):  # bitset indices made global
            t = p.nodes.copy()
            t["bitset_idx"][t["is_categorical"] == 1] += n_bits
            bitsets.append(np.asarray(p.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8))
            n_bits += len(bitsets[-1])
            trees.append(t)
        self.cat_bitsets = np.concatenate(bitsets)
        sizes = np.cumsum([len(t) for t in trees]).astype(np.int64)
        self.tree_starts = np.r_[self.tree_starts, self.tree_starts[-1] + sizes]
        self.stage_trees = np.r_[self.stage_trees, len(self.tree_starts) - 1].astype(np.int64)
        self.nodes = {
            f: np.concatenate(
                ([self.nodes[f]] if self.nodes else []) + [t[f] for t in trees]
            ).astype(dt)
            for f, dt in _FIELDS.items()
        }
        self.baseline += float(np.ravel(clf._baseline_prediction)[0])
        self._trees = self._known = None
        return self

    @property
    def stages(self) -> int:
        """How many classifiers' log-odds are summed."""
        return len(self.stage_log_loss)

    # -- scoring ---------------------------------------------------------------------------
    def _predictors(self) -> list[Any]:
        if self._trees is None:
            try:
                from sklearn.ensemble._hist_gradient_boosting.common import (
                    PREDICTOR_RECORD_DTYPE,
                )
                from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
            except ImportError as exc:  # pragma: no cover - depends on the installed sklearn
                raise ModelError(
                    "this scikit-learn has no histogram tree predictor; sample with candidates=1"
                ) from exc
            no_bits = np.zeros((0, 8), dtype=np.uint32)
            bitsets = np.ascontiguousarray(self.cat_bitsets, dtype=np.uint32)
            n_cat = len(self.categorical_splits)
            self._known = [self._known_bitsets(s) if n_cat else no_bits for s in range(self.stages)]
            trees = []
            for a, b in zip(self.tree_starts[:-1], self.tree_starts[1:], strict=True):
                rec = np.zeros(int(b - a), dtype=PREDICTOR_RECORD_DTYPE)
                for f in _FIELDS:
                    rec[f] = self.nodes[f][a:b]
                trees.append(TreePredictor(rec, no_bits, bitsets))
            self._trees = trees
        return self._trees

    def logit(self, flows: pd.DataFrame, n_threads: int = 1) -> np.ndarray:
        """Per flow, the log-odds that it is real rather than generated."""
        x = self.features(flows)
        out = np.full(len(x), self.baseline)
        trees = self._predictors()
        known = self._known or []  # set with the trees
        n_cat = len(self.categorical_splits)
        fmap = np.zeros(x.shape[1], dtype=np.uint32)
        fmap[:n_cat] = np.arange(n_cat, dtype=np.uint32)
        xs = self._stage_matrix(x)  # the other columns are the same for every stage
        raw = xs[:, :n_cat].copy()
        bounds = zip(self.stage_trees[:-1], self.stage_trees[1:], strict=True)
        for s, (a, b) in enumerate(bounds):
            if n_cat:
                self._map_codes(raw, s, xs)
            for tree in trees[a:b]:
                out += tree.predict(xs, known[s], fmap, n_threads)
        return out

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; the node arrays go with :meth:`arrays`."""
        return {
            "view": self.view.to_dict(),
            "categories": self.categories,
            "baseline": self.baseline,
            "validation_log_loss": self.log_loss,
            "stage_log_loss": list(self.stage_log_loss),
            "categorical_splits": list(self.categorical_splits),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The trees' node arrays (numeric only)."""
        out = {
            f: np.asarray(v).astype(np.float64 if v.dtype.kind == "f" else np.int64)
            for f, v in self.nodes.items()
        }
        out["tree_starts"] = self.tree_starts.astype(np.int64)
        out["cat_bitsets"] = self.cat_bitsets.astype(np.int64)
        out["cat_maps"] = self.cat_maps.astype(np.int64)
        out["stage_trees"] = self.stage_trees.astype(np.int64)
        return out

    @classmethod
    def from_state(cls, d: dict[str, Any], arrays: dict[str, np.ndarray]) -> Refiner:
        """Rebuild from :meth:`to_dict` and :meth:`arrays`; checks the trees' structure."""
        r = cls()
        r.view = ViewSpec.from_dict(d["view"])
        r.categories = {str(k): [str(x) for x in v] for k, v in d["categories"].items()}
        r.baseline = float(d["baseline"])
        r.log_loss = float(d.get("validation_log_loss", np.nan))
        r.stage_log_loss = [float(v) for v in d.get("stage_log_loss", [r.log_loss])]
        if sorted(r.categories) != sorted(r.view.categorical):
            raise ModelError("refiner categories do not match its categorical columns")
        later = "categorical_splits" in d  # saved since categorical splits
        r.categorical_splits = [str(c) for c in d.get("categorical_splits", [])]
        if any(
            c not in r.categories or len(r.categories[c]) > _MAX_CATEGORIES
            for c in r.categorical_splits
        ):
            raise ModelError("refiner splits a column as categories that it cannot")
        extra = ("cat_bitsets", "cat_maps", "stage_trees") if later else ()
        needed = [f for f in _FIELDS if later or f not in _LATER_FIELDS]
        missing = [f for f in (*needed, "tree_starts", *extra) if f not in arrays]
        if missing:
            raise ModelError(f"refiner lacks node array(s) {', '.join(missing)}")
        starts = np.asarray(arrays["tree_starts"], dtype=np.int64)
        total = int(starts[-1]) if len(starts) else -1
        n_feat = len(r.view.continuous) + len(r.view.categorical)
        nodes = {
            f: np.asarray(arrays[f]).astype(dt) if f in arrays else np.zeros(max(total, 0), dt)
            for f, dt in _FIELDS.items()
        }
        sizes = np.diff(starts)
        if (
            len(starts) < 2
            or starts[0] != 0
            or (sizes < 1).any()
            or any(len(v) != total for v in nodes.values())
        ):
            raise ModelError("refiner trees are malformed")
        owner = np.repeat(np.arange(len(sizes)), sizes)
        local = np.arange(total) - starts[owner]
        inner = nodes["is_leaf"] == 0
        size, here = sizes[owner[inner]], local[inner]
        kids_ok = (  # children come after their parent inside the same tree: no cycles
            (nodes["left"][inner] > here)
            & (nodes["right"][inner] > here)
            & (nodes["left"][inner] < size)
            & (nodes["right"][inner] < size)
            & (nodes["feature_idx"][inner] >= 0)
            & (nodes["feature_idx"][inner] < n_feat)
        )
        if not kids_ok.all():
            raise ModelError("refiner trees point outside their nodes or features")
        r._load_categorical(arrays, nodes, inner, len(sizes), later)
        r.nodes = nodes
        r.tree_starts = starts
        return r

    def _load_categorical(
        self,
        arrays: dict[str, np.ndarray],
        nodes: dict[str, np.ndarray],
        inner: np.ndarray,
        n_trees: int,
        later: bool,
    ) -> None:
        """Bitsets, code maps and stage bounds of a saved refiner, checked against it."""
        n_cat = len(self.categorical_splits)
        if not later:  # saved before categorical splits: codes as numbers, one group
            self.stage_trees = np.array([0, n_trees], dtype=np.int64)
            self.cat_maps = np.zeros((1, 0, 0), dtype=np.int64)
            return
        bits = np.asarray(arrays["cat_bitsets"])
        maps = np.asarray(arrays["cat_maps"])
        bounds = np.asarray(arrays["stage_trees"], dtype=np.int64)
        cat = inner & (nodes["is_categorical"] != 0)
        ok = (
            bits.ndim == 2
            and bits.shape[1] == 8
            and bool(((bits >= 0) & (bits < 2**32)).all())
            and maps.shape == (self.stages, n_cat, self._map_width())
            and bool(((maps >= -1) & (maps < _MAX_CATEGORIES)).all())
            and len(bounds) == self.stages + 1
            and bounds[0] == 0
            and bounds[-1] == n_trees
            and bool((np.diff(bounds) >= 1).all())
            and bool(np.isin(nodes["is_categorical"], (0, 1)).all())
            and bool((nodes["feature_idx"][cat] < n_cat).all())
            and bool((nodes["bitset_idx"][cat] < len(bits)).all())
        )
        if not ok:
            raise ModelError("refiner's categorical splits point outside their arrays")
        self.cat_bitsets = bits.astype(np.uint32)
        self.cat_maps = maps.astype(np.int64)
        self.stage_trees = bounds
