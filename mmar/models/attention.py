"""Temporal pooling: temporal attention filters and the pooling baselines of the paper's Table 6.

Temporal attention filters (Piergiovanni, Fan & Ryoo, AAAI 2017; ICLR 2019 submission Eq. 2) pool a
sequence of any length T to a fixed N columns: ``F (N, T) @ x (T, C) -> (N, C)``.

Kernels (``kernel=``):

- ``"gaussian"`` (the ICLR text): filter n has a centre ĝ_n and a width parameter ŝ_n;
  ``g_n = 0.5 * T_b * (ĝ_n + 1)`` where ``T_b`` is the number of *valid* steps of sample b,
  ``σ_n = exp(ŝ_n) * T_b / N`` (width relative to the length; the text does not say how σ is
  parameterised, we keep it positive with exp and scale it with the length so a filter covers the
  same fraction of a short and a long sequence),
  ``F[n, t] ∝ exp(-(t - g_n)^2 / (2 σ_n^2))`` normalised over the valid steps of the sample.
  Initialisation (not stated in the paper): centres evenly spread, ``g_n = (n + 0.5) T / N``, width
  ``σ = T / N``.
- ``"cauchy"`` (the authors' later PyTorch TSF layer, ``piergiaj/super-events-cvpr18``):
  ``c_n = (T_b - 1) (tanh(ĉ_n) + 1) / 2``, ``γ_n = exp(1.5 - 2 |tanh(γ̂_n)|)`` (in steps),
  ``F[n, t] ∝ 1 / (1 + ((t - c_n) / γ_n)^2)`` normalised over the valid steps; init as theirs:
  ĉ ~ N(0, 0.5), γ̂ ~ N(0, 1e-4).

Normalisation is a softmax of the log-kernel over valid steps, which equals ``kernel / sum(kernel)``
and never divides by an underflowed zero, even for a very narrow filter.

Decoders use a transposed bank with their own parameters (:class:`TemporalAttentionTranspose`):
``x (T, C) = F^T (T, N) @ y (N, C)``. There F is normalised over the N filters at each output step
(each output step is a weighted average of the N columns), so the output scale does not depend on T;
the ICLR text gives only ``v = F^T v̂`` and does not say how (or whether) the transpose is normalised.

Baseline pooling (Table 6): ``"max"`` and ``"sum"`` over valid steps (C outputs; their decoders
broadcast the vector to every step), ``"lstm"`` (the last hidden state of an LSTM over the valid
steps; its decoder is an LSTM fed the vector at every step, then a linear map to C).
"""

from __future__ import annotations

import math

import torch
from torch import nn

KERNELS = ("gaussian", "cauchy")
POOLINGS = ("attention", "max", "sum", "lstm")


def _lengths(mask: torch.Tensor) -> torch.Tensor:
    """Valid steps per sample, (B,) float, at least 1."""
    return mask.sum(dim=1).clamp(min=1).to(torch.float32)


class _FilterBank(nn.Module):
    """N temporal kernels whose centres and widths are relative to each sample's valid length."""

    def __init__(self, n_filters: int, kernel: str = "gaussian") -> None:
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        if n_filters < 1:
            raise ValueError(f"n_filters must be >= 1, got {n_filters}")
        self.n_filters = n_filters
        self.kernel = kernel
        if kernel == "gaussian":
            centre = -1.0 + (2.0 * torch.arange(n_filters, dtype=torch.float32) + 1.0) / n_filters
            self.centre = nn.Parameter(centre)
            self.width = nn.Parameter(torch.zeros(n_filters))
        else:
            self.centre = nn.Parameter(torch.randn(n_filters) * 0.5)
            self.width = nn.Parameter(torch.randn(n_filters) * 1e-4)

    def centres(self, lengths: torch.Tensor) -> torch.Tensor:
        """Filter centres in steps, (B, N), for valid lengths (B,)."""
        if self.kernel == "gaussian":
            return 0.5 * lengths[:, None] * (self.centre[None, :] + 1.0)
        return (lengths[:, None] - 1.0) * (torch.tanh(self.centre)[None, :] + 1.0) / 2.0

    def widths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Filter widths in steps (σ or γ), (B, N)."""
        if self.kernel == "gaussian":
            return torch.exp(self.width)[None, :] * lengths[:, None] / self.n_filters
        return torch.exp(1.5 - 2.0 * torch.tanh(self.width).abs())[None, :].expand(len(lengths), -1)

    def log_kernel(self, mask: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-kernel (B, N, T); ``-inf`` on padded steps. ``mask`` (B, T) bool."""
        lengths = _lengths(mask)
        t = torch.arange(mask.shape[1], device=mask.device, dtype=torch.float32)
        offset = (t[None, None, :] - self.centres(lengths)[:, :, None]) / self.widths(lengths)[:, :, None]
        if self.kernel == "gaussian":
            log_k = -0.5 * offset**2
        else:
            log_k = -torch.log1p(offset**2)
        return log_k.masked_fill(~mask[:, None, :], -math.inf)

    def filters(self, mask: torch.Tensor) -> torch.Tensor:
        """Filters F (B, N, T), each row summing to 1 over the valid steps, 0 on padding."""
        return torch.softmax(self.log_kernel(mask), dim=2)


