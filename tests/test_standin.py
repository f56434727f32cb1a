"""The stand-in generator: determinism, shapes, sub-event structure, class similarity, the prepared folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from mmar.data.classes import activitynet_classes, class_name_words
from mmar.data.feature_store import FeatureStoreReader
from mmar.data.glove import GloveVectors
from mmar.data.prepare import prepare_dataset
from mmar.data.prepared import PairDataset, collate_pairs
from mmar.data.standin import GENERIC_SUB_EVENTS, StandinVideoGenerator, generate_standin, select_classes
from mmar.data.text import tokenize
from mmar.results import STANDIN

CLASSES = ["Playing squash", "Playing racquetball", "Baking cookies", "Archery", "Tango", "Sumo"]


@pytest.fixture(scope="module")
def glove() -> GloveVectors:
    return GloveVectors.load_default()


@pytest.fixture(scope="module")
def generator(glove: GloveVectors) -> StandinVideoGenerator:
    return StandinVideoGenerator(CLASSES, glove, feature_dim=128, seed=0)


def test_class_names_are_the_200_activitynet_classes(glove: GloveVectors) -> None:
    names = activitynet_classes()
    assert len(names) == 200 and names[0] == "Applying sunscreen" and names[-1] == "Zumba"
    for name in names:  # every class has word vectors (with glosses for typos and rare words)
        assert class_name_words(name, glove)
    assert class_name_words("Mooping floor", glove) == ["mopping", "floor"]


def test_class_facts(generator: StandinVideoGenerator) -> None:
    info = generator.class_info("Playing squash")
    assert info.tokens == ["playing", "squash"]
    assert 3 <= len(info.sub_events) <= 5 and len(set(info.sub_events)) == len(info.sub_events)
    specific = [w for w in info.sub_events if w not in GENERIC_SUB_EVENTS]
    assert 1 <= len(specific) <= 2 and set(specific) <= set(info.related)
    assert np.linalg.norm(info.vector) == pytest.approx(1.0, abs=1e-5)
    # facts of a class do not depend on which other classes are listed
    alone = StandinVideoGenerator(["Playing squash"], generator.glove, feature_dim=128, seed=0)
    assert alone.class_info("Playing squash").sub_events == info.sub_events
    with pytest.raises(KeyError, match="Zumba"):
        generator.class_info("Zumba")


def test_features_shape_and_sign(generator: StandinVideoGenerator) -> None:
    x = generator.features("Archery", 37, [(0, 10), (8, 25), (30, 60)], None, np.random.default_rng(1))
    assert x.shape == (37, 128) and x.dtype == np.float32 and (x >= 0).all() and (x > 0).mean() > 0.2
    with pytest.raises(ValueError, match="2 word lists"):
        generator.features("Archery", 10, [(0, 5)], [["a"], ["b"]], np.random.default_rng(0))


def _direction(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_noise_free_steps_follow_sub_events_in_order(glove: GloveVectors) -> None:
    gen = StandinVideoGenerator(["Archery"], glove, feature_dim=128, seed=0, noise=0.0)
    info = gen.class_info("Archery")
    n_sub = len(info.sub_events)
    segments = [(5 + 6 * j, 10 + 6 * j) for j in range(n_sub)]
    x = gen.features("Archery", 6 * n_sub + 10, segments, None, np.random.default_rng(0))
    for j, (a, b) in enumerate(segments):
        expected = gen.mean_feature(gen.class_weight * info.vector + gen.word_weight * glove.unit_vectors()[glove.index(info.sub_events[j])])
        for t in range(a, b):  # gain scales every step alike: compare directions
            np.testing.assert_allclose(_direction(x[t]), _direction(expected), atol=1e-5)
    background = gen.mean_feature(gen.background_weight * info.vector)
    np.testing.assert_allclose(_direction(x[0]), _direction(background), atol=1e-5)


def test_segment_words_condition_the_content(glove: GloveVectors) -> None:
    gen = StandinVideoGenerator(["Archery"], glove, feature_dim=128, seed=0, noise=0.0)
    words = tokenize("The man is swimming in the pool")  # stopwords are ignored
    x = gen.features("Archery", 8, [(0, 8)], [words], np.random.default_rng(0))
    unit = glove.unit_vectors()
    content = _direction(unit[[glove.index(w) for w in ("man", "swimming", "pool")]].mean(axis=0))
    expected = gen.mean_feature(gen.class_weight * gen.class_info("Archery").vector + gen.word_weight * content)
    np.testing.assert_allclose(_direction(x[3]), _direction(expected), atol=1e-5)


def test_similar_classes_have_closer_mean_features(generator: StandinVideoGenerator) -> None:
    vec = {c: generator.class_info(c).vector for c in CLASSES}
    assert vec["Playing squash"] @ vec["Playing racquetball"] > vec["Playing squash"] @ vec["Baking cookies"] + 0.4
    means = {}
    for c in ("Playing squash", "Playing racquetball", "Baking cookies"):
        n_sub = len(generator.class_info(c).sub_events)
        videos = [generator.features(c, 40, [(8 * j, 8 * j + 8) for j in range(n_sub)], None, np.random.default_rng(i))
                  for i in range(30)]
        means[c] = np.mean([v.mean(axis=0) for v in videos], axis=0)
    near = np.linalg.norm(means["Playing squash"] - means["Playing racquetball"])
    far = np.linalg.norm(means["Playing squash"] - means["Baking cookies"])
    assert near < far


def _store_contents(path: Path) -> dict[str, np.ndarray]:
    reader = FeatureStoreReader(path)
    return {video_id: reader.read(video_id) for video_id in reader.ids()}


def test_generation_is_deterministic(glove: GloveVectors, tmp_path: Path) -> None:
    runs = [generate_standin(tmp_path / name, glove, CLASSES[:3], videos_per_class=3, seed=seed, feature_dim=32,
                             progress=False) for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    a, b, c = (_store_contents(r.features_path) for r in runs)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert runs[0].sentences.equals(runs[1].sentences)
    assert not runs[0].sentences["text"].equals(runs[2].sentences["text"])
    assert any(not np.array_equal(a[k], c[k]) for k in a if k in c)


#: The v1 store below as the code of commit c9fffba (before v2) wrote it: its features, and the sha256 of those
#: features (float32, in video order) followed by the sentences, recorded with that code. The features were
#: written again with OpenBLAS's SkylakeX kernels (``OPENBLAS_CORETYPE=SkylakeX``), which give that sha256 bit
#: for bit; other kernels (an AMD EPYC Zen 5 picks AVX2 ones) change 3 of the 10,688 values by one float16 unit.
V1_FEATURES = Path(__file__).parent / "fixtures" / "standin_v1_features.npz"
V1_SHA256 = "1100cf04ea5bd31199a9b2abbae9c4b9f233ab33fff26d27e4f1bb250cb2c6a6"


def test_generator_v1_is_unchanged(glove: GloveVectors, tmp_path: Path) -> None:
    """v1 stays selectable for comparison and gives what it gave before v2 existed: the same sentences, and
    features within one unit in the last place of the store's float16 of those recorded (a last-bit difference
    of the float32 arithmetic, from another CPU's BLAS kernels, can flip the rounding to float16; no more)."""
    import hashlib

    data = generate_standin(tmp_path, glove, ["Playing squash", "Baking cookies", "Archery"], videos_per_class=3,
                            seed=0, feature_dim=32, progress=False, generator="v1")
    recorded = dict(np.load(V1_FEATURES))
    video_ids = sorted(data.sentences["video_id"].unique())
    assert video_ids == sorted(recorded)
    digest = hashlib.sha256()  # the fixture and this run's sentences are what commit c9fffba gave
    for video_id in video_ids:
        digest.update(recorded[video_id].astype(np.float32).tobytes())
    digest.update("\n".join(data.sentences["text"]).encode())
    assert digest.hexdigest() == V1_SHA256
    reader = FeatureStoreReader(data.features_path)
    for video_id in video_ids:
        ours, theirs = reader.read(video_id), recorded[video_id]
        assert ours.shape == theirs.shape
        assert np.all(np.abs(ours - theirs.astype(np.float32)) <= np.spacing(np.abs(theirs)).astype(np.float32))
    assert data.params["generator_name"] == "stand-in generator v1"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_videos_sentences_and_timestamps(glove: GloveVectors, tmp_path: Path, version: str) -> None:
    data = generate_standin(tmp_path, glove, CLASSES, videos_per_class=6, seed=2, feature_dim=32, progress=False,
                            generator=version)
    reader = FeatureStoreReader(data.features_path)
    with h5py.File(data.features_path) as f:
        assert f.attrs["source"] == STANDIN and f.attrs["stride_frames"] == data.stride_frames
    table = data.sentences
    per_second = data.fps / data.stride_frames
    named = []
    for video_id, group in table.groupby("video_id"):
        n_steps = reader.length(video_id)
        duration = group["duration_s"].iloc[0]
        assert n_steps == round(duration * per_second)
        assert len(group) == len(data.class_facts[group["class_name"].iloc[0]]["sub_events"])
        assert ((group["start_s"] >= 0) & (group["end_s"] <= duration + 1e-6) & (group["end_s"] > group["start_s"])).all()
        assert group["start_s"].is_monotonic_increasing  # sub-events in order
        sub_events = data.class_facts[group["class_name"].iloc[0]]["sub_events"]
        for j, text in enumerate(group["text"]):  # sentence j names sub-event j (v2: or paraphrases it, or lost it to word noise)
            named.append(sub_events[j] in tokenize(text))
        assert (reader.read(video_id) >= 0).all()
    assert all(named) if version == "v1" else 0.4 < np.mean(named) < 0.8
    videos = table.drop_duplicates("video_id")
    assert (videos["subset"] == "val").sum() * 3 == len(videos)  # 2 train : 1 val
    assert videos.groupby("class_name").size().eq(6).all()


