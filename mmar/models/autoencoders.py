"""Encoders and decoders of the video and text autoencoders (ICLR 2019 submission §3.1, Fig. 1).

Encoder: temporal pooling (attention filters or a baseline, :mod:`mmar.models.attention`) ->
flatten the (N, C) columns -> 4 fully connected layers -> L2 normalisation (unit-length embedding).
Decoder: the mirror: 4 fully connected layers from the embedding to N x C -> the transposed pooling
back to the requested length. "Weights transposed" in the paper is read as a mirrored layout with
its own (untied) weights. Widths, activation and the embedding size are not stated in the paper:
they are constructor arguments (defaults in :class:`mmar.training.TrainConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmar.models.attention import TemporalAttention, make_pool, make_unpool

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}
#: Arithmetic of the fully connected layers: ``"float32"``, or ``"bf16"`` (their matrix products and
#: activations in bfloat16 through ``torch.autocast``, inputs and outputs float32). Pooling, losses,
#: normalisation and parameters stay float32 in both.
PRECISIONS = {"float32": None, "bf16": torch.bfloat16}


def mlp(dims: list[int], activation: str) -> nn.Sequential:
    """Linear layers ``dims[0] -> ... -> dims[-1]`` with ``activation`` between them (none after the last)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def checked_precision(precision: str) -> str:
    """``precision`` if it is a key of :data:`PRECISIONS`, else a ValueError naming the valid ones."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision


def run_fc(fc: nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    """``fc(x)`` in ``precision`` (a key of :data:`PRECISIONS`); the output is float32, shape as ``fc``'s."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return fc(x)
    with torch.autocast(x.device.type, dtype=dtype):
        return fc(x).float()


@dataclass
class Decoded:
    """A decoder's output kept factorised when the decoder is linear in its columns.

    ``columns`` (B, n, d) are the FC outputs; for attention and broadcast decoders the sequence is
    ``weights (B, T, n) @ columns`` and is only materialised by :meth:`dense` (the losses and the
    encoders work on the factors, which avoids (B, T, C) tensors for 1024-d video); for the LSTM
    decoder ``values`` (B, T, C) holds the sequence.
    """

    columns: torch.Tensor
    weights: torch.Tensor | None = None
    values: torch.Tensor | None = None

    def dense(self) -> torch.Tensor:
        """The decoded sequence (B, T, C)."""
        if self.values is not None:
            return self.values
        return torch.bmm(self.weights, self.columns)


