"""GAN-generated flows as a pipeline input (``netrca run --synthetic gan``) and as files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from netrca.errors import ConfigError, NetrcaError
from netrca.io import ReadResult
from netrca.io.canonical import canonicalize
from netrca.io.csvwrite import write_csv_fast
from netrca.io.writers import atomic_path

if TYPE_CHECKING:
    from netrca.synth.gan import FlowGAN

__all__ = [
    "SYNTHETIC_SOURCES",
    "class_mix",
    "gan_flows",
    "synthetic_flows",
    "to_canonical",
    "write_synthetic",
]

#: Values accepted by ``netrca run --synthetic``.
SYNTHETIC_SOURCES: tuple[str, ...] = ("gan",)
_BENIGN = "normal"


def class_mix(gan: FlowGAN, n: int, anomalies: Mapping[str, int]) -> dict[str, int]:
    """``n`` flows in all: the listed anomaly counts, the rest of the benign class."""
    cond = gan.table_.condition_
    if cond is None:
        raise ConfigError(
            "this model was trained without a root_cause column, so it cannot generate "
            "labelled anomalies; train it on labelled flows (e.g. `netrca simulate`)"
        )
    known = gan.table_.condition_values_
    unknown = sorted(set(anomalies) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown {cond} value(s) {', '.join(unknown)}; this model knows {', '.join(known)}"
        )
    rest = n - sum(v for k, v in anomalies.items() if k != _BENIGN)
    if rest < 0:
        raise ConfigError(f"the anomalies ({sum(anomalies.values())} flows) exceed -n {n}")
    if rest and _BENIGN not in known:
        raise ConfigError(f"the model has no {_BENIGN!r} class to fill the other {rest} flows")
    counts = {k: v for k, v in anomalies.items() if k != _BENIGN}
    if rest:
        counts[_BENIGN] = rest
    return counts


def _text_frame(flows: pd.DataFrame) -> pd.DataFrame:
    out = flows.copy()
    if "timestamp" in out and isinstance(out["timestamp"].dtype, pd.DatetimeTZDtype):
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return out


def write_synthetic(flows: pd.DataFrame, path: str | Path, fmt: str = "csv") -> None:
    """Write generated flows atomically as canonical CSV or Parquet."""
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"unknown output format {fmt!r}; choose csv or parquet")
    with atomic_path(path) as tmp:
        if fmt == "csv":  # pandas' bytes, rendered by Arrow on two threads
            with Path(tmp).open("wb") as fh:
                write_csv_fast(_text_frame(flows), fh)
        else:
            flows.to_parquet(tmp, index=False)


def to_canonical(flows: pd.DataFrame, source: str, fmt: str) -> ReadResult:
    """Pass generated (or simulated) flows through the same validation as files."""
    frame = _text_frame(flows)
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    result = canonicalize(frame, lines, lambda idx: [""] * len(idx), source, fmt)
    if len(result.rejects):
        raise NetrcaError(
            f"{source}: {len(result.rejects)} generated rows are invalid, e.g. "
            f"{result.rejects['reason'].iloc[0]}"
        )
    return result


def gan_flows(
    *,
    model: str | Path | None,
    n_flows: int,
    seed: int,
    gan_params: Mapping[str, Any] | None = None,
) -> tuple[ReadResult, dict[str, Any]]:
    """Flows for a pipeline run from a saved GAN, or from one fitted on simulated traffic.

    Returns the canonical flows and the ``fidelity.json`` content: the full fidelity
    report (with both baselines) when the GAN is fitted here on simulated flows, or
    marginal metrics against the model's stored training histograms for a saved model.
    """
    from netrca.simulate import Scenario, simulate
    from netrca.synth.fidelity import fidelity_file, fidelity_from_reference, fidelity_report
    from netrca.synth.gan import FlowGAN
    from netrca.synth.persist import load_gan

    if model is not None:
        gan = load_gan(model)
        result = gan.sample_result(n_flows, random_state=seed)
        fidelity = fidelity_from_reference(gan.reference_, result.flows)
        fidelity["metrics"]["raw_validity"] = result.raw_validity
        source = f"gan({Path(model).name}, seed={seed})"
    else:
        real = to_canonical(
            simulate(Scenario(n_flows=n_flows), seed=seed), f"simulated(seed={seed})", "simulated"
        ).flows
        gan = FlowGAN(random_state=seed, **dict(gan_params or {})).fit(real)
        result = gan.sample_result(n_flows, random_state=seed)
        fidelity = fidelity_file(fidelity_report(real, gan, n=n_flows, seed=seed, sample=result))
        source = f"gan(fitted on simulated(seed={seed}), seed={seed})"
    return to_canonical(result.flows, source, "gan"), fidelity


def synthetic_flows(
    kind: str,
    input_path: str | Path | None,
    *,
    model: str | Path | None,
    n_flows: int,
    seed: int,
    gan_params: Mapping[str, Any] | None = None,
) -> tuple[ReadResult, dict[str, Any]]:
    """The pipeline's entry point for ``--synthetic KIND``."""
    if kind not in SYNTHETIC_SOURCES:
        raise ConfigError(
            f"unknown synthetic source {kind!r}; choose one of {', '.join(SYNTHETIC_SOURCES)}"
        )
    if input_path is not None:
        raise ConfigError("--synthetic generates the flows; do not also give --input")
    return gan_flows(model=model, n_flows=n_flows, seed=seed, gan_params=gan_params)
