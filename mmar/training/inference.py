"""Using a trained model on rows of a prepared dataset: embeddings (zero-shot, retrieval, discovery)
and held-out reconstruction errors (Eq. 1). Cropping follows the model's training config."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from mmar.data.prepared import PreparedDataset
from mmar.models.autoencoders import MultimodalAutoencoder
from mmar.training.config import TrainConfig
from mmar.training.data import SegmentSource


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
