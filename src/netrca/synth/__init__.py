"""GAN-generated synthetic flows: encoders, the conditional GAN, baselines, fidelity.

Every name is imported on first use: ``FlowGAN``, ``load_gan`` and ``save_gan`` need
PyTorch (the ``gan`` extra), the metrics and baselines do not.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

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

#: Where each public name lives. Nothing is imported with the package itself, so
#: ``netrca synth`` costs the rest of the CLI nothing (pandas, the encoders) at start-up.
_HOME = {
    "IndependentSampler": "baselines",
    "SmoteSampler": "baselines",
    "TARGETS": "fidelity",
    "ViewSpec": "fidelity",
    "compare": "fidelity",
    "fidelity_report": "fidelity",
    "tstr": "fidelity",
    "FlowTable": "table",
    "TrainingSchema": "table",
    "ValidityRules": "validity",
    "FlowGAN": "gan",
    "SampleResult": "gan",
    "load_gan": "persist",
    "save_gan": "persist",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'netrca.synth' has no attribute {name!r}")
    return getattr(import_module(f"netrca.synth.{home}"), name)
