"""netrca: find anomalies in network flow logs and explain their root cause."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
