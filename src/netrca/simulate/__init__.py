"""Scenario-driven labelled traffic: a normal profile plus one injector per anomaly category."""

from __future__ import annotations

from netrca.simulate.injectors import INJECTORS
from netrca.simulate.scenario import DEFAULT_INCIDENTS, Scenario, simulate, to_zeek, write_flows

__all__ = ["DEFAULT_INCIDENTS", "INJECTORS", "Scenario", "simulate", "to_zeek", "write_flows"]
