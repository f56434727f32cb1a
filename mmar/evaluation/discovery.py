"""Unsupervised activity discovery (the protocol of the paper's Tables 3 and 4, Sec. 4.3).

Embed each test video with E_V, run k-means with k = the number of classes, label each cluster
by the majority vote of its members' true labels, and score the accuracy of those labels. The
baseline runs the same k-means on the input features themselves, mean-pooled over time (the
paper's "Baseline I3D features"). We also report NMI and the adjusted Rand index, which do not
depend on the vote.

The paper ran this on MLB-YouTube (Table 3) and HMDB/UCF (Table 4) with an embedding trained on
ActivityNet; :func:`discovery_on_store` runs it on any labelled feature store (e.g. HMDB or UCF I3D
features). On the prepared dataset the notebooks apply it to the unseen classes of a zero-shot
split.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.cluster import KMeans

from mmar.data.feature_store import FeatureStoreReader
from mmar.data.prepared import PreparedDataset, centre_crop
from mmar.evaluation.metrics import ari, cluster_vote_accuracy, nmi


def kmeans_clusters(x: np.ndarray, k: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """k-means (scikit-learn, k-means++ init, best of ``n_init``) cluster ids (n,) of ``x`` (n, E)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"k-means needs at least k={k} items of shape (n, E), got {x.shape}")
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)


def discovery_scores(x: np.ndarray, labels: np.ndarray, k: int | None = None, seed: int = 0,
                     n_init: int = 10) -> dict[str, float]:
    """``{"accuracy": % (0-100), "nmi": 0-1, "ari": -1..1}`` of k-means on ``x`` (n, E) against ``labels`` (n,).

    ``k`` defaults to the number of distinct labels.
    """
    labels = np.asarray(labels)
    k = len(np.unique(labels)) if k is None else k
    clusters = kmeans_clusters(x, k, seed, n_init)
    return {
        "accuracy": 100.0 * cluster_vote_accuracy(clusters, labels),
        "nmi": nmi(clusters, labels),
        "ari": ari(clusters, labels),
    }


def mean_pooled(store: FeatureStoreReader, video_ids: Sequence[str],
                ranges: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """Time-averaged input features (n, C) of ``video_ids`` (optionally of steps ``ranges[i]``)."""
    pooled = np.empty((len(video_ids), store.feature_dim), dtype=np.float64)
    for i, video_id in enumerate(video_ids):
        start, stop = ranges[i] if ranges is not None else (None, None)
        pooled[i] = store.read(video_id, start, stop).mean(0)
    return pooled


def mean_pooled_rows(data: PreparedDataset, rows: Sequence[int], pairing: str = "video",
                     max_frames: int | None = None) -> np.ndarray:
    """Time-averaged input features (n, C) of sentence rows of a prepared dataset: the whole video
    (``pairing="video"``) or each sentence's segment (``"segment"``), centre-cropped to ``max_frames`` steps
    as the models' inputs are (:func:`mmar.data.prepared.centre_crop`; None: uncropped)."""
    store = data.feature_store()
    video_ids = [data.sentences.at[int(r), "video_id"] for r in rows]
    ranges = [data.feature_range(int(r), store.length(v), pairing) for r, v in zip(rows, video_ids)]
    if max_frames is not None:
        ranges = [centre_crop(start, stop, max_frames) for start, stop in ranges]
    return mean_pooled(store, video_ids, ranges)


def discovery_on_store(model, store: FeatureStoreReader, labels: Mapping[str, str], *, seed: int = 0,
                       n_init: int = 10, batch_size: int = 64, max_frames: int | None = None
                       ) -> dict[str, dict[str, float]]:
    """Tables 3/4 protocol on a labelled feature store: ``{"embedding": scores, "baseline": scores}``.

    ``labels`` maps video id -> class name for the videos to cluster (every one must be in the
    store). ``model`` has ``encode_video(video (B, T, C), mask (B, T)) -> (B, E)``.
    """
    from mmar.evaluation.zero_shot import embed_store_videos

    video_ids = list(labels)
    missing = store.missing(video_ids)
    if missing:
        raise KeyError(f"{store.path}: no features for {len(missing)} labelled videos, e.g. {missing[:3]}")
    names = np.array([labels[v] for v in video_ids])
    embedded = embed_store_videos(model, store, video_ids, batch_size=batch_size, max_frames=max_frames)
    return {
        "embedding": discovery_scores(embedded, names, seed=seed, n_init=n_init),
        "baseline": discovery_scores(mean_pooled(store, video_ids), names, seed=seed, n_init=n_init),
    }
