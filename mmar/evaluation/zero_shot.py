"""Zero-shot classification (the paper's Sec. 4.2, Tables 1 and 2).

Protocol (ICLR 2019 text): K unseen classes are withheld from all training, videos and sentences.
At test time the unseen-class videos are embedded with E_V and "a subset of sentences for the
unseen classes" with E_T; each video takes the class of its nearest sentence (1-NN). The number of
sentences per class is not stated: it is the parameter ``sentences_per_class`` here. We also
score the class-prototype variant (each class represented by its mean sentence embedding).

Choices made here (all parameters, recorded with each result):

- ``video_unit="video"``: one test item per unseen-class video, its whole feature sequence (the
  paper classifies videos); ``"segment"``: one item per sentence segment.
- References and queries come from disjoint videos: per unseen class, ``reference_videos_per_class``
  videos (drawn with the trial's seed) are reference videos, and up to ``sentences_per_class`` of
  their sentences (drawn with the seed) are the class's reference sentences; the class's other
  videos are the queries. So no query video's own caption is ever among the references (with all
  of a class's sentences as references, 1-NN would partly measure retrieval of a video's own
  caption, not recognition).
- ``video_subset="all"``: every query video of the unseen classes is a test video (none was used in
  training); ``"val"``: only those of the dataset's val subset.

:func:`zero_shot_on_store` runs the protocol on any labelled feature store with one or more
sentences per class (e.g. HMDB51/UCF101 I3D features with the paper's hand-written class
sentences of its App. B), for Table 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from mmar.data.feature_store import FeatureStoreReader
from mmar.data.prepared import PreparedDataset, pad_sequences
from mmar.evaluation.metrics import nn_accuracy, prototype_accuracy


@dataclass
class ZeroShotTest:
    """The test items of one zero-shot trial (indices into ``data.sentences``)."""

    unseen: list[str]
    video_rows: np.ndarray      # (n_videos,) one row per query video (or segment)
    sentence_rows: np.ndarray   # (n_sentences,) the sentences embedded as class references
    video_unit: str
    video_subset: str
    sentences_per_class: int
    reference_videos: list[str]  # the videos whose sentences may be references (never queries)


def seen_training_rows(data: PreparedDataset, unseen: Sequence[str], subset: str | None = "train") -> np.ndarray:
    """Rows of the seen classes (every class not in ``unseen``) of ``subset`` (None = all)."""
    unknown = sorted(set(unseen) - set(data.classes))
    if unknown:
        raise ValueError(f"{data.root}: unseen classes {unknown} are not classes of the dataset")
    return data.rows(exclude_classes=list(unseen), subset=subset)


def sample_per_class(rows: np.ndarray, class_names: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Up to ``per_class`` of ``rows`` (n,) from each class (``class_names`` (n,)), drawn at random
    (seeded), returned sorted."""
    order = np.random.default_rng(seed).permutation(len(rows))
    shuffled = pd.DataFrame({"row": np.asarray(rows)[order], "class_name": np.asarray(class_names)[order]})
    return np.sort(shuffled.groupby("class_name", sort=False).head(per_class)["row"].to_numpy())


def query_pairing(video_unit: str, pairing: str) -> str:
    """How a zero-shot test's query rows are embedded: whole videos when ``video_unit`` is "video", else as the
    model's training ``pairing`` (each sentence's segment, or its whole video)."""
    return "video" if video_unit == "video" else pairing


def zero_shot_test(data: PreparedDataset, unseen: Sequence[str], *, sentences_per_class: int, seed: int,
                   reference_videos_per_class: int = 4, video_unit: str = "video",
                   video_subset: str = "all") -> ZeroShotTest:
    """Choose the reference sentences and query videos of one trial (see the module docstring)."""
    if video_unit not in ("video", "segment"):
        raise ValueError(f"video_unit must be 'video' or 'segment', got {video_unit!r}")
    if video_subset not in ("all", "val"):
        raise ValueError(f"video_subset must be 'all' or 'val', got {video_subset!r}")
    if sentences_per_class < 1 or reference_videos_per_class < 1:
        raise ValueError("sentences_per_class and reference_videos_per_class must be >= 1, got "
                         f"{sentences_per_class} and {reference_videos_per_class}")
    table = data.sentences
    rng = np.random.default_rng([seed, 4099])
    reference_videos: list[str] = []
    for name in unseen:
        videos = np.unique(table["video_id"].to_numpy()[data.rows(classes=[name])])
        if len(videos) <= reference_videos_per_class:
            raise ValueError(f"{data.root}: unseen class {name!r} has {len(videos)} videos; "
                             f"{reference_videos_per_class} reference videos leave no query video")
        reference_videos += sorted(rng.choice(videos, size=reference_videos_per_class, replace=False).tolist())
    is_reference = table["video_id"].isin(reference_videos).to_numpy()
    all_rows = data.rows(classes=list(unseen))
    reference_rows = all_rows[is_reference[all_rows]]
    video_rows = data.rows(classes=list(unseen), subset=None if video_subset == "all" else "val")
    video_rows = video_rows[~is_reference[video_rows]]
    if video_unit == "video":
        video_ids = table["video_id"].to_numpy()[video_rows]
        _, first = np.unique(video_ids, return_index=True)
        video_rows = np.sort(video_rows[first])
    classes = table["class_name"].to_numpy()
    sentence_rows = sample_per_class(reference_rows, classes[reference_rows], sentences_per_class, seed)
    missing = sorted(set(unseen) - set(classes[video_rows]))
    if missing:
        raise ValueError(f"{data.root}: unseen classes {missing} have no {video_subset} query videos")
    return ZeroShotTest(list(unseen), video_rows, sentence_rows, video_unit, video_subset, sentences_per_class,
                        reference_videos)


