"""The prepared dataset: what notebook 01 writes and every later notebook reads.

Whatever the source (the embedded stand-in, ActivityNet annotations with stand-in video, or
ActivityNet with real I3D features), notebook 01 writes one folder ``<run_dir>/data/``::

    dataset.json     meta: data_source, description, classes, feature store path, fps, stride,
                     word vector source, pairing, counts, skipped-sample report
    sentences.csv    one row per sentence: sentence_id, video_id, class_name, subset (train|val),
                     start_s, end_s, duration_s, text, token_ids (space-separated vocab indices)
    vocab.npz        words (V,) and vectors (V, D) float32; index 0 is the padding token
    splits.json      zero-shot splits: {"seed": s, "trials": {"5": [[class, ...], ...], ...}}
    features.h5      the feature store (see :mod:`mmar.data.feature_store`), unless dataset.json
                     points at an external one

:class:`PreparedDataset` reads it; :class:`PairDataset` yields (video segment, sentence) pairs
streamed from the feature store; :func:`collate_pairs` pads a batch and builds masks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from mmar.data.feature_store import FeatureStoreReader

SENTENCE_COLUMNS = [
    "sentence_id", "video_id", "class_name", "subset", "start_s", "end_s", "duration_s", "text", "token_ids",
]
PAD_INDEX = 0


@dataclass
class PreparedDataset:
    """A prepared dataset folder, loaded. Features stay on disk and are streamed."""

    root: Path
    meta: dict[str, Any]
    sentences: pd.DataFrame
    vocab_words: np.ndarray
    vocab_vectors: np.ndarray
    splits: dict[int, list[list[str]]]
    _store: FeatureStoreReader | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, root: str | Path) -> "PreparedDataset":
        root = Path(root)
        if not (root / "dataset.json").is_file():
            raise FileNotFoundError(f"{root}: no dataset.json; run notebook 01_data first")
        meta = json.loads((root / "dataset.json").read_text())
        sentences = pd.read_csv(root / "sentences.csv", dtype={"token_ids": str, "video_id": str}, keep_default_na=False)
        vocab = np.load(root / "vocab.npz", allow_pickle=False)
        splits = read_splits(root / "splits.json")
        return cls(root, meta, sentences, vocab["words"], vocab["vectors"].astype(np.float32), splits)

    def write(self) -> None:
        """Write this dataset to ``self.root`` (used by the preparers)."""
        write_prepared(self.root, self.meta, self.sentences, self.vocab_words, self.vocab_vectors, self.splits)

    # -- facts -------------------------------------------------------------------------------
    @property
    def data_source(self) -> str:
        """``stand-in``, ``anet-text + stand-in video`` or ``activitynet``."""
        return self.meta["data_source"]

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def word_dim(self) -> int:
        return int(self.vocab_vectors.shape[1])

    @property
    def features_path(self) -> Path:
        path = Path(self.meta["features"])
        return path if path.is_absolute() else self.root / path

    def feature_store(self) -> FeatureStoreReader:
        """The feature store's reader, opened once per dataset object (listing a store's entries takes
        tens of milliseconds; every embedding and batch source asks for it)."""
        if self._store is None or self._store.path != self.features_path:
            self._store = FeatureStoreReader(self.features_path)
        return self._store

    def class_index(self, names: Sequence[str]) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.classes)}
        return np.array([lookup[n] for n in names], dtype=np.int64)

    # -- selections -----------------------------------------------------------------------------
    def rows(self, *, classes: Sequence[str] | None = None, exclude_classes: Sequence[str] | None = None,
             subset: str | None = None) -> np.ndarray:
        """Row indices of ``sentences`` filtered by class membership and subset (train|val)."""
        mask = np.ones(len(self.sentences), dtype=bool)
        if classes is not None:
            mask &= self.sentences["class_name"].isin(list(classes)).to_numpy()
        if exclude_classes is not None:
            mask &= ~self.sentences["class_name"].isin(list(exclude_classes)).to_numpy()
        if subset is not None:
            mask &= (self.sentences["subset"] == subset).to_numpy()
        return np.flatnonzero(mask)

    def token_ids(self, row: int) -> np.ndarray:
        text = self.sentences.at[row, "token_ids"]
        return np.array([int(t) for t in str(text).split()], dtype=np.int64)

    def feature_range(self, row: int, length: int, pairing: str = "segment") -> tuple[int, int]:
        """Feature steps ``[start, stop)`` of a sentence's temporal segment (or the whole video).

        ``length`` is the number of steps of the video's entry; the segment always keeps at least
        one step.
        """
        starts, stops = self.feature_ranges(np.array([row]), np.array([length]), pairing)
        return int(starts[0]), int(stops[0])

    def feature_ranges(self, rows: np.ndarray, lengths: np.ndarray, pairing: str = "segment"
                       ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`feature_range` of many rows at once: ``(starts (n,), stops (n,))`` for ``rows`` (n,)
        whose videos have ``lengths`` (n,) steps."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if pairing == "video":
            return np.zeros_like(lengths), lengths
        if pairing != "segment":
            raise ValueError(f"pairing must be 'segment' or 'video', got {pairing!r}")
        per_second = float(self.meta["fps"]) / float(self.meta["stride_frames"])
        rows = np.asarray(rows, dtype=np.int64)
        start = np.floor(self.sentences["start_s"].to_numpy(dtype=np.float64)[rows] * per_second).astype(np.int64)
        stop = np.ceil(self.sentences["end_s"].to_numpy(dtype=np.float64)[rows] * per_second).astype(np.int64)
        start = np.minimum(np.maximum(start, 0), lengths - 1)
        stop = np.minimum(np.maximum(stop, start + 1), lengths)
        return start, stop


def read_splits(path: str | Path) -> dict[int, list[list[str]]]:
    """The zero-shot splits of a ``splits.json``: ``{K: [[unseen class names of trial 0], [trial 1], ...]}``."""
    split_json = json.loads(Path(path).read_text())
    return {int(k): trials for k, trials in split_json["trials"].items()}


def centre_crop(start: int, stop: int, max_frames: int) -> tuple[int, int]:
    """The middle ``max_frames`` steps of ``[start, stop)`` (all of it when shorter): how long segments are cropped."""
    start += max(stop - start - max_frames, 0) // 2
    return start, min(stop, start + max_frames)


def write_prepared(root: str | Path, meta: dict[str, Any], sentences: pd.DataFrame, vocab_words: np.ndarray,
                   vocab_vectors: np.ndarray, splits: dict[int, list[list[str]]], split_seed: int | None = None) -> None:
    """Write the files of a prepared dataset folder (see the module docstring)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    missing = [c for c in SENTENCE_COLUMNS if c not in sentences.columns]
    if missing:
        raise ValueError(f"sentences table lacks columns {missing}")
    for required in ("data_source", "classes", "features", "fps", "stride_frames"):
        if required not in meta:
            raise ValueError(f"dataset meta lacks {required!r}")
    sentences[SENTENCE_COLUMNS].to_csv(root / "sentences.csv", index=False)
    np.savez(root / "vocab.npz", words=np.asarray(vocab_words, dtype=str), vectors=np.asarray(vocab_vectors, np.float32))
    seed = split_seed if split_seed is not None else meta.get("split_seed")
    (root / "splits.json").write_text(json.dumps({"seed": seed, "trials": {str(k): v for k, v in splits.items()}}, indent=1))
    (root / "dataset.json").write_text(json.dumps(meta, indent=1, default=str))