class SequenceEncoder(nn.Module):
    """``x (B, T, C), mask (B, T) -> z (B, E)`` with ``|z| = 1``."""

    def __init__(self, in_dim: int, embed_dim: int, hidden_dim: int, *, pooling: str = "attention", n_filters: int = 4,
                 kernel: str = "gaussian", activation: str = "relu", n_layers: int = 4, precision: str = "float32") -> None:
        super().__init__()
        self.precision = checked_precision(precision)
        self.pool, n_cols, col_dim = make_pool(pooling, in_dim, n_filters=n_filters, kernel=kernel, hidden_dim=hidden_dim)
        self.fc = mlp([n_cols * col_dim] + [hidden_dim] * (n_layers - 1) + [embed_dim], activation)
        # input standardisation (x - shift) / scale per channel; identity unless set from training data
        self.register_buffer("shift", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if isinstance(self.pool, TemporalAttention):
            # Each filter sums to 1 over the valid steps, so F((x - s) / σ) = (F x - s) / σ: standardise
            # the (B, N, C) columns instead of the (B, T, C) input (the same value, a fraction of the work).
            return self.embed((self.pool(x, mask) - self.shift) / self.scale)
        return self.embed(self.pool((x - self.shift) / self.scale, mask))

    def embed(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled columns (B, n, d) -> unit embedding (B, E)."""
        return F.normalize(run_fc(self.fc, pooled.flatten(1), self.precision), dim=1)

    def encode_decoded(self, decoded: Decoded, mask: torch.Tensor) -> torch.Tensor:
        """Same as ``forward(decoded.dense(), mask)``; with attention pooling of a factorised
        sequence it computes ``(F @ W) @ columns`` instead, never forming the (B, T, C) tensor."""
        if decoded.weights is not None:  # rows of W sum to 1 on valid steps: standardise the columns
            decoded = Decoded((decoded.columns - self.shift) / self.scale, weights=decoded.weights)
        else:
            decoded = Decoded(decoded.columns, values=(decoded.values - self.shift) / self.scale)
        return self.embed(pool_decoded(self.pool, decoded, mask))


class SequenceDecoder(nn.Module):
    """``z (B, E), mask (B, T) -> x (B, T, C)``; the mask gives each sample's output length (zeros beyond)."""

    def __init__(self, out_dim: int, embed_dim: int, hidden_dim: int, *, pooling: str = "attention", n_filters: int = 4,
                 kernel: str = "gaussian", activation: str = "relu", n_layers: int = 4, precision: str = "float32") -> None:
        super().__init__()
        self.precision = checked_precision(precision)
        self.unpool, self.n_cols, self.col_dim = make_unpool(pooling, out_dim, n_filters=n_filters, kernel=kernel,
                                                             hidden_dim=hidden_dim)
        self.fc = mlp([embed_dim] + [hidden_dim] * (n_layers - 1) + [self.n_cols * self.col_dim], activation)
        # output de-standardisation y * scale + shift per channel; identity unless set from training data
        self.register_buffer("shift", torch.zeros(out_dim))
        self.register_buffer("scale", torch.ones(out_dim))

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.decode(z, mask).dense()

    def decode(self, z: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None) -> Decoded:
        """``z (B, E), mask (B, T)`` -> the factorised output (see :class:`Decoded`); ``weights`` reuses
        an already computed ``unpool.weights(mask)``."""
        columns = run_fc(self.fc, z, self.precision).view(len(z), self.n_cols, self.col_dim)
        if hasattr(self.unpool, "weights"):  # W's rows sum to 1 on valid steps: de-standardise the columns
            return Decoded(columns * self.scale + self.shift,
                           weights=self.unpool.weights(mask) if weights is None else weights)
        values = self.unpool(columns, mask) * self.scale + self.shift
        return Decoded(columns, values=values * mask[:, :, None])


def pool_decoded(pool: nn.Module, decoded: Decoded, mask: torch.Tensor) -> torch.Tensor:
    """``pool(decoded.dense(), mask)``, computed on the factors when ``pool`` is attention (B, n, d)."""
    if isinstance(pool, TemporalAttention) and decoded.weights is not None:
        return torch.bmm(torch.bmm(pool.filters(mask), decoded.weights), decoded.columns)
    return pool(decoded.dense(), mask)


def length_mask(length: int | torch.Tensor, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A (B, T) bool mask from an int length (all samples) or per-sample lengths (B,) (T = max length)."""
    if isinstance(length, int):
        return torch.ones(batch, length, dtype=torch.bool, device=device)
    length = torch.as_tensor(length, device=device)
    if length.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(length.shape)}")
    return torch.arange(int(length.max()), device=device)[None, :] < length[:, None]


class MultimodalAutoencoder(nn.Module):
    """The four networks E_V, E_T, G_V, G_T of the paper.

    ``encode_video(v (B, T, C), mask (B, T)) -> (B, E)``, ``encode_text(t (B, L, D), mask (B, L)) -> (B, E)``,
    ``decode_video(z (B, E), length) -> (B, T, C)``, ``decode_text(z, length) -> (B, L, D)``, where
    ``length`` is an int, per-sample lengths (B,), or a (B, T) bool mask. ``n_filters`` is N of both
    encoders and the video decoder; ``text_decoder_filters`` N of the text decoder (None: ``n_filters``);
    ``precision`` the arithmetic of the fully connected layers (:data:`PRECISIONS`).
    """

    def __init__(self, video_dim: int, text_dim: int, *, embed_dim: int, hidden_dim: int, pooling: str = "attention",
                 n_filters: int = 4, kernel: str = "gaussian", activation: str = "relu",
                 text_decoder_filters: int | None = None, precision: str = "float32") -> None:
        super().__init__()
        kw = dict(embed_dim=embed_dim, hidden_dim=hidden_dim, pooling=pooling, n_filters=n_filters, kernel=kernel,
                  activation=activation, precision=precision)
        self.video_dim = video_dim
        self.text_dim = text_dim
        self.video_encoder = SequenceEncoder(video_dim, **kw)
        self.text_encoder = SequenceEncoder(text_dim, **kw)
        self.video_decoder = SequenceDecoder(video_dim, **kw)
        self.text_decoder = SequenceDecoder(text_dim, **{**kw, "n_filters": text_decoder_filters or n_filters})

    def set_standardization(self, kind: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Make the ``kind`` ("video" | "text") encoder see ``(x - mean) / std`` and its decoder
        output ``y * std + mean`` (per channel, (C,)); inputs and outputs stay in data units."""
        std = torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-6)
        mean = torch.as_tensor(mean, dtype=torch.float32)
        encoder, decoder = ((self.video_encoder, self.video_decoder) if kind == "video"
                            else (self.text_encoder, self.text_decoder))
        for module in (encoder, decoder):
            module.shift.copy_(mean)
            module.scale.copy_(std)

    def encode_video(self, video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.video_encoder(video, mask)

    def encode_text(self, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(text, mask)

    def _mask(self, z: torch.Tensor, length: int | torch.Tensor) -> torch.Tensor:
        if isinstance(length, torch.Tensor) and length.dtype == torch.bool:
            return length
        return length_mask(length, len(z), z.device)

    def decode_video(self, z: torch.Tensor, length: int | torch.Tensor) -> torch.Tensor:
        return self.video_decoder(z, self._mask(z, length))

    def decode_text(self, z: torch.Tensor, length: int | torch.Tensor) -> torch.Tensor:
        return self.text_decoder(z, self._mask(z, length))
