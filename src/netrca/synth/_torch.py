"""Import PyTorch (the ``gan`` extra) with an error that says how to install it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from netrca.errors import ConfigError

__all__ = ["require_torch", "torch_settings"]


def require_torch() -> Any:
    """The ``torch`` module, or a :class:`ConfigError` naming the extra to install."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in development
        raise ConfigError(
            "the GAN needs PyTorch: install the 'gan' extra, e.g. pip install 'netrca[gan]'"
        ) from exc
    return torch


@contextlib.contextmanager
def torch_settings(n_threads: int) -> Iterator[None]:
    """Run with a fixed thread count and deterministic algorithms, then restore both."""
    torch = require_torch()
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(n_threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