class PairDataset(Dataset):
    """(video feature segment, sentence) pairs of a prepared dataset, streamed from the store.

    Item: dict with ``video`` (T, C) float32, ``text`` (L, D) float32, ``class_index`` (),
    ``row`` () (the sentences-table row). ``max_frames``/``max_words`` crop long sequences
    (centre crop of frames, first words).
    """

    def __init__(self, data: PreparedDataset, rows: Sequence[int], *, pairing: str = "segment",
                 max_frames: int | None = None, max_words: int | None = None) -> None:
        self.data = data
        self.rows = np.asarray(rows, dtype=np.int64)
        self.pairing = pairing
        self.max_frames = max_frames
        self.max_words = max_words
        self.store = data.feature_store()
        self._class_lookup = {name: i for i, name in enumerate(data.classes)}
        self._vectors = torch.from_numpy(data.vocab_vectors)

    def __len__(self) -> int:
        return len(self.rows)

    def video(self, row: int) -> torch.Tensor:
        """Video features of one sentence row, (T, C)."""
        video_id = self.data.sentences.at[row, "video_id"]
        start, stop = self.data.feature_range(row, self.store.length(video_id), self.pairing)
        if self.max_frames is not None:
            start, stop = centre_crop(start, stop, self.max_frames)
        return torch.from_numpy(self.store.read(video_id, start, stop))

    def text(self, row: int) -> torch.Tensor:
        """Word vectors of one sentence row, (L, D)."""
        ids = torch.from_numpy(self.data.token_ids(row))
        if self.max_words is not None:
            ids = ids[: self.max_words]
        if len(ids) == 0:
            ids = torch.tensor([PAD_INDEX])
        return self._vectors[ids]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[index])
        return {
            "video": self.video(row),
            "text": self.text(row),
            "class_index": torch.tensor(self._class_lookup[self.data.sentences.at[row, "class_name"]]),
            "row": torch.tensor(row),
        }


def pad_sequences(sequences: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (T_i, C) tensors to (B, T_max, C) with zeros; mask (B, T_max) is True on valid steps."""
    lengths = torch.tensor([len(s) for s in sequences])
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True)
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return padded, mask


def collate_pairs(batch: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Batch of :class:`PairDataset` items -> ``video`` (B, T, C), ``video_mask`` (B, T) bool,
    ``text`` (B, L, D), ``text_mask`` (B, L) bool, ``class_index`` (B,), ``row`` (B,)."""
    video, video_mask = pad_sequences([item["video"] for item in batch])
    text, text_mask = pad_sequences([item["text"] for item in batch])
    return {
        "video": video,
        "video_mask": video_mask,
        "text": text,
        "text_mask": text_mask,
        "class_index": torch.stack([item["class_index"] for item in batch]),
        "row": torch.stack([item["row"] for item in batch]),
    }
