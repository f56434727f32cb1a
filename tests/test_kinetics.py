"""Kinetics-disjoint protocol: name normalisation, ActivityNet <-> Kinetics matching, the unseen pool."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mmar.data.glove import GloveVectors
from mmar.data.kinetics import (default_matches, kinetics_counts, kinetics_disjoint, match_kinetics, normalised_words,
                                protocol_splits, unseen_counterparts)
from mmar.data.prepare import prepare_activitynet, prepare_standin
from mmar.data.splits import make_splits
from mmar.i3d import kinetics400_labels


@pytest.mark.parametrize("a, b", [
    ("Baking cookies", "bake cookie"),         # plural, -ing, final e, -ies
    ("Belly dance", "belly dancing"),
    ("Kite flying", "flying kite"),             # word order
    ("Rock-paper-scissors", "rock scissors paper"),  # hyphens
    ("Mowing the lawn", "mowing lawn"),         # stop words
    ("Swimming", "swim"),                       # doubled consonant
    ("Hurling", "hurling (sport)"),             # parenthesised qualifier
    ("Cricket", "playing cricket"),             # leading light verb
    ("Mooping floor", "mopping floor"),         # ActivityNet misspelling
    ("massaging person's head", "massaging persons head"),  # apostrophe
])
def test_same_normalised_words(a: str, b: str) -> None:
    assert normalised_words(a) == normalised_words(b)


def test_normalised_words_examples() -> None:
    assert normalised_words("Playing cricket") == ("cricket",)
    assert normalised_words("Decorating the Christmas tree") == normalised_words("decorating christmas trees")
    assert normalised_words("Shaving legs") == ("leg", "shav")  # sorted
    assert normalised_words("Kissing") == ("kiss",) and normalised_words("glasses") == ("glass",)  # -ss kept
    assert normalised_words("skiing") == normalised_words("skis") == ("ski",)
    assert normalised_words("Golf putting") == ("golf", "put")  # a light verb only goes when it leads
    assert normalised_words("Playing") == ("plai",)  # ... and something is left
    assert normalised_words("petting animal (not cat)") == ("animal", "pet")  # a negated qualifier adds no word
    assert normalised_words("Playing pool") != normalised_words("Playing polo")


def test_match_kinetics_on_made_up_lists() -> None:
    matches = match_kinetics(
        ["Playing cricket", "Washing car", "Tug of war", "Snatch"],
        ["cricket", "washing dishes", "washing car windows", "snatch weight lifting", "abseiling"])
    assert list(matches.columns) == ["activitynet_class", "kinetics_class", "same_name", "word_overlap",
                                     "glove_cosine", "counterpart"]
    rows = matches.set_index("activitynet_class")
    assert rows.loc["Playing cricket", ["kinetics_class", "same_name", "word_overlap", "counterpart"]].tolist() == [
        "cricket", True, 1.0, True]
    # partial overlap: "washing car windows" holds both words, "washing dishes" only one
    assert rows.loc["Washing car", ["kinetics_class", "same_name", "word_overlap", "counterpart"]].tolist() == [
        "washing car windows", False, 1.0, True]
    assert rows.loc["Snatch", ["kinetics_class", "same_name", "counterpart"]].tolist() == [
        "snatch weight lifting", False, True]
    # no shared word, no GloVe: no Kinetics class is named
    assert pd.isna(rows.loc["Tug of war", "kinetics_class"])
    assert rows.loc["Tug of war", ["same_name", "word_overlap", "counterpart"]].tolist() == [False, 0.0, False]
    assert matches["glove_cosine"].isna().all()
    assert kinetics_disjoint(["Playing cricket", "Tug of war", "Snatch"], ["cricket", "snatch weight lifting"]) == [
        "Tug of war"]


def test_counterpart_needs_half_the_words() -> None:
    matches = match_kinetics(["Cleaning sink", "Trimming branches or hedges", "Drinking coffee"],
                             ["cleaning toilet", "trimming trees", "drinking", "drinking beer"])
    assert matches["word_overlap"].tolist() == pytest.approx([0.5, 1 / 3, 0.5])
    assert matches["counterpart"].tolist() == [True, False, True]
    # among equal overlaps, without GloVe, the class with fewer extra words wins
    assert matches["kinetics_class"].tolist()[2] == "drinking"


def test_same_name_beats_a_superset() -> None:
    matches = match_kinetics(["Making a cake"], ["eating cake", "making a cake"])
    assert matches.loc[0, "kinetics_class"] == "making a cake" and matches.loc[0, "same_name"]


def test_a_name_without_content_words_is_refused() -> None:
    with pytest.raises(ValueError, match="no content word"):
        match_kinetics(["of the"], ["abseiling"])


@pytest.fixture(scope="module")
def glove() -> GloveVectors:
    return GloveVectors.load_default()


@pytest.fixture(scope="module")
def real_matches(glove: GloveVectors) -> pd.DataFrame:
    return default_matches(glove).set_index("activitynet_class")


def test_real_lists(real_matches: pd.DataFrame) -> None:
    assert len(real_matches) == 200
    # the counts, and the same counts recomputed from the rule of match_kinetics' docstring (equal word sets;
    # a share >= 1/2 of the ActivityNet words in one Kinetics label), which GloVe does not enter
    assert real_matches["same_name"].sum() == 82 and real_matches["counterpart"].sum() == 147
    kinetics_words = [set(normalised_words(k)) for k in kinetics400_labels()]
    activitynet_words = [set(normalised_words(a)) for a in real_matches.index]
    assert sum(words in kinetics_words for words in activitynet_words) == 82
    assert sum(max(len(words & k) for k in kinetics_words) >= len(words) / 2 for words in activitynet_words) == 147
    # by hand: "Tango" -> {tango}, all of it in "tango dancing" -> {danc, tango}: a counterpart, not the same
    # name; "Smoking a cigarette" -> {cigarett, smok} has half its words in "smoking" (and "smoking hookah");
    # "Waterskiing" -> {waterski} shares no word with "water skiing" -> {ski, water}: word matching misses it
    assert real_matches.loc["Tango", ["kinetics_class", "same_name", "word_overlap", "counterpart"]].tolist() == [
        "tango dancing", False, 1.0, True]
    smoking = real_matches.loc["Smoking a cigarette"]
    assert (smoking["same_name"], smoking["word_overlap"], smoking["counterpart"]) == (False, 0.5, True)
    assert smoking["kinetics_class"] in {"smoking", "smoking hookah"}
    assert real_matches.loc["Waterskiing", ["word_overlap", "counterpart"]].tolist() == [0.0, False]
    assert real_matches["glove_cosine"].between(-1, 1.0001).all()
    # (ActivityNet's cricket class is "Cricket", matched through the light verb of "playing cricket")
    for activitynet, kinetics in [("Archery", "archery"), ("Cricket", "playing cricket"),
                                  ("Bungee jumping", "bungee jumping"), ("Arm wrestling", "arm wrestling"),
                                  ("Capoeira", "capoeira"), ("Discus throw", "throwing discus"),
                                  ("Volleyball", "playing volleyball"),
                                  ("Skiing", "skiing (not slalom or crosscountry)"),
                                  ("Playing flauta", "playing flute")]:
        row = real_matches.loc[activitynet]
        assert (row["kinetics_class"], row["same_name"], row["counterpart"]) == (kinetics, True, True), activitynet
        assert row["glove_cosine"] > 0.9  # ("throw" and "throwing" are different GloVe words)
    # Kinetics' generic "drinking" covers drinking coffee: a counterpart, not the same name
    coffee = real_matches.loc["Drinking coffee"]
    assert not coffee["same_name"] and coffee["counterpart"] and coffee["word_overlap"] == 0.5
    assert coffee["kinetics_class"] in {"drinking", "drinking beer"}
    for unmatched in ["Tug of war", "Sumo", "Ping-pong", "Playing polo", "Doing karate"]:
        assert not real_matches.loc[unmatched, "counterpart"], unmatched
        assert not math.isnan(real_matches.loc[unmatched, "glove_cosine"])


def test_kinetics_disjoint_on_the_real_lists(real_matches: pd.DataFrame) -> None:
    disjoint = kinetics_disjoint(list(real_matches.index), kinetics400_labels())
    assert disjoint == real_matches.index[~real_matches["counterpart"]].tolist()
    assert "Archery" not in disjoint and "Tug of war" in disjoint
    assert len(disjoint) >= 50  # the paper's largest K still fits


CLASSES = [f"class {i:02d}" for i in range(30)]
POOL = CLASSES[3:15:2]  # 6 classes


def test_unseen_classes_come_from_the_pool() -> None:
    splits = make_splits(CLASSES, (2, 5), n_trials=4, seed=3, unseen_pool=list(reversed(POOL)))
    assert {k: len(trials) for k, trials in splits.items()} == {2: 4, 5: 4}
    for trials in splits.values():
        for unseen in trials:
            assert set(unseen) <= set(POOL) and unseen == sorted(unseen, key=CLASSES.index)
    assert splits == make_splits(CLASSES, (2, 5), n_trials=4, seed=3, unseen_pool=POOL)  # pool order is moot


def test_the_whole_pool_may_be_unseen() -> None:
    with pytest.warns(UserWarning, match="only 1 different sets of 6 of 6 classes"):
        splits = make_splits(CLASSES, (6,), n_trials=4, unseen_pool=POOL)
    assert splits == {6: [POOL]}


def test_pool_errors_and_skips() -> None:
    with pytest.raises(ValueError, match=r"unseen_pool classes not in the class list: \['nope'\]"):
        make_splits(CLASSES, (2,), unseen_pool=[CLASSES[0], "nope"])
    with pytest.warns(UserWarning, match="skipping K=7 unseen classes: the unseen pool has only 6 classes"):
        splits = make_splits(CLASSES, (2, 7), n_trials=2, unseen_pool=POOL)
    assert sorted(splits) == [2]


# -- a run's splits beside Kinetics-400 --------------------------------------------------------------
def _hand_made_matches() -> pd.DataFrame:
    """A match table as match_kinetics gives it: "Sumo" names a Kinetics class but is no counterpart."""
    return pd.DataFrame({
        "activitynet_class": ["Archery", "Ballet", "Sumo", "Tug of war"],
        "kinetics_class": ["archery", "dancing ballet", "wrestling", None],
        "same_name": [True, False, False, False], "word_overlap": [1.0, 1.0, 0.0, 0.0],
        "glove_cosine": [math.nan] * 4, "counterpart": [True, True, False, False]})


def test_kinetics_counts_of_a_hand_made_table() -> None:
    assert kinetics_counts(_hand_made_matches()) == {"classes": 4, "same_name": 1, "counterpart": 2,
                                                     "kinetics_disjoint": 2}


def test_unseen_counterparts_per_trial() -> None:
    splits = {3: [["Archery", "Ballet", "Sumo"]], 2: [["Archery", "Sumo"], ["Sumo", "Tug of war"]]}
    table = unseen_counterparts(splits, _hand_made_matches())
    expected = pd.DataFrame([
        {"unseen_k": 2, "trial": 0, "n_unseen": 2, "n_counterpart": 1, "counterpart_share": 0.5,
         "counterparts": "Archery = archery"},
        {"unseen_k": 2, "trial": 1, "n_unseen": 2, "n_counterpart": 0, "counterpart_share": 0.0, "counterparts": ""},
        {"unseen_k": 3, "trial": 0, "n_unseen": 3, "n_counterpart": 2, "counterpart_share": 2 / 3,
         "counterparts": "Archery = archery; Ballet ~ dancing ballet"},
    ])
    pd.testing.assert_frame_equal(table, expected)
    assert list(unseen_counterparts({}, _hand_made_matches()).columns) == list(expected.columns)
    with pytest.raises(ValueError, match=r"without a row in the match table: \['Surfing'\]"):
        unseen_counterparts({1: [["Surfing"]]}, _hand_made_matches())


# Of these real ActivityNet classes Sumo, Tug of war and Ping-pong have no Kinetics-400 counterpart
# (test_real_lists checks them one by one).
PROTOCOL_CLASSES = ["Archery", "Capoeira", "Ping-pong", "Sumo", "Tug of war"]


def test_protocol_splits_draw_from_the_kinetics_disjoint_classes() -> None:
    assert protocol_splits(PROTOCOL_CLASSES, (2, 3), 4, 1, "all") == make_splits(PROTOCOL_CLASSES, (2, 3), 4, 1)
    with pytest.warns(UserWarning, match=r"skipping K=4 unseen classes: the Kinetics-disjoint unseen pool \(classes "
                                         r"without a Kinetics-400 counterpart\) has only 3 classes"):
        splits = protocol_splits(PROTOCOL_CLASSES, (2, 4), 3, 1, "kinetics_disjoint")
    assert sorted(splits) == [2]
    assert sorted(splits[2]) == [["Ping-pong", "Sumo"], ["Ping-pong", "Tug of war"], ["Sumo", "Tug of war"]]


def test_an_unknown_unseen_pool_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"unseen_pool must be one of \('all', 'kinetics_disjoint'\), got 'truze'"):
        protocol_splits(PROTOCOL_CLASSES, (2,), 3, 0, "truze")


def test_prepare_standin_records_and_uses_the_pool(tmp_path: Path, glove: GloveVectors) -> None:
    # the first 13 ActivityNet classes; only BMX, Baton twirling and Blow-drying hair lack a Kinetics counterpart
    # ("Blow-drying hair" / "balloon blowing" share one word of three)
    with pytest.warns(UserWarning, match="skipping K=4 unseen classes: the Kinetics-disjoint unseen pool .* has only 3"):
        data = prepare_standin(tmp_path / "data", n_classes=13, class_selection="first", videos_per_class=3,
                               feature_dim=8, glove=glove, unseen_ks=(2, 4), n_trials=3, progress=False,
                               unseen_pool="kinetics_disjoint")
    assert data.meta["unseen_pool"] == "kinetics_disjoint" and data.meta["unseen_ks"] == [2]
    assert sorted(data.splits[2]) == [["BMX", "Baton twirling"], ["BMX", "Blow-drying hair"],
                                      ["Baton twirling", "Blow-drying hair"]]


def test_prepare_activitynet_on_the_real_files_with_the_pool(anet_dir: Path, tmp_path: Path,
                                                             glove: GloveVectors) -> None:
    classes = ["Archery", "Capoeira", "Ping-pong", "Playing polo", "Sumo", "Tug of war"]  # the last four: no counterpart
    common = dict(annotations_dir=anet_dir, glove=glove, classes=classes, max_videos_per_class=1, n_trials=3,
                  feature_dim=8, progress=False)
    with pytest.warns(UserWarning, match="skipping K=5 unseen classes: the Kinetics-disjoint unseen pool .* has only 4"):
        data = prepare_activitynet(tmp_path / "disjoint", unseen_ks=(2, 5), unseen_pool="kinetics_disjoint", **common)
    assert data.classes == classes and data.meta["unseen_pool"] == "kinetics_disjoint"
    assert sorted(data.splits) == [2] and len(data.splits[2]) == 3
    for unseen in data.splits[2]:
        assert set(unseen) <= {"Ping-pong", "Sumo", "Tug of war", "Playing polo"}
    paper = prepare_activitynet(tmp_path / "all", unseen_ks=(2, 5), **common)
    assert paper.meta["unseen_pool"] == "all" and paper.splits == make_splits(classes, (2, 5), 3, 0)


def test_prepare_activitynet_refuses_an_unknown_pool_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unseen_pool must be one of \('all', 'kinetics_disjoint'\), got 'none'"):
        prepare_activitynet(tmp_path / "data", annotations_dir=tmp_path / "absent", unseen_pool="none")
