"""Evaluation metrics on embeddings, vectorised over the whole test set.

Embeddings are float arrays of shape (n, E); labels are integer arrays of shape (n,). Distances are
squared Euclidean (on unit-norm embeddings this ranks exactly like cosine similarity, which is how
the paper's 1-nearest-neighbour rule reads: Piergiovanni & Ryoo, ICLR 2019 submission, Sec. 4.2).
Nearest-neighbour searches run in query batches of ``batch_size`` rows, so memory stays
O(batch_size x n_keys) however large the test set is. Accuracies are fractions in [0, 1]; the
protocols multiply by 100 to report percentages like the paper.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

DEFAULT_BATCH = 4096


def _as_2d(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be (n, E), got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    return x


def _as_labels(name: str, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must be ({n},), got shape {y.shape}")
    return y


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (n, E) scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def squared_distances(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, m) between ``queries`` (n, E) and ``keys`` (m, E).

    Equal keys get bit-identical distances (so they tie exactly): the distances are computed to the
    distinct key rows only and then spread back, since a matrix product may round the same row
    differently at different positions.
    """
    q = _as_2d("queries", queries)
    k = _as_2d("keys", keys)
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dims but keys have {k.shape[1]}")
    distinct, inverse = np.unique(k, axis=0, return_inverse=True)
    d = (q * q).sum(1)[:, None] + (distinct * distinct).sum(1)[None, :] - 2.0 * q @ distinct.T
    return np.maximum(d, 0.0)[:, inverse.reshape(-1)]


