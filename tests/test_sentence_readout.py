"""The sentence read-out: the bigram prior's probabilities by hand, beam search against known
answers (the prior alone, a decoder that names every word), and the emission weight's fit."""

from __future__ import annotations

import numpy as np
import pytest

from mmar.evaluation.sentence_readout import BETA_GRID, BigramPrior, SentenceReadout, beam_decode, emission_scores, \
    fit_emission_weight

# vocabulary: 0 <pad>, 1 a, 2 man, 3 runs, 4 dog, 5 walks
WORDS = ["<pad>", "a", "man", "runs", "dog", "walks"]
CORPUS = [np.array(s) for s in ([1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 4, 5])]


def test_witten_bell_probabilities_by_hand():
    prior = BigramPrior.fit(CORPUS, len(WORDS))
    # next-word counts (words 1..5 and the end, index 6): a 4, man 3, runs 3, dog 1, walks 1, end 4;
    # add-one: 5, 4, 4, 2, 2, 5 over 22; the padding word gets nothing
    assert np.exp(prior.log_unigram()) == pytest.approx(np.array([0, 5, 4, 4, 2, 2, 5]) / 22)
    probs = np.exp(prior.log_table()[[1, 6, 3, 2]])          # after "a", at the start, after "runs", after "man"
    # after "a": c = 4, T = 2 (man 3, dog 1): p(man) = (3 + 2 p1(man)) / 6
    assert probs[0, 2] == pytest.approx((3 + 2 * 4 / 22) / 6)
    assert probs[0, 3] == pytest.approx((0 + 2 * 4 / 22) / 6)
    assert probs[1, 1] == pytest.approx((4 + 1 * 5 / 22) / 5)  # the start: always "a" (c = 4, T = 1)
    assert probs[2, 6] == pytest.approx((3 + 5 / 22) / 4)      # "runs" ends every sentence it is in
    assert np.allclose(probs.sum(1), 1.0) and (probs[:, 0] == 0).all()


def test_open_words_share_one_token_by_hand():
    open_words = np.array([False, False, False, False, True, True])  # "dog" and "walks"
    prior = BigramPrior.fit(CORPUS, len(WORDS), open_words=open_words)
    # tokens: a man runs (x3), a OPEN OPEN; next-token counts a 4, man 3, runs 3, OPEN 2, end 4,
    # add-one over those five: 5, 4, 4, 3, 5 = 21; an open word gets half of OPEN's share
    assert np.exp(prior.log_unigram()) == pytest.approx(np.array([0, 5, 4, 4, 1.5, 1.5, 5]) / 21)
    table = np.exp(prior.log_table())
    open_after_a = (1 + 2 * 3 / 21) / 6                        # c(a) = 4, T(a) = 2 (man, OPEN)
    assert table[1, 4] == pytest.approx(open_after_a / 2) == pytest.approx(table[1, 5])
    open_after_open = (1 + 2 * 3 / 21) / 4                     # after OPEN: OPEN once, the end once
    assert table[4, 5] == pytest.approx(open_after_open / 2) == pytest.approx(table[5, 4])
    assert np.allclose(table.sum(1), 1.0)
    with pytest.raises(ValueError, match="padding"):
        BigramPrior.fit(CORPUS, len(WORDS), open_words=np.array([True] + [False] * 5))


def test_prior_rejects_padding_and_unknown_indices():
    with pytest.raises(ValueError, match="1..5"):
        BigramPrior.fit([np.array([1, 0, 2])], len(WORDS))
    with pytest.raises(ValueError, match="1..5"):
        BigramPrior.fit([np.array([1, 6])], len(WORDS))


def test_beam_without_emission_gives_the_priors_best_sentence():
    prior = BigramPrior.fit(CORPUS, len(WORDS))
    assert beam_decode(np.zeros((1, 3, len(WORDS))), prior, beta=0.0) == [[1, 2, 3]]


def test_beam_follows_a_decoder_that_names_its_words():
    prior = BigramPrior.fit(CORPUS, len(WORDS))
    vectors = np.eye(len(WORDS), 8, dtype=np.float32)           # orthonormal: a column scores 1 with its word only
    centre, scale = np.zeros(8, np.float32), np.ones(8, np.float32)
    columns = vectors[[1, 4, 5]][None]                      # exactly "a dog walks", the rarer sentence
    scores = emission_scores(columns, vectors, centre, scale)
    assert scores.shape == (1, 3, len(WORDS))
    assert beam_decode(scores, prior, beta=0.0) == [[1, 2, 3]]
    assert beam_decode(np.concatenate([scores, 0 * scores]), prior, beta=5.0) == [[1, 4, 5], [1, 2, 3]]
    readout = SentenceReadout(prior, 5.0, centre, scale, vectors, WORDS)
    assert readout.sentences(columns) == ["a dog walks"]
    assert readout.prior_sentence(3) == "a man runs"


