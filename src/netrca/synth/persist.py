"""Save and load a FlowGAN safely: tensors plus JSON, loaded with ``weights_only=True``.

The file is one ``torch.save`` archive holding only tensors:

- ``meta``: UTF-8 JSON as a uint8 tensor: format name and version, netrca and schema
  versions, constructor parameters, the training schema (columns, roles, encoders),
  validity rules, generation-time condition frequencies, training history, the
  training flows' histograms (no rows), and a SHA-256 digest of the other tensors;
- ``generator.*``: the generator's weights;
- ``refiner.*``: the refiner's tree nodes (numbers only), when the model has one;
- ``pooling.*``: for classes whose positions in time are pooled by class, their training
  flows counted per minute (offsets per class, minute numbers, counts);
- ``calibration.*``: per calibrated column, its groups (level and key) and the training
  and generated quantiles of each (see :mod:`netrca.synth.calibrate`);
- ``token_calibration.*``: per calibrated token head, its groups (level and key) and the
  logit offsets of each;
- ``ranks.*``: per class whose rank correlations are matched, the training flows'
  correlation matrix (see :mod:`netrca.synth.ranks`).

``torch.load(..., weights_only=True)`` only rebuilds tensors and plain containers, so
loading never runs code from the file. A tampered or truncated file fails the digest or
structure checks, and a model from another format version, schema version or netrca
major.minor is refused, all with :class:`~netrca.errors.ModelError`.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from netrca import __version__
from netrca.artifacts import array_digest, check_meta
from netrca.errors import ModelError
from netrca.io.writers import atomic_path
from netrca.schema import SCHEMA_VERSION
from netrca.synth._torch import require_torch
from netrca.synth.sampler import SkeletonSampler
from netrca.synth.table import FlowTable
from netrca.synth.validity import ValidityRules

__all__ = ["FORMAT", "FORMAT_VERSION", "load_gan", "save_gan"]

FORMAT = "netrca-gan"
FORMAT_VERSION = 1


def _digest(tensors: dict[str, Any]) -> str:
    return array_digest({k: t.detach().cpu().numpy() for k, t in tensors.items()})


def save_gan(model: Any, path: str | Path) -> None:
    """Write a fitted :class:`~netrca.synth.gan.FlowGAN` atomically to ``path``."""
    torch = require_torch()
    model._check_fitted()
    tensors = {
        f"generator.{k}": v.detach().cpu().clone() for k, v in model.generator_.state_dict().items()
    }
    refiner = getattr(model, "refiner_", None)
    if refiner is not None:
        for k, a in refiner.arrays().items():
            tensors[f"refiner.{k}"] = torch.from_numpy(a.copy())
    for k, a in (getattr(model, "time_positions_", None) or {}).items():
        tensors[f"pooling.{k}"] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
    calibrator = getattr(model, "calibrator_", None)
    if calibrator is not None:
        for k, a in calibrator.arrays().items():
            tensors[f"calibration.{k}"] = torch.from_numpy(np.ascontiguousarray(a))
    tokens = getattr(model, "token_calibrator_", None)
    if tokens is not None:
        for k, a in tokens.arrays().items():
            tensors[f"token_calibration.{k}"] = torch.from_numpy(np.ascontiguousarray(a))
    ranks = getattr(model, "rank_matcher_", None)
    if ranks is not None:
        for k, a in ranks.arrays().items():
            tensors[f"ranks.{k}"] = torch.from_numpy(np.ascontiguousarray(a))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "netrca_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "torch_version": str(torch.__version__),
        "params": dict(model.get_params()),
        "table": model.table_.to_dict(),
        "rules": model.rules_.to_dict(),
        "skeleton": model.skeleton_.to_dict(),
        "training": getattr(model, "training_", {}),
        "reference": getattr(model, "reference_", {}),
        "refiner": None if refiner is None else refiner.to_dict(),
        "time_pooling": _pooling_names(model),
        "calibration": None if calibrator is None else calibrator.to_dict(),
        "token_calibration": None if tokens is None else tokens.to_dict(),
        "ranks": None if ranks is None else ranks.to_dict(),
        "digest": _digest(tensors),
    }
    blob = json.dumps(meta, allow_nan=True).encode("utf-8")
    tensors["meta"] = torch.frombuffer(bytearray(blob), dtype=torch.uint8)
    with atomic_path(path) as tmp:
        torch.save(tensors, tmp)


def _read(p: Path) -> dict[str, Any]:
    torch = require_torch()
    if not p.exists():
        raise ModelError(f"{p}: no such model file")
    if p.is_dir():
        raise ModelError(f"{p}: is a folder, not a model file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
    ) as exc:
        raise ModelError(f"{p}: not a readable netrca GAN model ({type(exc).__name__})") from exc
    if not isinstance(obj, dict) or "meta" not in obj:
        raise ModelError(f"{p}: not a netrca GAN model (no metadata)")
    return obj


def _load_weights(p: Path, gen: Any, state: dict[str, Any]) -> None:
    expected = gen.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or extra or shape:
        raise ModelError(
            f"{p}: generator weights do not match the architecture the file records "
            f"({len(missing)} missing, {len(extra)} unexpected, {len(shape)} mis-shaped tensors)"
        )
    gen.load_state_dict(state, strict=True)


def _arrays(tensors: dict[str, Any], prefix: str) -> dict[str, np.ndarray]:
    """The tensors named ``prefix.*`` as numpy arrays, keyed without the prefix."""
    return {
        k.removeprefix(f"{prefix}."): v.numpy()
        for k, v in tensors.items()
        if k.startswith(f"{prefix}.")
    }


def _part_arrays(
    state: dict[str, Any] | None, tensors: dict[str, Any], prefix: str, what: str
) -> dict[str, np.ndarray] | None:
    """A saved part's arrays; None when the file has no metadata for it (and no arrays)."""
    arrays = _arrays(tensors, prefix)
    if state is None:
        if arrays:
            raise ModelError(f"{what} arrays without the {what}'s metadata")
        return None
    return arrays


