"""Save and load a fitted Detector in a safe format: plain arrays plus JSON, no pickle.

File layout (``.npz``, a zip archive read with ``allow_pickle=False``):

- ``meta``: UTF-8 JSON as a uint8 array: format name and version, netrca version,
  schema version, constructor parameters, feature state, behaviour baseline,
  calibration, threshold, and a SHA-256 digest of all the other arrays.
- ``forest/*``: the flattened trees (:class:`~netrca.detect.forest.FlatForest`),
  bounds-checked on load before any scoring.
- ``feature_center``, ``feature_scale``: per-feature robust statistics.

Loading never executes code from the file. A truncated or edited file fails its
digest or structure checks with :class:`~netrca.errors.ModelError`; a model written by
an incompatible netrca (other major.minor) or schema version is refused.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from netrca import __version__
from netrca.artifacts import array_digest, check_meta
from netrca.detect._detector import Detector, _Extremes, _KnnNovelty
from netrca.detect.behavior import BehaviourBaseline
from netrca.detect.forest import FlatForest
from netrca.errors import ModelError
from netrca.features import FeatureBuilder, FeatureState
from netrca.io.writers import atomic_path
from netrca.schema import SCHEMA_VERSION

__all__ = [
    "FORMAT",
    "load_detector",
    "load_detector_bytes",
    "read_model_bytes",
    "save_detector",
]

FORMAT = "netrca-detector"
FORMAT_VERSION = 1


def save_detector(detector: Detector, path: str | Path) -> None:
    """Write ``detector`` atomically to ``path`` (conventionally ``*.npz``)."""
    detector._check_fitted()
    arrays = {f"forest/{k}": v for k, v in detector.forest_.to_arrays().items()}
    arrays["feature_center"] = np.asarray(detector.feature_center_, dtype=np.float64)
    arrays["feature_scale"] = np.asarray(detector.feature_scale_, dtype=np.float64)
    knn = detector.knn_
    if knn is not None:
        arrays["knn/reference"] = knn.reference
        arrays["knn/center"] = knn.center
        arrays["knn/scale"] = knn.scale
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "netrca_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "params": detector.get_params(),
        "feature_state": detector.features_.state_.to_dict(),
        "behaviour": detector.behaviour_.to_dict(),
        "if_center": detector.if_center_,
        "if_scale": detector.if_scale_,
        "threshold": detector.threshold_,
        "mode": detector.mode_,
        "extremes": detector.extremes_.to_dict(),
        "failure_columns": detector.failure_columns_,
        "knn": None
        if knn is None
        else {"z_center": knn.z_center, "z_scale": knn.z_scale, "k": knn.k},
        "train_score_quantiles": detector.train_score_quantiles_,
        "digest": array_digest(arrays),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def load_detector(path: str | Path) -> Detector:
    """Load a detector saved by :func:`save_detector`, verifying integrity and versions."""
    return load_detector_bytes(read_model_bytes(path), path)


def read_model_bytes(path: str | Path) -> bytes:
    """The bytes of a model file (a clear error when it is missing or unreadable)."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such model file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read the model file ({exc})") from exc


def load_detector_bytes(data: bytes, path: str | Path) -> Detector:
    """:func:`load_detector` on a model file's bytes (``path`` names it in errors).

    The pipeline reads a model once this way and copies those very bytes into the run
    folder, instead of serialising the detector again."""
    p = Path(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise ModelError(f"{p}: not a readable netrca model (truncated or corrupt: {exc})") from exc
    if "meta" not in arrays:
        raise ModelError(f"{p}: not a netrca model (no metadata)")
    try:
        meta: dict[str, Any] = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{p}: model metadata is corrupt") from exc
    check_meta(meta, p, FORMAT, FORMAT_VERSION, array_digest(arrays))
    try:
        det = Detector(**meta["params"])
        det.forest_ = FlatForest.from_arrays(
            {k.removeprefix("forest/"): v for k, v in arrays.items() if k.startswith("forest/")}
        )
        det.features_ = FeatureBuilder.from_state(FeatureState.from_dict(meta["feature_state"]))
        det.behaviour_ = BehaviourBaseline.from_dict(meta["behaviour"])
        det.if_center_ = float(meta["if_center"])
        det.if_scale_ = float(meta["if_scale"])
        det.threshold_ = float(meta["threshold"])
        det.train_score_quantiles_ = list(meta["train_score_quantiles"])
        det.feature_center_ = arrays["feature_center"]
        det.feature_scale_ = arrays["feature_scale"]
        det.mode_ = str(meta["mode"])
        det.extremes_ = _Extremes.from_dict(meta["extremes"])
        ext = det.extremes_
        if any(c < 0 or c >= len(det.feature_center_) for c in ext.columns) or any(
            len(v) != len(ext.columns) for v in [*ext.center.values(), *ext.scale.values()]
        ):
            raise ModelError(f"{p}: extreme-value columns out of range")
        det.failure_columns_ = [str(c) for c in meta["failure_columns"]]
        det.knn_ = None
        if meta["knn"] is not None:
            det.knn_ = _KnnNovelty(
                reference=np.asarray(arrays["knn/reference"], dtype=np.float32),
                center=np.asarray(arrays["knn/center"], dtype=np.float64),
                scale=np.asarray(arrays["knn/scale"], dtype=np.float64),
                z_center=float(meta["knn"]["z_center"]),
                z_scale=float(meta["knn"]["z_scale"]),
                k=int(meta["knn"]["k"]),
            )
            n_feat = len(det.feature_center_)
            if det.knn_.reference.ndim != 2 or det.knn_.reference.shape[1] != n_feat:
                raise ModelError(f"{p}: kNN reference does not match the feature count")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{p}: model file is missing or has malformed fields ({exc})") from exc
    det.feature_names_in_ = list(det.features_.state_.feature_names)
    det.n_features_in_ = len(det.feature_names_in_)
    if (
        det.forest_.n_features != det.n_features_in_
        or len(det.feature_center_) != det.n_features_in_
    ):
        raise ModelError(f"{p}: forest and feature state disagree on the number of features")
    return det
