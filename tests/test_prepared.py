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


def test_feature_store_refuses_mismatched_append(tmp_path) -> None:
    import pytest

    from mmar.data.feature_store import FeatureStoreError, FeatureStoreReader, FeatureStoreWriter

    path = tmp_path / "f.h5"
    with FeatureStoreWriter(path, extractor="x", fps=25, stride_frames=8, feature_dim=4) as store:
        store.write("v/1", np.ones((3, 4)))
    with pytest.raises(FeatureStoreError, match="feature_dim=4, asked for 5"):
        FeatureStoreWriter(path, extractor="x", fps=25, stride_frames=8, feature_dim=5)
    reader = FeatureStoreReader(path)
    assert reader.ids() == ["v/1"] and reader.read("v/1", 1).shape == (2, 4)
    assert reader.missing(["v/1", "v/2"]) == ["v/2"]
