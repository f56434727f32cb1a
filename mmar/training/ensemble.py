"""M models trained at once as one ensemble: stacked parameters, one forward/backward per step.

Every member is a whole training of :func:`mmar.training.train`: its own :class:`TrainConfig` (seed,
λ weights and unpaired fraction may differ; everything else must match, :func:`structure_key`), its
own training rows, its own parameters and optimiser state, its own batch order and its own
discriminators. Parameters are stacked with a leading member dimension (M, ...), and each step
evaluates all members with one of two executors:

- ``"vmap"``: ``torch.func.vmap`` over ``functional_call`` of the model and loss code, so every
  matmul is one batched kernel over the members (what a GPU needs: one small model leaves it idle
  between kernel launches);
- ``"loop"``: the members one after another, each on leaf tensors of its own that are views of its row of
  the stacked parameters (what a CPU prefers: stacked weights fall out of cache; also the only choice
  for LSTM pooling, which vmap cannot map).

The summed loss of all members is backpropagated once; since member m's loss depends only on member
m's parameters, each member receives exactly its own gradient (with ``"loop"`` on its own leaves,
then stacked), and :class:`MemberOptimizer` updates
each member exactly as PyTorch's SGD/Adam would update it alone. Members with fewer rows than their
neighbours finish their epoch early: their later iterations are computed but masked out of the loss
and of the optimiser step.

Algorithm 1 per member: with ``"adv"``, ``pretrain_epochs`` paired-only epochs come first. An
iteration draws ``batch_size / 2`` paired rows and ``batch_size / 2`` unpaired videos and sentences
(the paper's 50/50, App. A.2; the whole batch when only one kind exists), and (1) steps the
encoders/decoders on Eq. 6 with the paired batch, (2) steps them on the unpaired terms
(:func:`unpaired_terms_used`: reconstruction Eq. 1, cycle Eq. 5, adversarial Eq. 8) with the
unpaired batch, (3) with ``"adv"`` steps the discriminators on Eq. 7 with both batches.
``losses=("fixed_text",)`` trains the text autoencoder alone for ``epochs`` epochs, freezes it, and
trains the video side into its fixed embedding for ``epochs`` more.

Checkpoints: after every epoch the whole ensemble (parameters, buffers, optimiser states, loss
histories) is written atomically to ``<out_dir>/checkpoint.pt`` in a form that ``torch.load(...,
weights_only=True)`` reads; the same call resumes from it to the same final weights.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from mmar.data.prepared import PreparedDataset
from mmar.device import resolve_device, warn_if_slow_precision
from mmar.losses import (ForwardPass, decoded_sq_error, discriminator_losses, generator_losses, joint_loss,
                         paired_losses)
from mmar.models.autoencoders import MultimodalAutoencoder
from mmar.models.discriminators import Discriminators
from mmar.training.config import (CHECKPOINT, CONFIG_FILE, FIXED_TEXT, TrainConfig, modalities, phases,
                                  structure_key, unpaired_terms_used)
from mmar.training.data import BatchSource, MemoryBank, SegmentSource, channel_statistics, draw, split_unpaired
from mmar.training.inference import torch_threads
from mmar.training.optim import MemberOptimizer

EXECUTORS = ("auto", "vmap", "loop")
#: Order of the per-member weights tensor (M, 4).
WEIGHT_NAMES = ("lambda_joint", "lambda_cross", "lambda_cycle", "lambda_adv")


def build_model(config: TrainConfig, video_dim: int, text_dim: int) -> tuple[MultimodalAutoencoder, Discriminators | None]:
    """The autoencoders (and discriminators when adversarial), initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    model = MultimodalAutoencoder(video_dim, text_dim, embed_dim=config.embed_dim, hidden_dim=config.hidden_dim,
                                  pooling=config.pooling, n_filters=config.n_filters, kernel=config.kernel,
                                  activation=config.activation, text_decoder_filters=config.text_decoder_filters,
                                  precision=config.precision)
    discs = None
    if config.adversarial:
        discs = Discriminators(video_dim, text_dim, config.embed_dim, config.hidden_dim, pooling=config.pooling,
                               n_filters=config.n_filters, kernel=config.kernel)
    model.train_config = config  # type: ignore[attr-defined]
    return model, discs


