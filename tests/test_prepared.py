"""The prepared-dataset format and the pair loader."""

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmar.data.prepared import PairDataset, PreparedDataset, collate_pairs


def test_round_trip_and_pairs(tiny_prepared: PreparedDataset) -> None:
    data = PreparedDataset.load(tiny_prepared.root)
    assert data.classes == tiny_prepared.classes
    rows = data.rows(subset="train")
    loader = DataLoader(PairDataset(data, rows), batch_size=5, collate_fn=collate_pairs)
    batch = next(iter(loader))
    assert batch["video"].shape[0] == 5 and batch["video"].shape[2] == 16
    assert batch["text"].shape[2] == 8
    # masks mark exactly the valid steps; padding is zero
    assert torch.all(batch["video"][~batch["video_mask"]] == 0)
    lengths = batch["video_mask"].sum(1)
    assert torch.all(lengths >= 1)


def test_segment_is_inside_video(tiny_prepared: PreparedDataset) -> None:
    store = tiny_prepared.feature_store()
    for row in range(len(tiny_prepared.sentences)):
        video_id = tiny_prepared.sentences.at[row, "video_id"]
        length = store.length(video_id)
        start, stop = tiny_prepared.feature_range(row, length)
        assert 0 <= start < stop <= length
        assert tiny_prepared.feature_range(row, length, "video") == (0, length)


def test_rows_filters(tiny_prepared: PreparedDataset) -> None:
    unseen = tiny_prepared.splits[2][0]
    train = tiny_prepared.rows(exclude_classes=unseen, subset="train")
    assert not set(tiny_prepared.sentences.loc[train, "class_name"]) & set(unseen)
    test = tiny_prepared.rows(classes=unseen)
    assert set(tiny_prepared.sentences.loc[test, "class_name"]) == set(unseen)
    assert np.intersect1d(train, test).size == 0
