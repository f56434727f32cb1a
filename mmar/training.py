"""Training of the paper's model and its variants from one config (ICLR 2019 submission §3, Alg. 1, §4.1).

``train(config, data, train_rows, out_dir)`` trains a :class:`MultimodalAutoencoder` (plus the three
discriminators when ``"adv"`` is in ``config.losses``) and returns a :class:`TrainResult`.

Data. ``train_rows`` are rows of the prepared dataset's sentence table. The rows in
``unpaired_rows``, and a fraction ``config.unpaired_fraction`` of ``train_rows`` (chosen with the
seed), lose their pairing: their video segments and their sentences are shuffled independently and
only serve the terms that need no pairs (``config.unpaired_terms``: cycle Eq. 5, adversarial Eq. 8).
The other rows are paired and serve Eq. 6. This expresses the paper's Table 7 (paired fraction 100%
-> 0% at a fixed total: vary ``unpaired_fraction``) and Table 8 (fixed paired rows plus more and more
``unpaired_rows``).

Iterations (Algorithm 1). One epoch is ``ceil((n_paired + n_unpaired) / batch_size)`` iterations; an
iteration draws ``batch_size / 2`` paired rows and ``batch_size / 2`` unpaired videos and sentences
(the paper's 50/50, App. A.2; the whole batch when only one kind exists). Each iteration:
(1) encoders/decoders step on Eq. 6 with the paired batch; (2) encoders/decoders step on the unpaired
terms with the unpaired batch; (3) with ``"adv"``, the discriminators step on Eq. 7 with both batches.
With ``"adv"``, ``pretrain_epochs`` paired-only epochs (Eq. 6 then Eq. 7 each iteration) come first.

``losses=("fixed_text",)`` is the "fixed text representation" baseline (after Otani et al. 2016):
``epochs`` epochs of the text autoencoder alone (Eq. 1, text half), then it is frozen and ``epochs``
epochs train the video encoder/decoder with the video reconstruction plus ``lambda_joint`` times
Eq. 3 into the fixed text embedding.

Reproducibility: seeded and deterministic on CPU (batch orders come from ``(seed, epoch)``); a
checkpoint is written atomically after every epoch to ``out_dir/checkpoint.pt``, and ``train`` with
the same arguments resumes from it to the same final weights; per-term epoch means go to
``out_dir/losses.csv``; ``out_dir/config.json`` holds the config and data facts. Video segments and
sentences are streamed from the feature store; up to ``cache_mb`` of them are kept in memory (a
process-wide cache shared by successive trainings on the same store).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmar.data.prepared import PairDataset, PreparedDataset, pad_sequences
from mmar.losses import (ADVERSARIAL_FORMS, REDUCTIONS, cycle_halves, decoded_sq_error, discriminator_losses,
                         generator_losses, joint_loss, paired_losses)
from mmar.models.attention import KERNELS, POOLINGS
from mmar.models.autoencoders import ACTIVATIONS, MultimodalAutoencoder
from mmar.models.discriminators import Discriminators

LOSS_TERMS = ("joint", "recons", "cross", "cycle", "adv", "recons_video", "recons_text")
UNPAIRED_TERMS = ("recons", "cycle", "adv")
FIXED_TEXT = "fixed_text"
CHECKPOINT = "checkpoint.pt"
CONFIG_FILE = "config.json"
HISTORY_FILE = "losses.csv"


@dataclass(frozen=True)
class TrainConfig:
    """Every training choice. Paper values are marked (paper); the rest are ours (the paper is silent).

    losses: Eq. 6/8 terms, a subset of ``LOSS_TERMS`` (``recons_video`` / ``recons_text``: one half of
        Eq. 1, to train one autoencoder alone); or ``("fixed_text",)`` for the Otani et al. baseline.
    unpaired_terms: the terms the unpaired rows serve, subset of ``("recons", "cycle", "adv")``; a term
        also has to be in ``losses`` to be used.
    pooling / kernel / n_filters: temporal pooling (paper: attention filters, N = 4, Gaussian; see
        :mod:`mmar.models.attention`).
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
    unpaired_terms: tuple[str, ...] = ("cycle", "adv")
    pooling: str = "attention"
    kernel: str = "gaussian"
    n_filters: int = 4
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

    def __post_init__(self) -> None:
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
                  ("optimizer", ("sgd", "adam")), ("pairing", ("segment", "video"))]
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"TrainConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 <= self.unpaired_fraction <= 1.0:
            raise ValueError(f"unpaired_fraction must be in [0, 1], got {self.unpaired_fraction}")
        if self.batch_size < 2 or self.epochs < 0 or self.pretrain_epochs < 0 or self.lr_step_epochs < 1:
            raise ValueError("batch_size >= 2, epochs >= 0, pretrain_epochs >= 0 and lr_step_epochs >= 1 are required")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; valid fields: {', '.join(sorted(known))}")
        return cls(**values)

    @property
    def adversarial(self) -> bool:
        return "adv" in self.losses


