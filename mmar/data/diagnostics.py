"""Method-independent properties of a dataset's features and sentences (notebook 01; issue 22).

These numbers describe the *data*, before any model is trained, and are what the stand-in
generator is calibrated to (never the method's results):

* **raw-feature discovery**: k-means (k = K) with cluster voting, the paper's Sec. 4.3 protocol, on
  mean-pooled input features of all videos of K randomly drawn classes, for each K of ``ks``, over
  ``draws`` draws. The paper's "Baseline I3D features" rows measure exactly this on real I3D
  features: 23.4 % (Table 3, MLB-YouTube), 26.8 % (Table 4, HMDB) and 42.8 % (Table 4, UCF101),
  though at other K (the datasets' own class counts) and on other datasets. ``vote_floor`` is the
  same score for the same clusters with the labels shuffled: cluster voting alone scores above
  1/K, so this, not 1/K, is the level of "no class information".
* **linear probe**: a ridge-regression classifier (one-hot targets, standardised mean-pooled
  features) trained on the ``train`` videos of all classes and scored on the ``val`` videos: what
  a supervised linear read-out can find where clustering cannot.
* **between-class variance share** (eta squared): the share of the total variance of the
  mean-pooled features (summed over channels) that the class means explain; the same for sentence
  vectors (unit mean GloVe vector of a sentence's content words). For the real ActivityNet
  Captions sentences (all 54,926 of train_modified + val_1, 200 classes) it is 0.188, and 30.2 % of
  sentences contain a word of their class's name (measured by notebook 01 whenever the annotation
  files are on disk: ``results/01_data.csv``, data source ``activitynet annotations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeClassifier
from sklearn.preprocessing import StandardScaler

from mmar.data.glove import GloveVectors
from mmar.data.text import tokenize
from mmar.evaluation.discovery import kmeans_clusters
from mmar.evaluation.metrics import cluster_vote_accuracy

#: K values of the raw-feature discovery diagnostic (those of the paper's Table 1 that fit 12+ classes).
DIAGNOSTIC_KS = (5, 10, 20)
#: Each diagnostic's metric name (as in result rows) and the label tables show, in table order.
DIAGNOSTIC_LABELS = {**{f"raw_kmeans_accuracy_k{k}": f"raw-feature k-means + voting, K = {k} (%)" for k in DIAGNOSTIC_KS},
                     "linear_probe_accuracy": "linear probe, train -> val videos (%)",
                     "feature_between_class_share": "between-class share of feature variance",
                     "sentence_between_class_share": "between-class share of sentence-vector variance",
                     "class_name_mention_share": "sentences naming their class (%)"}


def between_class_share(x: np.ndarray, labels: np.ndarray) -> float:
    """Eta squared of ``x`` (n, F) by ``labels`` (n,): sum over columns of the between-class sum of
    squares over the total sum of squares, in [0, 1]. With n items and c classes, unrelated
    labels give about (c - 1) / (n - 1)."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    centred = x - x.mean(axis=0)
    total = float((centred ** 2).sum())
    if total == 0.0:
        raise ValueError("between_class_share: every row is the same")
    means = pd.DataFrame(centred).groupby(labels).transform("mean").to_numpy()
    return float((means ** 2).sum() / total)


