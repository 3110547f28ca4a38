"""The generator and the (PacGAN) critic of the conditional tabular GAN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from netrca.synth._torch import require_torch

require_torch()  # a clear error naming the 'gan' extra when PyTorch is missing

import torch  # noqa: E402
from torch import nn  # noqa: E402

__all__ = ["Critic", "Generator"]

#: Span kinds the generator produces (see :class:`netrca.synth.encoders.Span`).
SpanSpec = tuple[str, int]  # (kind, dim)


class Generator(nn.Module):
    """Noise + condition -> every generated span, one head per span in order.

    A residual trunk reads the noise and the condition. Each span then gets its own
    head, which sees the trunk's features, the condition itself and a running embedding
    of the spans already produced, so later columns are generated *given* earlier ones
    (bytes received given bytes sent, ...). Tokens and bits are exact one-hots / 0-1
    values in the forward pass (argmax / sign) with softmax / sigmoid gradients
    (straight-through), so all randomness comes from the noise vector and dependent
    columns stay dependent.
    """

    def __init__(
        self,
        n_noise: int,
        n_cond: int,
        hidden: tuple[int, ...],
        spans: Sequence[SpanSpec],
        *,
        context: int = 64,
        tau: float = 0.2,
    ) -> None:
        super().__init__()
        width = hidden[0]
        self.n_noise = n_noise
        self.inp = nn.Linear(n_noise + n_cond, width)
        self.norm_in = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in hidden[1:])
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in hidden[1:])
        self.kinds = [k for k, _ in spans]
        self.dims = [d for _, d in spans]
        # every head reads [trunk features, condition] (one matmul for all heads) plus the
        # running context of the spans already produced (one small matmul per head)
        self.base = nn.Linear(width + n_cond, sum(self.dims))
        self.heads = nn.ModuleList(nn.Linear(context, d, bias=False) for d in self.dims)
        self.embeds = nn.ModuleList(nn.Linear(d, context, bias=False) for d in self.dims)
        self.context = context
        self.tau = tau

    def _activate(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        if kind == "tanh":
            return torch.tanh(x)
        if not torch.is_grad_enabled():  # sampling: the exact values only
            if kind == "softmax":
                return torch.zeros_like(x).scatter_(1, x.argmax(1, keepdim=True), 1.0)
            return (x > 0).to(x.dtype)
        if kind == "softmax":
            soft = torch.softmax(x / self.tau, dim=1)
            hard = torch.zeros_like(soft).scatter_(1, soft.argmax(1, keepdim=True), 1.0)
        else:
            soft = torch.sigmoid(x / self.tau)
            hard = (x > 0).to(soft.dtype)
        return hard - soft.detach() + soft

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Every head's share of the trunk's features and the condition."""
        cond = x[:, self.n_noise :]
        if torch.is_grad_enabled():
            h = torch.relu(self.norm_in(self.inp(x)))
            for block, norm in zip(self.blocks, self.norms, strict=True):
                h = h + torch.relu(norm(block(h)))
        else:  # the same values in place: no new buffer per step
            h = self.norm_in(self.inp(x)).relu_()
            for block, norm in zip(self.blocks, self.norms, strict=True):
                h = h.add_(norm(block(h)).relu_())
        return cast(torch.Tensor, self.base(torch.cat([h, cond], dim=1)))

    def _walk(
        self,
        x: torch.Tensor,
        adjust: dict[int, tuple[torch.Tensor, float, torch.Tensor]] | None,
        stop: int | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | torch.Tensor:
        """The sampling pass (no gradients): per head its tokens, values or bits, or head
        ``stop``'s logits (the earlier heads adjusted, not it) once it is reached."""
        base = self._trunk(x)
        ctx = base.new_zeros(base.shape[0], self.context)
        codes: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        bits: list[torch.Tensor] = []
        off = 0
        for i, (kind, dim, head, embed) in enumerate(
            zip(self.kinds, self.dims, self.heads, self.embeds, strict=True)
        ):
            logits = base[:, off : off + dim] + head(ctx)
            if i == stop:
                return logits
            if adjust and i in adjust:
                rows, scale, shift = adjust[i]
                logits = torch.where(rows, logits * scale + shift, logits)
            if kind == "softmax":  # a one-hot's embedding is that token's weight column
                # (numpy's argmax along rows is several times torch's; same first maximum)
                pick = torch.from_numpy(logits.numpy().argmax(1))
                codes.append(pick)
                weight = cast(torch.Tensor, embed.weight).t().contiguous()
                ctx.add_(weight.index_select(0, pick))
            else:
                out = torch.tanh(logits) if kind == "tanh" else (logits > 0).to(logits.dtype)
                (values if kind == "tanh" else bits).append(out)
                ctx.add_(embed(out))
            off += dim
        return codes, values, bits

    def draw(
        self,
        x: torch.Tensor,
        adjust: dict[int, tuple[torch.Tensor, float, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sampling (no gradients): the softmax heads' tokens (int64, one column per
        head), the tanh heads' values (float64) and the bits (0/1 float32) of the
        forward pass's outputs, without building its one-hots.

        ``adjust[i] = (rows, scale, shift)`` replaces head ``i``'s logits on the rows in
        the boolean mask ``rows`` (n, 1) by ``logits * scale + shift`` before its token
        is picked (the token calibration's offsets and Gumbel noise, see
        :class:`~netrca.synth.calibrate.TokenCalibrator`), so later heads see that token.
        """
        codes, values, bits = cast(tuple[list[torch.Tensor], ...], self._walk(x, adjust))
        n = x.shape[0]
        return (
            torch.stack(codes, 1) if codes else torch.zeros(n, 0, dtype=torch.int64),
            torch.cat(values, 1).double() if values else torch.zeros(n, 0, dtype=torch.float64),
            torch.cat(bits, 1) if bits else torch.zeros(n, 0),
        )

    def head_logits(
        self,
        x: torch.Tensor,
        head: int,
        adjust: dict[int, tuple[torch.Tensor, float, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Sampling (no gradients): head ``head``'s logits, given the tokens the heads
        before it drew (with ``adjust`` as in :meth:`draw`; its own not applied)."""
        if not 0 <= head < len(self.kinds):
            raise ValueError(f"no head {head}: the generator has {len(self.kinds)}")
        return cast(torch.Tensor, self._walk(x, adjust, head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` = noise then condition; returns the spans' outputs side by side (with
        gradients, straight-through one-hots and bits: training; sampling uses
        :meth:`draw`, which gives the same tokens, values and bits)."""
        base = self._trunk(x)
        ctx = base.new_zeros(base.shape[0], self.context)
        outs = []
        off = 0
        for kind, dim, head, embed in zip(
            self.kinds, self.dims, self.heads, self.embeds, strict=True
        ):
            out = self._activate(kind, base[:, off : off + dim] + head(ctx))
            ctx = ctx + embed(out)
            outs.append(out)
            off += dim
        return torch.cat(outs, dim=1)


class Critic(nn.Module):
    """Wasserstein critic that scores ``pac`` rows at a time (PacGAN)."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], pac: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.pac = pac
        self.n_in = n_in
        layers: list[nn.Module] = []
        dim = n_in * pac
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(nn.Dropout(dropout))
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
