"""FlowGAN: exact conditions, byte-reproducible seeding, safe save/load, clear errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netrca.errors import ConfigError, InputError, ModelError
from netrca.schema import INT_COLUMNS
from netrca.synth.gan import FlowGAN
from netrca.synth.persist import load_gan, save_gan
from netrca.synth.source import class_mix, write_synthetic
from tests.unit.synth.conftest import TINY


def _bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def test_condition_is_honoured_exactly(tiny_gan: FlowGAN) -> None:
    scans = tiny_gan.sample(137, conditions={"root_cause": "port_scan"})
    assert len(scans) == 137
    assert (scans["root_cause"] == "port_scan").all()
    assert (scans["label"] == 1).all()  # derived from the class, not generated


def test_class_counts_are_exact(tiny_gan: FlowGAN) -> None:
    result = tiny_gan.sample_classes({"normal": 300, "dos_flood": 50, "brute_force": 7})
    assert result.flows["root_cause"].value_counts().to_dict() == {
        "normal": 300,
        "dos_flood": 50,
        "brute_force": 7,
    }
    assert result.flows["timestamp"].is_monotonic_increasing


def test_unseen_class_and_unknown_condition_are_clear_errors(tiny_gan: FlowGAN) -> None:
    with pytest.raises(InputError, match=r"root_cause .alien. was not seen.*known: .*normal"):
        tiny_gan.sample(5, conditions={"root_cause": "alien"})
    with pytest.raises(ConfigError, match=r"cannot condition on protocol='DNS'"):
        tiny_gan.sample(5, conditions={"protocol": "DNS"})
    with pytest.raises(ConfigError, match=r"exceed -n 10"):
        class_mix(tiny_gan, 10, {"port_scan": 11})


def test_counts_are_never_negative(tiny_gan: FlowGAN) -> None:
    flows = tiny_gan.sample(3000, enforce_validity=False)
    for col in (*INT_COLUMNS, "duration", "latency"):
        values = pd.to_numeric(flows[col]).dropna()
        assert (values >= 0).all(), col
    assert flows["source_port"].dropna().between(0, 65535).all()


def test_bytes_are_generated_per_packet(labelled_flows: pd.DataFrame, tiny_gan: FlowGAN) -> None:
    per = {e.column: getattr(e, "per", None) for e in tiny_gan.table_.encoders_}
    assert per["bytes_sent"] == "packets_sent"
    assert per["bytes_received"] == "packets_received"
    flows = tiny_gan.sample(3000, enforce_validity=False)
    real = labelled_flows
    for side in ("sent", "received"):
        b = pd.to_numeric(flows[f"bytes_{side}"]).to_numpy(dtype=float)
        k = pd.to_numeric(flows[f"packets_{side}"]).to_numpy(dtype=float)
        rb = pd.to_numeric(real[f"bytes_{side}"]).to_numpy(dtype=float)
        rk = pd.to_numeric(real[f"packets_{side}"]).to_numpy(dtype=float)
        assert not ((rb > 0) & (rk == 0)).any()  # so the model learned "no bytes, no packets"
        assert not ((b > 0) & (k == 0)).any(), side


def test_destination_token_is_part_of_the_skeleton(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    from netrca.synth.encoders import IPEncoder
    from netrca.synth.table import FlowTable

    table = tiny_gan.table_
    assert table.skeleton_addresses == ["destination_ip"]
    dst = next(e for e in table.encoders_ if e.column == "destination_ip")
    assert isinstance(dst, IPEncoder) and dst.exact
    # a generated (server, protocol, class) combination is one the training flows have
    flows = tiny_gan.sample(2000, enforce_validity=False)
    key = ["destination_ip", "protocol", "root_cause"]
    seen = set(map(tuple, labelled_flows[key].astype(str).to_numpy()))
    exact = flows["destination_ip"].isin(dst.exact).to_numpy()
    assert exact.any()
    assert all(tuple(r) in seen for r in flows.loc[exact, key].astype(str).to_numpy())
    # a table saved before the destination token joined the skeleton reads as it was
    state = table.to_dict()
    del state["params"]["skeleton_addresses"], state["params"]["max_exact"]
    del state["params"]["standardise"], state["standard"]  # those files predate them
    for enc in state["encoders"]:
        enc.pop("standardised", None)
    old = FlowTable.from_dict(state)
    assert old.skeleton_addresses == [] and old.max_exact == 8
    assert len(old.cond_spans_) == len(table.cond_spans_) - 1


def test_same_seed_same_model_and_bytes(labelled_flows: pd.DataFrame, tiny_gan: FlowGAN) -> None:
    again = FlowGAN(random_state=0, **TINY).fit(labelled_flows)
    for (k, a), b in zip(
        tiny_gan.generator_.state_dict().items(),
        again.generator_.state_dict().values(),
        strict=True,
    ):
        assert a.equal(b), k
    assert _bytes(tiny_gan.sample(400, random_state=5)) == _bytes(again.sample(400, random_state=5))
    assert _bytes(tiny_gan.sample(400, random_state=5)) != _bytes(
        tiny_gan.sample(400, random_state=6)
    )


def test_two_threads_train_the_same_model_twice(labelled_flows: pd.DataFrame) -> None:
    # two threads (what make bench-gan trains with) on full-width layers, where torch
    # splits the work
    params = {
        **TINY,
        "n_threads": 2,
        "generator_dims": (256, 256),
        "critic_dims": (256, 256),
        "batch_size": 500,
        "max_steps": 6,
        "refiner": False,
    }
    one = FlowGAN(random_state=0, **params).fit(labelled_flows)
    two = FlowGAN(random_state=0, **params).fit(labelled_flows)
    for (k, a), b in zip(
        one.generator_.state_dict().items(), two.generator_.state_dict().values(), strict=True
    ):
        assert a.equal(b), k
    assert _bytes(one.sample(400, random_state=5)) == _bytes(two.sample(400, random_state=5))


def test_sampling_on_worker_threads_gives_the_bytes_of_one(
    tiny_gan: FlowGAN, monkeypatch: pytest.MonkeyPatch
) -> None:
    # more rows than two chunks, so several chunks run side by side on two workers
    from netrca.synth import gan as gan_module

    n = 2 * gan_module._CHUNK + 123
    assert tiny_gan.token_calibrator_ is not None  # the Gumbel noise is drawn in order too
    monkeypatch.setattr(gan_module, "_MAX_WORKERS", 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert gan_module._sampling_workers() == 2
    two = _bytes(tiny_gan.sample(n, random_state=4))
    monkeypatch.setattr(gan_module, "_MAX_WORKERS", 1)
    assert gan_module._sampling_workers() == 1
    assert two == _bytes(tiny_gan.sample(n, random_state=4))


def test_the_generators_draw_is_its_forward_pass_hardened(tiny_gan: FlowGAN) -> None:
    import torch

    g = tiny_gan.generator_
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(500, g.inp.in_features, generator=rng)
    kinds = list(enumerate(g.kinds))
    soft = [i for i, k in kinds if k == "softmax"]
    offs = np.cumsum([0, *g.dims])

    def reference(adjust: dict[int, tuple]) -> tuple[torch.Tensor, ...]:
        # the plain loop: one-hot outputs, their embeddings as products, torch's argmax
        base, ctx = g._trunk(x), torch.zeros(500, g.context)
        codes, values, bits = [], [], []
        for i, (kind, head, embed) in enumerate(zip(g.kinds, g.heads, g.embeds, strict=True)):
            logits = base[:, offs[i] : offs[i + 1]] + head(ctx)
            if i in adjust:
                rows, scale, shift = adjust[i]
                logits = torch.where(rows, logits * scale + shift, logits)
            if kind == "softmax":
                pick = logits.argmax(1)
                codes.append(pick)
                out = torch.nn.functional.one_hot(pick, logits.shape[1]).float()
            elif kind == "tanh":
                out = torch.tanh(logits)
                values.append(out)
            else:
                out = (logits > 0).float()
                bits.append(out)
            ctx = ctx + embed(out)
        return torch.stack(codes, 1), torch.cat(values, 1).double(), torch.cat(bits, 1)

    h = soft[-1]  # a head's logits rescaled and shifted on some rows
    rows = torch.rand(500, 1, generator=rng) < 0.5
    shift = 3 * torch.randn(500, g.dims[h], generator=rng)
    g.eval()
    try:
        with torch.no_grad():
            out = g(x)  # the training pass, hardened, equals the sampling pass
            codes, values, bits = g.draw(x)
            want_c = [out[:, offs[i] : offs[i + 1]].argmax(1) for i in soft]
            assert torch.equal(codes, torch.stack(want_c, 1))
            assert torch.equal(
                values, torch.stack([out[:, offs[i]] for i, k in kinds if k == "tanh"], 1).double()
            )
            want_b = [out[:, offs[i] : offs[i + 1]] for i, k in kinds if k == "bits"]
            assert torch.equal(bits, torch.cat(want_b, 1))
            for adjust in ({}, {h: (rows, 2.0, shift)}):
                for got, want in zip(g.draw(x, adjust), reference(adjust), strict=True):
                    assert torch.equal(got, want)
                # a head's logits: given the earlier heads' (adjusted) tokens, not its own
                logits = g.head_logits(x, h, adjust)
                plain = logits.argmax(1)
                if adjust:
                    plain = torch.where(rows[:, 0], (logits * 2.0 + shift).argmax(1), plain)
                assert torch.equal(plain, g.draw(x, adjust)[0][:, -1])
            # the adjustment moved that head's tokens on the adjusted rows only
            moved = g.draw(x, {h: (rows, 2.0, shift)})[0] != g.draw(x)[0]
            assert moved[:, -1].any() and not moved[~rows[:, 0], -1].any()
            with pytest.raises(ValueError, match="no head"):
                g.head_logits(x, len(g.kinds))
    finally:
        g.train()


def test_model_saved_before_the_training_options_loads_as_trained(
    tiny_gan: FlowGAN, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tiny_gan.get_params()["skeleton_weighting"] == "sqrt"
    assert tiny_gan.get_params()["condition_weight"] == 5.0
    params = tiny_gan.get_params()
    old = {k: v for k, v in params.items() if k not in ("skeleton_weighting", "condition_weight")}
    monkeypatch.setattr(tiny_gan, "get_params", lambda: old)
    path = tmp_path / "old.pt"
    save_gan(tiny_gan, path)
    monkeypatch.undo()
    loaded = load_gan(path)
    assert loaded.skeleton_weighting == "log" and loaded.condition_weight == 0.0
    assert _bytes(loaded.sample(300, random_state=1)) == _bytes(
        tiny_gan.sample(300, random_state=1)
    )


def test_numbers_are_standardised_per_skeleton(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    from netrca.synth.encoders import NumericEncoder
    from netrca.synth.table import STANDARD_MIN_ROWS, FlowTable

    table = tiny_gan.table_
    numbers = [e.column for e in table.encoders_ if isinstance(e, NumericEncoder)]
    assert table.standardise and set(table.standard_gain_) == set(numbers)
    # standardised exactly where it described held-out rows better
    assert set(table.standard_) == {c for c, g in table.standard_gain_.items() if g and g > 0}
    assert "duration" in table.standard_ and len(table.standard_keys_) > 0
    for e in table.encoders_:
        if isinstance(e, NumericEncoder):
            assert e.standardised == (e.column in table.standard_), e.column
    # a frequent skeleton's rows: its numbers' modelled values centre on 0 with spread ~1
    key, cls = table._keys_of_flows(labelled_flows)
    uniq, counts = np.unique(key, return_counts=True)
    top = uniq[np.argmax(counts)]
    assert counts.max() >= STANDARD_MIN_ROWS and top in table.standard_keys_
    enc = next(e for e in table.encoders_ if e.column == "duration")
    assert isinstance(enc, NumericEncoder)
    x = pd.to_numeric(labelled_flows["duration"]).to_numpy(dtype=float)
    mine = (key == top) & (x > 0) & ~np.isin(x, enc.specials)
    centre, spread = table._standards(key, cls)["duration"]
    z = (np.log(x[mine]) - centre[mine]) / spread[mine]
    # shrinkage pulls the statistics towards the class's, so not exactly 0 and 1
    assert abs(z.mean()) < 0.5 and 0.5 < z.std() < 1.5
    # the statistics survive the model file's JSON, and bad ones are refused
    state = table.to_dict()
    again = FlowTable.from_dict(state)
    np.testing.assert_array_equal(again.standard_keys_, table.standard_keys_)
    assert again.standard_ == table.standard_
    assert again.standard_gain_ == table.standard_gain_
    state["standard"]["columns"]["duration"]["spread_key"][0] = 0.0
    with pytest.raises(ModelError, match="standardisation does not match"):
        FlowTable.from_dict(state)
    state["standard"]["columns"]["duration"]["spread_key"] = [1.0]
    with pytest.raises(ModelError, match="standardisation does not match"):
        FlowTable.from_dict(state)
    good = table.to_dict()
    state = table.to_dict()
    state["standard"]["heldout_gain"] = {"duration": "high"}
    with pytest.raises(ModelError, match="standardisation is malformed"):
        FlowTable.from_dict(state)
    # statistics for a number whose encoder was fitted without them, and the reverse
    state = table.to_dict()
    enc_state = next(e for e in state["encoders"] if e["column"] == "duration")
    enc_state["standardised"] = False
    with pytest.raises(ModelError, match="standardisation does not match"):
        FlowTable.from_dict(state)
    state = table.to_dict()
    del state["standard"]
    with pytest.raises(ModelError, match="standardisation is missing"):
        FlowTable.from_dict(state)
    state = table.to_dict()
    del state["standard"]["keys"]
    with pytest.raises(ModelError, match="standardisation is malformed"):
        FlowTable.from_dict(state)
    assert FlowTable.from_dict(good).standard_ == table.standard_


def test_standardisation_is_kept_only_where_it_fits_held_out_rows(
    tiny_gan: FlowGAN, labelled_flows: pd.DataFrame
) -> None:
    table = tiny_gan.table_
    key, cls = table._keys_of_flows(labelled_flows)
    kid = table._key_index(key)
    rows = np.ones(len(key), dtype=bool)
    rng = np.random.default_rng(0)
    enc = next(e for e in table.encoders_ if e.column == "duration")
    # the same shape in every skeleton, shifted and scaled: standardising helps
    shift = rng.normal(0.0, 4.0, len(table.standard_keys_) + 1)[kid]
    scale = rng.uniform(0.2, 2.0, len(table.standard_keys_) + 1)[kid]
    shaped = shift + scale * rng.normal(0.0, 1.0, len(key))
    assert table._standardising_helps(enc, shaped, kid, cls, rows, 0) > 0.1
    # two sharp modes everywhere, mixed in proportions that differ by skeleton: each
    # skeleton's mean and spread would put the modes at different places, so no
    share = rng.uniform(0.1, 0.9, len(table.standard_keys_) + 1)[kid]
    modes = np.where(rng.random(len(key)) < share, -5.0, 5.0) + rng.normal(0.0, 0.05, len(key))
    assert table._standardising_helps(enc, modes, kid, cls, rows, 0) < 0.0
    assert table._standardising_helps(enc, modes[:10], kid[:10], cls[:10], rows[:10], 0) is None


def test_model_saved_before_standardisation_loads_as_trained(
    labelled_flows: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = FlowGAN(random_state=0, standardise=False, **TINY).fit(labelled_flows)
    assert not plain.table_.standard_ and "standard" not in plain.table_.to_dict()
    old = {k: v for k, v in plain.get_params().items() if k != "standardise"}
    table_state = plain.table_.to_dict()
    assert "standardise" not in table_state["params"]  # as older files were written
    monkeypatch.setattr(plain, "get_params", lambda: old)
    path = tmp_path / "old.pt"
    save_gan(plain, path)
    monkeypatch.undo()
    loaded = load_gan(path)
    assert loaded.standardise is False and loaded.table_.standardise is False
    assert _bytes(loaded.sample(300, random_state=1)) == _bytes(plain.sample(300, random_state=1))


def test_saved_model_samples_identically(tiny_gan: FlowGAN, tmp_path: Path) -> None:
    path = tmp_path / "gan.pt"
    save_gan(tiny_gan, path)
    loaded = load_gan(path)
    assert loaded.schema_ == tiny_gan.schema_
    assert _bytes(loaded.sample(500, random_state=1)) == _bytes(
        tiny_gan.sample(500, random_state=1)
    )
    assert loaded.training_["steps"] == tiny_gan.training_["steps"]


def test_tampered_or_foreign_model_files_are_refused(tiny_gan: FlowGAN, tmp_path: Path) -> None:
    import torch

    path = tmp_path / "gan.pt"
    save_gan(tiny_gan, path)
    blob = torch.load(path, weights_only=True)
    key = next(k for k in blob if k.startswith("generator."))
    blob[key] = blob[key] + 1.0
    torch.save(blob, tmp_path / "tampered.pt")
    with pytest.raises(ModelError, match="does not match its digest"):
        load_gan(tmp_path / "tampered.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable netrca GAN model"):
        load_gan(tmp_path / "junk.pt")
    with pytest.raises(ModelError, match="no such model file"):
        load_gan(tmp_path / "missing.pt")


def test_model_with_another_schema_version_is_refused(
    tiny_gan: FlowGAN, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netrca.synth import persist

    path = tmp_path / "gan.pt"
    monkeypatch.setattr(persist, "SCHEMA_VERSION", "0.9")
    save_gan(tiny_gan, path)
    monkeypatch.undo()
    with pytest.raises(ModelError, match=r"trained with schema 0.9.*refit the model"):
        load_gan(path)


def test_real_flows_missing_a_trained_column_are_refused(
    tiny_gan: FlowGAN, labelled_flows: pd.DataFrame
) -> None:
    with pytest.raises(ModelError, match=r"lack column\(s\) bytes_sent"):
        tiny_gan.schema_.check_frame(labelled_flows.drop(columns="bytes_sent"))


def test_bad_training_input_gets_clear_errors(labelled_flows: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="need at least 10 flows"):
        FlowGAN(**TINY).fit(labelled_flows.head(1))
    constant = labelled_flows.assign(protocol="TCP")
    with pytest.raises(InputError, match="'protocol' has the same value 'TCP' in all"):
        FlowGAN(columns=["timestamp", "protocol", "bytes_sent"], **TINY).fit(constant)
    nulls = labelled_flows.assign(latency=np.nan)
    with pytest.raises(InputError, match="'latency' is null in all"):
        FlowGAN(columns=["timestamp", "latency"], **TINY).fit(nulls)
    with pytest.raises(ConfigError, match="max_steps must be a positive integer"):
        FlowGAN(max_steps=0).fit(labelled_flows)
    with pytest.raises(ConfigError, match="skeleton_weighting must be one of sqrt, frequency, log"):
        FlowGAN(skeleton_weighting="uniform").fit(labelled_flows)
    with pytest.raises(ConfigError, match="condition_weight non-negative"):
        FlowGAN(condition_weight=-1.0).fit(labelled_flows)


def test_training_draws_a_class_skeletons_by_frequency() -> None:
    from netrca.synth.sampler import SkeletonSampler

    # class 0: skeleton 0 on 1 row, skeleton 1 on 99 rows; class 1: skeleton 2 on 5 rows
    codes = np.array([[0]] + [[1]] * 99 + [[2]] * 5)
    row_class = np.array([0] * 100 + [1] * 5)
    sk = SkeletonSampler.from_rows(codes, row_class, 2)
    rng = np.random.default_rng(0)
    cls = np.zeros(20000, dtype=np.int64)
    share = {
        w: float(np.mean(sk.draw(20000, rng, train=True, cls=cls, weighting=w) == 1))
        for w in ("frequency", "sqrt", "log")
    }
    assert share["frequency"] == pytest.approx(0.99, abs=0.005)
    assert share["sqrt"] == pytest.approx(np.sqrt(99) / (1 + np.sqrt(99)), abs=0.01)
    assert share["log"] == pytest.approx(np.log(100) / (np.log(2) + np.log(100)), abs=0.01)
    assert float(np.mean(sk.draw(20000, rng, train=False, cls=cls) == 1)) == pytest.approx(
        0.99, abs=0.005
    )
    # classes are still drawn by the log of their frequency for training
    classes = sk.combo_class[sk.draw(20000, rng, train=True)]
    assert float(np.mean(classes == 1)) == pytest.approx(
        np.log(6) / (np.log(6) + np.log(101)), abs=0.01
    )
    with pytest.raises(ModelError, match="unknown skeleton weighting"):
        sk.draw(10, rng, train=True, weighting="uniform")


def test_conditional_means_loss_sees_what_the_marginals_hide(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    import torch

    rng = np.random.default_rng(0)
    data = tiny_gan._tensors(tiny_gan.table_.encode(labelled_flows, None))
    cond, real = tiny_gan._batch(data, 400, rng)
    real = torch.cat([real, cond], 1)
    assert float(tiny_gan._conditional_means(real.clone(), real)) == 0.0
    # the same generated rows under shuffled conditions: every column's marginal (and the
    # batch's own joint) is unchanged, only which condition each row goes with differs
    g = tiny_gan.gen_dim_
    perm = torch.from_numpy(rng.permutation(len(real)))
    shuffled = torch.cat([real[perm, :g], real[:, g:]], 1)
    assert float(tiny_gan._conditional_means(shuffled, real)) > 0.5


def test_optional_all_null_and_constant_columns_are_emitted_as_is(
    labelled_flows: pd.DataFrame,
) -> None:
    flows = labelled_flows.assign(latency=np.nan, source_ip="10.9.9.9").drop(
        columns=["label", "root_cause"]
    )
    gan = FlowGAN(**TINY).fit(flows)
    roles = {c.name: c.role for c in gan.schema_.columns}
    assert roles["latency"] == "null" and roles["source_ip"] == "fixed"
    out = gan.sample(50)
    assert out["latency"].isna().all() and (out["source_ip"] == "10.9.9.9").all()
    assert list(out.columns) == list(flows.columns)
    with pytest.raises(ConfigError, match="trained without a root_cause"):
        gan.sample_classes({"port_scan": 3})


def test_checkpoint_is_a_loadable_model(labelled_flows: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    FlowGAN(checkpoint=path, **TINY).fit(labelled_flows)
    assert len(load_gan(path).sample(20)) == 20


def test_written_csv_reads_back_as_canonical_flows(tiny_gan: FlowGAN, tmp_path: Path) -> None:
    from netrca.io import read_flows

    flows = tiny_gan.sample(200)
    write_synthetic(flows, tmp_path / "s.csv")
    read = read_flows(tmp_path / "s.csv")
    assert len(read.flows) == 200 and not len(read.rejects)
    assert read.flows["timestamp"].equals(flows["timestamp"].dt.round("us"))
    # the fast writer writes the bytes pandas writes for the same text frame
    from netrca.synth.source import _text_frame

    expected = _text_frame(flows).to_csv(index=False, lineterminator="\n").encode()
    assert (tmp_path / "s.csv").read_bytes() == expected


def test_weights_that_do_not_fit_the_recorded_architecture_are_refused(
    tiny_gan: FlowGAN, tmp_path: Path
) -> None:
    import json

    import torch

    from netrca.synth.persist import _digest

    path = tmp_path / "gan.pt"
    save_gan(tiny_gan, path)
    blob = torch.load(path, weights_only=True)
    meta = json.loads(bytes(blob.pop("meta").numpy()).decode())
    blob.pop(next(k for k in blob if k.startswith("generator.heads")))
    meta["digest"] = _digest(blob)
    blob["meta"] = torch.frombuffer(bytearray(json.dumps(meta).encode()), dtype=torch.uint8)
    torch.save(blob, path)
    with pytest.raises(ModelError, match=r"do not match the architecture .*1 missing") as err:
        load_gan(path)
    assert "\n" not in str(err.value)


def test_value_projections_see_how_numbers_move_together(
    labelled_flows: pd.DataFrame, tiny_gan: FlowGAN
) -> None:
    import torch

    assert tiny_gan.sw_value_projections == 32 and len(tiny_gan.proxies_) >= 2
    rng = np.random.default_rng(0)
    data = tiny_gan._tensors(tiny_gan.table_.encode(labelled_flows, None))
    cond, real = tiny_gan._batch(data, 400, rng)
    real = torch.cat([real, cond], 1)
    # each number's token block and offset shuffled on its own: every number's marginal
    # is kept, how the numbers go together is lost
    scrambled = real.clone()
    for off, dim, val, _, _ in tiny_gan.proxies_:
        perm = torch.from_numpy(rng.permutation(len(real)))
        cols = [*range(off, off + dim), val]
        scrambled[:, cols] = real[perm][:, cols]

    def parts(fake: torch.Tensor) -> tuple[float, float]:
        """(marginal part, value-projection part) of the loss, as sums over projections."""
        totals = []
        for k in (0, tiny_gan.sw_value_projections):
            torch.manual_seed(1)  # the same random directions over everything
            tiny_gan.sw_value_projections, keep = k, tiny_gan.sw_value_projections
            n_proj = len(tiny_gan.proxies_) + tiny_gan.sw_projections + k
            totals.append(float(tiny_gan._sliced_wasserstein(fake, real)) * n_proj / 10.0)
            tiny_gan.sw_value_projections = keep
        vf, vr = tiny_gan._value_proxies(fake), tiny_gan._value_proxies(real)
        sd = vr.std(dim=0, keepdim=True).clamp_min(1e-3)
        sf, sr = torch.sort(vf / sd, dim=0).values, torch.sort(vr / sd, dim=0).values
        return float(((sf - sr) ** 2).mean(0).sum()), totals[1] - totals[0]

    assert parts(real.clone()) == (0.0, 0.0)
    marginal, joint = parts(scrambled)
    assert marginal < 1e-9 and joint > 0.05


def test_exact_value_tokens_follow_max_exact(labelled_flows: pd.DataFrame) -> None:
    from netrca.synth.encoders import NumericEncoder
    from netrca.synth.table import FlowTable

    def specials(k: int) -> dict[str, int]:
        table = FlowTable(max_exact=k).fit(labelled_flows, seed=0)
        assert table.to_dict()["params"]["max_exact"] == k
        return {
            e.column: len(e.specials)
            for e in table.encoders_
            if isinstance(e, NumericEncoder) and e.scale == "count"
        }

    few, many = specials(8), specials(24)
    assert few and max(few.values()) <= 8 and max(many.values()) <= 24
    assert any(many[c] > few[c] for c in few)  # frequent values beyond the eighth kept exact


def test_model_saved_before_value_projections_and_max_exact_loads_as_trained(
    tiny_gan: FlowGAN, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netrca.synth.table import FlowTable

    params = tiny_gan.get_params()
    old = {k: v for k, v in params.items() if k not in ("sw_value_projections", "max_exact")}
    table_state = tiny_gan.table_.to_dict()
    del table_state["params"]["max_exact"]
    monkeypatch.setattr(tiny_gan, "get_params", lambda: old)
    monkeypatch.setattr(tiny_gan.table_, "to_dict", lambda: table_state)
    path = tmp_path / "old.pt"
    save_gan(tiny_gan, path)
    monkeypatch.undo()
    loaded = load_gan(path)
    assert loaded.sw_value_projections == 0 and loaded.max_exact == 8
    assert loaded.table_.max_exact == 8 and FlowTable.from_dict(table_state).max_exact == 8
    assert _bytes(loaded.sample(300, random_state=1)) == _bytes(
        tiny_gan.sample(300, random_state=1)
    )


def test_negative_value_projections_are_refused(labelled_flows: pd.DataFrame) -> None:
    for bad in (-1, True, 2.5):
        with pytest.raises(ConfigError, match="sw_value_projections"):
            FlowGAN(sw_value_projections=bad, **TINY).fit(labelled_flows)
