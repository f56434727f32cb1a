"""The three discriminators of §3.2 (ICLR 2019 submission): D_z, D_V, D_T.

The paper does not describe their architecture. Ours (recorded in the report):

- D_z (text vs video embeddings): an MLP ``E -> hidden -> hidden -> 1`` (LeakyReLU 0.2).
- D_V / D_T (real vs generated feature / word sequences): the same temporal pooling as the encoders
  (own parameters), flatten, then the same MLP shape. They output one logit per sample; the
  probability is its sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn

from mmar.models.attention import make_pool
from mmar.models.autoencoders import Decoded, mlp, pool_decoded


class EmbeddingDiscriminator(nn.Module):
    """D_z: ``z (B, E) -> logit (B,)`` (text -> 1, video -> 0 in Eq. 7)."""

    def __init__(self, embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = mlp([embed_dim, hidden_dim, hidden_dim, 1], "leaky_relu")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)[:, 0]


class SequenceDiscriminator(nn.Module):
    """D_V or D_T: ``x (B, T, C)`` (or a factorised :class:`Decoded`), ``mask (B, T) -> logit (B,)``
    (real -> 1, generated -> 0)."""

    def __init__(self, in_dim: int, hidden_dim: int, *, pooling: str = "attention", n_filters: int = 4,
                 kernel: str = "gaussian") -> None:
        super().__init__()
        self.pool, n_cols, col_dim = make_pool(pooling, in_dim, n_filters=n_filters, kernel=kernel, hidden_dim=hidden_dim)
        self.net = mlp([n_cols * col_dim, hidden_dim, hidden_dim, 1], "leaky_relu")

    def forward(self, x: torch.Tensor | Decoded, mask: torch.Tensor) -> torch.Tensor:
        pooled = pool_decoded(self.pool, x, mask) if isinstance(x, Decoded) else self.pool(x, mask)
        return self.net(pooled.flatten(1))[:, 0]


class Discriminators(nn.Module):
    """The three discriminators together: ``z`` (D_z), ``video`` (D_V), ``text`` (D_T)."""

    def __init__(self, video_dim: int, text_dim: int, embed_dim: int, hidden_dim: int, *, pooling: str = "attention",
                 n_filters: int = 4, kernel: str = "gaussian") -> None:
        super().__init__()
        self.z = EmbeddingDiscriminator(embed_dim, hidden_dim)
        self.video = SequenceDiscriminator(video_dim, hidden_dim, pooling=pooling, n_filters=n_filters, kernel=kernel)
        self.text = SequenceDiscriminator(text_dim, hidden_dim, pooling=pooling, n_filters=n_filters, kernel=kernel)