def _load_refiner(state: dict[str, Any] | None, tensors: dict[str, Any]) -> Any:
    from netrca.synth.refine import Refiner

    arrays = _part_arrays(state, tensors, "refiner", "refiner")
    return None if arrays is None or state is None else Refiner.from_state(state, arrays)


def _pooling_names(model: Any) -> list[str]:
    from netrca.synth.gan import POOLING

    modes = getattr(model, "time_pooling_", None)
    if modes is None:
        return ["none"] * model.table_.n_classes
    return [POOLING[int(m)] for m in modes]


def _load_pooling(names: Any, n_classes: int) -> Any:
    """Per-class pooling codes; files saved before time pooling existed pool nothing."""
    from netrca.synth.gan import POOLING

    if names is None:
        return np.zeros(n_classes, dtype=np.int64)
    if (
        not isinstance(names, list)
        or len(names) != n_classes
        or any(m not in POOLING for m in names)
    ):
        raise ModelError(
            f"time pooling must name one of {', '.join(POOLING)} for each of the "
            f"{n_classes} classes, not {names!r}"
        )
    return np.asarray([POOLING.index(m) for m in names], dtype=np.int64)


def _load_positions(tensors: dict[str, Any], model: Any) -> dict[str, np.ndarray] | None:
    """The pooled classes' position counts, checked; None for files without them (their
    classes pooled by class swap generated positions instead)."""
    from netrca.synth.gan import POSITION_BIN

    arrays = _arrays(tensors, "pooling")
    if not arrays:
        return None
    if set(arrays) != {"offsets", "bins", "counts"}:
        raise ModelError(f"position counts need offsets, bins and counts, not {sorted(arrays)}")
    off, bins, counts = arrays["offsets"], arrays["bins"], arrays["counts"]
    n_cls = model.table_.n_classes
    found = model.table_._time_encoder()
    days = np.asarray(found[1].days if found else [], dtype=np.int64)
    day = np.floor(bins * POSITION_BIN / 86400.0).astype(np.int64)
    if (
        off.shape != (n_cls + 1,)
        or bins.shape != counts.shape
        or bins.ndim != 1
        or off[0] != 0
        or off[-1] != len(bins)
        or (np.diff(off) < 0).any()
        or (counts < 1).any()
        or not np.isin(day, days).all()
        or any(off[c + 1] > off[c] and model.time_pooling_[c] != 1 for c in range(n_cls))
    ):
        raise ModelError(
            "malformed position counts (offsets, bins off the training days, or counts)"
        )
    return {
        "offsets": off.astype(np.int64),
        "bins": bins.astype(np.int64),
        "counts": counts.astype(np.int64),
    }


def _load_calibrator(state: dict[str, Any] | None, tensors: dict[str, Any], model: Any) -> Any:
    """The calibrator, checked; None for models without one (saved before it existed, or
    fitted with ``calibrate=False``)."""
    from netrca.synth.calibrate import Calibrator

    arrays = _part_arrays(state, tensors, "calibration", "calibration")
    if arrays is None or state is None:
        return None
    from netrca.synth.encoders import CategoricalEncoder, IPEncoder, TimeEncoder

    cal = Calibrator.from_parts(state, arrays, model.table_.n_classes)
    kinds = {e.column: e for e in model.table_.encoders_}
    used = set(cal.columns) | set(cal.given.values())
    if not used <= kinds.keys():
        raise ModelError("calibration names columns the model does not generate")
    if set(cal.times) != {c for c in used if isinstance(kinds[c], TimeEncoder)} or any(
        isinstance(kinds[c], (CategoricalEncoder, IPEncoder)) for c in used
    ):
        raise ModelError("calibration's timestamp or number columns do not match the model's")
    return cal


