"""Shared fixtures. ``tiny_prepared`` is a small random prepared dataset (see mmar.data.prepared)
for tests of models, training and evaluation that need the format but not realistic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmar.data.feature_store import FeatureStoreWriter
from mmar.data.prepared import PreparedDataset, write_prepared
from mmar.paths import activitynet_annotations_dir, shared_data_dir
from mmar.results import STANDIN


def make_tiny_prepared(root: Path, *, n_classes: int = 6, videos_per_class: int = 4, sentences_per_video: int = 2,
                       feature_dim: int = 16, word_dim: int = 8, seed: int = 0) -> PreparedDataset:
    """Write a random prepared dataset: class-dependent features and words, so it is learnable."""
    rng = np.random.default_rng(seed)
    classes = [f"class {i}" for i in range(n_classes)]
    words = np.array(["<pad>"] + [f"w{i}" for i in range(5 * n_classes)])
    vectors = rng.normal(size=(len(words), word_dim)).astype(np.float32)
    vectors[0] = 0.0
    class_centres = rng.normal(size=(n_classes, feature_dim)).astype(np.float32)
    rows = []
    with FeatureStoreWriter(root / "features.h5", extractor="tiny-random", fps=25.0, stride_frames=8,
                            feature_dim=feature_dim, source=STANDIN) as store:
        for c in range(n_classes):
            for v in range(videos_per_class):
                video_id = f"v_{c}_{v}"
                length = int(rng.integers(6, 15))
                feats = class_centres[c] + 0.3 * rng.normal(size=(length, feature_dim))
                store.write(video_id, feats.astype(np.float32))
                duration = length * 8 / 25.0
                subset = "val" if v == videos_per_class - 1 else "train"
                for s in range(sentences_per_video):
                    n_words = int(rng.integers(3, 7))
                    token_ids = 1 + 5 * c + rng.integers(0, 5, size=n_words)
                    start = duration * s / sentences_per_video
                    rows.append({
                        "sentence_id": f"{video_id}#{s}", "video_id": video_id, "class_name": classes[c],
                        "subset": subset, "start_s": start, "end_s": start + duration / sentences_per_video,
                        "duration_s": duration, "text": " ".join(words[token_ids]),
                        "token_ids": " ".join(str(t) for t in token_ids),
                    })
    splits = {2: [classes[:2], classes[2:4]], 3: [classes[:3]]}
    meta = {"data_source": STANDIN, "description": "tiny random test dataset", "classes": classes,
            "features": "features.h5", "fps": 25.0, "stride_frames": 8, "feature_dim": feature_dim,
            "word_dim": word_dim, "split_seed": seed}
    write_prepared(root, meta, pd.DataFrame(rows), words, vectors, splits)
    return PreparedDataset.load(root)


@pytest.fixture
def tiny_prepared(tmp_path: Path) -> PreparedDataset:
    return make_tiny_prepared(tmp_path / "data")


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (only CI and the project's machines have the real files)")
    return path


@pytest.fixture
def anet_dir() -> Path:
    path = activitynet_annotations_dir()
    if path is None:
        pytest.skip("../shared/data/activitynet is absent (real ActivityNet Captions annotations)")
    return path
