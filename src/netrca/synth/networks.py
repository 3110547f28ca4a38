"""The generator and the (PacGAN) critic of the conditional tabular GAN."""

from __future__ import annotations

from netrca.synth._torch import require_torch

require_torch()  # a clear error naming the 'gan' extra when PyTorch is missing

import torch  # noqa: E402
from torch import nn  # noqa: E402

__all__ = ["Critic", "Generator"]


class _Residual(nn.Module):
    """Linear -> LayerNorm -> ReLU, concatenated with its input."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.norm = nn.LayerNorm(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.norm(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    """Noise + condition -> raw outputs (logits and offsets) for every span."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = n_in
        for h in hidden:
            layers.append(_Residual(dim, h))
            dim += h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dim, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Critic(nn.Module):
    """Wasserstein critic that scores ``pac`` rows at a time (PacGAN)."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], pac: int) -> None:
        super().__init__()
        self.pac = pac
        self.n_in = n_in
        layers: list[nn.Module] = []
        dim = n_in * pac
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            dim = h
        layers.append(nn.Linear(dim, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, self.n_in * self.pac))

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """WGAN-GP penalty on random interpolates, one mixing weight per pac group."""
        groups = real.shape[0] // self.pac
        alpha = torch.rand(groups, 1, 1).expand(groups, self.pac, real.shape[1])
        alpha = alpha.reshape(-1, real.shape[1])
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        out = self(mixed)
        grad = torch.autograd.grad(out.sum(), mixed, create_graph=True)[0]
        norm = grad.reshape(-1, self.n_in * self.pac).norm(2, dim=1)
        return ((norm - 1.0) ** 2).mean()
