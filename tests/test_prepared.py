"""The prepared-dataset format and the pair loader."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
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


def test_float16_features_are_read_as_numpys_float32_bit_for_bit(tmp_path) -> None:
    """Every one of the 65,536 float16 bit patterns but NaNs (zeros, subnormals, infinities) converts to the float32
    bits NumPy's ``astype`` gives, and a NaN to a NaN (PyTorch quiets signalling NaNs; the reader refuses NaN
    features anyway); a float32 store reads back unchanged; the reader's length of an entry is its T."""
    from mmar.data.feature_store import FeatureStoreReader, FeatureStoreWriter, as_float32

    every = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(-1, 64)
    converted = as_float32(every)
    assert converted.dtype == np.float32 and converted.shape == every.shape
    numbers = ~np.isnan(every)
    assert numbers.sum() == 2**16 - 2046  # 2 x (2^10 - 1) NaN patterns
    np.testing.assert_array_equal(converted[numbers].view(np.uint32), every[numbers].astype(np.float32).view(np.uint32))
    assert np.isnan(converted[~numbers]).all()
    np.testing.assert_array_equal(as_float32(every[:, ::2]), every[:, ::2].astype(np.float32))  # not contiguous
    read_only = every.copy()
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch warns on a non-writable array; as_float32 must not hand it one
        np.testing.assert_array_equal(as_float32(read_only[:4]), every[:4].astype(np.float32))
    values = np.random.default_rng(0).normal(size=(5, 4))
    for dtype in ("float16", "float32"):
        path = tmp_path / f"{dtype}.h5"
        with FeatureStoreWriter(path, extractor="x", fps=25, stride_frames=8, feature_dim=4, dtype=dtype) as store:
            store.write("v", values)
        reader = FeatureStoreReader(path)
        np.testing.assert_array_equal(reader.read("v"), values.astype(dtype).astype(np.float32))
        assert reader.length("v") == reader.length("v") == 5


#: Segments (s) of a 30-step video (9.6 s) at 25 fps and a stride of 8 frames, i.e. 3.125 steps per second, and
#: their steps [start, stop) by hand: start = floor(3.125 s), stop = ceil(3.125 s), clipped to the video, at
#: least one step.
SEGMENT_STEPS = [
    ((0.0, 0.1), (0, 1)),     # tiny segment at 0: ceil(0.3125) = 1
    ((0.0, 0.0), (0, 1)),     # empty segment: stop ceil(0) = 0 raised to start + 1
    ((-0.5, 0.2), (0, 1)),    # start before 0: floor(-1.5625) = -2 clipped to 0; ceil(0.625) = 1
    ((1.0, 2.0), (3, 7)),     # floor(3.125) = 3, ceil(6.25) = 7
    ((2.0, 2.01), (6, 7)),    # floor(6.25) = 6, ceil(6.28125) = 7
    ((2.2, 3.0), (6, 10)),    # floor(6.875) = 6 (rounding would give 7), ceil(9.375) = 10
    ((1.0, 8.0), (3, 25)),    # 8 s is exactly step 25: ceil(25.0) = 25, not 26
    ((8.0, 8.5), (25, 27)),   # floor(25.0) = 25, ceil(26.5625) = 27
    ((9.0, 9.6), (28, 30)),   # up to the end: floor(28.125) = 28, ceil(30.0) = 30
    ((9.5, 12.0), (29, 30)),  # past the end: ceil(37.5) = 38 clipped to 30
    ((11.0, 12.0), (29, 30)),  # wholly past the end: floor(34.375) = 34 clipped to the last step, 29
]


def _segments_dataset(segments: list[tuple[float, float]], fps: float = 25.0,
                      stride_frames: int = 8) -> PreparedDataset:
    """A dataset of sentences with only the columns feature_ranges reads."""
    sentences = pd.DataFrame({"start_s": [a for a, _ in segments], "end_s": [b for _, b in segments]})
    meta = {"fps": fps, "stride_frames": stride_frames}
    return PreparedDataset(Path("."), meta, sentences, np.array(["<pad>"]), np.zeros((1, 1), np.float32), {})


def test_segments_map_to_hand_computed_feature_steps() -> None:
    """Both implementations of the mapping (the prepared dataset's and the ActivityNet stand-in store's)
    against steps computed by hand, at 25 fps / 8 frames and at 10 fps / 4 frames (2.5 steps per second)."""
    from mmar.data.anet_standin import segment_steps

    segments = [segment for segment, _ in SEGMENT_STEPS]
    expected = [steps for _, steps in SEGMENT_STEPS]
    assert segment_steps(segments, 30) == expected
    data = _segments_dataset(segments)
    starts, stops = data.feature_ranges(np.arange(len(segments)), np.full(len(segments), 30))
    assert list(zip(starts.tolist(), stops.tolist())) == expected
    assert [data.feature_range(row, 30) for row in range(len(segments))] == expected
    # each row is clipped to its own video's length: the same segment in a 40-step video is not cut
    starts, stops = data.feature_ranges(np.array([9, 9, 10]), np.array([30, 40, 40]))
    assert list(zip(starts.tolist(), stops.tolist())) == [(29, 30), (29, 38), (34, 38)]
    # another rate: floor(2.5 * 1.0) = 2, ceil(2.5 * 2.1) = ceil(5.25) = 6 (3.125 steps/s would give 3, 7)
    assert segment_steps([(1.0, 2.1)], 30, fps=10.0, stride_frames=4) == [(2, 6)]
    assert _segments_dataset([(1.0, 2.1)], fps=10.0, stride_frames=4).feature_range(0, 30) == (2, 6)
    # pairing "video": the whole video whatever the segment
    starts, stops = data.feature_ranges(np.array([3, 9]), np.array([30, 12]), "video")
    assert starts.tolist() == [0, 0] and stops.tolist() == [30, 12]
