"""Small fitted GANs shared by the synth tests (tiny networks, few steps: fast)."""

from __future__ import annotations

import pandas as pd
import pytest

from netrca.simulate import Scenario, simulate
from netrca.synth.gan import FlowGAN

TINY = {
    "max_steps": 30,
    "batch_size": 100,
    "noise_dim": 16,
    "generator_dims": (32,),
    "critic_dims": (32,),
    "eval_every": 10,
    "eval_rows": 200,
    "sw_projections": 8,
    "n_threads": 1,
}


@pytest.fixture(scope="session")
def labelled_flows() -> pd.DataFrame:
    """About 600 simulated flows with every anomaly category (seed 3)."""
    return simulate(Scenario(n_flows=600), seed=3)


@pytest.fixture(scope="session")
def tiny_gan(labelled_flows: pd.DataFrame) -> FlowGAN:
    """A tiny GAN fitted on the labelled flows (seed 0)."""
    return FlowGAN(random_state=0, **TINY).fit(labelled_flows)