def sentence_vectors(texts: Sequence[str], glove: GloveVectors, stopwords: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unit mean GloVe vector of each text's in-vocabulary non-stopword tokens, (m, D), and a boolean
    (n,) mask of the texts that had such a token (the others are left out)."""
    unit = glove.unit_vectors()
    vectors, kept = [], np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        rows = [glove.index(t) for t in tokenize(text) if t in glove and t not in stopwords]
        if rows:
            mean = unit[rows].mean(axis=0)
            vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-8))
            kept[i] = True
    return np.asarray(vectors, dtype=np.float64).reshape(-1, glove.dim), kept


def raw_discovery(pooled: np.ndarray, labels: np.ndarray, k: int, draws: int, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-vote accuracy (%) of k-means on ``pooled`` (n, F) for ``draws`` random sets of ``k``
    classes of ``labels`` (n,), and the same clusters' accuracy with shuffled labels: two (draws,) arrays."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if len(classes) < k:
        raise ValueError(f"raw_discovery: K = {k} needs at least {k} classes, the data has {len(classes)}")
    accuracy, floor = np.empty(draws), np.empty(draws)
    for d in range(draws):
        chosen = rng.choice(classes, size=k, replace=False)
        members = np.isin(labels, chosen)
        clusters = kmeans_clusters(pooled[members], k, seed=d, n_init=4)
        accuracy[d] = 100.0 * cluster_vote_accuracy(clusters, labels[members])
        floor[d] = 100.0 * cluster_vote_accuracy(clusters, rng.permutation(labels[members]))
    return accuracy, floor


def linear_probe_accuracy(pooled: np.ndarray, labels: np.ndarray, is_train: np.ndarray, alpha: float = 10.0) -> float:
    """Accuracy (%) on the ``~is_train`` rows of a ridge classifier fitted on the ``is_train`` rows of
    standardised ``pooled`` (n, F) features."""
    scaler = StandardScaler().fit(pooled[is_train])
    probe = RidgeClassifier(alpha=alpha).fit(scaler.transform(pooled[is_train]), labels[is_train])
    return 100.0 * float((probe.predict(scaler.transform(pooled[~is_train])) == labels[~is_train]).mean())


def sentence_diagnostics(texts: Sequence[str], labels: np.ndarray, glove: GloveVectors, stopwords: frozenset[str],
                         class_words: dict[str, set[str]]) -> tuple[float, float]:
    """The text side alone: between-class share of sentence-vector variance and the % of sentences
    that contain a word of their class's name (``class_words``: class -> those words)."""
    labels = np.asarray(labels)
    vectors, kept = sentence_vectors(texts, glove, stopwords)
    mentions = [bool(class_words[c] & set(tokenize(t))) for t, c in zip(texts, labels)]
    return between_class_share(vectors, labels[kept]), 100.0 * float(np.mean(mentions))


@dataclass(frozen=True)
class DataDiagnostics:
    """The diagnostics of one dataset (see the module docstring). Accuracies in %."""

    raw_discovery: dict[int, float]          # K -> mean cluster-vote accuracy over draws
    raw_discovery_std: dict[int, float]      # K -> its standard deviation over draws
    vote_floor: dict[int, float]             # K -> mean accuracy of the same clusters, labels shuffled
    draws: int
    linear_probe: float
    probe_chance: float                      # 100 / number of classes
    feature_between_class_share: float
    sentence_between_class_share: float
    class_name_mention_share: float          # % of sentences containing a word of their class's name
    n_videos: int
    n_sentences: int

    def metrics(self) -> dict[str, tuple[float, float]]:
        """Metric name (:data:`DIAGNOSTIC_LABELS`) -> (value, the level of no class information or NaN)."""
        values = {f"raw_kmeans_accuracy_k{k}": (self.raw_discovery[k], self.vote_floor[k])
                  for k in sorted(self.raw_discovery)}
        return values | {"linear_probe_accuracy": (self.linear_probe, self.probe_chance),
                         "feature_between_class_share": (self.feature_between_class_share, np.nan),
                         "sentence_between_class_share": (self.sentence_between_class_share, np.nan),
                         "class_name_mention_share": (self.class_name_mention_share, np.nan)}

    def table(self) -> pd.DataFrame:
        """One row per diagnostic, labelled by :data:`DIAGNOSTIC_LABELS`: ``value`` and its
        ``no-information level``."""
        rows = [(DIAGNOSTIC_LABELS[metric], value, level) for metric, (value, level) in self.metrics().items()]
        return pd.DataFrame(rows, columns=["diagnostic", "value", "no-information level"]).set_index("diagnostic")


def diagnose(pooled: np.ndarray, video_labels: np.ndarray, is_train: np.ndarray, sentence_texts: Sequence[str],
             sentence_labels: np.ndarray, glove: GloveVectors, stopwords: frozenset[str], class_words: dict[str, set[str]],
             *, ks: Sequence[int] = DIAGNOSTIC_KS, draws: int = 10, seed: int = 0) -> DataDiagnostics:
    """All diagnostics of one dataset.

    Args:
        pooled: (n_videos, C) mean-pooled features; ``video_labels`` (n_videos,) their classes;
            ``is_train`` (n_videos,) the probe's training videos (the rest are scored).
        sentence_texts, sentence_labels: (m,) sentences and their classes.
        glove, stopwords: what makes a sentence vector (:func:`sentence_vectors`).
        class_words: class -> the words of its name that count as naming it.
        ks: K values of the raw-feature discovery; those above the number of classes are skipped.
    """
    video_labels = np.asarray(video_labels)
    sentence_labels = np.asarray(sentence_labels)
    n_classes = len(np.unique(video_labels))
    discovery = {k: raw_discovery(pooled, video_labels, k, draws, seed) for k in ks if k <= n_classes}
    sentence_share, mention_share = sentence_diagnostics(sentence_texts, sentence_labels, glove, stopwords, class_words)
    return DataDiagnostics(
        raw_discovery={k: float(a.mean()) for k, (a, _) in discovery.items()},
        raw_discovery_std={k: float(a.std(ddof=1)) if draws > 1 else 0.0 for k, (a, _) in discovery.items()},
        vote_floor={k: float(f.mean()) for k, (_, f) in discovery.items()},
        draws=draws,
        linear_probe=linear_probe_accuracy(pooled, video_labels, np.asarray(is_train, dtype=bool)),
        probe_chance=100.0 / n_classes,
        feature_between_class_share=between_class_share(pooled, video_labels),
        sentence_between_class_share=sentence_share,
        class_name_mention_share=mention_share,
        n_videos=len(video_labels),
        n_sentences=len(sentence_texts),
    )
