"""The refiner: candidates per flow, kept by a real-vs-generated classifier, per skeleton."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from netrca.errors import ConfigError, ModelError
from netrca.synth.gan import FlowGAN
from netrca.synth.persist import load_gan, save_gan
from netrca.synth.refine import PARAMS, Refiner
from tests.unit.synth.conftest import TINY

SKELETON = ["root_cause", "protocol", "status", "error_code"]


def _bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def _joint(frame: pd.DataFrame) -> dict[tuple[str, ...], int]:
    keys = frame[SKELETON].astype(str).agg("|".join, axis=1)
    return {tuple(k.split("|")): int(v) for k, v in keys.value_counts().items()}


def test_tiny_gan_has_a_refiner(tiny_gan: FlowGAN) -> None:
    assert tiny_gan.refiner_ is not None
    assert tiny_gan.training_["refiner_seconds"] > 0
    assert len(tiny_gan.refiner_.tree_starts) > 1


def test_refined_sampling_keeps_classes_conditions_and_time_order(tiny_gan: FlowGAN) -> None:
    result = tiny_gan.sample_classes(
        {"normal": 200, "port_scan": 40, "brute_force": 3}, candidates=3
    )
    assert result.flows["root_cause"].value_counts().to_dict() == {
        "normal": 200,
        "port_scan": 40,
        "brute_force": 3,
    }
    assert result.flows["timestamp"].is_monotonic_increasing
    scans = tiny_gan.sample(57, conditions={"root_cause": "port_scan"}, candidates=4)
    assert len(scans) == 57 and (scans["root_cause"] == "port_scan").all()


def test_refined_sampling_keeps_every_skeletons_count(tiny_gan: FlowGAN) -> None:
    plain = tiny_gan.sample(600, random_state=3, enforce_validity=False)
    refined = tiny_gan.sample(600, random_state=3, enforce_validity=False, candidates=4)
    assert _joint(refined) == _joint(plain)
    assert not refined.drop(columns="timestamp").equals(plain.drop(columns="timestamp"))


def test_candidates_are_generated_in_blocks_with_the_same_guarantees(
    tiny_gan: FlowGAN, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netrca.synth.gan as gan_module

    whole = tiny_gan.sample(500, random_state=3, enforce_validity=False, candidates=3)
    monkeypatch.setattr(gan_module, "_REFINE_BLOCK", 64)  # 8 blocks
    blocks = tiny_gan.sample(500, random_state=3, enforce_validity=False, candidates=3)
    again = tiny_gan.sample(500, random_state=3, enforce_validity=False, candidates=3)
    plain = tiny_gan.sample(500, random_state=3, enforce_validity=False)
    assert _bytes(blocks) == _bytes(again) and _bytes(blocks) != _bytes(whole)
    assert _joint(blocks) == _joint(plain) == _joint(whole)
    assert blocks["timestamp"].is_monotonic_increasing


def test_refiner_keeps_the_flows_it_finds_more_real(tiny_gan: FlowGAN) -> None:
    plain = tiny_gan.sample(600, random_state=4)
    refined = tiny_gan.sample(600, random_state=4, candidates=4)
    gain = tiny_gan.refiner_.logit(refined).mean() - tiny_gan.refiner_.logit(plain).mean()
    assert gain > 0.5


def test_refined_sampling_is_reproducible_and_survives_save_and_load(
    tiny_gan: FlowGAN, tmp_path: Path
) -> None:
    first = _bytes(tiny_gan.sample(300, random_state=7, candidates=3))
    assert first == _bytes(tiny_gan.sample(300, random_state=7, candidates=3))
    assert first != _bytes(tiny_gan.sample(300, random_state=8, candidates=3))
    path = tmp_path / "gan.pt"
    save_gan(tiny_gan, path)
    loaded = load_gan(path)
    assert first == _bytes(loaded.sample(300, random_state=7, candidates=3))
    assert loaded.refiner_.log_loss == tiny_gan.refiner_.log_loss


def test_default_candidates_come_from_the_model(labelled_flows: pd.DataFrame) -> None:
    gan = FlowGAN(random_state=0, candidates=3, **TINY).fit(labelled_flows)
    assert _bytes(gan.sample(200, random_state=1)) == _bytes(
        gan.sample(200, random_state=1, candidates=3)
    )
    assert _bytes(gan.sample(200, random_state=1)) != _bytes(
        gan.sample(200, random_state=1, candidates=1)
    )


def _sklearn(ref: Refiner, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """The classifier a stage is: categorical splits on the columns the refiner names."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    n_cat = len(ref.categorical_splits)
    xs = ref._stage_matrix(x)
    mask = np.arange(xs.shape[1]) < n_cat
    return HistGradientBoostingClassifier(
        **PARAMS, categorical_features=mask, random_state=seed
    ).fit(xs, y)


