"""Zero-shot splits: determinism, distinct trials, skipped K, and no unseen class leaking into training."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest

from mmar.data.classes import activitynet_classes
from mmar.data.glove import GloveVectors
from mmar.data.prepare import prepare_standin
from mmar.data.prepared import PreparedDataset
from mmar.data.splits import make_splits, seen_classes

CLASSES = [f"class {i:02d}" for i in range(30)]


def test_splits_are_deterministic_distinct_and_well_formed() -> None:
    splits = make_splits(CLASSES, (5, 10, 20), n_trials=10, seed=3)
    assert splits == make_splits(CLASSES, (5, 10, 20), n_trials=10, seed=3)
    assert splits != make_splits(CLASSES, (5, 10, 20), n_trials=10, seed=4)
    for k, trials in splits.items():
        assert len(trials) == 10
        assert len({frozenset(t) for t in trials}) == 10  # every trial a different set
        for trial in trials:
            assert len(trial) == k == len(set(trial)) and set(trial) <= set(CLASSES)
            assert trial == sorted(trial, key=CLASSES.index)  # class-list order


def test_each_k_has_its_own_stream() -> None:
    assert make_splits(CLASSES, (10,), seed=1)[10] == make_splits(CLASSES, (5, 10, 20), seed=1)[10]


def test_k_without_seen_classes_is_skipped_with_a_message() -> None:
    with pytest.warns(UserWarning, match="skipping K=30 unseen classes: only 30 classes"):
        splits = make_splits(CLASSES, (5, 30), n_trials=2, seed=0)
    assert sorted(splits) == [5]


def test_fewer_possible_sets_than_trials() -> None:
    with pytest.warns(UserWarning, match="only 4 different sets"):
        splits = make_splits(["a", "b", "c", "d"], (3,), n_trials=10, seed=0)
    assert sorted(map(tuple, splits[3])) == [("a", "b", "c"), ("a", "b", "d"), ("a", "c", "d"), ("b", "c", "d")]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not unique"):
        make_splits(["a", "a", "b"], (1,))
    with pytest.raises(ValueError, match="n_trials"):
        make_splits(CLASSES, (5,), n_trials=0)
    with pytest.raises(ValueError, match="not in the class list"):
        seen_classes(CLASSES, ["nope"])


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_standin(tmp_path_factory.mktemp("split") / "data", n_classes=8, videos_per_class=3,
                               feature_dim=16, glove=GloveVectors.load_default(), unseen_ks=(2, 3), n_trials=4,
                               seed=5, progress=False)


def test_no_unseen_sentence_or_video_reaches_training_rows(standin: PreparedDataset) -> None:
    table = standin.sentences
    assert standin.splits == make_splits(standin.classes, (2, 3), 4, 5)  # written splits = the seeded ones
    for k, trials in standin.splits.items():
        for unseen in trials:
            train = standin.rows(exclude_classes=unseen, subset="train")
            held_out = standin.rows(classes=unseen)
            assert len(train) and len(held_out)
            assert not set(table.loc[train, "class_name"]) & set(unseen)
            assert not set(table.loc[train, "video_id"]) & set(table.loc[held_out, "video_id"])
            # together the seen and unseen rows are the whole table, without overlap
            seen_all = standin.rows(exclude_classes=unseen)
            assert sorted(set(seen_all) | set(held_out)) == list(range(len(table)))
            assert set(table.loc[seen_all, "class_name"]) == set(seen_classes(standin.classes, unseen))


def test_splits_survive_the_round_trip(standin: PreparedDataset, tmp_path: Path) -> None:
    assert PreparedDataset.load(standin.root).splits == standin.splits


# Recorded from make_splits before the unseen_pool keyword existed: without a pool (or with a pool
# of all classes) the splits must stay these, draw for draw.
RECORDED_ACTIVITYNET_SHA256 = {
    0: "ab20db757aa9ddcfa9ac0d6131ac26ff9f0cc46fcd4099ab0a7ab82b3abfaabb",
    1: "3b29497303b5702b5b0bf3f5e554d3cc81efcbc5b01d132d9e91fb21ee594504",
    7: "367e8c646e32603ece81c33b42677c4d2ce8e2142977f3c32050ff9fafa42bbf",
}


@pytest.mark.parametrize("pool", [None, "all"])
def test_splits_without_a_pool_are_unchanged(pool: str | None) -> None:
    def picks(classes: list[str], *args: int) -> dict[int, list[list[int]]]:
        splits = make_splits(classes, *args, unseen_pool=classes if pool == "all" else None)
        return {k: [[classes.index(c) for c in trial] for trial in trials] for k, trials in splits.items()}

    assert picks(CLASSES, (3,), 3, 2) == {3: [[7, 10, 26], [1, 5, 15], [17, 23, 29]]}
    assert picks(CLASSES, (2, 5), 2, 11) == {2: [[3, 26], [11, 29]], 5: [[1, 2, 5, 11, 23], [3, 16, 23, 27, 29]]}
    names = activitynet_classes()
    for seed, digest in RECORDED_ACTIVITYNET_SHA256.items():
        splits = make_splits(names, seed=seed, unseen_pool=names if pool == "all" else None)
        text = json.dumps({str(k): v for k, v in splits.items()})
        assert hashlib.sha256(text.encode()).hexdigest() == digest
