"""Unseen-activity captioning (the paper's Sec. 4.4, Table 5).

The caption of a video is t^ = G_T(E_V(v)): the text decoder's output (L, D) is read column by
column, each column replaced by its nearest word vector in a vocabulary (by default the cosine after
centring on the vocabulary's mean, see :func:`nearest_words`; immediate repetitions are dropped): the words of the
seen classes' sentences (``word_source="prepared"``, :func:`seen_class_words`: no word that only the unseen
classes' sentences use is offered, so the test sentences' vocabulary cannot leak into the captions) or all 400k
words of GloVe 6B (``"glove"``, the paper's read-out: it offers every word, among 400k). The
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


WORD_METRICS = ("centred_cosine", "l2")


def nearest_words(columns: np.ndarray, vectors: np.ndarray, words: Sequence[str], *, skip: Sequence[int] = (0,),
                  metric: str = "centred_cosine", centre: np.ndarray | None = None,
                  max_block: int = 1 << 24) -> list[list[str]]:
    """Map decoder outputs ``columns`` (B, L, D) to words: the nearest row of ``vectors`` (V, D)
    for every column, excluding the vocabulary rows in ``skip`` (the padding word). Returns B lists
    of L words.

    ``metric="l2"``: Euclidean distance. ``"centred_cosine"`` (default): cosine similarity after
    subtracting ``centre`` (D,) from both sides: the mean word vector of the decoder's training
    sentences (token-weighted; :func:`decode_captions` passes the text decoder's standardisation
    mean), or the mean of the vocabulary vectors when None. Decoders trained with squared errors
    regress towards the mean training word where they are unsure; the L2-nearest word of such a
    blurred output is then a frequent function word ("as", "the") in every column, and so is the
    cosine around the vocabulary's (type-weighted) mean. The cosine around the training words' mean
    reads the direction in which the output leaves what the decoder would say knowing nothing, which
    is where the content words are. Works in blocks of at most ``max_block`` similarities. Ties (equal
    distances as computed) go to the word of the lower vocabulary row.
    """
    if metric not in WORD_METRICS:
        raise ValueError(f"metric must be one of {WORD_METRICS}, got {metric!r}")
    columns = np.asarray(columns, dtype=np.float32)
    if columns.ndim != 3 or columns.shape[2] != vectors.shape[1]:
        raise ValueError(f"columns must be (B, L, {vectors.shape[1]}), got {columns.shape}")
    keep = np.setdiff1d(np.arange(len(vectors)), np.asarray(skip, dtype=np.int64))
    keys = np.asarray(vectors, dtype=np.float32)[keep]
    flat = columns.reshape(-1, columns.shape[2])
    if metric == "centred_cosine":
        centre = keys.mean(0) if centre is None else np.asarray(centre, dtype=np.float32)
        keys = keys - centre
        keys /= np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
        flat = flat - centre
        flat = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
        offset = np.zeros(len(keys), np.float32)        # argmax q.k  ==  argmin (-2 q.k)
    else:
        offset = (keys * keys).sum(1)                    # |q - k|^2 = |q|^2 + |k|^2 - 2 q.k
    best = np.empty(len(flat), dtype=np.int64)
    step = max(1, max_block // len(keys))
    for start in range(0, len(flat), step):
        block = flat[start:start + step]
        best[start:start + step] = (offset[None, :] - 2.0 * block @ keys.T).argmin(1)
    chosen = np.asarray(words)[keep][best].reshape(columns.shape[:2])
    return [list(row) for row in chosen]


def collapse_repeats(words: Sequence[str]) -> list[str]:
    """Drop immediate repetitions (``a a b b a`` -> ``a b a``): a decoder with N attention filters
    spreads N column vectors over the L output positions, so runs of one word are one column."""
    return [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]


def best_column_fit(weights: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> np.ndarray:
    """The closest output a decoder with these transposed filters can produce: the least-squares
    columns ``Y = argmin |W Y - X|^2`` for ``weights`` W (..., L, N) and ``target`` X (..., L, D),
    returned as ``W Y`` (..., L, D) (batched over leading dimensions; rows of W and X that are zero,
    e.g. padding, do not change the fit). Every output step of such a decoder is a blend of its N
    columns, so with N much smaller than L no decoder output, however well trained, reproduces
    every word."""
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    x = torch.as_tensor(np.asarray(target, dtype=np.float64))
    columns = torch.linalg.lstsq(w, x, driver="gelsd").solution
    return (w @ columns).numpy().astype(np.float32)


def top_word_share(captions: Sequence[str]) -> float:
    """The share of the most frequent token among all tokens of ``captions`` (0-1); a caption set
    where one word is over half of the tokens is degenerate."""
    tokens = [t for c in captions for t in c.split()]
    if not tokens:
        return 0.0
    _, counts = np.unique(tokens, return_counts=True)
    return float(counts.max() / len(tokens))


#: Words of class names that do not name the activity ("Playing rubik cube", "Putting on shoes").
NAME_FUNCTION_WORDS = frozenset("a an the and of in on up with to out off into at for by s 's".split())


def class_word_share(captions: Sequence[str], class_names: Sequence[str]) -> float:
    """The share of ``captions`` (0-1) containing a word of their own class's name (its tokens, hyphenated
    parts included, function words excluded): does a caption name the unseen activity?"""
    from mmar.data.classes import class_tokens

    if not captions:
        return 0.0
    hits = 0
    for caption, name in zip(captions, class_names):
        tokens = {part for token in class_tokens(name) for part in [token, *token.split("-")] if part}
        hits += bool((tokens - NAME_FUNCTION_WORDS) & set(caption.split()))
    return hits / len(captions)


@torch.no_grad()
def caption_columns(model, data: PreparedDataset, rows: Sequence[int], *, length: int, pairing: str = "video",
                    batch_size: int = 128, max_frames: int | None = None) -> np.ndarray:
    """The text decoder's output G_T(E_V(v)) (B, ``length``, D) for the videos of sentence ``rows``
    (whole video or segment), in word-vector units."""
    from mmar.data.prepared import PairDataset, collate_pairs

    dataset = PairDataset(data, rows, pairing=pairing, max_frames=max_frames)
    out = [np.zeros((0, length, data.word_dim), np.float32)]
    for start in range(0, len(dataset), batch_size):
        batch = collate_pairs([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        out.append(model.decode_text(model.encode_video(batch["video"], batch["video_mask"]), length).cpu().numpy())
    return np.concatenate(out)


def decode_captions(model, data: PreparedDataset, rows: Sequence[int], *, length: int, vectors: np.ndarray,
                    words: Sequence[str], pairing: str = "video", batch_size: int = 128,
                    max_frames: int | None = None, metric: str = "centred_cosine",
                    collapse: bool = True, columns: np.ndarray | None = None) -> list[str]:
    """Captions G_T(E_V(v)) of the videos of sentence ``rows`` (whole video or segment): the nearest
    word of each of ``length`` output columns (``metric``, :func:`nearest_words`, centred on
    :func:`decoder_centre`), immediate repetitions dropped when ``collapse``. ``columns``: the
    already computed :func:`caption_columns` of these rows."""
    if columns is None:
        columns = caption_columns(model, data, rows, length=length, pairing=pairing, batch_size=batch_size,
                                  max_frames=max_frames)
    read = nearest_words(columns, vectors, words, metric=metric, centre=decoder_centre(model)) if len(columns) else []
    return [" ".join(collapse_repeats(caption) if collapse else caption) for caption in read]


def read_out_pairs(pairs: Sequence[tuple[np.ndarray, np.ndarray]], vectors: np.ndarray, words: Sequence[str],
                   centre: np.ndarray | None, original_words: tuple[np.ndarray, Sequence[str]] | None = None,
                   ) -> tuple[list[list[str]], list[list[str]]]:
    """``(originals, decoded)`` as words for (original (L, D), decoded (L, D)) pairs of one sentence
    each: the nearest word of every original column (around the vocabulary mean) and of every decoded
    column (the captioning read-out, around ``centre``, :func:`decoder_centre`). Originals are read in
    ``original_words`` (vectors (V', D), words) when given (a vocabulary holding every word of the sentences,
    so that each original column reads as its own word), else in ``vectors``. All columns are read in one
    :func:`nearest_words` call per side."""
    lengths = [len(original) for original, _ in pairs]
    if not pairs:
        return [], []
    original_vectors, original_names = original_words if original_words is not None else (vectors, words)
    originals = nearest_words(np.concatenate([o for o, _ in pairs])[None], original_vectors, original_names)[0]
    decoded = nearest_words(np.concatenate([d for _, d in pairs])[None], vectors, words, centre=centre)[0]
    return split_words(originals, lengths), split_words(decoded, lengths)


def split_words(items: Sequence[str], lengths: Sequence[int]) -> list[list[str]]:
    """``items`` cut into consecutive pieces of ``lengths``."""
    ends = np.cumsum(lengths)
    return [list(items[end - n:end]) for n, end in zip(lengths, ends)]


def word_accuracy(originals: Sequence[Sequence[str]], decoded: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"word_accuracy", "chance"}`` (%): the share of positions where the decoded word is the
    original one, and the share of the most frequent original word (what always emitting it scores)."""
    want = [w for sentence in originals for w in sentence]
    if not want:
        return {"word_accuracy": float("nan"), "chance": float("nan")}
    hits = sum(a == b for o, d in zip(originals, decoded) for a, b in zip(o, d))
    counts = np.unique(want, return_counts=True)[1]
    return {"word_accuracy": 100.0 * hits / len(want), "chance": 100.0 * float(counts.max() / len(want))}


@torch.no_grad()
def round_trip_word_accuracy(model, data: PreparedDataset, rows: Sequence[int], *, vectors: np.ndarray,
                             words: Sequence[str]) -> dict[str, float]:
    """How well the text decoder says a sentence back: :func:`word_accuracy` of G_T(E_T(t)) read out
    as captions are (in ``vectors``/``words``, :func:`read_out_pairs`) against the sentences ``rows``' own words
    (read in the prepared dataset's whole vocabulary). A caption can only be as good as this round trip; a word
    the captions' vocabulary lacks is never said back."""
    from mmar.training import reconstruct_rows

    _, kept = reconstruct_rows(model, data, np.asarray(rows), "text", keep=len(rows))
    return word_accuracy(*read_out_pairs(kept, vectors, words, decoder_centre(model),
                                         original_words=(data.vocab_vectors, list(data.vocab_words))))


def seen_class_words(data: PreparedDataset, unseen: Sequence[str]) -> np.ndarray:
    """(V,) bool over the prepared vocabulary: the words of the sentences of every class but ``unseen`` (both
    subsets), the padding word 0 excluded. What a zero-shot read-out may say: a word that only the unseen
    classes' sentences use belongs to the test data."""
    texts = data.sentences["token_ids"].to_numpy()[data.rows(exclude_classes=list(unseen))]
    seen = np.zeros(len(data.vocab_words), dtype=bool)
    seen[np.array(" ".join(map(str, texts)).split(), dtype=np.int64)] = True
    seen[0] = False
    return seen


def decoder_centre(model) -> np.ndarray | None:
    """The text decoder's standardisation mean (the mean word vector of its training sentences), or
    None when the model was trained without standardisation (then the vocabulary mean is used)."""
    shift = model.text_decoder.shift.detach().cpu().numpy()
    return shift if np.any(shift) else None


def references(data: PreparedDataset, rows: Sequence[int], unit: str = "video") -> list[list[str]]:
    """Reference sentences of each row: all sentences of its video (``unit="video"``) or its own
    sentence (``"segment"``)."""
    texts = data.sentences["text"].to_numpy()
    if unit == "segment":
        return [[str(texts[int(r)])] for r in rows]
    if unit != "video":
        raise ValueError(f"unit must be 'video' or 'segment', got {unit!r}")
    video_ids = data.sentences["video_id"].to_numpy()
    wanted = video_ids[np.asarray(rows, dtype=np.int64)]
    by_video: dict[str, list[str]] = {}
    for video_id, text in zip(video_ids[np.isin(video_ids, wanted)], texts[np.isin(video_ids, wanted)]):
        by_video.setdefault(video_id, []).append(str(text))  # in table order, as a groupby gives them
    return [by_video[v] for v in wanted]


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