class TemporalAttention(_FilterBank):
    """Encoder side: ``x (B, T, C), mask (B, T) -> (B, N, C)``, ``out[b, n] = sum_t F[b, n, t] x[b, t]``."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.filters(mask), x)


class TemporalAttentionTranspose(_FilterBank):
    """Decoder side: ``y (B, N, C), mask (B, T) -> (B, T, C)``, ``out[b, t] = sum_n W[b, t, n] y[b, n]``.

    ``W`` is the transposed kernel normalised over the N filters at each step (zero on padding).
    """

    def weights(self, mask: torch.Tensor) -> torch.Tensor:
        """The transposed, per-step normalised kernel W (B, T, N); rows of padded steps are 0."""
        log_k = self.log_kernel(mask).transpose(1, 2)  # (B, T, N)
        return torch.softmax(log_k.masked_fill(~mask[:, :, None], 0.0), dim=2) * mask[:, :, None]

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.weights(mask), y)


class MaskedPool(nn.Module):
    """Max or sum over valid steps: ``x (B, T, C), mask (B, T) -> (B, 1, C)``."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in ("max", "sum"):
            raise ValueError(f"mode must be 'max' or 'sum', got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "max":
            return x.masked_fill(~mask[:, :, None], -math.inf).amax(dim=1, keepdim=True)
        return (x * mask[:, :, None]).sum(dim=1, keepdim=True)


class Broadcast(nn.Module):
    """Decoder of max/sum pooling: ``y (B, 1, C), mask (B, T) -> (B, T, C)``, zero on padding."""

    def weights(self, mask: torch.Tensor) -> torch.Tensor:
        """W (B, T, 1): 1 on valid steps, so that the output is ``W @ y``."""
        return mask[:, :, None].to(torch.float32)

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.weights(mask), y)


class LSTMPool(nn.Module):
    """Last hidden state of an LSTM over the valid steps: ``(B, T, C), (B, T) -> (B, 1, H)``."""

    def __init__(self, in_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden_dim, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return h[-1][:, None, :]


class LSTMUnpool(nn.Module):
    """Decoder of LSTM pooling: an LSTM fed ``y`` at every step, then linear to C: ``(B, 1, H) -> (B, T, C)``."""

    def __init__(self, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(hidden_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, out_dim)

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(y.expand(-1, mask.shape[1], -1).contiguous())
        return self.out(h) * mask[:, :, None]


def make_pool(pooling: str, in_dim: int, *, n_filters: int, kernel: str, hidden_dim: int) -> tuple[nn.Module, int, int]:
    """Encoder-side pooling module -> (module, n_columns, column_dim) of its (B, n_columns, column_dim) output."""
    if pooling == "attention":
        return TemporalAttention(n_filters, kernel), n_filters, in_dim
    if pooling in ("max", "sum"):
        return MaskedPool(pooling), 1, in_dim
    if pooling == "lstm":
        return LSTMPool(in_dim, hidden_dim), 1, hidden_dim
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def make_unpool(pooling: str, out_dim: int, *, n_filters: int, kernel: str, hidden_dim: int) -> tuple[nn.Module, int, int]:
    """Decoder-side inverse of :func:`make_pool` -> (module, n_columns, column_dim) of its (B, n, d) input."""
    if pooling == "attention":
        return TemporalAttentionTranspose(n_filters, kernel), n_filters, out_dim
    if pooling in ("max", "sum"):
        return Broadcast(), 1, out_dim
    if pooling == "lstm":
        return LSTMUnpool(hidden_dim, out_dim), 1, hidden_dim
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
