"""Unseen-activity captioning (the paper's Sec. 4.4, Table 5).

The caption of a video is t^ = G_T(E_V(v)): the text decoder's output (L, D) is read column by
column, each column replaced by its nearest word vector (L2) in a vocabulary: the words of the
prepared dataset (``word_source="prepared"``) or all 400k words of GloVe 6B (``"glove"``). The
paper does not state the output length L; it is the parameter ``length`` (default: the median
length of the training sentences, recorded with each result). The padding word is never emitted.

Scores come from the standard COCO caption evaluation code (pycocoevalcap: BLEU-1..4 of Papineni
et al. 2002, METEOR 1.5 of Denkowski & Lavie 2014, CIDEr of Vedantam et al. 2015). METEOR runs a
Java program; when Java is missing or the program fails, the METEOR score is left out and the
reason is returned. Captions and references are lowercased and tokenised with
:func:`mmar.data.text.tokenize` (GloVe-style) rather than the Stanford PTB tokenizer.
"""

from __future__ import annotations

import shutil
from typing import Mapping, Sequence

import numpy as np
import torch

from mmar.data.prepared import PreparedDataset
from mmar.data.text import tokenize


def nearest_words(columns: np.ndarray, vectors: np.ndarray, words: Sequence[str], *, skip: Sequence[int] = (0,),
                  max_block: int = 1 << 24) -> list[list[str]]:
    """Map decoder outputs ``columns`` (B, L, D) to words: the nearest row of ``vectors`` (V, D)
    for every column, excluding the vocabulary rows in ``skip`` (the padding word). Returns B lists
    of L words. Works in blocks of at most ``max_block`` distances."""
    columns = np.asarray(columns, dtype=np.float32)
    if columns.ndim != 3 or columns.shape[2] != vectors.shape[1]:
        raise ValueError(f"columns must be (B, L, {vectors.shape[1]}), got {columns.shape}")
    keep = np.setdiff1d(np.arange(len(vectors)), np.asarray(skip, dtype=np.int64))
    keys = np.asarray(vectors, dtype=np.float32)[keep]
    key_norms = (keys * keys).sum(1)
    flat = columns.reshape(-1, columns.shape[2])
    best = np.empty(len(flat), dtype=np.int64)
    step = max(1, max_block // len(keys))
    for start in range(0, len(flat), step):
        block = flat[start:start + step]
        # |q - k|^2 = |q|^2 + |k|^2 - 2 q.k; |q|^2 does not change the argmin.
        best[start:start + step] = (key_norms[None, :] - 2.0 * block @ keys.T).argmin(1)
    chosen = np.asarray(words)[keep][best].reshape(columns.shape[:2])
    return [list(row) for row in chosen]


@torch.no_grad()
def decode_captions(model, data: PreparedDataset, rows: Sequence[int], *, length: int, vectors: np.ndarray,
                    words: Sequence[str], pairing: str = "video", batch_size: int = 128,
                    max_frames: int | None = None) -> list[str]:
    """Captions G_T(E_V(v)) of the videos of sentence ``rows`` (whole video or segment)."""
    from mmar.data.prepared import PairDataset, collate_pairs

    dataset = PairDataset(data, rows, pairing=pairing, max_frames=max_frames)
    captions: list[str] = []
    for start in range(0, len(dataset), batch_size):
        batch = collate_pairs([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        z = model.encode_video(batch["video"], batch["video_mask"])
        text = model.decode_text(z, length).cpu().numpy()
        captions += [" ".join(w) for w in nearest_words(text, vectors, words)]
    return captions


def references(data: PreparedDataset, rows: Sequence[int], unit: str = "video") -> list[list[str]]:
    """Reference sentences of each row: all sentences of its video (``unit="video"``) or its own
    sentence (``"segment"``)."""
    texts = data.sentences["text"].to_numpy()
    if unit == "segment":
        return [[str(texts[int(r)])] for r in rows]
    if unit != "video":
        raise ValueError(f"unit must be 'video' or 'segment', got {unit!r}")
    by_video = data.sentences.groupby("video_id")["text"].apply(list).to_dict()
    video_ids = data.sentences["video_id"].to_numpy()
    return [list(map(str, by_video[video_ids[int(r)]])) for r in rows]


def default_length(data: PreparedDataset, rows: Sequence[int]) -> int:
    """Median number of tokens of the sentences of ``rows`` (at least 1)."""
    lengths = [len(str(data.sentences.at[int(r), "token_ids"]).split()) for r in rows]
    return max(1, int(np.median(lengths)))


def meteor_scorer():
    """``(scorer, "")`` with a running pycocoevalcap METEOR, or ``(None, reason)`` when it cannot run."""
    if shutil.which("java") is None:
        return None, "METEOR not computed: Java (needed by pycocoevalcap's METEOR 1.5 jar) is not installed"
    try:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        scorer.compute_score({"0": ["a test"]}, {"0": ["a test"]})
        return scorer, ""
    except Exception as error:  # the Java program failed to start or answer
        return None, f"METEOR not computed: pycocoevalcap's METEOR failed ({type(error).__name__}: {error})"


def _normalise(text: str) -> str:
    return " ".join(tokenize(text)) or "<empty>"


def caption_scores(refs: Mapping[str, Sequence[str]], hypotheses: Mapping[str, str], meteor=None
                   ) -> dict[str, float]:
    """Corpus scores ``{"BLEU-1".."BLEU-4", "CIDEr"[, "METEOR"]}`` (raw, BLEU/METEOR in 0-1).

    ``refs`` maps an item id to its reference sentences, ``hypotheses`` the same ids to one
    caption. ``meteor`` is a scorer from :func:`meteor_scorer` or None (METEOR left out).
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if set(refs) != set(hypotheses):
        raise ValueError("references and hypotheses must have the same ids")
    gts = {str(k): [_normalise(r) for r in v] for k, v in refs.items()}
    res = {str(k): [_normalise(v)] for k, v in hypotheses.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"BLEU-{i + 1}": float(b) for i, b in enumerate(bleu)}
    scores["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    if meteor is not None:
        scores["METEOR"] = float(meteor.compute_score(gts, res)[0])
    return scores
