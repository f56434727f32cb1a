"""A sentence read-out of the text decoder: the most probable sentence given its columns.

The paper reads a caption G_T(E_V(v)) column by column, each column replaced by its nearest GloVe word
(:func:`mmar.evaluation.captioning.nearest_words`). A decoder trained with squared errors outputs, in
every column, the *mean* word vector of the sentences it cannot tell apart; when those sentences
word their content differently (a subject of one or three words shifts every later word), the mean
is near no word of any of them and the column-wise read-out is a list of words, not a sentence.

This read-out (ours, not the paper's) decodes the sentence w_1..w_L maximising

    sum_t  beta * s(x_t, w_t)  +  log p(w_t | w_{t-1})  (+ log p(end | w_L))

by beam search, where ``s(x, w) = ((x - c) / sigma) . ((v_w - c) / sigma)`` is the agreement of
column x with word vector v_w, both standardised by the text decoder's own statistics (c, sigma), and
p is a bigram prior (:class:`BigramPrior`, Witten-Bell smoothed) of the *seen-class* training
sentences. ``beta`` is fitted by maximum likelihood on the decoder's round trips of seen-class
training sentences (:func:`fit_emission_weight`), and the words it may say are those of the seen classes'
sentences (``allowed``, :func:`mmar.evaluation.captioning.seen_class_words`), so nothing of the unseen classes
is used.

The prior alone (beta = 0, :meth:`SentenceReadout.prior_sentence`) gives one fluent sentence for
every video: captions of this read-out are only informative where they score above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

#: Emission weights tried by :func:`fit_emission_weight` (log-spaced).
BETA_GRID = np.logspace(-3, 1, 21)


@dataclass
class BigramPrior:
    """p(next | previous) over a vocabulary of V words (index 0, padding, never follows).

    The prior works on *tokens*: every word is its own token, except the ``open`` words, which share
    one token OPEN (V + 1) and split its probability evenly: ``p(w | u) = p(OPEN | u) / n_open``. The
    open words are those a seen-class prior cannot know: words of at most one seen class (class names,
    class-specific objects) and words never seen in its sentences. Their share after a context (e.g. "during
    the ___") is learned from the seen classes, so a word an unseen class shares with at most one seen class is
    as likely there as a seen class's own word was, instead of as unlikely as a word never counted. (A
    zero-shot read-out never says a word that only the unseen classes' sentences use: see ``allowed``.)

    ``counts`` (V + 2, V + 2) sparse: rows are the previous token (row V: the sentence start), columns
    the next token (column V: the sentence end). ``unigram`` (V + 2,): add-one next-token probabilities,
    the back-off of Witten-Bell smoothing ``p(w | u) = (c(u, w) + T(u) p_1(w)) / (c(u) + T(u))``, T(u)
    the number of distinct followers. ``token_of`` (V,): each word's token.
    """

    counts: sparse.csr_matrix
    unigram: np.ndarray
    token_of: np.ndarray
    _log_table: np.ndarray | None = field(default=None, repr=False)

    @property
    def vocab_size(self) -> int:
        return len(self.token_of)

    @property
    def open_words(self) -> np.ndarray:
        """(V,) bool: the words that share the OPEN token."""
        return self.token_of == self.vocab_size + 1

    @classmethod
    def fit(cls, sentences: Sequence[np.ndarray], vocab_size: int,
            open_words: np.ndarray | None = None) -> "BigramPrior":
        """Counts of ``sentences`` (each a (L,) array of word indices in 1..V-1); ``open_words`` (V,)
        bool marks the words that share the OPEN token (None: none)."""
        end = vocab_size
        token_of = np.arange(vocab_size)
        if open_words is not None:
            open_words = np.asarray(open_words, dtype=bool)
            if open_words.shape != (vocab_size,) or open_words[0]:
                raise ValueError(f"open_words must be ({vocab_size},) bool, and the padding word 0 is never open")
            token_of[open_words] = vocab_size + 1
        previous, following = [], []
        for ids in sentences:
            ids = np.asarray(ids, dtype=np.int64)
            if len(ids) and (ids.min() < 1 or ids.max() >= vocab_size):
                raise ValueError(f"word indices must be in 1..{vocab_size - 1} (0 is the padding word)")
            tokens = token_of[ids]
            previous.append(np.concatenate([[end], tokens]))
            following.append(np.concatenate([tokens, [end]]))
        prev, nxt = (np.concatenate(previous), np.concatenate(following)) if previous else (np.zeros(0, int),) * 2
        counts = sparse.csr_matrix((np.ones(len(prev)), (prev, nxt)), shape=(vocab_size + 2, vocab_size + 2))
        counts.sum_duplicates()
        unigram = np.bincount(nxt, minlength=vocab_size + 2).astype(np.float64) + 1.0
        unigram[0] = 0.0                                              # the padding word
        unigram[np.flatnonzero(token_of != np.arange(vocab_size))] = 0.0  # open words are counted as OPEN
        if not (token_of == vocab_size + 1).any():
            unigram[vocab_size + 1] = 0.0
        return cls(counts=counts, unigram=unigram / unigram.sum(), token_of=token_of)

    def _word_space(self, log_tokens: np.ndarray) -> np.ndarray:
        """Token log-probabilities (..., V + 2) as word log-probabilities (..., V + 1) (column V: the end)."""
        vocab = self.vocab_size
        out = log_tokens[..., np.concatenate([self.token_of, [vocab]])]
        if self.open_words.any():
            out[..., :vocab][..., self.open_words] -= np.log(self.open_words.sum())
        return out

    def log_unigram(self) -> np.ndarray:
        """log p_1 of every word (V + 1,) (index V: the end)."""
        with np.errstate(divide="ignore"):
            return self._word_space(np.log(self.unigram))

    def log_table(self) -> np.ndarray:
        """log p(next | previous) of words (V + 1, V + 1), row V the sentence start, column V its end;
        computed once (dense: for the vocabulary of a prepared dataset, not GloVe's 400k words)."""
        if self._log_table is None:
            tokens = self.log_next(np.concatenate([self.token_of, [self.vocab_size]]))
            self._log_table = self._word_space(tokens)
        return self._log_table

    def log_next(self, previous: np.ndarray) -> np.ndarray:
        """log p(next token | previous token) (H, V + 2) for ``previous`` (H,) tokens (V: the start)."""
        rows = self.counts[np.asarray(previous)]
        total = np.asarray(rows.sum(1)).ravel()
        types = np.diff(rows.indptr).astype(np.float64)
        dense = rows.toarray() + types[:, None] * self.unigram[None, :]
        denominator = np.where(total > 0, total + types, 1.0)
        probs = np.where((total > 0)[:, None], dense / denominator[:, None], self.unigram[None, :])
        with np.errstate(divide="ignore"):
            return np.log(probs)


def emission_scores(columns: np.ndarray, vectors: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """s(x, w) (B, L, V) of decoder ``columns`` (B, L, D) against word ``vectors`` (V, D), both
    standardised by ``centre`` and ``scale`` (D,)."""
    x = (np.asarray(columns, np.float32) - centre) / scale
    w = (np.asarray(vectors, np.float32) - centre) / scale
    return x @ w.T


def fit_emission_weight(scores: np.ndarray, targets: np.ndarray, prior: BigramPrior,
                        grid: np.ndarray = BETA_GRID, allowed: np.ndarray | None = None) -> float:
    """The beta of ``grid`` maximising the mean log-likelihood of the true words ``targets`` (n,) under
    ``softmax(beta * scores + log p_1)`` for ``scores`` (n, V) of the columns that should say them, the softmax
    over the ``allowed`` (V,) words when given (every target must be one)."""
    log_unigram = prior.log_unigram()[:-1].copy()
    if allowed is not None:
        if not allowed[targets].all():
            raise ValueError("every target word must be allowed")
        log_unigram[~allowed] = -np.inf
    best, best_ll = float(grid[0]), -np.inf
    for beta in grid:
        logits = beta * scores + log_unigram[None, :]
        top = logits.max(1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(1))
        ll = float(np.mean(logits[np.arange(len(targets)), targets] - log_z))
        if ll > best_ll:
            best, best_ll = float(beta), ll
    return best


def beam_decode(scores: np.ndarray, prior: BigramPrior, beta: float, beam: int = 8,
                allowed: np.ndarray | None = None) -> list[list[int]]:
    """The word indices (L,) of the best sentence of each caption's ``scores`` (B, L, V) (see the
    module docstring), by a beam search of width ``beam`` run on all B captions at once; the padding
    word 0 is never chosen, nor a word outside ``allowed`` (V,) bool when given."""
    scores = np.asarray(scores, dtype=np.float64)
    n, length, vocab = scores.shape
    if vocab != prior.vocab_size:
        raise ValueError(f"scores have {vocab} words, the prior {prior.vocab_size}")
    table = prior.log_table()
    last = np.full((n, 1), vocab)                                  # the sentence start
    totals = np.zeros((n, 1))
    paths = np.zeros((n, 1, 0), dtype=np.int64)
    for t in range(length):
        candidates = totals[:, :, None] + table[last][:, :, :vocab] + beta * scores[:, t, None, :]
        candidates[:, :, 0] = -np.inf
        if allowed is not None:
            candidates[:, :, ~allowed] = -np.inf
        flat = candidates.reshape(n, -1)
        keep = np.argpartition(-flat, min(beam, flat.shape[1]) - 1, axis=1)[:, :beam]
        keep = np.take_along_axis(keep, np.argsort(-np.take_along_axis(flat, keep, 1), axis=1, kind="stable"), 1)
        source, words = np.divmod(keep, vocab)
        paths = np.concatenate([np.take_along_axis(paths, source[:, :, None], 1), words[:, :, None]], axis=2)
        totals, last = np.take_along_axis(flat, keep, 1), words
    best = np.argmax(totals + table[last][:, :, vocab], axis=1)
    return [list(map(int, paths[i, best[i]])) for i in range(n)]


def seen_prior(data, seen_rows: np.ndarray, min_classes: int = 2) -> BigramPrior:
    """The :class:`BigramPrior` of the sentences ``seen_rows`` of the prepared dataset ``data``; words
    in the sentences of fewer than ``min_classes`` of their classes (and words in none) are open."""
    seen_rows = np.asarray(seen_rows)
    texts = data.sentences["token_ids"].to_numpy()[seen_rows]
    lengths = np.array([len(t.split()) for t in texts], dtype=np.int64)
    tokens = np.array(" ".join(texts).split(), dtype=np.int64)
    classes = pd.factorize(data.sentences["class_name"].to_numpy()[seen_rows])[0]
    incidence = sparse.csr_matrix((np.ones(len(tokens)), (tokens, np.repeat(classes, lengths))),
                                  shape=(len(data.vocab_words), classes.max(initial=-1) + 1))
    incidence.sum_duplicates()
    open_words = incidence.getnnz(axis=1) < min_classes
    open_words[0] = False
    return BigramPrior.fit(np.split(tokens, np.cumsum(lengths)[:-1]), len(data.vocab_words), open_words=open_words)


@dataclass
class SentenceReadout:
    """A bigram prior, the emission weight ``beta`` and the decoder's standardisation: reads decoder
    columns as sentences of ``words``."""

    prior: BigramPrior
    beta: float
    centre: np.ndarray
    scale: np.ndarray
    vectors: np.ndarray
    words: Sequence[str]
    beam: int = 8
    allowed: np.ndarray | None = None

    @classmethod
    def fit(cls, model, data, seen_rows: np.ndarray, *, prior: BigramPrior | None = None, fit_rows: int = 100,
            beam: int = 8, allowed: np.ndarray | None = None) -> "SentenceReadout":
        """Prior from the sentences of ``seen_rows`` (seen classes, training subset) of the prepared
        dataset ``data``, in its vocabulary (or the given ``prior``, fitted so); beta from the round
        trips G_T(E_T(t)) of ``fit_rows`` of them, evenly spaced. ``allowed`` (V,) bool: the words the read-out
        may say (None: every word; a zero-shot read-out passes the seen classes' words,
        :func:`mmar.evaluation.captioning.seen_class_words`)."""
        from mmar.training import reconstruct_rows

        seen_rows = np.asarray(seen_rows)
        if prior is None:
            prior = seen_prior(data, seen_rows)
        centre = model.text_decoder.shift.detach().cpu().numpy()
        scale = model.text_decoder.scale.detach().cpu().numpy()
        fit = seen_rows[np.linspace(0, len(seen_rows) - 1, min(fit_rows, len(seen_rows))).astype(int)]
        _, kept = reconstruct_rows(model, data, fit, "text", keep=len(fit))
        targets = np.concatenate([data.token_ids(int(r))[:len(decoded)] for r, (_, decoded) in zip(fit, kept)])
        decoded = np.concatenate([d for _, d in kept])
        scores = emission_scores(decoded[None], data.vocab_vectors, centre, scale)[0]
        beta = fit_emission_weight(scores, targets, prior, allowed=allowed)
        return cls(prior, beta, centre, scale, np.asarray(data.vocab_vectors), list(data.vocab_words), beam, allowed)

    def sentences(self, columns: np.ndarray) -> list[str]:
        """One sentence per caption of decoder ``columns`` (B, L, D)."""
        scores = emission_scores(columns, self.vectors, self.centre, self.scale)
        return [" ".join(self.words[i] for i in ids)
                for ids in beam_decode(scores, self.prior, self.beta, self.beam, self.allowed)]

    def prior_sentence(self, length: int) -> str:
        """The prior's own best sentence of ``length`` words (no decoder input): what every video would get."""
        ids = beam_decode(np.zeros((1, length, len(self.words)), np.float32), self.prior, 0.0, self.beam, self.allowed)[0]
        return " ".join(self.words[i] for i in ids)