class Networks(nn.Module):
    """One member's networks under one root, so that parameter names are stable: ``model.*``, ``discs.*``.

    ``forward(step, weights, *tensors)`` computes one step's loss terms for ONE member (the ensemble
    maps it over members): ``weights`` (4,) are the member's λs (:data:`WEIGHT_NAMES`); it returns a
    dict of scalar terms with the step's weighted ``total``.
    """

    def __init__(self, model: MultimodalAutoencoder, discs: Discriminators | None, config: TrainConfig) -> None:
        super().__init__()
        self.model, self.discs, self.config = model, discs, config

    def forward(self, step: str, weights: torch.Tensor, *batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return getattr(self, f"_{step}")(weights, *batch)

    def _paired(self, weights: torch.Tensor, v, vm, t, tm) -> dict[str, torch.Tensor]:
        c = self.config
        terms = paired_losses(self.model, v, vm, t, tm, tuple(x for x in c.losses if x != "adv"), c.recon_reduction)
        scale = {"joint": weights[0], "cross": weights[1], "cycle": weights[2]}
        terms["total_paired"] = sum(scale.get(k, 1.0) * value for k, value in terms.items())
        return terms

    def _unpaired(self, weights: torch.Tensor, v, vm, t, tm) -> dict[str, torch.Tensor]:
        c = self.config
        use = unpaired_terms_used(c)
        fp = ForwardPass(self.model, v, vm, t, tm, c.recon_reduction)  # embeddings and decodes shared by the terms
        out: dict[str, torch.Tensor] = {}
        parts = []
        if "cycle" in use:
            text_half, video_half = fp.cycle_halves()
            out["cycle_unpaired"] = text_half + video_half
            parts.append(weights[2] * out["cycle_unpaired"])
        if "recons" in use:
            out["recons_unpaired"] = fp.recons()
            parts.append(out["recons_unpaired"])
        if "adv" in use and self.discs is not None:
            gen = generator_losses(self.discs, self.model, v, vm, t, tm, form=c.adversarial_form, forward=fp)
            out.update(gen)
            parts.append(weights[3] * sum(gen.values()))
        out["total_unpaired"] = sum(parts)
        return out

    def _discriminate(self, weights: torch.Tensor, *batches: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = [discriminator_losses(self.discs, self.model, *batches[i:i + 4]) for i in range(0, len(batches), 4)]
        terms = {k: sum(p[k] for p in parts) / len(parts) for k in parts[0]}
        terms["total_disc"] = sum(terms.values())
        return terms

    def _text_ae(self, weights: torch.Tensor, t, tm) -> dict[str, torch.Tensor]:
        m = self.model
        loss = decoded_sq_error(m.text_decoder.decode(m.encode_text(t, tm), tm), t, tm, self.config.recon_reduction)
        return {"recons_text": loss, "total_paired": loss}

    def _video_to_text(self, weights: torch.Tensor, v, vm, t, tm) -> dict[str, torch.Tensor]:
        m = self.model
        with torch.no_grad():
            z_t = m.encode_text(t, tm)
        z_v = m.encode_video(v, vm)
        recons = decoded_sq_error(m.video_decoder.decode(z_v, vm), v, vm, self.config.recon_reduction)
        joint = joint_loss(z_v, z_t)
        return {"recons_video": recons, "joint": joint, "total_paired": recons + weights[0] * joint}


@dataclass
class Member:
    """One training of an ensemble: its config, paired rows and unpaired rows (after the split)."""

    config: TrainConfig
    paired: np.ndarray
    unpaired: np.ndarray


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns: per member, its model (eval mode), discriminators,
    loss history (one row per epoch) and row counts."""

    models: list[MultimodalAutoencoder]
    discriminators: list[Discriminators | None]
    histories: list[pd.DataFrame]
    members: list[Member]
    out_dir: Path
    seconds: float
    executor: str
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


def _rows_digest(rows: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by the ensemble trainer, read with ``weights_only=True`` (no code runs)."""
    return torch.load(path, map_location=device, weights_only=True)


def choose_executor(executor: str, config: TrainConfig, device: torch.device) -> str:
    """``"auto"``: vmap on CUDA, loop on CPU (measured faster there, ``python -m mmar bench training``);
    loop whenever the pooling is an LSTM (not mappable)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if config.pooling == "lstm":
        return "loop"
    if executor == "auto":
        return "vmap" if device.type == "cuda" else "loop"
    return executor


class EnsembleTrainer:
    """The state and steps of one ensemble (see the module docstring)."""

    def __init__(self, members: Sequence[Member], source: BatchSource, video_dim: int, text_dim: int,
                 device: torch.device, executor: str) -> None:
        self.members = list(members)
        self.config = self.members[0].config
        keys = {structure_key(m.config) for m in self.members}
        if len(keys) > 1:
            raise ValueError("ensemble members must share every TrainConfig field except "
                             "seed, λ weights and unpaired_fraction")
        if len({(len(m.paired) > 0, len(m.unpaired) > 0) for m in self.members}) > 1:
            raise ValueError("ensemble members must agree on having paired rows and on having unpaired rows")
        self.source, self.device, self.executor = source, device, executor
        self.video_dim, self.text_dim = video_dim, text_dim
        networks = []
        for m in self.members:
            model, discs = build_model(m.config, video_dim, text_dim)
            networks.append(Networks(model, discs, m.config))
        params, buffers = stack_module_state(networks)  # before any module moves to the device
        self.template = networks[0].to(device)
        self.params = {k: v.detach().to(device).requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.detach().to(device) for k, v in buffers.items()}
        # "loop": member i's parameters are leaves of their own, views of row i of the stacked tensors, so
        # that a member's backward writes only its own gradient (the backward of a slice ``params[k][i]``
        # would fill a zero (M, ...) tensor per member and parameter); :meth:`_stack_gradients` then
        # gathers the members' gradients into the stacked ones that the optimisers read.
        self.member_params = ([{k: v.detach()[i].requires_grad_(True) for k, v in self.params.items()}
                               for i in range(len(self.members))] if executor == "loop" else [])
        self.member_buffers = [{k: v[i] for k, v in self.buffers.items()} for i in range(len(self.members))]
        self._gradients: dict[str, torch.Tensor] = {}
        self._gathered: dict[str, torch.Tensor] = {}  # per batch slot, the video batch's memory (see _batch)
        c = self.config
        self.ae_names = [k for k in self.params if k.startswith("model.")]
        self.disc_names = [k for k in self.params if k.startswith("discs.")]
        kw = {"momentum": c.momentum}
        self.ae_opt = MemberOptimizer([self.params[k] for k in self.ae_names], c.optimizer, **kw)
        self.disc_opt = (MemberOptimizer([self.params[k] for k in self.disc_names], c.optimizer, **kw)
                         if self.disc_names else None)
        self.weights = torch.tensor([[getattr(m.config, w) for w in WEIGHT_NAMES] for m in self.members],
                                    dtype=torch.float32, device=device)
        self.histories: list[list[dict[str, Any]]] = [[] for _ in self.members]

    # -- state ------------------------------------------------------------------------------------
    def set_standardization(self) -> None:
        """Per member: encoders see standardised inputs, statistics over its own training rows."""
        for i, m in enumerate(self.members):
            rows = np.concatenate([m.paired, m.unpaired])
            for kind in modalities(m.config):
                mean, std = channel_statistics(self.source, rows, kind)
                std = std.clamp(min=1e-6)
                for part in ("encoder", "decoder"):
                    self.buffers[f"model.{kind}_{part}.shift"][i] = mean.to(self.device)
                    self.buffers[f"model.{kind}_{part}.scale"][i] = std.to(self.device)

    def state(self, epoch: int, finished: bool) -> dict[str, Any]:
        return {"epoch": epoch, "finished": finished, "members": len(self.members),
                "params": {k: v.detach() for k, v in self.params.items()}, "buffers": self.buffers,
                "ae_opt": self.ae_opt.state_dict(), "disc_opt": self.disc_opt.state_dict() if self.disc_opt else None,
                "histories": self.histories}

    def load_state(self, state: dict[str, Any]) -> int:
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
            for k, v in state["buffers"].items():
                self.buffers[k].copy_(v)
        self.ae_opt.load_state_dict(state["ae_opt"])
        if self.disc_opt is not None:
            self.disc_opt.load_state_dict(state["disc_opt"])
        self.histories = state["histories"]
        return int(state["epoch"])

    def member_networks(self, i: int) -> Networks:
        """Member ``i`` as ordinary modules (copies of its parameters and buffers), eval mode."""
        m = self.members[i]
        model, discs = build_model(m.config, self.video_dim, self.text_dim)
        networks = Networks(model, discs, m.config)
        networks.load_state_dict({k: v[i].detach().cpu() for k, v in {**self.params, **self.buffers}.items()})
        return networks.to(self.device).eval()

    # -- batches ----------------------------------------------------------------------------------
    def _batch(self, kind: str, rows: np.ndarray, slot: str = "paired") -> tuple[torch.Tensor, torch.Tensor]:
        """``(x (M, B, T, C), mask (M, B, T))`` of ``kind`` ("video" | "text") for ``rows`` (M, B); one
        zero step per row for a modality that no requested term reads (not loaded). From a memory bank,
        videos are gathered into the tensor kept for ``slot`` ("paired" | "unpaired"): a batch is valid
        until the next batch of its slot, i.e. for one iteration of :meth:`run_epoch`."""
        if kind not in modalities(self.config):
            dim = self.video_dim if kind == "video" else self.text_dim
            return (torch.zeros(*rows.shape, 1, dim, device=self.device),
                    torch.ones(*rows.shape, 1, dtype=torch.bool, device=self.device))
        if kind == "video" and isinstance(self.source, MemoryBank):
            if slot not in self._gathered:
                self._gathered[slot] = torch.empty(0, device=self.device)
            return self.source.videos(rows, out=self._gathered[slot])
        x, mask = (self.source.videos if kind == "video" else self.source.texts)(rows)
        return x.to(self.device, non_blocking=True), mask.to(self.device, non_blocking=True)

    def _videos(self, rows: np.ndarray, slot: str = "paired") -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch("video", rows, slot)

    def _texts(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch("text", rows)

    # -- steps ------------------------------------------------------------------------------------
    def _terms(self, step: str, *batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of every member, each (M,)."""
        call = functools.partial(self._member_call, step)
        if self.executor == "vmap":
            return vmap(call)(self.params, self.buffers, self.weights, *batch)
        outs = [call(self.member_params[i], self.member_buffers[i], self.weights[i], *(b[i] for b in batch))
                for i in range(len(self.members))]
        return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}

    def _member_call(self, step: str, params, buffers, weights, *batch):
        return functional_call(self.template, (params, buffers), (step, weights, *batch))

    def _update(self, step: str, total: str, optimizer: MemberOptimizer, active: torch.Tensor,
                batch: Sequence[torch.Tensor], sums: dict[str, torch.Tensor]) -> None:
        self.ae_opt.zero_grad()
        if self.disc_opt is not None:
            self.disc_opt.zero_grad()
        terms = self._terms(step, *batch)
        weight = active.to(terms[total].dtype)
        (terms[total] * weight).sum().backward()
        if self.member_params:
            self._stack_gradients()
        optimizer.step(self._lr, active)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.detach() * weight

    def _stack_gradients(self) -> None:
        """Loop executor: each stacked parameter's gradient (M, ...) from its members' leaves, and the
        members' gradients cleared. Members run the same terms, so a parameter that no term reached has
        no gradient in any member and keeps None, as PyTorch leaves it."""
        for k, stacked in self.params.items():
            grads = [member[k].grad for member in self.member_params]
            if grads[0] is None:
                stacked.grad = None
                continue
            if k not in self._gradients:  # kept from step to step: no fresh allocation per step
                self._gradients[k] = torch.empty_like(stacked)
            stacked.grad = torch.stack(grads, out=self._gradients[k])
            for member in self.member_params:
                member[k].grad = None

    def run_epoch(self, epoch: int, phase: str, phase_epoch: int, progress: bool) -> None:
        c = self.config
        self._lr = c.lr * 0.1 ** (phase_epoch // c.lr_step_epochs)
        M = len(self.members)
        orders = []
        for m in self.members:
            rng = np.random.default_rng([m.config.seed, epoch])
            orders.append((rng.permutation(m.paired), rng.permutation(m.unpaired), rng.permutation(m.unpaired)))
        first = self.members[0]
        use_unpaired = phase == "main" and len(first.unpaired) > 0
        n_paired_batch = (c.batch_size // 2 if use_unpaired else c.batch_size) if len(first.paired) else 0
        n_unpaired_batch = c.batch_size - n_paired_batch if use_unpaired else 0
        n_iter = np.array([max(1, math.ceil((len(m.paired) + (len(m.unpaired) if use_unpaired else 0)) / c.batch_size))
                           for m in self.members])
        sums: dict[str, torch.Tensor] = {}
        for it in tqdm(range(int(n_iter.max())), desc=f"epoch {epoch + 1} ({phase}, {M} member{'s' * (M > 1)})",
                       disable=not progress, leave=False):
            active = torch.from_numpy(it < n_iter).to(self.device)
            paired_rows = np.stack([draw(o[0], it, n_paired_batch) for o in orders])
            batch = None
            if phase == "text_ae":
                self._update("text_ae", "total_paired", self.ae_opt, active, self._texts(paired_rows), sums)
                continue
            if n_paired_batch:
                batch = (*self._videos(paired_rows), *self._texts(paired_rows))
                step = "video_to_text" if phase == "video_to_text" else "paired"
                if phase == "video_to_text" or any(t != "adv" for t in c.losses):
                    self._update(step, "total_paired", self.ae_opt, active, batch, sums)
                if phase == "video_to_text":
                    continue
            unpaired_batch = None
            if n_unpaired_batch:
                video_rows, text_rows = (np.stack([draw(o[k], it, n_unpaired_batch) for o in orders]) for k in (1, 2))
                unpaired_batch = (*self._videos(video_rows, "unpaired"), *self._texts(text_rows))
                if unpaired_terms_used(c):
                    self._update("unpaired", "total_unpaired", self.ae_opt, active, unpaired_batch, sums)
            if self.disc_opt is not None:
                batches = [b for b in (batch, unpaired_batch) if b is not None]
                if batches:  # none e.g. in Algorithm 1's paired-only phase without paired rows (Table 7, 0%)
                    self._update("discriminate", "total_disc", self.disc_opt, active,
                                 [x for b in batches for x in b], sums)
        means = {k: (v / torch.from_numpy(n_iter).to(v.device)).cpu().tolist() for k, v in sums.items()}
        for i in range(M):
            self.histories[i].append({"epoch": epoch + 1, "phase": phase, **{k: v[i] for k, v in means.items()},
                                      "lr": self._lr})


def _make_source(data: PreparedDataset, members: Sequence[Member], config: TrainConfig, device: torch.device,
                 memory: str) -> BatchSource:
    """The in-memory bank when ``memory`` is "bank" or ("auto" and the rows fit in 2 GB), else streaming."""
    if memory not in ("auto", "bank", "stream"):
        raise ValueError(f"memory must be 'auto', 'bank' or 'stream', got {memory!r}")
    source = SegmentSource(data, pairing=config.pairing, max_frames=config.max_frames, max_words=config.max_words,
                           cache_mb=config.cache_mb)
    rows = np.unique(np.concatenate([np.concatenate([m.paired, m.unpaired]) for m in members]))
    if memory == "stream" or (memory == "auto" and MemoryBank.bytes_needed(source, rows) > 2 * 2**30):
        return source
    return MemoryBank(source, rows, data.vocab_vectors, max_words=config.max_words, device=device)


def train_ensemble(configs: Sequence[TrainConfig], data: PreparedDataset, train_rows: Sequence[np.ndarray],
                   out_dir: str | Path, *, unpaired_rows: Sequence[np.ndarray] | None = None, device: str = "auto",
                   executor: str = "auto", memory: str = "auto", progress: bool = True,
                   stop_after_epoch: int | None = None,
                   epoch_callback: Callable[[int, EnsembleTrainer], None] | None = None) -> EnsembleResult:
    """Train ``len(configs)`` members at once (or resume, or just load when finished).

    ``train_rows[i]`` / ``unpaired_rows[i]`` are member i's rows of ``data.sentences``: a fraction
    ``configs[i].unpaired_fraction`` of ``train_rows[i]`` (chosen with its seed) loses its pairing,
    ``unpaired_rows[i]`` are unpaired in any case. ``device`` "auto" takes CUDA when present;
    ``executor`` see :func:`choose_executor`; ``memory`` "auto" holds the rows in memory on the
    device when they fit. ``stop_after_epoch`` stops once that many epochs are complete (an
    interruption, for tests). ``epoch_callback(epoch, trainer)`` runs after every epoch (e.g. to
    evaluate :meth:`EnsembleTrainer.member_networks`), and on a fresh start once before training
    with ``epoch = -1``; what it adds then goes to a first history row ``{"epoch": 0, "phase": "init"}``.
    """
    started = time.perf_counter()
    if not configs:
        raise ValueError("train_ensemble: no members")
    if len(train_rows) != len(configs) or (unpaired_rows is not None and len(unpaired_rows) != len(configs)):
        raise ValueError("train_ensemble: one train_rows (and unpaired_rows) entry per config is needed")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    members = []
    for i, config in enumerate(configs):
        rows = np.asarray(train_rows[i], dtype=np.int64)
        extra = np.asarray(unpaired_rows[i] if unpaired_rows is not None else [], dtype=np.int64)
        if len(rows) + len(extra) == 0:
            raise ValueError(f"train_ensemble: member {i} has no training rows")
        paired, unpaired = split_unpaired(rows, config.unpaired_fraction, config.seed)
        if config.losses == (FIXED_TEXT,) and len(paired) == 0:
            raise ValueError("the fixed_text baseline needs paired rows")
        members.append(Member(config, paired, np.concatenate([unpaired, extra])))
    config = configs[0]
    torch_device = resolve_device(device if device != "auto" else config.device)
    warn_if_slow_precision(torch_device, config.precision, "precision")
    chosen = choose_executor(executor, config, torch_device)
    video_dim = data.feature_store().feature_dim
    saved = {"members": [{"config": c.to_dict(), "train_rows": _rows_digest(r),
                          "unpaired_rows": _rows_digest(unpaired_rows[i] if unpaired_rows is not None else []),
                          "n_paired": int(len(m.paired)), "n_unpaired": int(len(m.unpaired))}
                         for i, (c, r, m) in enumerate(zip(configs, train_rows, members))],
             "video_dim": video_dim, "text_dim": data.word_dim, "data_root": str(data.root),
             "data_source": data.data_source}
    config_path, checkpoint = out_dir / CONFIG_FILE, out_dir / CHECKPOINT
    if config_path.is_file() and checkpoint.is_file():
        previous = json.loads(config_path.read_text())
        same = {k: previous.get(k) == saved[k] for k in ("members", "video_dim", "text_dim")}
        if not all(same.values()):
            raise ValueError(f"{out_dir}: holds a checkpoint of a different training (configs or rows differ); "
                             "use a fresh out_dir or delete it")
    config_path.write_text(json.dumps(saved, indent=1))

    with torch_threads(config.num_threads if torch_device.type == "cpu" else None):
        source = _make_source(data, members, config, torch_device, memory)
        trainer = EnsembleTrainer(members, source, video_dim, data.word_dim, torch_device, chosen)
        start_epoch = 0
        if checkpoint.is_file():
            start_epoch = trainer.load_state(load_checkpoint(checkpoint, torch_device))
        elif config.standardize:
            trainer.set_standardization()
        if epoch_callback is not None and start_epoch == 0:  # the untrained networks: where every curve starts
            for history in trainer.histories:
                history.append({"epoch": 0, "phase": "init"})
            epoch_callback(-1, trainer)
        schedule = phases(config)
        for epoch in range(start_epoch, len(schedule)):
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                break
            tic = time.perf_counter()
            phase = schedule[epoch]
            trainer.run_epoch(epoch, phase, epoch - schedule.index(phase), progress)
            for history in trainer.histories:
                history[-1]["seconds"] = time.perf_counter() - tic
            if epoch_callback is not None:  # before the checkpoint: what it adds to the histories is kept
                epoch_callback(epoch, trainer)
            _atomic_save(trainer.state(epoch + 1, epoch + 1 == len(schedule)), checkpoint)
        networks = [trainer.member_networks(i) for i in range(len(members))]
    return EnsembleResult(models=[n.model for n in networks], discriminators=[n.discs for n in networks],
                          histories=[pd.DataFrame(h) for h in trainer.histories], members=members, out_dir=out_dir,
                          seconds=time.perf_counter() - started, executor=chosen, device=str(torch_device),
                          extra={"source": type(source).__name__})
