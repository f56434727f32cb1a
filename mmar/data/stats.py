"""Dataset statistics for notebook 01: the same numbers for the stand-in and for real annotations.

The reference values come from ActivityNet Captions (Krishna et al. 2017, ICCV, §3: 20k videos,
100k sentences, 3.65 sentences per video, 13.48 words per sentence, videos of 120 s on average, a
sentence covering about a third of its video); :func:`sentence_stats` recomputes them from any
sentence table with the columns of :data:`mmar.data.prepared.SENTENCE_COLUMNS` (``text`` is
tokenised with :func:`mmar.data.text.tokenize`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mmar.data.classes import class_name_words
from mmar.data.feature_store import FeatureStoreReader
from mmar.data.glove import GloveVectors
from mmar.data.text import tokenize
from mmar.results import ACTIVITYNET_ANNOTATIONS, ResultRow

#: The column of notebook 01's statistics table that holds the real annotation files' statistics.
REAL_ANNOTATIONS_COLUMN = "activitynet captions (real annotations)"
#: The note of result rows computed from the real annotation files alone (the training file is train_modified.json,
#: or train.json where only that one is given: :func:`mmar.data.activitynet.caption_path`).
REAL_ANNOTATIONS_NOTE = "ActivityNet Captions annotation files (training + val_1) alone (real; no video features)"

STAT_NAMES = {
    "n_classes": "classes",
    "n_videos": "videos",
    "n_sentences": "sentences",
    "sentences_per_video": "sentences per video (mean)",
    "words_per_sentence": "words per sentence (mean)",
    "video_duration_s": "video duration, s (mean)",
    "segment_duration_s": "segment duration, s (mean)",
    "segment_fraction": "segment / video duration (mean)",
}


def per_sentence(sentences: pd.DataFrame) -> pd.DataFrame:
    """Adds ``n_words``, ``segment_s`` and ``segment_fraction`` columns (a copy)."""
    table = sentences.copy()
    table["n_words"] = table["text"].map(lambda s: len(tokenize(s)))
    table["segment_s"] = table["end_s"] - table["start_s"]
    table["segment_fraction"] = table["segment_s"] / table["duration_s"]
    return table


def sentence_stats(sentences: pd.DataFrame) -> dict[str, float]:
    """The :data:`STAT_NAMES` statistics of a sentence table (one row per sentence)."""
    table = per_sentence(sentences)
    videos = table.drop_duplicates("video_id")
    return {
        "n_classes": float(table["class_name"].nunique()),
        "n_videos": float(len(videos)),
        "n_sentences": float(len(table)),
        "sentences_per_video": float(len(table) / len(videos)),
        "words_per_sentence": float(table["n_words"].mean()),
        "video_duration_s": float(videos["duration_s"].mean()),
        "segment_duration_s": float(table["segment_s"].mean()),
        "segment_fraction": float(table["segment_fraction"].mean()),
    }


def statistics_label(column: str, data_source: str) -> str:
    """The data-source label of one column of the statistics table: ``activitynet annotations`` for the real
    annotation files (:data:`REAL_ANNOTATIONS_COLUMN`), never ``activitynet`` (that label means real features);
    the run's dataset keeps its own label ``data_source``."""
    return ACTIVITYNET_ANNOTATIONS if column == REAL_ANNOTATIONS_COLUMN else data_source


def statistics_rows(stats: Mapping[str, Mapping[str, float]], data_source: str, description: str, *, profile: str,
                    run_path: str, config: Mapping[str, Any], seed: int) -> list[ResultRow]:
    """Result rows (experiment ``dataset_statistics``) of ``{column: sentence_stats(...)}``: the run's dataset
    under ``data_source`` with its ``description`` as note, the real annotation files under
    :func:`statistics_label`'s ``activitynet annotations``."""
    rows = []
    for column, values in stats.items():
        label = statistics_label(column, data_source)
        note = REAL_ANNOTATIONS_NOTE if label == ACTIVITYNET_ANNOTATIONS else description
        for metric, value in values.items():
            rows.append(ResultRow(experiment="dataset_statistics", metric=metric, values=[value], data_source=label,
                                  profile=profile, run_path=run_path, config=dict(config), seeds=[seed], notes=note))
    return rows


def annotated_videos_table(videos: Sequence) -> pd.DataFrame:
    """A sentence table from :class:`mmar.data.activitynet.AnnotatedVideo` objects."""
    rows = []
    for video in videos:
        for (start, end), text in zip(video.segments, video.sentences):
            rows.append({"video_id": video.video_id, "class_name": video.class_name, "subset": video.subset,
                         "start_s": start, "end_s": end, "duration_s": video.duration_s, "text": text})
    return pd.DataFrame(rows)


def pooled_features(store: FeatureStoreReader, video_ids: Sequence[str], parts: Sequence[int] = (1,)
                    ) -> dict[int, np.ndarray]:
    """For each ``p`` in ``parts``: every video's features averaged over ``p`` equal consecutive
    parts and concatenated, (n_videos, p * C). ``p = 1`` is mean pooling; more parts keep coarse
    temporal order. Each video is read once."""
    pooled: dict[int, list[np.ndarray]] = {p: [] for p in parts}
    for video_id in video_ids:
        x = store.read(video_id)
        for p in parts:
            edges = np.linspace(0, len(x), p + 1)
            pieces = [x[int(a):max(int(np.ceil(b)), int(a) + 1)].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])]
            pooled[p].append(np.concatenate(pieces))
    return {p: np.stack(rows) for p, rows in pooled.items()}


def nearest_class_mean_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                                test_y: np.ndarray) -> float:
    """Accuracy of assigning each test row (n, F) to the class whose mean training row is nearest (L2)."""
    labels = np.unique(train_y)
    means = np.stack([train_x[train_y == label].mean(axis=0) for label in labels])
    # ||x - m||^2 without the (n, classes, F) intermediate; ||x||^2 is the same for every class
    distances = (means ** 2).sum(axis=1)[None, :] - 2.0 * test_x @ means.T
    return float((labels[distances.argmin(axis=1)] == test_y).mean())


def class_similarities(classes: Sequence[str], glove: GloveVectors, class_features: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(C, C) cosine similarities of the classes' GloVe name vectors and of their mean features.

    ``class_features`` (C, F) are per-class mean features; they are centred over classes first,
    so the similarity reflects how classes differ, not the shared offset of non-negative features.
    """
    unit = glove.unit_vectors()
    names = np.stack([unit[[glove.index(w) for w in class_name_words(c, glove)]].mean(axis=0) for c in classes])
    names /= np.linalg.norm(names, axis=1, keepdims=True)
    centred = class_features - class_features.mean(axis=0, keepdims=True)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-8)
    return names @ names.T, centred @ centred.T
