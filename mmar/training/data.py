"""Where training batches come from: a streaming source over the HDF5 feature store, and an
in-memory bank of padded tensors for grids whose data fit (on the training device).

Both answer the same two calls for a 2-d array of sentence rows ``rows (M, B)`` (M ensemble
members, B rows each): ``videos(rows) -> (video (M, B, T, C) float32, mask (M, B, T) bool)`` and
``texts(rows) -> (text (M, B, L, D), mask (M, B, L))``; T and L are the longest item of the whole
call, so all members share one padded shape (padded steps are masked everywhere downstream).
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch

from mmar.data.prepared import PAD_INDEX, PairDataset, PreparedDataset, pad_sequences

_CACHE: dict[tuple, dict[int, torch.Tensor]] = {}
_CACHE_BYTES: dict[tuple, int] = {}


class BatchSource(Protocol):
    def videos(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]: ...

    def texts(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]: ...


class SegmentSource:
    """Padded batches of video segments and sentences read from the feature store.

    ``videos(rows) -> (video (*R, T, C) float32, mask (*R, T))``, ``texts(rows) -> (text (*R, L, D),
    mask (*R, L))`` for rows of any shape R. Up to ``cache_mb`` MB of items stay in a process-wide
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

    def item(self, kind: str, row: int) -> torch.Tensor:
        """One row's video segment (T, C) in the store's dtype, or its word vectors (L, D)."""
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

    def _batch(self, kind: str, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.asarray(rows)
        padded, mask = pad_sequences([self.item(kind, int(r)) for r in rows.reshape(-1)])
        return padded.to(torch.float32).reshape(*rows.shape, *padded.shape[1:]), mask.reshape(*rows.shape, -1)

    def videos(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch("video", rows)

    def texts(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch("text", rows)


def clear_cache() -> None:
    """Empty the process-wide segment cache."""
    _CACHE.clear()
    _CACHE_BYTES.clear()


class MemoryBank:
    """Every requested row's video segment and sentence held as tensors on ``device``.

    Video segments are concatenated into one ``(total_steps + 1, C)`` float32 tensor (the last step
    is zeros, gathered at padded positions) with per-row offsets and lengths; sentences are kept as
    token ids ``(n_rows, L_max)`` and looked up in the vocabulary vectors per batch. A batch is one
    gather, with no Python loop over rows.
    """

    def __init__(self, source: SegmentSource, rows: Sequence[int], vectors: np.ndarray, *, max_words: int | None,
                 device: torch.device | str = "cpu", progress: bool = False) -> None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self.device = torch.device(device)
        self._slot = np.full(int(rows.max()) + 1 if len(rows) else 1, -1, dtype=np.int64)
        self._slot[rows] = np.arange(len(rows))
        data = source.items.data
        # float32 (no conversion per batch); the last step is all zeros: padded positions gather it
        steps, lengths = _bank_steps(source, rows, progress)
        lengths = torch.from_numpy(lengths)
        self.video_lengths = lengths.to(self.device)
        self.video_offsets = (torch.cumsum(lengths, 0) - lengths).to(self.device)
        self.video_steps = steps.to(self.device)
        tokens = [data.token_ids(int(r))[:max_words] if max_words is not None else data.token_ids(int(r))
                  for r in rows]
        tokens = [t if len(t) else np.array([PAD_INDEX]) for t in tokens]
        width = max((len(t) for t in tokens), default=1)
        ids = np.full((len(rows), width), PAD_INDEX, dtype=np.int64)
        for i, t in enumerate(tokens):
            ids[i, : len(t)] = t
        self.token_ids = torch.from_numpy(ids).to(self.device)
        self.text_lengths = torch.tensor([len(t) for t in tokens], dtype=torch.int64, device=self.device)
        self.vectors = torch.as_tensor(vectors, dtype=torch.float32).to(self.device)

    @classmethod
    def bytes_needed(cls, source: SegmentSource, rows: Sequence[int]) -> int:
        """An estimate of the bank's size for ``rows`` without reading features (segment lengths)."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        video_ids = source.items.data.sentences["video_id"].to_numpy()[rows]
        starts, stops = _cropped_ranges(source, rows, _video_lengths(source, video_ids))
        return int((stops - starts).sum()) * source.items.store.feature_dim * 4

    def _slots(self, rows: np.ndarray) -> torch.Tensor:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.max() >= len(self._slot) or (self._slot[rows] < 0).any()):
            raise KeyError("MemoryBank: rows outside the bank were requested")
        return torch.from_numpy(self._slot[rows]).to(self.device)

    def videos(self, rows: np.ndarray, out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``out``: a tensor to gather the steps into (resized as needed; a trainer keeps one from batch to
        batch, so that a batch does not touch fresh memory: in a one-off timing on a 2-core CPU, gathering
        64 MB took 39 ms into fresh pages and 5 ms into reused ones). The returned video is then a view of
        ``out``."""
        slots = self._slots(rows)
        lengths = self.video_lengths[slots]
        width = int(lengths.max()) if lengths.numel() else 1
        steps = torch.arange(width, device=self.device)
        mask = steps < lengths[..., None]
        index = torch.where(mask, self.video_offsets[slots][..., None] + steps, len(self.video_steps) - 1)
        if out is not None:
            out.resize_(0)  # keeps its memory; index_select gives it the batch's size
        video = torch.index_select(self.video_steps, 0, index.reshape(-1), out=out)  # faster than x[index] on CPU
        return video.view(*index.shape, self.video_steps.shape[1]), mask

    def valid_steps(self, rows: np.ndarray) -> torch.Tensor:
        """``(n, C)``: the video steps of ``rows`` (1-d) without padding, row after row, each in time order
        (what ``video[mask]`` of :meth:`videos` holds, gathered without the padded batch)."""
        slots = self._slots(np.asarray(rows).reshape(-1))
        lengths = self.video_lengths[slots]
        # output step j of a row whose steps start at output position p is bank step offset + (j - p)
        shift = torch.repeat_interleave(self.video_offsets[slots] - (torch.cumsum(lengths, 0) - lengths), lengths)
        return torch.index_select(self.video_steps, 0, torch.arange(len(shift), device=self.device) + shift)

    def texts(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        slots = self._slots(rows)
        lengths = self.text_lengths[slots]
        width = int(lengths.max()) if lengths.numel() else 1
        ids = self.token_ids[slots][..., :width]
        mask = torch.arange(width, device=self.device) < lengths[..., None]
        text = torch.index_select(self.vectors, 0, ids.reshape(-1)).view(*ids.shape, self.vectors.shape[1])
        return text * mask[..., None], mask


def _cropped_ranges(source: SegmentSource, rows: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature steps ``[start, stop)`` of each row's segment, centre-cropped to ``max_frames`` as
    :class:`mmar.data.prepared.PairDataset` does."""
    items = source.items
    starts, stops = items.data.feature_ranges(rows, lengths, items.pairing)
    if items.max_frames is not None:
        over = np.maximum(stops - starts - items.max_frames, 0)
        starts = starts + over // 2
        stops = np.minimum(stops, starts + items.max_frames)
    return starts, stops


def _video_lengths(source: SegmentSource, video_ids: np.ndarray) -> np.ndarray:
    """Steps of each video's entry, asking the store once per distinct video."""
    unique, inverse = np.unique(video_ids, return_inverse=True)
    return np.array([source.items.store.length(v) for v in unique], dtype=np.int64)[inverse]


def _bank_steps(source: SegmentSource, rows: np.ndarray, progress: bool) -> tuple[torch.Tensor, np.ndarray]:
    """``(steps (total + 1, C) float32, lengths (n,))``: every row's video segment, concatenated, then
    one zero step. Each video of the store is read once (a video has several sentences)."""
    from tqdm.auto import tqdm

    items = source.items
    video_ids = items.data.sentences["video_id"].to_numpy()[rows]
    starts, stops = _cropped_ranges(source, rows, _video_lengths(source, video_ids))
    lengths = stops - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    steps = torch.zeros(int(offsets[-1]) + 1, items.store.feature_dim, dtype=torch.float32)
    order = np.argsort(video_ids, kind="stable")
    bounds = np.flatnonzero(np.r_[True, video_ids[order][1:] != video_ids[order][:-1], True])
    for a, b in tqdm(list(zip(bounds[:-1], bounds[1:])), desc="rows to memory", disable=not progress, leave=False):
        features = torch.from_numpy(items.store.read(video_ids[order[a]]))  # float32 (T, C)
        for i in order[a:b]:
            steps[offsets[i]:offsets[i + 1]] = features[starts[i]:stops[i]]
    return steps, lengths


def split_unpaired(train_rows: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(paired_rows, unpaired_rows)``: ``round(fraction * n)`` rows, chosen with ``seed``, lose their pairing."""
    train_rows = np.asarray(train_rows, dtype=np.int64)
    n_unpaired = int(round(fraction * len(train_rows)))
    order = np.random.default_rng([seed, 7919]).permutation(len(train_rows))
    unpaired = np.sort(train_rows[order[:n_unpaired]])
    paired = np.sort(train_rows[order[n_unpaired:]])
    return paired, unpaired


def channel_statistics(source: BatchSource, rows: np.ndarray, kind: str, chunk: int = 512
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (C,) over the valid steps of ``rows`` ("video" | "text"),
    in chunks of ``chunk`` rows (float64 sums). A :class:`MemoryBank`'s video steps are gathered without
    padding (:meth:`MemoryBank.valid_steps`: the same values in the same order, so the same sums)."""
    total = total_sq = None
    count = 0
    rows = np.asarray(rows, dtype=np.int64)
    for start in range(0, len(rows), chunk):
        if kind == "video" and isinstance(source, MemoryBank):
            valid = source.valid_steps(rows[start:start + chunk]).double()
        else:
            x, mask = (source.videos if kind == "video" else source.texts)(rows[None, start:start + chunk])
            valid = x[mask].double()
        total = valid.sum(0) if total is None else total + valid.sum(0)
        total_sq = (valid**2).sum(0) if total_sq is None else total_sq + (valid**2).sum(0)
        count += len(valid)
    mean = total / max(count, 1)
    std = (total_sq / max(count, 1) - mean**2).clamp(min=0).sqrt()
    return mean.float().cpu(), std.float().cpu()


def draw(order: np.ndarray, iteration: int, size: int) -> np.ndarray:
    """Rows ``iteration*size ... (iteration+1)*size`` of ``order``, wrapping around."""
    if size == 0 or len(order) == 0:
        return order[:0]
    return order[np.arange(iteration * size, (iteration + 1) * size) % len(order)]
