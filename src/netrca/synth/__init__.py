"""GAN-generated synthetic flows: encoders, the conditional GAN, baselines, fidelity.

``FlowGAN``, ``load_gan`` and ``save_gan`` need PyTorch (the ``gan`` extra) and are
imported on first use, so the metrics and baselines work without it.
"""

from __future__ import annotations

from typing import Any

from netrca.synth.baselines import IndependentSampler, SmoteSampler
from netrca.synth.fidelity import TARGETS, ViewSpec, compare, fidelity_report, tstr
from netrca.synth.table import FlowTable, TrainingSchema
from netrca.synth.validity import ValidityRules

__all__ = [
    "TARGETS",
    "FlowGAN",
    "FlowTable",
    "IndependentSampler",
    "SampleResult",
    "SmoteSampler",
    "TrainingSchema",
    "ValidityRules",
    "ViewSpec",
    "compare",
    "fidelity_report",
    "load_gan",
    "save_gan",
    "tstr",
]


def __getattr__(name: str) -> Any:
    if name in ("FlowGAN", "SampleResult"):
        from netrca.synth import gan

        return getattr(gan, name)
    if name in ("load_gan", "save_gan"):
        from netrca.synth import persist

        return getattr(persist, name)
    raise AttributeError(f"module 'netrca.synth' has no attribute {name!r}")