def test_select_classes() -> None:
    names = activitynet_classes()
    assert select_classes(3, names, "first", 0) == names[:3]
    chosen = select_classes(12, names, "random", 0)
    assert chosen == select_classes(12, names, "random", 0) != select_classes(12, names, "random", 1)
    assert chosen == sorted(chosen, key=names.index) and len(set(chosen)) == 12
    with pytest.raises(ValueError, match="class_selection"):
        select_classes(3, names, "best", 0)


def test_prepare_standin_writes_a_loadable_labelled_folder(glove: GloveVectors, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_dataset("standin", tmp_path / "data", n_classes=5, videos_per_class=3, feature_dim=24,
                               glove=glove, unseen_ks=(2,), n_trials=3, seed=0, progress=False)
    meta = data.meta
    assert data.data_source == STANDIN and "STAND-IN" in meta["description"] and meta["video_is_generated"]
    assert meta["description"].endswith("(stand-in generator v2, mmar.data.standin_v2)")
    assert meta["counts"]["videos"] == 15 and meta["counts"]["sentences"] == len(data.sentences)
    assert meta["word_vectors"] == glove.source and data.word_dim == 50 and meta["feature_dim"] == 24
    assert meta["oov"]["n_tokens"] > 0 and len(data.splits[2]) == 3
    np.testing.assert_array_equal(data.vocab_vectors[0], 0.0)
    for row in range(len(data.sentences)):  # ids decode back to the sentence's in-vocabulary tokens
        words = [data.vocab_words[i] for i in data.token_ids(row)]
        assert words == [t for t in tokenize(data.sentences.at[row, "text"]) if t in glove]
    batch = collate_pairs([PairDataset(data, range(4))[i] for i in range(4)])
    assert batch["video"].shape[0] == 4 and batch["video"].shape[2] == 24 and batch["text"].shape[2] == 50
    with pytest.raises(ValueError, match="unknown data source"):
        prepare_dataset("kinetics", tmp_path / "x")


def test_dataset_statistics_by_hand(tmp_path: Path) -> None:
    import pandas as pd

    from mmar.data.feature_store import FeatureStoreWriter
    from mmar.data.stats import nearest_class_mean_accuracy, pooled_features, sentence_stats

    table = pd.DataFrame({
        "video_id": ["a", "a", "b"], "class_name": ["X", "X", "Y"], "subset": ["train"] * 3,
        "start_s": [0.0, 5.0, 2.0], "end_s": [5.0, 10.0, 4.0], "duration_s": [10.0, 10.0, 20.0],
        "text": ["A man runs.", "He jumps over the bar", "ok"]})
    stats = sentence_stats(table)
    assert stats["n_videos"] == 2 and stats["sentences_per_video"] == 1.5
    assert stats["words_per_sentence"] == pytest.approx((3 + 5 + 1) / 3)
    assert stats["video_duration_s"] == 15.0 and stats["segment_duration_s"] == pytest.approx(4.0)
    assert stats["segment_fraction"] == pytest.approx((0.5 + 0.5 + 0.1) / 3)
    with FeatureStoreWriter(tmp_path / "f.h5", extractor="t", fps=25, stride_frames=8, feature_dim=2, dtype="float32") as store:
        store.write("v", np.array([[0, 0], [2, 2], [4, 4], [6, 6], [8, 8], [10, 10]], np.float32))
    pooled = pooled_features(FeatureStoreReader(tmp_path / "f.h5"), ["v"], parts=(1, 3))
    np.testing.assert_allclose(pooled[1], [[5, 5]])
    np.testing.assert_allclose(pooled[3], [[1, 1, 5, 5, 9, 9]])
    train = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0]])
    assert nearest_class_mean_accuracy(train, np.array([0, 0, 1]), np.array([[1.0, 1.0], [6.0, 0.0], [4.0, 0.0]]),
                                       np.array([0, 1, 1])) == pytest.approx(2 / 3)  # (4,0) is nearer class 0's mean (0,1)