def nearest_neighbours(queries: np.ndarray, keys: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Index (n,) of each query's nearest key by L2 distance; ties go to the lowest key index.

    Scores should not depend on that choice: :func:`nn_accuracy` shares the credit among tied keys.
    """
    q = _as_2d("queries", queries)
    out = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), batch_size):
        out[start:start + batch_size] = squared_distances(q[start:start + batch_size], keys).argmin(1)
    return out


def nn_accuracy(queries: np.ndarray, query_labels: np.ndarray, keys: np.ndarray, key_labels: np.ndarray,
                batch_size: int = DEFAULT_BATCH) -> float:
    """1-NN accuracy: each query (n, E) takes the label of its nearest key (m, E).

    In zero-shot classification the queries are video embeddings and the keys sentence embeddings
    of the unseen classes (paper Sec. 4.2). Tie rule: when several keys are nearest (exactly equal
    distances, e.g. equal embeddings), the query scores the share of them that carry its label, the
    expected accuracy of breaking the tie at random; so no key order decides a score.
    """
    q = _as_2d("queries", queries)
    k = _as_2d("keys", keys)
    query_labels = _as_labels("query_labels", query_labels, len(q))
    key_labels = _as_labels("key_labels", key_labels, len(k))
    credit = np.empty(len(q))
    for start in range(0, len(q), batch_size):
        d = squared_distances(q[start:start + batch_size], k)
        nearest = d == d.min(1, keepdims=True)
        correct = key_labels[None, :] == query_labels[start:start + batch_size, None]
        credit[start:start + batch_size] = (nearest & correct).sum(1) / nearest.sum(1)
    return float(credit.mean())


def class_prototypes(keys: np.ndarray, key_labels: np.ndarray, normalize: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mean key embedding per class: (classes (c,), prototypes (c, E)), classes sorted.

    With ``normalize`` the means are rescaled to unit norm, so that L2 distance to them ranks like
    cosine similarity (the embeddings themselves are unit-norm).
    """
    k = _as_2d("keys", keys)
    key_labels = _as_labels("key_labels", key_labels, len(k))
    classes, inverse = np.unique(key_labels, return_inverse=True)
    sums = np.zeros((len(classes), k.shape[1]))
    np.add.at(sums, inverse, k)
    means = sums / np.bincount(inverse, minlength=len(classes))[:, None]
    return classes, (l2_normalize(means) if normalize else means)


def prototype_accuracy(queries: np.ndarray, query_labels: np.ndarray, keys: np.ndarray, key_labels: np.ndarray,
                       normalize: bool = True, batch_size: int = DEFAULT_BATCH) -> float:
    """Accuracy of assigning each query to the class of the nearest class prototype (mean key)."""
    classes, prototypes = class_prototypes(keys, key_labels, normalize)
    return nn_accuracy(queries, query_labels, prototypes, classes, batch_size)


def contingency(clusters: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts (n_clusters, n_labels): entry [i, j] = members of the i-th cluster id with the j-th label
    (ids and labels in sorted order)."""
    clusters = np.asarray(clusters)
    labels = _as_labels("labels", labels, len(clusters))
    _, c = np.unique(clusters, return_inverse=True)
    _, y = np.unique(labels, return_inverse=True)
    table = np.zeros((c.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    return table


def cluster_vote_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy after labelling each cluster by the majority vote of its members' true labels.

    This is the paper's unsupervised-discovery score (Sec. 4.3). Several clusters may take the same
    label. A tie inside a cluster counts the same whichever label wins.
    """
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or len(clusters) == 0:
        raise ValueError(f"clusters must be a non-empty (n,) array, got shape {clusters.shape}")
    table = contingency(clusters, labels)
    return float(table.max(1).sum() / len(clusters))


def nmi(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information (arithmetic normalisation, scikit-learn's default)."""
    return float(normalized_mutual_info_score(labels, clusters))


def ari(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985)."""
    return float(adjusted_rand_score(labels, clusters))


def target_places(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray,
                  batch_size: int = DEFAULT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Where each query's target item lies in the gallery sorted by L2 distance: ``(closer, tied)``, both (n,)
    int arrays, the gallery items strictly closer than the target and those at exactly its distance (the target
    included, so ``tied >= 1``).

    ``targets[i]`` is the gallery index of query i's correct item. Exact ties are real, not rounding: equal
    items get bit-identical distances (:func:`squared_distances`), and a collapsed embedding ties everything.
    """
    q = _as_2d("queries", queries)
    g = _as_2d("gallery", gallery)
    targets = _as_labels("targets", targets, len(q)).astype(np.int64)
    if targets.min() < 0 or targets.max() >= len(g):
        raise ValueError(f"targets must index the gallery of {len(g)} items")
    closer = np.empty(len(q), dtype=np.int64)
    tied = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), batch_size):
        d = squared_distances(q[start:start + batch_size], g)
        own = d[np.arange(len(d)), targets[start:start + batch_size]][:, None]
        closer[start:start + batch_size] = (d < own).sum(1)
        tied[start:start + batch_size] = (d == own).sum(1)
    return closer, tied


def tied_ranks(closer: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Rank (n,) of each target, 1 = closest, from :func:`target_places`' ``(closer, tied)``.

    Tie rule: items at exactly the target's distance share their places, and the target takes the mean of
    them: rank = closer + (tied + 1) / 2. So a rank can end in .5; a collapsed embedding (every distance equal)
    scores the chance rank (n + 1) / 2, neither the best nor the worst.
    """
    return np.asarray(closer) + (np.asarray(tied) + 1) / 2.0


def recall_at_k(closer: np.ndarray, tied: np.ndarray, k: int) -> float:
    """Fraction of queries whose target is within the top ``k``, from :func:`target_places`' ``(closer, tied)``.

    Tie rule: a target tied with others is in the top k with the probability it would have if the ties were
    broken in a random order, clip((k - closer) / tied, 0, 1); so a collapsed embedding scores the chance
    recall k / n (a rank-based test ``rank <= k`` would give it 0 for every k < (n + 1) / 2).
    """
    closer = np.asarray(closer, dtype=np.float64)
    tied = np.asarray(tied, dtype=np.float64)
    if closer.shape != tied.shape or (tied < 1).any():
        raise ValueError("closer and tied must be arrays of one shape, with tied >= 1 (the target itself)")
    return float(np.mean(np.clip((k - closer) / tied, 0.0, 1.0)))


def median_rank(ranks: np.ndarray) -> float:
    """Median of the target ranks (1 = best)."""
    return float(np.median(np.asarray(ranks)))