def test_emission_weight_fit_follows_how_informative_the_scores_are():
    prior = BigramPrior.fit(CORPUS, len(WORDS))
    targets = np.array([1, 2, 3, 4, 5] * 20)
    informative = np.eye(len(WORDS))[targets] * 3.0           # the true word scores 3, every other 0
    uninformative = np.random.default_rng(1).normal(size=(len(targets), len(WORDS)))
    # one-hot scores of the true word: the likelihood rises with beta, so the largest of the grid; scores that say
    # nothing about the word: every beta above the smallest only adds noise to the prior
    assert fit_emission_weight(informative, targets, prior) == BETA_GRID[-1]
    assert fit_emission_weight(uninformative, targets, prior) == BETA_GRID[0]


def test_open_words_let_a_decoder_say_a_word_no_training_sentence_has():
    words = WORDS + ["cat"]                                     # "cat" is in no training sentence
    vectors = np.eye(len(words), 8, dtype=np.float32)
    scores = emission_scores(vectors[[1, 6, 5]][None], vectors, np.zeros(8, np.float32), np.ones(8, np.float32))
    closed = BigramPrior.fit(CORPUS, len(words))
    opened = BigramPrior.fit(CORPUS, len(words), open_words=np.array([False] * 4 + [True] * 3))
    assert beam_decode(scores, opened, beta=3.0) == [[1, 6, 5]]    # "a cat walks"
    assert beam_decode(scores, closed, beta=3.0)[0][1] != 6         # counted as never seen: not said


def test_seen_prior_opens_the_words_of_fewer_than_two_seen_classes(tiny_prepared):
    from mmar.evaluation.sentence_readout import seen_prior

    data = tiny_prepared                                      # each class has its own five words...
    data.sentences["token_ids"] = "1 " + data.sentences["token_ids"]  # ...and now every sentence starts with word 1
    rows = data.rows(subset="train")
    prior = seen_prior(data, rows)
    classes_of = {}
    for r in rows:
        for word in data.token_ids(int(r)):
            classes_of.setdefault(int(word), set()).add(data.sentences.at[int(r), "class_name"])
    expected = np.array([w > 0 and len(classes_of.get(w, ())) < 2 for w in range(len(data.vocab_words))])
    assert (prior.open_words == expected).all() and not expected[1] and expected[2:].all()
    assert np.allclose(np.exp(prior.log_table()).sum(1), 1.0)


def test_words_outside_allowed_are_never_said():
    """A decoder naming "a dog walks" word for word, with "dog" not allowed (a word only the unseen classes use):
    the read-out says another word there, the prior's own sentence too, and the emission weight's fit refuses a
    target outside the allowed words."""
    prior = BigramPrior.fit(CORPUS, len(WORDS))
    vectors = np.eye(len(WORDS), 8, dtype=np.float32)
    centre, scale = np.zeros(8, np.float32), np.ones(8, np.float32)
    columns = vectors[[1, 4, 5]][None]
    allowed = np.array([False, True, True, True, False, True])
    free = SentenceReadout(prior, 5.0, centre, scale, vectors, WORDS)
    assert free.sentences(columns) == ["a dog walks"]
    kept = SentenceReadout(prior, 5.0, centre, scale, vectors, WORDS, allowed=allowed)
    said = kept.sentences(columns)[0].split()
    assert said[0] == "a" and said[2] == "walks" and said[1] not in ("dog", "<pad>")
    no_man = np.array([False, True, False, True, True, True])
    assert "man" not in SentenceReadout(prior, 0.0, centre, scale, vectors, WORDS, allowed=no_man).prior_sentence(3)
    scores = emission_scores(columns, vectors, centre, scale)[0]
    with pytest.raises(ValueError, match="allowed"):
        fit_emission_weight(scores, np.array([1, 4, 5]), prior, allowed=allowed)
    assert fit_emission_weight(scores, np.array([1, 4, 5]), prior, allowed=np.ones(6, bool) & (np.arange(6) > 0)) \
        == fit_emission_weight(scores, np.array([1, 4, 5]), prior)  # allowing every word changes nothing