def test_worker_processes_generate_the_same_dataset(glove: GloveVectors, tmp_path: Path) -> None:
    """Videos are seeded by their ids: generated by two worker processes (which see only the sub-event
    words' vectors) or by this process, the store and the sentences are the same, bit for bit."""
    runs = [generate_standin(tmp_path / str(p), glove, CLASSES[:4], videos_per_class=3, seed=0, feature_dim=32,
                             processes=p, progress=False) for p in (1, 2)]  # v2, the default
    alone, workers = (_store_contents(r.features_path) for r in runs)
    assert list(alone) == list(workers) and all(np.array_equal(alone[k], workers[k]) for k in alone)
    assert runs[0].sentences.equals(runs[1].sentences)


def test_a_subset_of_the_word_vectors_keeps_vectors_and_unit_vectors_bit_for_bit(glove: GloveVectors) -> None:
    words = ["run", "jump", "the", "swim", "not-a-glove-word"]
    subset = glove.subset(words)
    assert subset.words == sorted(words[:4], key=glove.index)  # known words only, in vocabulary order
    for word in subset.words:
        assert np.array_equal(subset.vector(word), glove.vector(word))
        assert np.array_equal(subset.unit_vectors()[subset.index(word)], glove.unit_vectors()[glove.index(word)])
