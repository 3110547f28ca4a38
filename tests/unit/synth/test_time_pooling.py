"""Time pooling: generated positions in time swapped within a class or skeleton, where the
training flows show that time tells nothing more about a flow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.errors import ConfigError, ModelError
from netrca.simulate import Scenario, simulate
from netrca.synth.gan import POOLING, POSITION_BIN, FlowGAN
from netrca.synth.persist import load_gan, save_gan
from netrca.synth.table import FlowTable


def _bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _generated(gan: FlowGAN, modes: list[int], positions: object = "model", seed: int = 11):
    """The same generated rows with the given per-class pooling (and position counts)."""
    saved = gan.time_pooling_, gan.time_positions_
    try:
        gan.time_pooling_ = np.asarray(modes, dtype=np.int64)
        if positions != "model":
            gan.time_positions_ = positions  # type: ignore[assignment]
        rng = np.random.default_rng(seed)
        cls = gan._draw_classes(3000, rng)
        combo = gan.skeleton_.draw(len(cls), rng, train=False, cls=cls)
        return gan._generate(cls, seed, combo), combo
    finally:
        gan.time_pooling_, gan.time_positions_ = saved


def _rows(a: np.ndarray) -> list[tuple[float, ...]]:
    return sorted(map(tuple, np.round(a.astype(np.float64), 12)))


def _position(gan: FlowGAN, enc, rows: np.ndarray) -> np.ndarray:
    code_cols, value_cols = gan.table_.position_columns()
    return np.column_stack([enc.codes[rows][:, code_cols], enc.values[rows][:, value_cols]])


def _same_but_positions(gan: FlowGAN, plain, pooled) -> None:
    code_cols, value_cols = gan.table_.position_columns()
    other_codes = [j for j in range(plain.codes.shape[1]) if j not in code_cols]
    other_values = [j for j in range(plain.values.shape[1]) if j not in value_cols]
    assert (plain.codes[:, other_codes] == pooled.codes[:, other_codes]).all()
    assert (plain.values[:, other_values] == pooled.values[:, other_values]).all()
    assert (plain.bits == pooled.bits).all() and (plain.cls == pooled.cls).all()


def _two_classes(gan: FlowGAN, plain) -> tuple[int, int]:
    counts = np.bincount(plain.cls, minlength=gan.table_.n_classes)
    return int(np.argmax(counts)), int(np.argsort(counts)[-2])


def test_positions_are_swapped_within_their_group_without_counts(tiny_gan: FlowGAN) -> None:
    n_cls = tiny_gan.table_.n_classes
    code_cols, value_cols = tiny_gan.table_.position_columns()
    assert code_cols and value_cols  # time of day: a mode token and an offset
    plain, combo = _generated(tiny_gan, [0] * n_cls)
    by_class, by_skeleton = _two_classes(tiny_gan, plain)
    modes = [0] * n_cls
    modes[by_class], modes[by_skeleton] = 1, 2
    pooled, combo2 = _generated(tiny_gan, modes, positions=None)  # as models without counts
    assert (combo == combo2).all()
    _same_but_positions(tiny_gan, plain, pooled)
    untouched = ~np.isin(plain.cls, [by_class, by_skeleton])
    assert (_position(tiny_gan, plain, untouched) == _position(tiny_gan, pooled, untouched)).all()
    mine = plain.cls == by_class
    before, after = _position(tiny_gan, plain, mine), _position(tiny_gan, pooled, mine)
    assert _rows(before) == _rows(after) and (before != after).any(axis=1).mean() > 0.5
    for k in np.unique(combo[plain.cls == by_skeleton]):
        rows = combo == k
        assert _rows(_position(tiny_gan, plain, rows)) == _rows(_position(tiny_gan, pooled, rows))


def test_classes_pooled_by_class_draw_their_training_minutes(
    tiny_gan: FlowGAN, labelled_flows: pd.DataFrame
) -> None:
    t = tiny_gan.table_
    n_cls = t.n_classes
    plain, _ = _generated(tiny_gan, [0] * n_cls)
    by_class, by_skeleton = _two_classes(tiny_gan, plain)
    modes = np.zeros(n_cls, dtype=np.int64)
    modes[by_class], modes[by_skeleton] = 1, 2
    counts = tiny_gan._position_counts(labelled_flows, modes)
    pooled, _ = _generated(tiny_gan, list(modes), positions=counts)
    _same_but_positions(tiny_gan, plain, pooled)
    # the class's minutes are those of its training flows, counted; no other class has any
    real = t.positions(labelled_flows)
    mine_real = real[t.class_codes(labelled_flows["root_cause"]) == by_class]
    lo, hi = counts["offsets"][by_class], counts["offsets"][by_class + 1]
    bins, n = np.unique(np.floor(mine_real / POSITION_BIN), return_counts=True)
    assert (counts["bins"][lo:hi] == bins).all() and (counts["counts"][lo:hi] == n).all()
    assert counts["counts"].sum() == len(mine_real)
    # generated flows of that class sit in those minutes, decoded back from their parts
    found = t._time_encoder()
    assert found is not None
    enc = found[1]
    rows = np.flatnonzero(pooled.cls == by_class)
    code_cols, value_cols = t.position_columns()
    tod = enc.tod.decode(
        pooled.codes[rows][:, code_cols[-1]], pooled.values[rows][:, value_cols[0]]
    )
    day = (
        np.asarray(enc.days)[pooled.codes[rows][:, code_cols[0]]]
        if len(enc.days) > 1
        else enc.days[0]
    )
    minute = np.floor((day * 86400.0 + tod) / POSITION_BIN)
    near = np.isin(minute, bins) | np.isin(minute - 1, bins) | np.isin(minute + 1, bins)
    assert near.all()
    assert (_position(tiny_gan, plain, rows) != _position(tiny_gan, pooled, rows)).any()


def _flows(shift_by_bytes: bool) -> pd.DataFrame:
    flows = simulate(Scenario(n_flows=4000), seed=5)
    if shift_by_bytes:  # the larger transfers only by night, the others only by day
        ts = pd.to_datetime(flows["timestamp"], utc=True)
        day = ts.dt.floor("D")
        tod = (ts - day).dt.total_seconds() % 43200.0
        sent = flows["bytes_sent"].to_numpy()
        night = sent > np.median(sent)
        shifted = day + pd.to_timedelta(tod + np.where(night, 0.0, 43200.0), unit="s")
        flows["timestamp"] = shifted.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        flows = flows.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return flows


@pytest.mark.parametrize(
    ("shift_by_bytes", "expected"), [(False, {"class", "skeleton"}), (True, {"none"})]
)
def test_the_pooling_test_follows_the_data(shift_by_bytes: bool, expected: set[str]) -> None:
    flows = _flows(shift_by_bytes)
    gan = FlowGAN(random_state=0)
    gan.table_ = FlowTable().fit(flows, seed=0)
    modes, record = gan._test_time_pooling(flows)
    normal = record["classes"]["normal"]
    assert record["tested"] and normal["rows"][0] >= 1000
    assert normal["pooling"] in expected
    assert POOLING[modes[gan.table_.condition_values_.index("normal")]] == normal["pooling"]
    if shift_by_bytes:  # the permuted half is told apart, both ways
        assert min(normal["roc_auc"].values()) > normal["threshold"] + 0.05
    else:
        assert min(normal["roc_auc"].values()) <= normal["threshold"]
    # too few flows of a class a side: left as generated, without a test
    small = [c for c in record["classes"].values() if min(c["rows"]) < 100]
    assert small and all(c["pooling"] == "none" and not c["roc_auc"] for c in small)


def test_pooling_leaves_training_as_it_was(labelled_flows: pd.DataFrame) -> None:
    from tests.unit.synth.conftest import TINY

    on = FlowGAN(random_state=0, refiner=False, **TINY).fit(labelled_flows)
    off = FlowGAN(random_state=0, refiner=False, pool_time=False, **TINY).fit(labelled_flows)
    assert on.time_pooling_.any() and not off.time_pooling_.any()
    a, b = on.generator_.state_dict(), off.generator_.state_dict()
    assert all((a[k] == b[k]).all() for k in a)
    assert on.training_["history"] == off.training_["history"]
    # the same generated rows, pooled or not
    x, y = on.sample(400, random_state=3), off.sample(400, random_state=3)
    assert (x["root_cause"].value_counts() == y["root_cause"].value_counts()).all()
    assert sorted(x["bytes_sent"]) == sorted(y["bytes_sent"])
    assert not x.equals(y)


def test_pooling_can_be_turned_off() -> None:
    flows = _flows(False)
    gan = FlowGAN(random_state=0, pool_time=False)
    gan.table_ = FlowTable().fit(flows, seed=0)
    modes, record = gan._test_time_pooling(flows)
    assert not modes.any() and record == {"tested": False}
    few = flows.head(150).reset_index(drop=True)  # under 100 flows of any class a side
    gan = FlowGAN(random_state=0)
    gan.table_ = FlowTable().fit(few, seed=0)
    modes, record = gan._test_time_pooling(few)
    assert not modes.any() and record["tested"]
    assert all(
        c["pooling"] == "none" and c["threshold"] is None for c in record["classes"].values()
    )
    with pytest.raises(ConfigError, match="pool_time must be True or False"):
        FlowGAN(pool_time="yes").fit(flows)  # type: ignore[arg-type]


def test_pooling_is_saved_and_old_models_pool_nothing(
    tiny_gan: FlowGAN, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netrca.synth import persist

    assert tiny_gan.training_["time_pooling"]["tested"]
    path = tmp_path / "gan.pt"
    save_gan(tiny_gan, path)
    loaded = load_gan(path)
    assert (loaded.time_pooling_ == tiny_gan.time_pooling_).all()
    assert tiny_gan.time_positions_["counts"].sum() > 0
    for k, v in tiny_gan.time_positions_.items():
        assert (loaded.time_positions_[k] == v).all()
    # a model saved before time pooling existed: no parameter, no pooling recorded
    old = {k: v for k, v in tiny_gan.get_params().items() if k != "pool_time"}
    monkeypatch.setattr(tiny_gan, "get_params", lambda: old)
    monkeypatch.setattr(persist, "_pooling_names", lambda model: None)
    monkeypatch.setattr(tiny_gan, "time_positions_", None)
    save_gan(tiny_gan, tmp_path / "old.pt")
    monkeypatch.undo()
    before = load_gan(tmp_path / "old.pt")
    assert before.pool_time is False and not before.time_pooling_.any()
    assert before.time_positions_ is None
    saved = tiny_gan.time_pooling_
    try:
        tiny_gan.time_pooling_ = np.zeros_like(saved)
        assert _bytes(before.sample(300, random_state=2)) == _bytes(
            tiny_gan.sample(300, random_state=2)
        )
    finally:
        tiny_gan.time_pooling_ = saved
    # malformed pooling is refused
    for bad in (["sometimes"] * tiny_gan.table_.n_classes, ["none"], "class"):
        monkeypatch.setattr(persist, "_pooling_names", lambda model, bad=bad: bad)
        save_gan(tiny_gan, tmp_path / "bad.pt")
        with pytest.raises(ModelError, match="time pooling must name"):
            load_gan(tmp_path / "bad.pt")
    monkeypatch.undo()
    # malformed position counts are refused
    good = tiny_gan.time_positions_
    days = 86400.0 / POSITION_BIN
    for bad in (
        {**good, "bins": good["bins"] + int(7 * days)},  # a day it never saw
        {**good, "counts": good["counts"] * 0},
        {**good, "offsets": good["offsets"][:-1]},
        {k: v for k, v in good.items() if k != "counts"},
    ):
        monkeypatch.setattr(tiny_gan, "time_positions_", bad)
        save_gan(tiny_gan, tmp_path / "bad_counts.pt")
        with pytest.raises(ModelError, match="position counts"):
            load_gan(tmp_path / "bad_counts.pt")
