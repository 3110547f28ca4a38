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
    _set_deterministic(torch, True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        _set_deterministic(torch, deterministic)


def _set_deterministic(torch: Any, mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode)`` for eager CPU code.

    The public function also sets a flag of the ``torch.compile`` backend, importing it
    (about 6 s); netrca does not compile, so only the underlying switch is set.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - other torch versions
        torch.use_deterministic_algorithms(mode)
    else:
        setter(mode, warn_only=False)
