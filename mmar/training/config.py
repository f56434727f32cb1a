"""Every training choice in one frozen dataclass, :class:`TrainConfig` (ICLR 2019 submission §3, Alg. 1, §4.1).

Paper values are marked (paper); the rest are ours where the paper is silent. The report lists them
(``report/open_choices.yaml``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mmar.losses import ADVERSARIAL_FORMS, REDUCTIONS
from mmar.models.attention import KERNELS, POOLINGS
from mmar.models.autoencoders import ACTIVATIONS, PRECISIONS
from mmar.typed_fields import field_problems

LOSS_TERMS = ("joint", "recons", "cross", "cycle", "adv", "recons_video", "recons_text")
UNPAIRED_TERMS = ("recons", "cycle", "adv")
FIXED_TEXT = "fixed_text"
CHECKPOINT = "checkpoint.pt"
CONFIG_FILE = "config.json"
HISTORY_FILE = "losses.csv"
#: The smallest value each numeric field of :class:`TrainConfig` takes (``unpaired_fraction`` is checked to lie in [0, 1]).
TRAIN_MINIMUMS = {"n_filters": 1, "text_decoder_filters": 1, "embed_dim": 1, "hidden_dim": 1, "lambda_joint": 0,
                  "lambda_cross": 0, "lambda_cycle": 0, "lambda_adv": 0, "batch_size": 2, "epochs": 0, "lr": 0,
                  "momentum": 0, "lr_step_epochs": 1, "pretrain_epochs": 0, "max_frames": 1, "max_words": 1, "seed": 0,
                  "num_threads": 1, "cache_mb": 0}


@dataclass(frozen=True)
class TrainConfig:
    """Every training choice. Paper values are marked (paper); the rest are ours (the paper is silent).

    losses: Eq. 6/8 terms, a subset of ``LOSS_TERMS`` (``recons_video`` / ``recons_text``: one half of
        Eq. 1, to train one autoencoder alone); or ``("fixed_text",)`` for the Otani et al. baseline.
    unpaired_terms: the terms the unpaired rows serve, subset of ``("recons", "cycle", "adv")``; a term
        also has to be in ``losses`` to be used. Default all three (Algorithm 1: reconstruction and
        cycle need no pairs, the adversarial rows add Eq. 8 on unpaired batches).
    pooling / kernel / n_filters: temporal pooling (paper: attention filters, N = 4, Gaussian; see
        :mod:`mmar.models.attention`) of both encoders and of the video decoder.
    text_decoder_filters: N of the text decoder's transposed attention bank (None: ``n_filters``, the
        literal mirror of the encoder). Ours: 12. Each output word is a blend of the decoder's N
        columns, so with N = 4 a 13-word sentence comes back as about 4 words repeated; notebook 04
        compares both (word accuracy and the best fit any N-column output can reach).
    embed_dim / hidden_dim / activation: embedding size, width of the 3 hidden FC layers (and of the
        discriminators), non-linearity. Ours: 128 / 256 / relu (chosen for speed on 2 CPU cores).
    lambda_joint / lambda_cross / lambda_cycle: λ1-λ3 of Eq. 6; lambda_adv weighs Eq. 8. Ours: 1.
    recon_reduction: how squared errors of sequences are reduced (:func:`mmar.losses.sequence_sq_error`).
        Ours: "sum", the literal squared L2 norm of Eqs. 1, 4, 5. With "mean" (averaged over steps and
        channels) the joint term (Eq. 3) dominates and the embeddings collapse to one point on the
        stand-in data (1-NN zero-shot at chance); with "sum" they do not.
    batch_size: ours (paper silent).
    epochs / lr / momentum / lr_step_epochs: SGD with momentum; lr divided by 10 every
        ``lr_step_epochs`` epochs of a phase (paper: 200 epochs, lr 0.01, /10 every 50; momentum not given,
        ours 0.9). ``optimizer="adam"`` is offered for short schedules (not the paper's).
    adversarial_form: Eq. 8 as written ("saturating", paper) or "non_saturating".
    pretrain_epochs: Algorithm 1's paired-only phase before the adversarial one (paper: 50).
    unpaired_fraction: fraction of ``train_rows`` whose pairing is broken (see the module docstring).
    max_frames / max_words: crop long segments (centre) / sentences (first words); None keeps all.
    pairing: "segment" (a sentence with its temporal segment) or "video" (with the whole video).
    precision: arithmetic of the autoencoders' fully connected layers, "float32" (ours, every profile) or
        "bf16" (their matrix products and activations in bfloat16 through ``torch.autocast``; pooling,
        losses, the discriminators, parameters and the optimiser stay float32). bf16 is faster only on processors with
        bfloat16 arithmetic (AVX-512-BF16, AMX, recent GPUs) and rounds far more coarsely; its effect on
        the default run is measured in benchmarks/README.md ("bfloat16 at the default size").
    seed / device: "auto" takes CUDA when present.
    num_threads: torch CPU threads while training/embedding (restored afterwards; None: leave torch's
        setting). 1 by default: the models are small, and on a busy 2-core machine two intra-op
        threads were measured 5-30x slower than one (threads spin while waiting for each other).
    cache_mb: memory budget (MB) of the in-process segment cache; 0 streams every batch from disk.
    standardize: encoders see per-channel standardised inputs ((x - mean) / std over the valid steps
        of the training rows) and decoders de-standardise their outputs, so inputs, outputs and losses
        stay in data units (ours; the paper does not say. Without it the large common component of
        non-negative I3D-like features makes every embedding nearly the same at initialisation).
    """

    losses: tuple[str, ...] = ("joint", "recons", "cross", "cycle")
    unpaired_terms: tuple[str, ...] = ("recons", "cycle", "adv")
    pooling: str = "attention"
    kernel: str = "gaussian"
    n_filters: int = 4
    text_decoder_filters: int | None = 12
    embed_dim: int = 128
    hidden_dim: int = 256
    activation: str = "relu"
    lambda_joint: float = 1.0
    lambda_cross: float = 1.0
    lambda_cycle: float = 1.0
    lambda_adv: float = 1.0
    recon_reduction: str = "sum"
    batch_size: int = 64
    epochs: int = 20
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    lr_step_epochs: int = 50
    adversarial_form: str = "saturating"
    pretrain_epochs: int = 5
    unpaired_fraction: float = 0.0
    max_frames: int | None = 64
    max_words: int | None = 30
    pairing: str = "segment"
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = 1
    cache_mb: int = 512
    standardize: bool = True
    precision: str = "float32"

    def __post_init__(self) -> None:
        problems = field_problems(TrainConfig, {f.name: getattr(self, f.name) for f in fields(self)}, "TrainConfig",
                                  TRAIN_MINIMUMS)
        if problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "losses", tuple(self.losses))
        object.__setattr__(self, "unpaired_terms", tuple(self.unpaired_terms))
        if self.losses != (FIXED_TEXT,):
            bad = set(self.losses) - set(LOSS_TERMS)
            if bad or not self.losses:
                raise ValueError(f"losses must be a non-empty subset of {LOSS_TERMS} or ('fixed_text',); got {self.losses}")
        if set(self.unpaired_terms) - set(UNPAIRED_TERMS):
            raise ValueError(f"unpaired_terms must be a subset of {UNPAIRED_TERMS}, got {self.unpaired_terms}")
        checks = [("pooling", POOLINGS), ("kernel", KERNELS), ("activation", tuple(ACTIVATIONS)),
                  ("recon_reduction", REDUCTIONS), ("adversarial_form", ADVERSARIAL_FORMS),
                  ("optimizer", ("sgd", "adam")), ("pairing", ("segment", "video")),
                  ("precision", tuple(PRECISIONS))]
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"TrainConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 <= self.unpaired_fraction <= 1.0:
            raise ValueError(f"unpaired_fraction must be in [0, 1], got {self.unpaired_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; valid fields: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def adversarial(self) -> bool:
        return "adv" in self.losses


#: Fields that may differ between the members of one ensemble (see :func:`structure_key`).
MEMBER_FIELDS = ("seed", "lambda_joint", "lambda_cross", "lambda_cycle", "lambda_adv", "unpaired_fraction")
#: Fields that only say where and how fast to run, never what is computed.
RUNTIME_FIELDS = ("device", "num_threads", "cache_mb")


def structure_key(config: TrainConfig) -> tuple:
    """What members of one ensemble must share: every field except :data:`MEMBER_FIELDS` and
    :data:`RUNTIME_FIELDS` (same networks, terms, schedule and batch composition)."""
    values = config.to_dict()
    return tuple((k, str(v)) for k, v in sorted(values.items()) if k not in MEMBER_FIELDS + RUNTIME_FIELDS)


def modalities(config: TrainConfig) -> set[str]:
    """The modalities some requested term reads (one autoencoder alone reads only its own)."""
    if set(config.losses) == {"recons_text"}:
        return {"text"}
    if set(config.losses) == {"recons_video"}:
        return {"video"}
    return {"video", "text"}


def phases(config: TrainConfig) -> list[str]:
    """The phase of every epoch: "paired" (Alg. 1 init), "main", "text_ae", "video_to_text"."""
    if config.losses == (FIXED_TEXT,):
        return ["text_ae"] * config.epochs + ["video_to_text"] * config.epochs
    pre = ["paired"] * config.pretrain_epochs if config.adversarial else []
    return pre + ["main"] * config.epochs


def unpaired_terms_used(config: TrainConfig) -> tuple[str, ...]:
    """The terms that see unpaired rows: ``unpaired_terms`` that are also in ``losses``."""
    return tuple(t for t in config.unpaired_terms if t in config.losses)
