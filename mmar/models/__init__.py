"""The paper's networks: temporal pooling (:mod:`.attention`), the video/text autoencoders
(:mod:`.autoencoders`) and the discriminators (:mod:`.discriminators`)."""

from mmar.models.attention import TemporalAttention, TemporalAttentionTranspose
from mmar.models.autoencoders import MultimodalAutoencoder, SequenceDecoder, SequenceEncoder
from mmar.models.discriminators import Discriminators

__all__ = ["TemporalAttention", "TemporalAttentionTranspose", "MultimodalAutoencoder", "SequenceEncoder",
           "SequenceDecoder", "Discriminators"]
