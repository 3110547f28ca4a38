"""Saved detectors load without code execution, identically, and refuse damage."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.detect import Detector
from netrca.detect.persist import (
    load_detector,
    load_detector_bytes,
    read_model_bytes,
    save_detector,
)
from netrca.errors import ModelError


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory, sim_flows: pd.DataFrame
) -> tuple[Path, Detector]:
    det = Detector(random_state=2).fit(sim_flows)
    path = tmp_path_factory.mktemp("model") / "m.npz"
    save_detector(det, path)
    return path, det


def test_load_scores_identically(saved: tuple[Path, Detector], sim_flows: pd.DataFrame) -> None:
    path, det = saved
    again = load_detector(path)
    assert np.array_equal(again.score_samples(sim_flows), det.score_samples(sim_flows))
    assert again.threshold_ == det.threshold_


def test_load_from_bytes_equals_load_from_file(
    saved: tuple[Path, Detector], sim_flows: pd.DataFrame, tmp_path: Path
) -> None:
    path, det = saved
    again = load_detector_bytes(read_model_bytes(path), path)
    assert np.array_equal(again.score_samples(sim_flows), det.score_samples(sim_flows))
    # saving what was loaded reproduces the file byte for byte
    save_detector(again, tmp_path / "again.npz")
    assert (tmp_path / "again.npz").read_bytes() == path.read_bytes()
    with pytest.raises(ModelError, match="no such model file"):
        read_model_bytes(tmp_path / "absent.npz")
    with pytest.raises(ModelError, match=r"x\.npz: not a readable netrca model"):
        load_detector_bytes(b"PK not a zip", tmp_path / "x.npz")


def _rewrite(src: Path, dst: Path, edit: callable) -> None:  # type: ignore[valid-type]
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    with dst.open("wb") as fh:
        np.savez(fh, **arrays)


def test_tampered_array_fails_digest(saved: tuple[Path, Detector], tmp_path: Path) -> None:
    def edit(a: dict[str, np.ndarray]) -> None:
        a["forest/threshold"] = a["forest/threshold"] + 1.0

    _rewrite(saved[0], tmp_path / "t.npz", edit)
    with pytest.raises(ModelError, match="digest"):
        load_detector(tmp_path / "t.npz")


def test_truncated_file(saved: tuple[Path, Detector], tmp_path: Path) -> None:
    data = saved[0].read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_detector(tmp_path / "t.npz")


def test_incompatible_versions(saved: tuple[Path, Detector], tmp_path: Path) -> None:
    for key, value, message in (
        ("schema_version", "0.1", "schema"),
        ("netrca_version", "9.9.0", "incompatible"),
    ):

        def edit(a: dict[str, np.ndarray], key: str = key, value: str = value) -> None:
            meta = json.loads(a["meta"].tobytes())
            meta[key] = value
            a["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)

        _rewrite(saved[0], tmp_path / "v.npz", edit)
        with pytest.raises(ModelError, match=message):
            load_detector(tmp_path / "v.npz")


def test_pickled_payload_is_never_loaded(tmp_path: Path) -> None:
    p = tmp_path / "evil.npz"
    with p.open("wb") as fh:
        np.savez(fh, meta=np.array([{"x": 1}], dtype=object))
    assert zipfile.is_zipfile(p)
    with pytest.raises(ModelError):
        load_detector(p)
    with pytest.raises(ModelError, match="no such model"):
        load_detector(tmp_path / "missing.npz")