def zero_shot_scores(video: np.ndarray, video_labels: np.ndarray, sentences: np.ndarray,
                     sentence_labels: np.ndarray) -> dict[str, float]:
    """``{"nn_accuracy": %, "prototype_accuracy": %}``: 1-NN to sentences and nearest class mean.

    ``video`` (n, E) and ``sentences`` (m, E) are embeddings; labels are (n,) and (m,).
    """
    return {
        "nn_accuracy": 100.0 * nn_accuracy(video, video_labels, sentences, sentence_labels),
        "prototype_accuracy": 100.0 * prototype_accuracy(video, video_labels, sentences, sentence_labels),
    }


# -- any labelled feature store (HMDB51 / UCF101 in the paper's Table 2) --------------------------

@torch.no_grad()
def embed_store_videos(model, store: FeatureStoreReader, video_ids: Sequence[str], *, batch_size: int = 64,
                       max_frames: int | None = None) -> np.ndarray:
    """E_V embeddings (n, E) of whole videos of a feature store (centre crop to ``max_frames``)."""
    out = []
    for start in range(0, len(video_ids), batch_size):
        clips = []
        for video_id in video_ids[start:start + batch_size]:
            feats = store.read(video_id)
            if max_frames is not None and len(feats) > max_frames:
                offset = (len(feats) - max_frames) // 2
                feats = feats[offset:offset + max_frames]
            clips.append(torch.from_numpy(feats))
        video, mask = pad_sequences(clips)
        out.append(model.encode_video(video, mask).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def embed_sentences(model, sentences: Sequence[str], glove, *, batch_size: int = 256) -> np.ndarray:
    """E_T embeddings (n, E) of sentences given as strings, tokenised and looked up in ``glove``
    (a :class:`mmar.data.glove.GloveVectors`). A sentence with no known word is an error."""
    from mmar.data.glove import build_vocabulary

    vocabulary, token_ids, _ = build_vocabulary(list(sentences), glove)
    empty = [s for s, ids in zip(sentences, token_ids) if not ids]
    if empty:
        raise ValueError(f"no word of these sentences is in {glove.source}: {empty[:3]}")
    vectors = torch.from_numpy(vocabulary.vectors)
    out = []
    for start in range(0, len(token_ids), batch_size):
        text, mask = pad_sequences([vectors[torch.tensor(ids)] for ids in token_ids[start:start + batch_size]])
        out.append(model.encode_text(text, mask).cpu().numpy())
    return np.concatenate(out)


def zero_shot_on_store(model, store: FeatureStoreReader, labels: Mapping[str, str],
                       class_sentences: Mapping[str, str | Sequence[str]], glove, *, batch_size: int = 64,
                       max_frames: int | None = None) -> dict[str, float]:
    """Zero-shot accuracy on a labelled feature store (Table 2 protocol).

    ``labels`` maps each test video id to its class; ``class_sentences`` maps each class to one
    sentence or a list of them (the paper wrote one per HMDB/UCF class). Every labelled class needs
    sentences. Returns :func:`zero_shot_scores` plus ``chance`` (100 / number of candidate classes,
    i.e. classes with sentences).
    """
    video_ids = list(labels)
    missing = store.missing(video_ids)
    if missing:
        raise KeyError(f"{store.path}: no features for {len(missing)} labelled videos, e.g. {missing[:3]}")
    without = sorted(set(labels.values()) - set(class_sentences))
    if without:
        raise ValueError(f"classes without sentences: {without[:5]}")
    sentence_texts, sentence_labels = [], []
    for name, texts in class_sentences.items():
        for text in [texts] if isinstance(texts, str) else texts:
            sentence_texts.append(text)
            sentence_labels.append(name)
    video = embed_store_videos(model, store, video_ids, batch_size=batch_size, max_frames=max_frames)
    sentences = embed_sentences(model, sentence_texts, glove)
    scores = zero_shot_scores(video, np.array([labels[v] for v in video_ids]), sentences, np.array(sentence_labels))
    scores["chance"] = 100.0 / len(class_sentences)
    return scores