def _load_token_calibrator(
    state: dict[str, Any] | None, tensors: dict[str, Any], model: Any
) -> Any:
    """The token calibration, checked against the generator's token heads; None for
    models without one (saved before it existed, fitted with ``calibrate=False``, or
    whose generator emits no address, port or category token)."""
    from netrca.synth.calibrate import TokenCalibrator

    arrays = _part_arrays(state, tensors, "token_calibration", "token calibration")
    if arrays is None or state is None:
        return None
    t = model.table_
    dims = {name: t.spans_[t.generated_spans_[h]].dim for h, _, name in model._token_heads()}
    return TokenCalibrator.from_parts(state, arrays, t.n_classes, dims)


def _load_ranks(state: dict[str, Any] | None, tensors: dict[str, Any], model: Any) -> Any:
    """The rank matching, checked against the model's columns; None for models without
    one (saved before it existed, fitted with ``match_ranks=False``, or with no class
    large enough)."""
    from netrca.synth.ranks import RankMatcher

    arrays = _part_arrays(state, tensors, "ranks", "rank matching")
    if arrays is None or state is None:
        return None
    r = RankMatcher.from_parts(state, arrays)
    numbers, _, _, times = model._number_columns()
    if (
        not set(r.columns) <= set(numbers)
        or (r.time_column is not None and r.time_column not in times)
        or r.condition != model.table_.condition_
    ):
        raise ModelError("rank matching names columns the model does not generate")
    return r


#: Parameters that older model files lack, at the values those models were trained with.
_BEFORE_OPTIONS: dict[str, Any] = {
    "condition_weight": 0.0,
    "skeleton_weighting": "log",
    "standardise": False,
    "sw_value_projections": 0,
    "max_exact": 8,
    "refiner": False,
    "refiner_stages": 1,
    "pool_time": False,
    "calibrate": False,
    "match_ranks": False,
    "candidates": 1,
}


def load_gan(path: str | Path) -> Any:
    """Load a :class:`~netrca.synth.gan.FlowGAN` saved by :func:`save_gan`."""
    from netrca.synth.gan import FlowGAN

    p = Path(path)
    tensors = _read(p)
    try:
        meta: dict[str, Any] = json.loads(bytes(tensors.pop("meta").numpy()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ModelError(f"{p}: model metadata is corrupt") from exc
    check_meta(meta, p, FORMAT, FORMAT_VERSION, _digest(tensors))
    try:
        params = {**_BEFORE_OPTIONS, **meta["params"]}
        params["generator_dims"] = tuple(params["generator_dims"])
        params["critic_dims"] = tuple(params["critic_dims"])
        model = FlowGAN(**params)
        model.table_ = FlowTable.from_dict(meta["table"])
        model.rules_ = ValidityRules.from_dict(meta["rules"])
        model.skeleton_ = SkeletonSampler.from_dict(meta["skeleton"])
        model.training_ = dict(meta.get("training") or {})
        model.reference_ = dict(meta.get("reference") or {})
        model._build_layout()
        gen, _ = model._networks()
        unknown = sorted(
            k
            for k in tensors
            if not k.startswith(
                (
                    "generator.",
                    "refiner.",
                    "pooling.",
                    "calibration.",
                    "token_calibration.",
                    "ranks.",
                )
            )
        )
        if unknown:
            raise ModelError(f"{p}: unexpected tensors in the model file: {', '.join(unknown[:5])}")
        state = {
            k.removeprefix("generator."): v
            for k, v in tensors.items()
            if k.startswith("generator.")
        }
        _load_weights(p, gen, state)
        model.refiner_ = _load_refiner(meta.get("refiner"), tensors)
        model.time_pooling_ = _load_pooling(meta.get("time_pooling"), model.table_.n_classes)
        model.time_positions_ = _load_positions(tensors, model)
        model.calibrator_ = _load_calibrator(meta.get("calibration"), tensors, model)
        model.token_calibrator_ = _load_token_calibrator(
            meta.get("token_calibration"), tensors, model
        )
        model.rank_matcher_ = _load_ranks(meta.get("ranks"), tensors, model)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{p}: model file is missing or has malformed fields ({exc})") from exc
    sk = model.skeleton_
    dims = [model.table_.spans_[i].dim for i in model.table_.cond_spans_]
    if (
        sk.n_classes != model.table_.n_classes
        or sk.combos.shape[1] != len(dims)
        or any(
            (sk.combos[:, j] >= d).any() or (sk.combos[:, j] < 0).any() for j, d in enumerate(dims)
        )
    ):
        raise ModelError(f"{p}: skeleton table does not match the model's schema")
    model.generator_ = gen
    return model