@dataclass
class TrainResult:
    """What :func:`train` returns. ``history``: one row per epoch, mean of each loss term."""

    model: MultimodalAutoencoder
    history: pd.DataFrame
    out_dir: Path
    config: TrainConfig
    discriminators: Discriminators | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# -- data -------------------------------------------------------------------------------------------
_CACHE: dict[tuple, dict[int, torch.Tensor]] = {}
_CACHE_BYTES: dict[tuple, int] = {}


class SegmentSource:
    """Padded batches of video segments and sentences for given sentence rows.

    ``videos(rows) -> (video (B, T, C) float32, mask (B, T))``, ``texts(rows) -> (text (B, L, D), mask (B, L))``.
    Items are read from the feature store; up to ``cache_mb`` MB of them stay in a process-wide
    cache keyed by the store file, its modification time and the cropping settings.
    """

    def __init__(self, data: PreparedDataset, *, pairing: str = "segment", max_frames: int | None = None,
                 max_words: int | None = None, cache_mb: int = 0) -> None:
        self.items = PairDataset(data, [], pairing=pairing, max_frames=max_frames, max_words=max_words)
        path = data.features_path.resolve()
        base = (str(path), path.stat().st_mtime_ns, pairing, max_frames, max_words)
        self._keys = {"video": base + ("video",), "text": base + ("text",)}
        self._budget = int(cache_mb) * 2**20
        self._store_dtype = torch.float16 if str(self.items.store.attrs.get("dtype")) == "float16" else torch.float32

    def _get(self, kind: str, row: int) -> torch.Tensor:
        key = self._keys[kind]
        cache = _CACHE.setdefault(key, {})
        item = cache.get(row)
        if item is not None:
            return item
        item = self.items.video(row) if kind == "video" else self.items.text(row)
        if kind == "video":
            item = item.to(self._store_dtype)  # lossless: the store holds this dtype
        if self._budget > 0 and sum(_CACHE_BYTES.values()) + item.numel() * item.element_size() <= self._budget:
            cache[row] = item
            _CACHE_BYTES[key] = _CACHE_BYTES.get(key, 0) + item.numel() * item.element_size()
        return item

    def videos(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        video, mask = pad_sequences([self._get("video", int(r)) for r in rows])
        return video.to(torch.float32), mask

    def texts(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_sequences([self._get("text", int(r)) for r in rows])


def clear_cache() -> None:
    """Empty the process-wide segment cache."""
    _CACHE.clear()
    _CACHE_BYTES.clear()


def split_unpaired(train_rows: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(paired_rows, unpaired_rows)``: ``round(fraction * n)`` rows, chosen with ``seed``, lose their pairing."""
    train_rows = np.asarray(train_rows, dtype=np.int64)
    n_unpaired = int(round(fraction * len(train_rows)))
    order = np.random.default_rng([seed, 7919]).permutation(len(train_rows))
    unpaired = np.sort(train_rows[order[:n_unpaired]])
    paired = np.sort(train_rows[order[n_unpaired:]])
    return paired, unpaired


def channel_statistics(source: SegmentSource, rows: np.ndarray, kind: str, chunk: int = 512
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (C,) over the valid steps of ``rows`` ("video" | "text"),
    streamed in chunks (float64 sums)."""
    total = total_sq = None
    count = 0
    for start in range(0, len(rows), chunk):
        x, mask = (source.videos if kind == "video" else source.texts)(rows[start:start + chunk])
        valid = x[mask].double()
        total = valid.sum(0) if total is None else total + valid.sum(0)
        total_sq = (valid**2).sum(0) if total_sq is None else total_sq + (valid**2).sum(0)
        count += len(valid)
    mean = total / max(count, 1)
    std = (total_sq / max(count, 1) - mean**2).clamp(min=0).sqrt()
    return mean.float(), std.float()


def _draw(order: np.ndarray, iteration: int, size: int) -> np.ndarray:
    """Rows ``iteration*size ... (iteration+1)*size`` of ``order``, wrapping around."""
    if size == 0 or len(order) == 0:
        return order[:0]
    return order[np.arange(iteration * size, (iteration + 1) * size) % len(order)]


# -- checkpoints ------------------------------------------------------------------------------------
def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rows_digest(rows: np.ndarray) -> str:
    return hashlib.sha1(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: unchanged), restoring the previous number."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(config: TrainConfig, video_dim: int, text_dim: int) -> tuple[MultimodalAutoencoder, Discriminators | None]:
    """The autoencoders (and discriminators when adversarial), initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    model = MultimodalAutoencoder(video_dim, text_dim, embed_dim=config.embed_dim, hidden_dim=config.hidden_dim,
                                  pooling=config.pooling, n_filters=config.n_filters, kernel=config.kernel,
                                  activation=config.activation)
    discs = None
    if config.adversarial:
        discs = Discriminators(video_dim, text_dim, config.embed_dim, config.hidden_dim, pooling=config.pooling,
                               n_filters=config.n_filters, kernel=config.kernel)
    model.train_config = config  # type: ignore[attr-defined]
    return model, discs


def _optimizer(config: TrainConfig, params: Iterator[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)


def _modalities(config: TrainConfig) -> set[str]:
    """The modalities some requested term reads (one autoencoder alone reads only its own)."""
    if set(config.losses) == {"recons_text"}:
        return {"text"}
    if set(config.losses) == {"recons_video"}:
        return {"video"}
    return {"video", "text"}


def _phases(config: TrainConfig) -> list[str]:
    """The phase of every epoch: "paired" (Alg. 1 init), "main", "text_ae", "video_to_text"."""
    if config.losses == (FIXED_TEXT,):
        return ["text_ae"] * config.epochs + ["video_to_text"] * config.epochs
    pre = ["paired"] * config.pretrain_epochs if config.adversarial else []
    return pre + ["main"] * config.epochs


# -- one epoch --------------------------------------------------------------------------------------
class _Trainer:
    def __init__(self, config: TrainConfig, model: MultimodalAutoencoder, discs: Discriminators | None,
                 source: SegmentSource, paired: np.ndarray, unpaired: np.ndarray, device: torch.device) -> None:
        self.config, self.model, self.discs, self.source = config, model, discs, source
        self.paired, self.unpaired, self.device = paired, unpaired, device
        self.ae_opt = _optimizer(config, model.parameters())
        self.disc_opt = _optimizer(config, discs.parameters()) if discs is not None else None

    def _placeholder(self, rows: np.ndarray, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One zero step per row, for a modality that no requested term reads (not loaded from disk)."""
        return (torch.zeros(len(rows), 1, dim, device=self.device),
                torch.ones(len(rows), 1, dtype=torch.bool, device=self.device))

    def _videos(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if "video" not in _modalities(self.config):
            return self._placeholder(rows, self.model.video_dim)
        v, m = self.source.videos(rows)
        return v.to(self.device), m.to(self.device)

    def _texts(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if "text" not in _modalities(self.config):
            return self._placeholder(rows, self.model.text_dim)
        t, m = self.source.texts(rows)
        return t.to(self.device), m.to(self.device)

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.model.zero_grad(set_to_none=True)
        if self.discs is not None:
            self.discs.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def _paired_total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        c = self.config
        weights = {"recons": 1.0, "recons_video": 1.0, "recons_text": 1.0, "joint": c.lambda_joint,
                   "cross": c.lambda_cross, "cycle": c.lambda_cycle}
        return sum(weights[k] * v for k, v in terms.items())

    def run_epoch(self, epoch: int, phase: str, phase_epoch: int, progress: bool) -> dict[str, float]:
        c = self.config
        lr = c.lr * 0.1 ** (phase_epoch // c.lr_step_epochs)
        for opt in (self.ae_opt, self.disc_opt):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        rng = np.random.default_rng([c.seed, epoch])
        paired = rng.permutation(self.paired)
        un_video, un_text = rng.permutation(self.unpaired), rng.permutation(self.unpaired)
        use_unpaired = phase == "main" and len(self.unpaired) > 0
        n_total = len(paired) + (len(self.unpaired) if use_unpaired else 0)
        n_paired_batch = (c.batch_size // 2 if use_unpaired else c.batch_size) if len(paired) else 0
        n_unpaired_batch = c.batch_size - n_paired_batch if use_unpaired else 0
        n_iter = max(1, math.ceil(n_total / c.batch_size))
        sums: dict[str, float] = {}

        def log(name: str, value: torch.Tensor) -> None:
            sums[name] = sums.get(name, 0.0) + float(value.detach())

        self.model.train()
        for it in tqdm(range(n_iter), desc=f"epoch {epoch + 1} ({phase})", disable=not progress, leave=False):
            rows = _draw(paired, it, n_paired_batch)
            if phase in ("text_ae", "video_to_text"):
                self._fixed_text_step(phase, rows, log)
                continue
            batch = None
            if len(rows):
                batch = (*self._videos(rows), *self._texts(rows))
                terms = paired_losses(self.model, *batch, tuple(t for t in c.losses if t != "adv"), c.recon_reduction)
                if terms:
                    total = self._paired_total(terms)
                    self._step(self.ae_opt, total)
                    for k, v in terms.items():
                        log(k, v)
                    log("total_paired", total)
            unpaired_batch = None
            if n_unpaired_batch:
                unpaired_batch = (*self._videos(_draw(un_video, it, n_unpaired_batch)),
                                  *self._texts(_draw(un_text, it, n_unpaired_batch)))
                total = self._unpaired_step(unpaired_batch, log)
                if total is not None:
                    log("total_unpaired", total)
            if self.discs is not None:
                self._discriminator_step([b for b in (batch, unpaired_batch) if b is not None], log)
        return {k: v / n_iter for k, v in sums.items()} | {"lr": lr}

    def _unpaired_step(self, batch: tuple[torch.Tensor, ...], log) -> torch.Tensor | None:
        c = self.config
        use = set(c.unpaired_terms) & set(c.losses)
        parts: list[torch.Tensor] = []
        if "cycle" in use:
            text_half, video_half = cycle_halves(self.model, *batch, c.recon_reduction)
            log("cycle_unpaired", text_half + video_half)
            parts.append(c.lambda_cycle * (text_half + video_half))
        if "recons" in use:
            v, vm, t, tm = batch
            recons = paired_losses(self.model, v, vm, t, tm, ("recons",), c.recon_reduction)["recons"]
            log("recons_unpaired", recons)
            parts.append(recons)
        if "adv" in use and self.discs is not None:
            gen = generator_losses(self.discs, self.model, *batch, form=c.adversarial_form)
            for k, v in gen.items():
                log(k, v)
            parts.append(c.lambda_adv * sum(gen.values()))
        if not parts:
            return None
        total = sum(parts)
        self._step(self.ae_opt, total)
        return total

    def _discriminator_step(self, batches: list[tuple[torch.Tensor, ...]], log) -> None:
        assert self.discs is not None and self.disc_opt is not None
        if not batches:  # e.g. Algorithm 1's paired-only phase when there are no paired rows (Table 7, 0%)
            return
        parts = [discriminator_losses(self.discs, self.model, *b) for b in batches]
        terms = {k: sum(p[k] for p in parts) / len(parts) for k in parts[0]}
        for k, v in terms.items():
            log(k, v)
        self._step(self.disc_opt, sum(terms.values()))

    def _fixed_text_step(self, phase: str, rows: np.ndarray, log) -> None:
        c, m = self.config, self.model
        t, tm = self._texts(rows)
        if phase == "text_ae":
            loss = decoded_sq_error(m.text_decoder.decode(m.encode_text(t, tm), tm), t, tm, c.recon_reduction)
            log("recons_text", loss)
        else:
            v, vm = self._videos(rows)
            with torch.no_grad():
                z_t = m.encode_text(t, tm)
            z_v = m.encode_video(v, vm)
            recons = decoded_sq_error(m.video_decoder.decode(z_v, vm), v, vm, c.recon_reduction)
            joint = joint_loss(z_v, z_t)
            log("recons_video", recons)
            log("joint", joint)
            loss = recons + c.lambda_joint * joint
        self._step(self.ae_opt, loss)
        log("total_paired", loss)


# -- public API -------------------------------------------------------------------------------------
def train(config: TrainConfig, data: PreparedDataset, train_rows: np.ndarray, out_dir: str | Path, *,
          unpaired_rows: np.ndarray | None = None, progress: bool = True,
          stop_after_epoch: int | None = None) -> TrainResult:
    """Train (or resume, or just load when finished) one model; see the module docstring.

    ``stop_after_epoch`` stops once that many epochs are complete (an interruption, for tests);
    calling again without it resumes.
    """
    with torch_threads(config.num_threads):
        return _train(config, data, train_rows, Path(out_dir), unpaired_rows, progress, stop_after_epoch)


def _train(config: TrainConfig, data: PreparedDataset, train_rows: np.ndarray, out_dir: Path,
           unpaired_rows: np.ndarray | None, progress: bool, stop_after_epoch: int | None) -> TrainResult:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    device = _resolve_device(config.device)
    train_rows = np.asarray(train_rows, dtype=np.int64)
    extra_unpaired = np.asarray(unpaired_rows if unpaired_rows is not None else [], dtype=np.int64)
    if len(train_rows) + len(extra_unpaired) == 0:
        raise ValueError("train: no training rows")
    paired, unpaired = split_unpaired(train_rows, config.unpaired_fraction, config.seed)
    unpaired = np.concatenate([unpaired, extra_unpaired])
    if config.losses == (FIXED_TEXT,) and len(paired) == 0:
        raise ValueError("the fixed_text baseline needs paired rows")

    source = SegmentSource(data, pairing=config.pairing, max_frames=config.max_frames, max_words=config.max_words,
                           cache_mb=config.cache_mb)
    video_dim, text_dim = source.items.store.feature_dim, data.word_dim
    saved = {"config": config.to_dict(), "video_dim": video_dim, "text_dim": text_dim,
             "data_root": str(data.root), "data_source": data.data_source,
             "train_rows": _rows_digest(train_rows), "unpaired_rows": _rows_digest(extra_unpaired),
             "n_paired": int(len(paired)), "n_unpaired": int(len(unpaired))}
    config_path = out_dir / CONFIG_FILE
    if config_path.is_file() and (out_dir / CHECKPOINT).is_file():
        previous = json.loads(config_path.read_text())
        differing = [k for k in ("config", "video_dim", "text_dim", "train_rows", "unpaired_rows")
                     if previous.get(k) != saved[k]]
        if differing:
            raise ValueError(f"{out_dir}: holds a checkpoint of a different training ({', '.join(differing)} differ); "
                             "use a fresh out_dir or delete it")
    config_path.write_text(json.dumps(saved, indent=1))

    model, discs = build_model(config, video_dim, text_dim)
    model.to(device)
    if discs is not None:
        discs.to(device)
    trainer = _Trainer(config, model, discs, source, paired, unpaired, device)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if config.standardize and not (out_dir / CHECKPOINT).is_file():
        all_rows = np.concatenate([paired, unpaired])
        for kind in _modalities(config):
            model.set_standardization(kind, *channel_statistics(source, all_rows, kind))
    if (out_dir / CHECKPOINT).is_file():
        state = torch.load(out_dir / CHECKPOINT, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        trainer.ae_opt.load_state_dict(state["ae_opt"])
        if discs is not None:
            discs.load_state_dict(state["discs"])
            trainer.disc_opt.load_state_dict(state["disc_opt"])
        history, start_epoch = state["history"], state["epoch"]

    phases = _phases(config)
    for epoch in range(start_epoch, len(phases)):
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
        tic = time.perf_counter()
        phase = phases[epoch]
        phase_epoch = epoch - phases.index(phase)
        record = {"epoch": epoch + 1, "phase": phase}
        record |= trainer.run_epoch(epoch, phase, phase_epoch, progress)
        record["seconds"] = time.perf_counter() - tic
        history.append(record)
        state = {"epoch": epoch + 1, "finished": epoch + 1 == len(phases), "model": model.state_dict(),
                 "ae_opt": trainer.ae_opt.state_dict(), "history": history}
        if discs is not None:
            state |= {"discs": discs.state_dict(), "disc_opt": trainer.disc_opt.state_dict()}
        _atomic_save(state, out_dir / CHECKPOINT)
        pd.DataFrame(history).to_csv(out_dir / HISTORY_FILE, index=False)
    model.eval()
    return TrainResult(model=model, history=pd.DataFrame(history), out_dir=out_dir, config=config,
                       discriminators=discs, seconds=time.perf_counter() - started,
                       extra={"n_paired": len(paired), "n_unpaired": len(unpaired)})


def load_model(out_dir: str | Path, *, allow_unfinished: bool = False,
               device: str = "cpu") -> MultimodalAutoencoder:
    """The model saved by :func:`train` in ``out_dir`` (final checkpoint + saved config), in eval mode."""
    out_dir = Path(out_dir)
    if not (out_dir / CONFIG_FILE).is_file() or not (out_dir / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{out_dir}: no {CONFIG_FILE} / {CHECKPOINT}; train a model there first")
    saved = json.loads((out_dir / CONFIG_FILE).read_text())
    config = TrainConfig.from_dict(saved["config"])
    state = torch.load(out_dir / CHECKPOINT, map_location=device, weights_only=False)
    if not state.get("finished") and not allow_unfinished:
        raise RuntimeError(f"{out_dir / CHECKPOINT}: training stopped after epoch {state['epoch']} of "
                           f"{len(_phases(config))}; call train() again to resume, or pass allow_unfinished=True")
    model, _ = build_model(config, saved["video_dim"], saved["text_dim"])
    model.load_state_dict(state["model"])
    return model.to(device).eval()


@torch.no_grad()
def embed_rows(model: MultimodalAutoencoder, data: PreparedDataset, rows: np.ndarray, *, pairing: str = "segment",
               batch_size: int = 256, max_frames: int | None | str = "model",
               max_words: int | None | str = "model") -> dict[str, np.ndarray]:
    """Embeddings of the video segments and sentences of ``rows``: ``video`` (n, E), ``text`` (n, E)
    (unit norm), ``class_index`` (n,). Cropping defaults to the model's training config."""
    config: TrainConfig | None = getattr(model, "train_config", None)
    if max_frames == "model":
        max_frames = config.max_frames if config is not None else None
    if max_words == "model":
        max_words = config.max_words if config is not None else None
    cache_mb = config.cache_mb if config is not None else 0
    source = SegmentSource(data, pairing=pairing, max_frames=max_frames, max_words=max_words, cache_mb=cache_mb)
    with torch_threads(config.num_threads if config is not None else None):
        return _embed(model, data, source, np.asarray(rows, dtype=np.int64), batch_size)


def _embed(model: MultimodalAutoencoder, data: PreparedDataset, source: SegmentSource, rows: np.ndarray,
           batch_size: int) -> dict[str, np.ndarray]:
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    video_out, text_out = [], []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        v, vm = source.videos(chunk)
        t, tm = source.texts(chunk)
        video_out.append(model.encode_video(v.to(device), vm.to(device)).cpu().numpy())
        text_out.append(model.encode_text(t.to(device), tm.to(device)).cpu().numpy())
    model.train(was_training)
    dim = model.video_encoder.fc[-1].out_features
    names = data.sentences["class_name"].to_numpy()[rows]
    return {"video": np.concatenate(video_out) if video_out else np.zeros((0, dim), np.float32),
            "text": np.concatenate(text_out) if text_out else np.zeros((0, dim), np.float32),
            "class_index": data.class_index(names)}


@torch.no_grad()
def reconstruct_rows(model: MultimodalAutoencoder, data: PreparedDataset, rows: np.ndarray, kind: str = "video", *,
                     pairing: str = "segment", batch_size: int = 256,
                     keep: int = 0) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Eq. 1 per row on held-out data: the mean squared error over valid elements of
    ``G(E(x))`` against ``x`` for ``kind`` "video" or "text", (n,); and, for the first ``keep``
    rows, ``(original (T, C), reconstruction (T, C))`` pairs. Cropping follows the model's config."""
    if kind not in ("video", "text"):
        raise ValueError(f"kind must be 'video' or 'text', got {kind!r}")
    config: TrainConfig | None = getattr(model, "train_config", None)
    source = SegmentSource(data, pairing=pairing, max_frames=config.max_frames if config else None,
                           max_words=config.max_words if config else None, cache_mb=config.cache_mb if config else 0)
    encode, decode = ((model.encode_video, model.decode_video) if kind == "video" else (model.encode_text, model.decode_text))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows = np.asarray(rows, dtype=np.int64)
    errors, kept = [], []
    for start in range(0, len(rows), batch_size):
        x, mask = (source.videos if kind == "video" else source.texts)(rows[start:start + batch_size])
        x, mask = x.to(device), mask.to(device)
        recon = decode(encode(x, mask), mask)
        sq = ((recon - x) ** 2 * mask[:, :, None]).sum(dim=(1, 2)) / (mask.sum(1) * x.shape[2])
        errors.append(sq.cpu().numpy())
        for i in range(min(keep - len(kept), len(x))):
            n = int(mask[i].sum())
            kept.append((x[i, :n].cpu().numpy(), recon[i, :n].cpu().numpy()))
    model.train(was_training)
    return (np.concatenate(errors) if errors else np.zeros(0, np.float32)), kept
