"""Data-source labels come from recorded facts: a feature store's attributes and ids, and what notebook 01's
statistics were computed on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmar.data.activitynet import _store_data_source
from mmar.data.feature_store import FeatureStoreReader, FeatureStoreWriter
from mmar.data.stats import REAL_ANNOTATIONS_COLUMN, statistics_rows
from mmar.results import (ACTIVITYNET, ACTIVITYNET_ANNOTATIONS, ANET_TEXT_STANDIN_VIDEO, STANDIN, UNKNOWN_FEATURES)

IDS = [f"v_{i:03d}" for i in range(10)]


def _store(path: Path, ids: list[str], *, extractor: str, source: str = "") -> FeatureStoreReader:
    with FeatureStoreWriter(path, extractor=extractor, fps=25.0, stride_frames=8, feature_dim=1024, source=source) as w:
        for video_id in ids:
            w.write(video_id, np.ones((3, 1024), np.float32))
    return FeatureStoreReader(path)


@pytest.mark.parametrize("extractor, source", [
    ("i3d-kinetics400-rgb/Mixed_5c+avgpool(2,7,7)", STANDIN),           # a real-looking extractor string ...
    ("i3d-kinetics400-rgb/Mixed_5c+avgpool(2,7,7)", ANET_TEXT_STANDIN_VIDEO),  # ... on a generated store
    ("stand-in generator v1", ""),
    ("generated: something", ""),
])
def test_generated_store_is_always_a_standin(tmp_path: Path, extractor: str, source: str) -> None:
    label, why = _store_data_source(_store(tmp_path / "f.h5", IDS, extractor=extractor, source=source), IDS)
    assert label == ANET_TEXT_STANDIN_VIDEO and "generated" in why


def test_real_store_is_activitynet_only_when_its_ids_match(tmp_path: Path) -> None:
    extractor = "i3d-kinetics400-rgb/Mixed_5c+avgpool(2,7,7)"
    most = _store(tmp_path / "most.h5", IDS[:6], extractor=extractor)  # 6 of the 10 videos in use
    label, why = _store_data_source(most, IDS)
    assert label == ACTIVITYNET and "60%" in why and extractor in why
    few = _store(tmp_path / "few.h5", IDS[:4] + ["k_400_a", "k_400_b"], extractor=extractor)  # 4 of 10
    label, why = _store_data_source(few, IDS)
    assert label == UNKNOWN_FEATURES and "features for 4 of the 10 annotation videos in use (40.0%" in why


def test_store_without_extractor_is_unknown(tmp_path: Path) -> None:
    label, why = _store_data_source(_store(tmp_path / "f.h5", IDS, extractor=""), IDS)
    assert label == UNKNOWN_FEATURES and "no extractor" in why


def test_annotation_statistics_have_their_own_label() -> None:
    stats = {STANDIN: {"n_videos": 120.0}, REAL_ANNOTATIONS_COLUMN: {"n_videos": 14926.0, "n_sentences": 54926.0}}
    rows = statistics_rows(stats, STANDIN, "generated data", profile="t", run_path="/tmp/x", config={}, seed=0)
    labels = {(r.data_source, r.metric) for r in rows}
    assert labels == {(STANDIN, "n_videos"), (ACTIVITYNET_ANNOTATIONS, "n_videos"),
                      (ACTIVITYNET_ANNOTATIONS, "n_sentences")}
    assert ACTIVITYNET not in {r.data_source for r in rows}
    assert all(r.to_record()["data_source"] == r.data_source for r in rows)
