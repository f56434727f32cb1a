"""Data diagnostics (mmar.data.diagnostics) against hand-computed values and obvious cases."""

from __future__ import annotations

import numpy as np
import pytest

from mmar.data.diagnostics import (between_class_share, linear_probe_accuracy, raw_discovery, sentence_diagnostics,
                                   sentence_vectors)
from mmar.data.glove import GloveVectors


def test_between_class_share_by_hand() -> None:
    # one column: classes a (0, 2) and b (4, 6); grand mean 3; total SS 9+1+1+9 = 20; between SS 2*(4+4) = 16
    x = np.array([[0.0], [2.0], [4.0], [6.0]])
    assert between_class_share(x, np.array(["a", "a", "b", "b"])) == pytest.approx(0.8)
    # a second column with no class signal (total SS 4, between SS 0) halves nothing: (16 + 0) / (20 + 4)
    x2 = np.hstack([x, np.array([[1.0], [-1.0], [1.0], [-1.0]])])
    assert between_class_share(x2, np.array(["a", "a", "b", "b"])) == pytest.approx(16 / 24)
    with pytest.raises(ValueError, match="every row is the same"):
        between_class_share(np.ones((3, 2)), np.array([0, 1, 1]))


def test_raw_discovery_finds_separated_classes_and_its_floor_does_not() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 20)
    centres = rng.normal(size=(8, 16)) * 20
    x = centres[labels] + rng.normal(size=(160, 16))
    accuracy, floor = raw_discovery(x, labels, k=5, draws=4)
    assert accuracy.shape == floor.shape == (4,)
    np.testing.assert_allclose(accuracy, 100.0)
    assert (floor < 60).all()  # the same clusters, labels shuffled: cluster voting alone
    noise_only, _ = raw_discovery(rng.normal(size=(160, 16)), labels, k=5, draws=4)
    assert noise_only.mean() < 60
    with pytest.raises(ValueError, match="K = 9 needs at least 9 classes"):
        raw_discovery(x, labels, k=9, draws=1)


def test_linear_probe_finds_a_direction_that_clustering_misses() -> None:
    """The class is in one low-variance column, a large nuisance in the others: the probe reads it."""
    rng = np.random.default_rng(1)
    labels = np.tile([0, 1], 100)
    x = np.hstack([labels[:, None] * 1.0 + rng.normal(size=(200, 1)) * 0.05, rng.normal(size=(200, 5)) * 30])
    is_train = np.arange(200) < 140
    assert linear_probe_accuracy(x, labels, is_train) == 100.0
    accuracy, floor = raw_discovery(x, labels, k=2, draws=3)
    assert accuracy.mean() < 75


def test_sentence_diagnostics_by_hand() -> None:
    glove = GloveVectors.load_default()
    texts = ["A man plays squash.", "The man swims.", "Squash again!", "xqzv"]
    vectors, kept = sentence_vectors(texts, glove, frozenset({"a", "the"}))
    assert kept.tolist() == [True, True, True, False] and vectors.shape == (3, glove.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    words = {"Squash": {"squash"}, "Swimming": {"swimming"}}
    labels = np.array(["Squash", "Swimming", "Squash", "Swimming"])
    share, mentions = sentence_diagnostics(texts, labels, glove, frozenset({"a", "the"}), words)
    assert mentions == pytest.approx(50.0)  # sentences 1 and 3 name "squash"; "swims" is not "swimming"
    assert share == pytest.approx(between_class_share(vectors, labels[:3]))
