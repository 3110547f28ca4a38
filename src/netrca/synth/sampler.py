"""Training-by-sampling over discrete skeletons: balanced conditions for training, faithful
ones for generation.

A row's *skeleton* is its class (``root_cause``), its categorical and port tokens
(protocol, status, error_code, port or port class) and its destination-address token (a
frequent destination, or internal/external). The generator is conditioned on it.

- Training: a class is drawn in proportion to the log of its frequency (rare classes are
  seen far more often than their share, as in CTGAN), then one of the class's skeletons in
  proportion to the square root of its frequency within the class (``weighting="sqrt"``,
  the default; ``"frequency"`` and ``"log"`` are the other choices), and the real row
  shown to the critic is drawn among the rows with that skeleton. Models trained before
  the option existed drew skeletons by the log of their frequency (``"log"``); with
  thousands of distinct skeletons per class that spends most of training on combinations
  seen once or twice and leaves the frequent ones, which make up most of the traffic,
  under-trained; plain frequency starves the rare ones instead (BENCHMARKS.md, GAN
  section, compares the three).
- Generation: skeletons are drawn in proportion to their plain frequency within the
  requested class, so the generated mixture follows the training data.

Only the skeleton table (distinct token combinations and their counts) is kept in a
saved model, never rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netrca.errors import ModelError

__all__ = ["WEIGHTINGS", "SkeletonSampler"]

#: How training draws a class's skeletons: by the square root of their frequency, by the
#: frequency itself, or by its log (what models saved before the option existed used).
WEIGHTINGS = ("sqrt", "frequency", "log")


class SkeletonSampler:
    """Distinct skeletons with their class and count, and how to draw them."""

    def __init__(
        self, combos: np.ndarray, combo_class: np.ndarray, counts: np.ndarray, n_classes: int
    ) -> None:
        self.combos = np.asarray(combos, dtype=np.int64).reshape(len(counts), -1)
        self.combo_class = np.asarray(combo_class, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.float64)
        self.n_classes = n_classes
        if (
            len(self.combo_class) != len(self.counts)
            or (self.counts <= 0).any()
            or (self.combo_class < 0).any()
            or (self.combo_class >= n_classes).any()
        ):
            raise ModelError("malformed skeleton table")
        class_counts = np.bincount(self.combo_class, weights=self.counts, minlength=n_classes)
        if (class_counts <= 0).any():
            raise ModelError("skeleton table lacks a class")
        self.class_p_data = class_counts / class_counts.sum()
        logc = np.log1p(class_counts)
        self.class_p_train = logc / logc.sum()
        self.members = [np.flatnonzero(self.combo_class == c) for c in range(n_classes)]
        self.rows: np.ndarray | None = None
        self.row_start = np.zeros(0, dtype=np.int64)
        self.row_count = np.zeros(0, dtype=np.int64)

    @classmethod
    def from_rows(cls, codes: np.ndarray, row_class: np.ndarray, n_classes: int) -> SkeletonSampler:
        """The skeleton table of training rows (``codes``: (n, k) skeleton token codes)."""
        key = np.column_stack([row_class, codes]).astype(np.int64)
        uniq, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        out = cls(uniq[:, 1:], uniq[:, 0], counts, n_classes)
        inverse = inverse.reshape(-1)
        out.rows = np.argsort(inverse, kind="stable")
        out.row_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        out.row_count = counts.astype(np.int64)
        return out

    def draw(
        self,
        n: int,
        rng: np.random.Generator,
        *,
        train: bool,
        cls: np.ndarray | None = None,
        weighting: str = "sqrt",
    ) -> np.ndarray:
        """Skeleton indices for ``n`` rows (of the given classes, else classes drawn too).

        ``weighting`` (training draws only): skeletons within a class by ``"frequency"``,
        by its square root (``"sqrt"``) or by its ``"log"``.
        """
        if weighting not in WEIGHTINGS:
            raise ModelError(f"unknown skeleton weighting {weighting!r}")
        if cls is None:
            p = self.class_p_train if train else self.class_p_data
            cls = rng.choice(self.n_classes, size=n, p=p) if self.n_classes > 1 else None
        cls = np.zeros(n, dtype=np.int64) if cls is None else np.asarray(cls, dtype=np.int64)
        out = np.zeros(n, dtype=np.int64)
        for c in range(self.n_classes):
            rows = np.flatnonzero(cls == c)
            if not len(rows):
                continue
            members = self.members[c]
            w = self.counts[members]
            if train and weighting == "sqrt":
                w = np.sqrt(w)
            elif train and weighting == "log":
                w = np.log1p(w)
            out[rows] = members[rng.choice(len(members), size=len(rows), p=w / w.sum())]
        return out

    def real_rows(self, combo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A training row per skeleton index, drawn among the rows that have it."""
        if self.rows is None:
            raise ModelError("this skeleton table was loaded without training rows")
        off = (rng.random(len(combo)) * self.row_count[combo]).astype(np.int64)
        return np.asarray(self.rows[self.row_start[combo] + off])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (token combinations and counts, no rows)."""
        return {
            "combos": self.combos.tolist(),
            "classes": self.combo_class.tolist(),
            "counts": self.counts.astype(np.int64).tolist(),
            "n_classes": self.n_classes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SkeletonSampler:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            np.asarray(d["combos"], dtype=np.int64),
            np.asarray(d["classes"], dtype=np.int64),
            np.asarray(d["counts"], dtype=np.float64),
            int(d["n_classes"]),
        )
