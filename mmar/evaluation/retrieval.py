"""Cross-modal retrieval on unseen classes (ours; not in the paper).

Item i of the video embeddings (n, E) and item i of the sentence embeddings (n, E) are a pair (a
sentence and its video segment). Text-to-video: each sentence ranks all n videos; video-to-text:
each video ranks all n sentences. Scores: recall@K in % (the share of queries whose own pair is in
the top K) and the median rank (1 = best), the usual video-text retrieval metrics (e.g. Xu et al.,
MSR-VTT, CVPR 2016). Chance recall@K is 100 K / n.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmar.evaluation.metrics import median_rank, recall_at_k, target_places, tied_ranks


def retrieval_scores(video: np.ndarray, text: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"t2v_R@1": %, ..., "t2v_median_rank": r, "v2t_R@1": %, ..., "v2t_median_rank": r}``.

    ``video`` and ``text`` are paired embeddings, both (n, E).
    """
    video = np.asarray(video)
    text = np.asarray(text)
    if video.shape != text.shape:
        raise ValueError(f"paired embeddings must have the same shape, got video {video.shape} and text {text.shape}")
    own = np.arange(len(video))
    scores: dict[str, float] = {}
    for name, queries, gallery in (("t2v", text, video), ("v2t", video, text)):
        closer, tied = target_places(queries, gallery, own)
        for k in ks:
            scores[f"{name}_R@{k}"] = 100.0 * recall_at_k(closer, tied, k)
        scores[f"{name}_median_rank"] = median_rank(tied_ranks(closer, tied))
    return scores


def retrieval_chance(n: int, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Chance level of each score of :func:`retrieval_scores` for a gallery of ``n`` items."""
    chance: dict[str, float] = {}
    for name in ("t2v", "v2t"):
        for k in ks:
            chance[f"{name}_R@{k}"] = 100.0 * min(k, n) / n
        chance[f"{name}_median_rank"] = (n + 1) / 2.0
    return chance