def test_scores_are_sklearns_and_do_not_depend_on_threads(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    fake = tiny_gan.sample(len(labelled_flows), random_state=9, candidates=1)
    ref = Refiner().fit(labelled_flows, fake, seed=2)
    # the address, port and protocol columns are split as categories, not by their codes
    assert {"protocol", "destination_port", "source_ip"} <= set(ref.categorical_splits)
    assert (ref.nodes["is_categorical"][ref.nodes["is_leaf"] == 0] == 1).any()
    x = np.concatenate([ref.features(labelled_flows), ref.features(fake)])
    y = np.r_[np.ones(len(labelled_flows)), np.zeros(len(fake))]
    clf = _sklearn(ref, x, y, 2)
    ours = np.concatenate([ref.logit(labelled_flows), ref.logit(fake)])
    np.testing.assert_allclose(ours, clf.decision_function(ref._stage_matrix(x)), atol=1e-9, rtol=0)
    assert np.array_equal(ref.logit(fake, n_threads=1), ref.logit(fake, n_threads=2))


def test_a_category_a_stage_never_saw_goes_where_sklearn_sends_it(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    fake = tiny_gan.sample(len(labelled_flows), random_state=9, candidates=1)
    ref = Refiner().fit(labelled_flows, fake, seed=2)
    # the second stage learns without TCP: its classifier numbers the other protocols
    # anew, and TCP is an unknown category to it (scikit-learn: the missing-value side)
    no_tcp = labelled_flows[labelled_flows["protocol"] != "TCP"]
    fake2 = fake[fake["protocol"] != "TCP"]
    ref.add_stage(no_tcp, fake2, seed=3)
    j = ref.categorical_splits.index("protocol")
    tcp = ref.categories["protocol"].index("TCP")
    assert ref.cat_maps[0, j, tcp] >= 0 and ref.cat_maps[1, j, tcp] == -1
    first = _sklearn(
        ref,
        np.concatenate([ref.features(labelled_flows), ref.features(fake)]),
        np.r_[np.ones(len(labelled_flows)), np.zeros(len(fake))],
        2,
    )
    second = _sklearn(
        ref,
        np.concatenate([ref.features(no_tcp), ref.features(fake2)]),
        np.r_[np.ones(len(no_tcp)), np.zeros(len(fake2))],
        3,
    )
    x = ref._stage_matrix(ref.features(labelled_flows))  # TCP rows included
    expected = first.decision_function(x) + second.decision_function(x)
    np.testing.assert_allclose(ref.logit(labelled_flows), expected, atol=1e-9, rtol=0)
    loaded = Refiner.from_state(ref.to_dict(), ref.arrays())
    assert np.array_equal(loaded.logit(labelled_flows), ref.logit(labelled_flows))


def test_refiner_works_on_a_column_subset_without_time_or_class(
    labelled_flows: pd.DataFrame,
) -> None:
    cols = ["protocol", "bytes_sent", "packets_sent", "destination_port"]
    gan = FlowGAN(random_state=0, columns=cols, **TINY).fit(labelled_flows)
    assert gan.refiner_ is not None
    assert set(gan.refiner_.view.continuous) == {"bytes_sent", "packets_sent"}
    flows = gan.sample(80, candidates=3)
    assert list(flows.columns) == cols and len(flows) == 80


def test_candidates_need_a_refiner_and_a_positive_count(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    bare = FlowGAN(random_state=0, refiner=False, **TINY).fit(labelled_flows)
    assert bare.refiner_ is None
    with pytest.raises(ConfigError, match="has no refiner"):
        bare.sample(10, candidates=2)
    assert len(bare.sample(10, candidates=1)) == 10
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigError, match="candidates must be a positive integer"):
            tiny_gan.sample(10, candidates=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs the refiner"):
        FlowGAN(refiner=False, candidates=2, **TINY).fit(labelled_flows)
    with pytest.raises(ConfigError, match="refiner must be True or False"):
        FlowGAN(refiner="yes", **TINY).fit(labelled_flows)  # type: ignore[arg-type]


def test_model_saved_before_refiners_loads_without_one(
    tiny_gan: FlowGAN, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = tiny_gan.get_params()
    old = {k: v for k, v in params.items() if k not in ("refiner", "candidates")}
    monkeypatch.setattr(tiny_gan, "get_params", lambda: old)
    monkeypatch.setattr(tiny_gan, "refiner_", None)
    path = tmp_path / "old.pt"
    save_gan(tiny_gan, path)
    monkeypatch.undo()
    loaded = load_gan(path)
    assert loaded.refiner_ is None and loaded.refiner is False and loaded.candidates == 1
    assert _bytes(loaded.sample(300, random_state=1)) == _bytes(
        tiny_gan.sample(300, random_state=1)
    )
    with pytest.raises(ConfigError, match="has no refiner"):
        loaded.sample(10, candidates=2)


def test_malformed_refiner_trees_are_refused(tiny_gan: FlowGAN) -> None:
    state, arrays = tiny_gan.refiner_.to_dict(), tiny_gan.refiner_.arrays()
    Refiner.from_state(state, arrays)  # the real thing loads
    inner = int(np.flatnonzero(arrays["is_leaf"] == 0)[0])
    looped = {**arrays, "left": arrays["left"].copy()}
    looped["left"][inner] = inner  # a node that is its own child: a cycle
    with pytest.raises(ModelError, match="point outside"):
        Refiner.from_state(state, looped)
    far = {**arrays, "feature_idx": arrays["feature_idx"].copy()}
    far["feature_idx"][inner] = 10_000
    with pytest.raises(ModelError, match="point outside"):
        Refiner.from_state(state, far)
    with pytest.raises(ModelError, match="malformed"):
        Refiner.from_state(state, {**arrays, "value": arrays["value"][:-1]})
    with pytest.raises(ModelError, match="categories do not match"):
        Refiner.from_state({**state, "categories": {}}, arrays)
    with pytest.raises(ModelError, match="lacks node array"):
        Refiner.from_state(state, {k: v for k, v in arrays.items() if k != "right"})


def test_refiner_arrays_without_metadata_are_refused(tiny_gan: FlowGAN, tmp_path: Path) -> None:
    import json

    import torch

    from netrca.synth.persist import _digest

    path = tmp_path / "gan.pt"
    save_gan(tiny_gan, path)
    blob = torch.load(path, weights_only=True)
    meta = json.loads(bytes(blob.pop("meta").numpy()).decode("utf-8"))
    meta["refiner"] = None
    meta["digest"] = _digest(blob)
    raw = json.dumps(meta).encode("utf-8")
    blob["meta"] = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    torch.save(blob, tmp_path / "odd.pt")
    with pytest.raises(ModelError, match="refiner arrays without"):
        load_gan(tmp_path / "odd.pt")


def test_stages_add_their_log_odds_exactly(labelled_flows: pd.DataFrame, tiny_gan: FlowGAN) -> None:
    first = tiny_gan.sample(len(labelled_flows), random_state=9, candidates=1)
    picked = tiny_gan.sample(len(labelled_flows), random_state=10, candidates=3)
    ref = Refiner().fit(labelled_flows, first, seed=2).add_stage(labelled_flows, picked, seed=3)
    assert ref.stages == 2 and len(ref.stage_log_loss) == 2
    x_real, x_first, x_picked = (ref.features(f) for f in (labelled_flows, first, picked))
    y = np.r_[np.ones(len(labelled_flows)), np.zeros(len(first))]
    one = _sklearn(ref, np.concatenate([x_real, x_first]), y, 2)
    two = _sklearn(ref, np.concatenate([x_real, x_picked]), y, 3)
    x = ref._stage_matrix(np.concatenate([x_real, x_picked]))
    expected = one.decision_function(x) + two.decision_function(x)
    ours = np.concatenate([ref.logit(labelled_flows), ref.logit(picked)])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


def test_fit_builds_the_requested_stages_on_top_of_the_first(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN, tmp_path: Path
) -> None:
    assert tiny_gan.refiner_stages == 3 and tiny_gan.refiner_.stages == 3
    assert len(tiny_gan.training_["refiner_log_loss"]) == 3
    single = FlowGAN(random_state=0, refiner_stages=1, **TINY).fit(labelled_flows).refiner_
    assert single.stages == 1
    n = int(single.tree_starts[-1])  # the first stage is the one-stage refiner, unchanged
    for f, a in single.nodes.items():
        assert np.array_equal(tiny_gan.refiner_.nodes[f][:n], a)
    assert len(tiny_gan.refiner_.tree_starts) > len(single.tree_starts)
    save_gan(tiny_gan, tmp_path / "gan.pt")
    loaded = load_gan(tmp_path / "gan.pt")
    assert loaded.refiner_.stage_log_loss == tiny_gan.refiner_.stage_log_loss
    assert loaded.get_params()["refiner_stages"] == 3
    with pytest.raises(ConfigError, match="refiner_stages must be a positive integer"):
        FlowGAN(refiner_stages=0, **TINY).fit(labelled_flows)


_LATER = ("is_categorical", "bitset_idx", "cat_bitsets", "cat_maps", "stage_trees")


def _before_categorical(ref: Refiner) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``ref``'s state and arrays as saved before categorical splits existed."""
    state = {k: v for k, v in ref.to_dict().items() if k != "categorical_splits"}
    return state, {k: v for k, v in ref.arrays().items() if k not in _LATER}


def test_refiner_saved_before_stages_loads_as_one_stage(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tiny_gan.sample(len(labelled_flows), random_state=9, candidates=1)
    monkeypatch.setattr("netrca.synth.refine._MAX_CATEGORIES", 0)  # codes as numbers
    ref = Refiner().fit(labelled_flows, fake, seed=2)
    state, arrays = _before_categorical(ref)
    state.pop("stage_log_loss")
    old = Refiner.from_state(state, arrays)
    assert old.stages == 1 and old.stage_log_loss == [ref.log_loss]
    assert np.array_equal(old.logit(fake), ref.logit(fake))


def test_refiner_saved_before_categorical_splits_scores_codes_as_numbers(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    fake = tiny_gan.sample(len(labelled_flows), random_state=9, candidates=1)
    picked = tiny_gan.sample(len(labelled_flows), random_state=10, candidates=3)
    monkeypatch.setattr("netrca.synth.refine._MAX_CATEGORIES", 0)  # what older code fitted
    ref = Refiner().fit(labelled_flows, fake, seed=2).add_stage(labelled_flows, picked, seed=3)
    assert ref.categorical_splits == [] and not ref.nodes["is_categorical"].any()
    old = Refiner.from_state(*_before_categorical(ref))
    assert old.stages == 2 and old.categorical_splits == []
    x_real, x_fake, x_picked = (ref.features(f) for f in (labelled_flows, fake, picked))
    y = np.r_[np.ones(len(labelled_flows)), np.zeros(len(fake))]
    one = HistGradientBoostingClassifier(**PARAMS, random_state=2)
    two = HistGradientBoostingClassifier(**PARAMS, random_state=3)
    one.fit(np.concatenate([x_real, x_fake]), y)
    two.fit(np.concatenate([x_real, x_picked]), y)
    expected = one.decision_function(x_fake) + two.decision_function(x_fake)
    np.testing.assert_allclose(old.logit(fake), expected, atol=1e-9, rtol=0)


def test_malformed_categorical_splits_are_refused(tiny_gan: FlowGAN) -> None:
    ref = tiny_gan.refiner_
    state, arrays = ref.to_dict(), ref.arrays()
    cat = np.flatnonzero((arrays["is_leaf"] == 0) & (arrays["is_categorical"] == 1))
    assert len(cat)
    for field, value in (
        ("bitset_idx", len(arrays["cat_bitsets"])),  # past the last bitset
        ("feature_idx", len(ref.categorical_splits)),  # a number column split as categories
        ("is_categorical", 2),
    ):
        bad = {**arrays, field: arrays[field].copy()}
        bad[field][cat[0]] = value
        with pytest.raises(ModelError, match="categorical splits point outside"):
            Refiner.from_state(state, bad)
    for maps in (arrays["cat_maps"][:-1], np.full_like(arrays["cat_maps"], 300)):
        with pytest.raises(ModelError, match="categorical splits point outside"):
            Refiner.from_state(state, {**arrays, "cat_maps": maps})
    bounds = arrays["stage_trees"].copy()
    bounds[-1] += 1
    with pytest.raises(ModelError, match="categorical splits point outside"):
        Refiner.from_state(state, {**arrays, "stage_trees": bounds})
    with pytest.raises(ModelError, match="lacks node array"):
        Refiner.from_state(state, {k: v for k, v in arrays.items() if k != "cat_maps"})
    wide = {**state, "categorical_splits": [*ref.categorical_splits, "no_such_column"]}
    with pytest.raises(ModelError, match="cannot"):
        Refiner.from_state(wide, arrays)
