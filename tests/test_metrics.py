"""Evaluation metrics and protocols against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmar.evaluation import captioning
from mmar.evaluation.captioning import caption_scores, collapse_repeats, nearest_words, references, top_word_share
from mmar.evaluation.discovery import discovery_scores, mean_pooled_rows
from mmar.evaluation.metrics import (ari, class_prototypes, cluster_vote_accuracy, median_rank, nmi, nn_accuracy,
                                     prototype_accuracy, recall_at_k, target_places, tied_ranks)
from mmar.evaluation.retrieval import retrieval_chance, retrieval_scores
from mmar.evaluation.zero_shot import sample_per_class, seen_training_rows, zero_shot_test


def test_nn_accuracy_hand_example():
    keys = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    key_labels = np.array(["A", "B", "C"])
    queries = np.array([[0.9, 0.1], [0.2, 0.8], [-0.7, -0.2], [0.1, 0.95]])
    # nearest keys: 0 (A, right), 1 (B, but the query is A: wrong), 2 (C, right), 1 (B, right)
    labels = np.array(["A", "A", "C", "B"])
    assert nn_accuracy(queries, labels, keys, key_labels) == pytest.approx(0.75)
    # batching does not change the answer
    assert nn_accuracy(queries, labels, keys, key_labels, batch_size=1) == pytest.approx(0.75)


def test_prototype_differs_from_nearest_neighbour():
    # Class A has keys (1, 0) and (-0.6, 0.8): its prototype is (0.2, 0.4)/|.| = (0.447, 0.894).
    keys = np.array([[1.0, 0.0], [-0.6, 0.8], [0.0, 1.0]])
    key_labels = np.array([0, 0, 1])
    query = np.array([[-0.5, math.sqrt(3) / 2]])
    # 1-NN: distance^2 to (-0.6, 0.8) = 0.0144 < 0.268 to (0, 1): predicts class 0, wrong.
    assert nn_accuracy(query, np.array([1]), keys, key_labels) == 0.0
    # prototypes: 0.898 to class 0, 0.268 to class 1: predicts class 1, right.
    assert prototype_accuracy(query, np.array([1]), keys, key_labels) == 1.0
    classes, protos = class_prototypes(keys, key_labels)
    assert list(classes) == [0, 1]
    np.testing.assert_allclose(protos[0], np.array([0.2, 0.4]) / math.sqrt(0.2))


def test_cluster_vote_accuracy_hand_example():
    clusters = np.array([7, 7, 7, 3, 3, 9])
    labels = np.array(["a", "a", "b", "b", "b", "a"])
    # cluster 7 votes a (2 of 3 right), cluster 3 votes b (2 of 2), cluster 9 votes a (1 of 1)
    assert cluster_vote_accuracy(clusters, labels) == pytest.approx(5 / 6)
    # one cluster for everything: the majority class share
    assert cluster_vote_accuracy(np.zeros(6), labels) == pytest.approx(0.5)


def test_nmi_and_ari_hand_example():
    labels = np.array([0, 0, 1, 1])
    clusters = np.array([5, 5, 1, 2])
    # ARI: sum C(n_ij,2) = 1, rows 1, columns 2, C(4,2) = 6: (1 - 1/3) / (1.5 - 1/3) = 4/7
    assert ari(clusters, labels) == pytest.approx(4 / 7)
    # NMI: I = ln 2 (clusters determine labels), H(labels) = ln 2, H(clusters) = 1.5 ln 2 -> 1 / 1.25
    assert nmi(clusters, labels) == pytest.approx(0.8)
    assert nmi(np.array([1, 1, 0, 0]), labels) == pytest.approx(1.0)
    assert ari(np.array([1, 1, 0, 0]), labels) == pytest.approx(1.0)


def test_ranks_recall_and_median_rank_hand_example():
    gallery = np.array([[0.0], [1.0], [3.0]])
    queries = np.array([[0.1], [2.1], [0.4]])
    # distances^2: q0 (.01, .81, 8.41) -> target 0 rank 1; q1 (4.41, 1.21, .81) -> target 1 rank 2;
    # q2 (.16, .36, 6.76) -> target 2 rank 3
    closer, tied = target_places(queries, gallery, np.array([0, 1, 2]))
    assert list(closer) == [0, 1, 2] and list(tied) == [1, 1, 1]
    ranks = tied_ranks(closer, tied)
    assert list(ranks) == [1, 2, 3]
    assert recall_at_k(closer, tied, 1) == pytest.approx(1 / 3)
    assert recall_at_k(closer, tied, 2) == pytest.approx(2 / 3)
    assert median_rank(ranks) == 2.0


def test_tied_ranks_take_the_mean_of_their_places():
    # Collapsed embeddings: all 5 items tie, each target takes the mean of places 1..5 = 3 (chance).
    collapsed = np.ones((5, 3))
    closer, tied = target_places(collapsed, collapsed, np.arange(5))
    ranks = tied_ranks(closer, tied)
    assert list(ranks) == [3.0] * 5 and median_rank(ranks) == 3.0
    # Recall under ties: the chance of the target's place within k in a random order of the tie, k / 5 here
    # (chance, not 0 for k < 3 and 1 from k = 3 as a test on the mean rank would give).
    assert [recall_at_k(closer, tied, k) for k in (1, 2, 3, 5, 6)] == pytest.approx([0.2, 0.4, 0.6, 1.0, 1.0])
    # Gallery items 1 and 2 are equal: query (1.2) is at d^2 1.44 from item 0 (0.0), 0.04 from items 1, 2
    # (1.0, 1.0) and 3.24 from item 3 (3.0). Target 1 ties with item 2 for places 1-2 -> 1.5; target 3 -> 4.
    gallery = np.array([[0.0], [1.0], [1.0], [3.0]])
    query = np.array([[1.2], [1.2]])
    closer, tied = target_places(query, gallery, np.array([1, 3]))
    assert list(tied_ranks(closer, tied)) == [1.5, 4.0]
    # target 1 is first or second with one chance in two each; target 3 is fourth
    assert recall_at_k(closer, tied, 1) == pytest.approx((0.5 + 0) / 2)
    assert recall_at_k(closer, tied, 2) == pytest.approx((1 + 0) / 2)
    assert recall_at_k(closer, tied, 4) == pytest.approx(1.0)


def test_equal_embeddings_tie_exactly_in_a_large_product():
    # 300 copies of one row among random rows: a blocked matrix product may round copies at different
    # positions differently; the distances must still be equal, so the tie rule (not the order) decides.
    rng = np.random.default_rng(1)
    row = rng.normal(size=(1, 128)).astype(np.float32)
    gallery = np.concatenate([rng.normal(size=(200, 128)), np.repeat(row, 300, 0), rng.normal(size=(37, 128))])
    queries = rng.normal(size=(64, 128))
    from mmar.evaluation.metrics import squared_distances

    d = squared_distances(queries, gallery)
    assert (d[:, 200:500] == d[:, [200]]).all()
    ranks = tied_ranks(*target_places(queries, gallery, np.full(64, 250)))
    tied_block = (d < d[:, [250]]).sum(1) + (300 + 1) / 2
    np.testing.assert_array_equal(ranks, tied_block)


def test_nearest_neighbour_ties_share_the_credit():
    # The query is equally near a key of its class A and a key of class B: half a hit, whatever the order.
    keys = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]])
    query = np.array([[0.0, 0.0], [0.9, 0.0]])
    labels = np.array(["A", "A"])
    for order in ([0, 1, 2], [1, 0, 2]):
        assert nn_accuracy(query, labels, keys[order], np.array(["A", "B", "C"])[order]) == pytest.approx(0.75)
    # Two equal keys of the query's own class and one of another, all three tied: 2/3.
    keys = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert nn_accuracy(np.array([[1.0, 1.0]]), np.array([0]), keys, np.array([0, 0, 1])) == pytest.approx(2 / 3)


def test_retrieval_scores_on_perfect_and_shuffled_pairs():
    rng = np.random.default_rng(0)
    video = rng.normal(size=(20, 4))
    perfect = retrieval_scores(video, video)
    assert perfect["t2v_R@1"] == 100.0 and perfect["v2t_R@1"] == 100.0
    assert perfect["t2v_median_rank"] == 1.0
    # Videos at 0, 1, ..., 19 on a line, text i at video (i + 1) % 20's place. Text query i (i <= 17) has
    # video i + 1 closer than its own (distance 0) and video i + 2 tied with it (distance 1): rank 1 + 3/2;
    # text 18 (at 19) has only video 19 closer: rank 2; text 19 (at 0) has all 19 others closer: rank 20.
    # Video queries mirror it (video i sits on text i - 1, text i - 2 ties): the same ranks, in another order.
    line = np.arange(20, dtype=np.float64)[:, None]
    shifted = retrieval_scores(line, np.roll(line, -1, axis=0))
    for name in ("t2v", "v2t"):
        assert shifted[f"{name}_R@1"] == 0.0 and shifted[f"{name}_median_rank"] == 2.5
        assert shifted[f"{name}_R@5"] == shifted[f"{name}_R@10"] == pytest.approx(100.0 * 19 / 20)
    np.testing.assert_array_equal(tied_ranks(*target_places(np.roll(line, -1, axis=0), line, np.arange(20))),
                                  [2.5] * 18 + [2.0, 20.0])
    np.testing.assert_array_equal(tied_ranks(*target_places(line, np.roll(line, -1, axis=0), np.arange(20))),
                                  [2.0] + [2.5] * 18 + [20.0])
    collapsed = retrieval_scores(np.ones((20, 4)), np.ones((20, 4)))  # every distance tied: chance, not 0
    assert collapsed == pytest.approx(retrieval_chance(20))
    chance = retrieval_chance(20)
    assert chance["t2v_R@5"] == pytest.approx(25.0)
    assert chance["v2t_median_rank"] == pytest.approx(10.5)


def test_discovery_on_separated_blobs_is_perfect():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat(np.array(["x", "y", "z"]), 10)
    points = centres[np.repeat(np.arange(3), 10)] + 0.1 * rng.normal(size=(30, 2))
    scores = discovery_scores(points, labels, seed=0)
    assert scores["accuracy"] == pytest.approx(100.0)
    assert scores["nmi"] == pytest.approx(1.0)
    assert scores["ari"] == pytest.approx(1.0)


def test_sample_per_class_takes_at_most_n_per_class():
    rows = np.arange(10, 20)
    classes = np.array(["a"] * 6 + ["b"] * 3 + ["c"])
    chosen = sample_per_class(rows, classes, 2, seed=1)
    got = {c: int(np.sum(np.isin(chosen, rows[classes == c]))) for c in "abc"}
    assert got == {"a": 2, "b": 2, "c": 1}
    np.testing.assert_array_equal(chosen, sample_per_class(rows, classes, 2, seed=1))
    assert set(np.concatenate([sample_per_class(rows, classes, 2, seed=s) for s in range(20)])) > set(chosen)


def test_zero_shot_test_selects_only_unseen_classes(tiny_prepared):
    data = tiny_prepared
    unseen = data.splits[2][0]
    test = zero_shot_test(data, unseen, sentences_per_class=3, seed=0, reference_videos_per_class=2)
    classes = data.sentences["class_name"].to_numpy()
    assert set(classes[test.video_rows]) == set(unseen)
    assert set(classes[test.sentence_rows]) == set(unseen)
    # video unit: one row per query video; 4 videos per class, 2 of them reference videos
    video_ids = data.sentences["video_id"].to_numpy()
    assert len(set(video_ids[test.video_rows])) == len(test.video_rows) == 4
    assert len(test.reference_videos) == 4
    assert all(np.sum(classes[test.sentence_rows] == c) == 3 for c in unseen)
    train = seen_training_rows(data, unseen)
    assert not set(classes[train]) & set(unseen)
    assert set(data.sentences["subset"].to_numpy()[train]) == {"train"}
    val_test = zero_shot_test(data, unseen, sentences_per_class=1, seed=1, reference_videos_per_class=1,
                              video_subset="val", video_unit="segment")
    assert set(data.sentences["subset"].to_numpy()[val_test.video_rows]) == {"val"}
    with pytest.raises(ValueError, match="not classes"):
        seen_training_rows(data, ["no such class"])
    with pytest.raises(ValueError, match="leave no query video"):
        zero_shot_test(data, unseen, sentences_per_class=1, seed=0, reference_videos_per_class=4)


@pytest.mark.parametrize("video_unit", ["video", "segment"])
def test_no_query_video_has_its_own_sentence_among_the_references(tiny_prepared, video_unit):
    data = tiny_prepared
    video_ids = data.sentences["video_id"].to_numpy()
    for seed in range(10):
        for unseen in data.splits[2] + data.splits[3]:
            test = zero_shot_test(data, unseen, sentences_per_class=5, seed=seed, reference_videos_per_class=2,
                                  video_unit=video_unit)
            queries, references = set(video_ids[test.video_rows]), set(video_ids[test.sentence_rows])
            assert queries and references and not queries & references
            assert references <= set(test.reference_videos)


def test_mean_pooled_rows_equals_numpy_mean(tiny_prepared):
    data = tiny_prepared
    store = data.feature_store()
    pooled = mean_pooled_rows(data, [0, 5], pairing="video")
    for i, row in enumerate([0, 5]):
        expected = store.read(data.sentences.at[row, "video_id"]).mean(0)
        np.testing.assert_allclose(pooled[i], expected, rtol=1e-6)
    # cropped as the models' test videos are: the middle 3 steps (by hand), and what PairDataset gives them
    from mmar.data.prepared import PairDataset

    features = store.read(data.sentences.at[0, "video_id"])
    assert len(features) >= 5
    middle = (len(features) - 3) // 2
    cropped = mean_pooled_rows(data, [0], pairing="video", max_frames=3)[0]
    np.testing.assert_allclose(cropped, features[middle:middle + 3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(cropped, PairDataset(data, [0], pairing="video", max_frames=3)[0]["video"].numpy().mean(0),
                               rtol=1e-6)


def test_nearest_words_skips_padding():
    words = ["<pad>", "man", "dog"]
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    columns = np.array([[[0.9, 0.1], [0.0, 0.0], [0.2, 0.7]]])
    # the middle column is exactly the padding vector, but padding is never emitted; it lies at distance 1 from both
    # "man" and "dog": the tie goes to the lower vocabulary row, "man"
    assert nearest_words(columns, vectors, words, metric="l2") == [["man", "man", "dog"]]
    assert nearest_words(columns, vectors[[0, 2, 1]], ["<pad>", "dog", "man"], metric="l2") == [["man", "dog", "dog"]]
    assert nearest_words(columns, vectors, words, metric="l2", max_block=2) == [["man", "man", "dog"]]


def test_captions_read_each_column_around_the_decoders_mean_and_drop_repeats():
    """decode_captions on given columns: around the text decoder's standardisation mean (1, 0), the column (1, 0.9)
    points to "dog" (cosine 0.67, against 0.10 for "man"); a decoder without standardisation (shift 0) reads it
    around the vocabulary mean (0, 0.1), where "man" is nearer (0.78 against 0.14). Repeats collapse unless asked."""
    import torch

    words = ["<pad>", "as", "man", "dog", "horse"]
    vectors = np.array([[0.0, 0.0], [0.0, 0.1], [2.0, 0.1], [-1.0, 1.8], [-1.0, -1.6]])
    columns = np.array([[[1.0, 0.9], [1.0, 0.9], [-1.0, -1.5]]], np.float32)

    class Decoder(torch.nn.Module):
        def __init__(self, shift: list[float]) -> None:
            super().__init__()
            self.register_buffer("shift", torch.tensor(shift))

    def model(shift: list[float]) -> torch.nn.Module:
        holder = torch.nn.Module()
        holder.text_decoder = Decoder(shift)
        return holder

    read = lambda shift, **kw: captioning.decode_captions(model(shift), None, [0], length=3, vectors=vectors,  # noqa: E731
                                                           words=words, columns=columns, **kw)
    assert read([1.0, 0.0]) == ["dog horse"]
    assert read([1.0, 0.0], collapse=False) == ["dog dog horse"]
    assert read([0.0, 0.0]) == ["man horse"]


def test_centred_cosine_reads_the_direction_away_from_the_vocabulary_mean():
    words = ["<pad>", "as", "man", "dog", "horse"]
    # "as" sits at the centroid of the real words, like a function word among GloVe vectors
    vectors = np.array([[0.0, 0.0], [0.0, 0.1], [2.0, 0.1], [-1.0, 1.8], [-1.0, -1.6]])
    blurred = np.array([[[-0.1, 0.25], [0.3, 0.1]]])  # near the centroid, leaning to dog / man
    assert nearest_words(blurred, vectors, words, metric="l2") == [["as", "as"]]
    assert nearest_words(blurred, vectors, words) == [["dog", "man"]]
    exact = vectors[None, 1:]  # an exact word vector is its own nearest word under both metrics
    assert nearest_words(exact, vectors, words) == nearest_words(exact, vectors, words, metric="l2") == [words[1:]]
    with pytest.raises(ValueError, match="metric"):
        nearest_words(blurred, vectors, words, metric="dot")


def test_collapse_repeats_and_top_word_share():
    assert collapse_repeats("a a b b a".split()) == ["a", "b", "a"]
    assert collapse_repeats([]) == []
    assert top_word_share(["as as as well", "as dog"]) == pytest.approx(4 / 6)
    assert top_word_share([]) == 0.0


def test_caption_scores_bleu_by_hand():
    refs = {"a": ["a man rides a horse"], "b": ["two dogs play in the park"]}
    same = caption_scores(refs, {"a": "a man rides a horse", "b": "two dogs play in the park"})
    assert same["BLEU-1"] == pytest.approx(1.0, abs=1e-6)
    assert same["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    # Unigram precision 6/11 matched ("a man" + "dogs play in the"), lengths equal (11 = 11): BLEU-1 = 6/11
    half = caption_scores(refs, {"a": "a man eats some soup", "b": "six dogs play in the house"})
    assert half["BLEU-1"] == pytest.approx(6 / 11, abs=1e-6)
    assert "METEOR" not in half
    assert half["CIDEr"] < same["CIDEr"]


def test_meteor_scorer_reports_missing_java(monkeypatch):
    monkeypatch.setattr(captioning.shutil, "which", lambda name: None)
    scorer, reason = captioning.meteor_scorer()
    assert scorer is None and "Java" in reason


def test_references_per_video_and_segment(tiny_prepared):
    data = tiny_prepared
    per_video = references(data, [0], unit="video")
    assert per_video[0] == list(data.sentences.loc[data.sentences.video_id == data.sentences.at[0, "video_id"], "text"])
    assert references(data, [3], unit="segment") == [[data.sentences.at[3, "text"]]]


@pytest.mark.skipif(captioning.shutil.which("java") is None, reason="METEOR needs Java")
def test_meteor_runs_and_prefers_the_matching_caption():
    scorer, reason = captioning.meteor_scorer()
    assert scorer is not None, reason
    refs = {"a": ["a man rides a horse on the beach"]}
    good = caption_scores(refs, {"a": "a man rides a horse"}, scorer)["METEOR"]
    bad = caption_scores(refs, {"a": "two dogs play chess"}, scorer)["METEOR"]
    assert 0.0 <= bad < good <= 1.0


class _MeanModel:
    """A stand-in model: the unit-norm mean of the first 2 channels (videos and sentences alike)."""

    @staticmethod
    def _embed(x, mask):
        import torch

        mean = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.nn.functional.normalize(mean[:, :2], dim=1)

    encode_video = _embed
    encode_text = _embed


def test_zero_shot_and_discovery_on_a_labelled_store(tmp_path):
    from mmar.data.feature_store import FeatureStoreReader, FeatureStoreWriter
    from mmar.data.glove import GloveVectors
    from mmar.evaluation.discovery import discovery_on_store
    from mmar.evaluation.zero_shot import zero_shot_on_store

    rng = np.random.default_rng(0)
    labels = {}
    with FeatureStoreWriter(tmp_path / "f.h5", extractor="test", fps=25.0, stride_frames=8, feature_dim=4,
                            source="test") as store:
        for i in range(6):
            name = "golf" if i % 2 else "swimming"
            centre = np.array([1.0, 0.1, 0, 0]) if name == "golf" else np.array([0.1, 1.0, 0, 0])
            store.write(f"v{i}", (centre + 0.05 * rng.normal(size=(5 + i, 4))).astype(np.float32))
            labels[f"v{i}"] = name
    glove = GloveVectors(["club", "water", "a"], np.array([[1.0, 0, 0], [0, 1.0, 0], [0.5, 0.5, 0]]), source="toy")
    reader = FeatureStoreReader(tmp_path / "f.h5")
    scores = zero_shot_on_store(_MeanModel(), reader, labels, {"golf": "a club", "swimming": ["water", "a water"]},
                                glove)
    assert scores["nn_accuracy"] == 100.0 and scores["prototype_accuracy"] == 100.0 and scores["chance"] == 50.0
    with pytest.raises(ValueError, match="without sentences"):
        zero_shot_on_store(_MeanModel(), reader, labels, {"golf": "club"}, glove)
    found = discovery_on_store(_MeanModel(), reader, labels)
    assert found["embedding"]["accuracy"] == 100.0 and found["baseline"]["accuracy"] == 100.0


def test_best_column_fit_is_exact_with_one_column_per_word_and_the_mean_with_one_column():
    from mmar.evaluation.captioning import best_column_fit

    rng = np.random.default_rng(0)
    target = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(best_column_fit(np.eye(5), target), target, atol=1e-6)
    one = best_column_fit(np.ones((5, 1)), target)  # every step the same blend: the least-squares column is the mean
    np.testing.assert_allclose(one, np.repeat(target.mean(0, keepdims=True), 5, axis=0), atol=1e-6)
    # two columns, steps 0-1 pure column 0, steps 2-4 pure column 1: each block gets its own mean
    w = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], dtype=np.float32)
    fit = best_column_fit(w, target)
    np.testing.assert_allclose(fit[:2], np.repeat(target[:2].mean(0, keepdims=True), 2, axis=0), atol=1e-6)
    np.testing.assert_allclose(fit[2:], np.repeat(target[2:].mean(0, keepdims=True), 3, axis=0), atol=1e-6)


def test_round_trip_word_accuracy_of_a_perfect_and_a_constant_decoder(tiny_prepared):
    import torch

    from mmar.evaluation.captioning import round_trip_word_accuracy

    class Echo(torch.nn.Module):
        """A 'model' whose text round trip returns the sentence itself (or a constant vector)."""

        def __init__(self, constant=None):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.text_decoder = torch.nn.Module()
            self.text_decoder.register_buffer("shift", torch.zeros(tiny_prepared.word_dim))
            self.constant = constant

        def encode_text(self, x, mask):
            self.last = x
            return x

        def decode_text(self, z, mask):
            return self.last if self.constant is None else self.constant.expand_as(self.last) * mask[:, :, None]

    data, rows = tiny_prepared, tiny_prepared.rows(subset="val")[:6]
    vectors, words = data.vocab_vectors, data.vocab_words
    perfect = round_trip_word_accuracy(Echo(), data, rows, vectors=vectors, words=words)
    assert perfect["word_accuracy"] == 100.0
    # chance: the most frequent word's share of all positions, counted here from the token ids
    tokens = [w for r in rows for w in str(data.sentences.at[int(r), "token_ids"]).split()]
    assert perfect["chance"] == pytest.approx(100.0 * max(tokens.count(t) for t in set(tokens)) / len(tokens))
    word = torch.as_tensor(vectors[5], dtype=torch.float32)  # always word 5 (one of the most frequent here)
    constant = round_trip_word_accuracy(Echo(word), data, rows, vectors=vectors, words=words)
    share = 100.0 * sum(t == "5" for t in tokens) / len(tokens)
    assert share > 0
    assert constant["word_accuracy"] == pytest.approx(share)
    # read in a vocabulary without word 5 (padding kept): the echo still says every other word back, and the
    # originals are still read as their own words, so accuracy falls by exactly word 5's share
    keep = [i for i in range(len(words)) if i != 5]
    without = round_trip_word_accuracy(Echo(), data, rows, vectors=vectors[keep], words=[words[i] for i in keep])
    assert without["word_accuracy"] == pytest.approx(100.0 - share)
    assert without["chance"] == pytest.approx(perfect["chance"])


def test_class_word_share_counts_captions_that_name_their_class():
    from mmar.evaluation.captioning import class_word_share

    captions = ["a man is blow drying his hair", "a man plays the drums", "a boy puts on shoes", "the man runs"]
    classes = ["Blow-drying hair", "Playing guitarra", "Putting on shoes", "Running a marathon"]
    # "hair" (and "blow" of "blow-drying") names the first; "shoes" the third; "a" and "on" never count
    assert class_word_share(captions, classes) == pytest.approx(2 / 4)
    assert class_word_share([], []) == 0.0


def test_seen_class_words_leave_out_the_words_only_unseen_classes_use(tiny_prepared):
    """Against the sentences' own text: the words of every sentence outside the unseen classes, read through
    the vocabulary; the tiny dataset has words only its unseen classes use, and those are left out."""
    from mmar.data.text import tokenize
    from mmar.evaluation.captioning import seen_class_words

    data = tiny_prepared
    unseen = data.splits[min(data.splits)][0]
    vocabulary = set(map(str, data.vocab_words[1:]))
    in_class = data.sentences["class_name"].isin(unseen).to_numpy()
    words_of = lambda mask: {w for text in data.sentences["text"][mask] for w in tokenize(text)} & vocabulary
    seen_words, unseen_words = words_of(~in_class), words_of(in_class)
    mask = seen_class_words(data, unseen)
    assert not mask[0] and set(map(str, data.vocab_words[mask])) == seen_words
    assert unseen_words - seen_words  # the check has something to leave out
    assert not (set(map(str, data.vocab_words[mask])) & (unseen_words - seen_words))
