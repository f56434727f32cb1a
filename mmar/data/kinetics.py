"""ActivityNet classes that Kinetics-400 already has: a "Kinetics-disjoint" zero-shot protocol.

The paper's video features come from I3D trained on Kinetics-400, and many ActivityNet v1.3
classes have a Kinetics-400 class of the same name ("Archery", "Arm wrestling", "Bungee jumping",
"Capoeira", "Playing cricket" / "Cricket", "Discus throw" / "throwing discus"). A zero-shot split
that withholds such a class from training has not hidden it from the feature extractor. TruZe
(Gowda, Sevilla-Lara, Kim, Keller, Rohrbach, "A New Split for Evaluating True Zero-Shot Action
Recognition", GCPR 2021) makes that point and proposes splits whose unseen classes do not overlap
the pre-training classes. :func:`kinetics_disjoint` gives the ActivityNet classes without a
Kinetics-400 counterpart, to pass as ``unseen_pool`` to :func:`mmar.data.splits.make_splits`.

Names are compared by their content words (:func:`normalised_words`), an order-insensitive,
lightly stemmed form, so that "Rock-paper-scissors" meets "rock scissors paper" and "Belly dance"
meets "belly dancing". Word matching cannot see synonyms ("Playing ten pins" / "bowling",
"Cutting the grass" / "mowing lawn") and is fooled by homonyms ("Curling" / "curling hair",
"Playing pool" / "cleaning pool"); :func:`match_kinetics` reports GloVe cosines to help review the
table by eye, but only the words decide ``counterpart``. The rule errs towards counterparts (half
of a two-word name suffices: "Fixing bicycle" / "fixing hair"), which only shrinks the unseen
pool; a missed counterpart would let a class the features were trained on pass as unseen.

The preparers (:mod:`mmar.data.prepare`) take ``unseen_pool`` (:data:`UNSEEN_POOLS`): ``"all"``, the
paper's protocol, or ``"kinetics_disjoint"``; :func:`protocol_splits` draws the splits for either.
For a run's splits, :func:`unseen_counterparts` counts per trial the unseen classes that have a
counterpart, and :func:`kinetics_counts` summarises a class list.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmar.data.classes import TOKEN_GLOSSES, activitynet_classes, class_name_words
from mmar.data.glove import GloveVectors
from mmar.data.splits import make_splits

#: Function words dropped from class names before matching.
STOP_WORDS = frozenset(
    "a an the and or of on in into with at to for from by up down off out over through".split())

#: Light verbs: a class name's first word when it is one of these ("Playing cricket",
#: "Doing nails", "Getting a haircut") says nothing about which action it is, and is dropped when
#: other words remain. Without this, "Playing polo" would count as half matched by "playing cards".
LIGHT_VERBS = frozenset("doing getting giving having making playing putting taking using".split())

#: Misspelt or foreign ActivityNet words and their English words: the one-word entries of
#: :data:`mmar.data.classes.TOKEN_GLOSSES` ("mooping" -> "mopping", "flauta" -> "flute", ...)
#: and "guitarra" (Spanish, in GloVe, so not among those glosses).
SPELLING_FIXES = {token: gloss[0] for token, gloss in TOKEN_GLOSSES.items() if len(gloss) == 1} | {
    "guitarra": "guitar"}

#: A counterpart shares at least this share of the ActivityNet class's content words.
MIN_COUNTERPART_OVERLAP = 0.5

#: Where a run's unseen classes are drawn from: every class (the paper's protocol), or only the classes
#: without a Kinetics-400 counterpart (:func:`kinetics_disjoint`; TruZe's idea).
UNSEEN_POOLS = ("all", "kinetics_disjoint")

_QUALIFIER = re.compile(r"\([^)]*\)")  # Kinetics' "(sport)", "(not slalom or crosscountry)"
_WORD = re.compile(r"[a-z0-9]+")


def _content_tokens(name: str) -> list[str]:
    """Lower-case words of ``name`` without qualifiers, apostrophes, stop words or a leading light verb."""
    text = _QUALIFIER.sub(" ", name.lower()).replace("'", "").replace("\u2019", "")
    tokens = [SPELLING_FIXES.get(t, t) for t in _WORD.findall(text) if t not in STOP_WORDS]
    if len(tokens) > 1 and tokens[0] in LIGHT_VERBS:
        tokens = tokens[1:]
    return tokens


def _stem(word: str) -> str:
    """Strip one inflection: "ies" -> "i", else "ing", "ed" or "s" (not "ss"), when 3+ letters remain.

    After "ing"/"ed" a doubled final consonant other than f, l, s, z is undoubled ("mopping" ->
    "mop", "kissing" -> "kiss"). Then a final "e" is dropped and a final "y" becomes "i" (in words
    of 4+ and 3+ letters), so "baking"/"bake" -> "bak", "cookies"/"cookie" -> "cooki",
    "flying"/"fly" -> "fli". Known limits: words that end in "ing" or "ed" themselves ("string"
    -> "str", "speed" -> "spe"), irregular forms ("knife"/"knives"), derivations ("removal").
    """
    for suffix, replacement in (("ies", "i"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) + len(replacement) >= 3 and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + replacement
            if suffix in ("ing", "ed") and len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiouflsz":
                word = word[:-1]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) >= 3 and word.endswith("y"):
        word = word[:-1] + "i"
    return word


def normalised_words(name: str) -> tuple[str, ...]:
    """The content words of a class name, stemmed, distinct and sorted (an order-insensitive key).

    Lower-cased; parenthesised qualifiers dropped (Kinetics' "hurling (sport)", "petting animal
    (not cat)": the negated ones would otherwise add the excluded thing's name); apostrophes
    removed ("person's" -> "persons"); split at any other punctuation ("Blow-drying" -> "blow",
    "drying"); :data:`STOP_WORDS` dropped, a leading :data:`LIGHT_VERBS` word dropped,
    :data:`SPELLING_FIXES` applied, each word stemmed by :func:`_stem`.

    >>> normalised_words("Rock-paper-scissors") == normalised_words("rock scissors paper")
    True
    >>> normalised_words("Baking cookies"), normalised_words("Playing cricket")
    (('bak', 'cooki'), ('cricket',))
    """
    return tuple(sorted({_stem(t) for t in _content_tokens(name)}))


def _unit_mean_vector(name: str, glove: GloveVectors) -> np.ndarray:
    """Unit-length mean GloVe vector of the name's content words (glossed as for class embeddings), (D,).

    All NaN when GloVe knows none of them (Kinetics' "barbequing", "situp", "unboxing", ...).
    """
    try:
        mean = glove.mean_vector(class_name_words(" ".join(_content_tokens(name)), glove))
    except ValueError:
        return np.full(glove.dim, np.nan, dtype=np.float32)
    return mean / max(float(np.linalg.norm(mean)), 1e-8)


def match_kinetics(activitynet: Sequence[str], kinetics: Sequence[str],
                   glove: GloveVectors | None = None) -> pd.DataFrame:
    """Each ActivityNet class's best Kinetics class, and whether it is a counterpart.

    One row per ActivityNet class, in order, with columns ``activitynet_class``,
    ``kinetics_class``, ``same_name`` (equal :func:`normalised_words`), ``word_overlap`` (share of
    the ActivityNet class's words found in that Kinetics class, 0..1), ``glove_cosine`` (cosine of
    the two names' mean GloVe vectors; NaN without ``glove``) and ``counterpart`` (``same_name`` or
    ``word_overlap >= MIN_COUNTERPART_OVERLAP``).

    The best Kinetics class is a same-name one if any, else the one of highest word overlap; ties
    are broken by GloVe cosine (with ``glove``), then by Jaccard similarity of the word sets (fewer
    extra words), then by Kinetics list order. Without ``glove`` and with no shared word,
    ``kinetics_class`` is missing (NaN). ValueError when a name has no content word.
    """
    a_words = [set(normalised_words(n)) for n in activitynet]
    k_words = [set(normalised_words(n)) for n in kinetics]
    empty = [n for n, w in zip([*activitynet, *kinetics], [*a_words, *k_words]) if not w]
    if empty:
        raise ValueError(f"match_kinetics: no content word in class names {empty}")
    if glove is None:
        cosines = np.full((len(activitynet), len(kinetics)), np.nan)
    else:
        cosines = (np.stack([_unit_mean_vector(n, glove) for n in activitynet])
                   @ np.stack([_unit_mean_vector(n, glove) for n in kinetics]).T)
    rank_cosines = np.nan_to_num(cosines, nan=-1.0)  # an unknown cosine ranks below every known one
    rows = []
    for i, (name, words) in enumerate(zip(activitynet, a_words)):
        def rank(j: int) -> tuple[bool, float, float, float, int]:
            shared = len(words & k_words[j])
            return (words == k_words[j], shared / len(words), float(rank_cosines[i, j]),
                    shared / len(words | k_words[j]), -j)

        best = max(range(len(kinetics)), key=rank)
        same_name, overlap = rank(best)[:2]
        rows.append({
            "activitynet_class": name,
            "kinetics_class": kinetics[best] if overlap > 0 or glove is not None else None,
            "same_name": same_name,
            "word_overlap": overlap,
            "glove_cosine": float(cosines[i, best]),
            "counterpart": same_name or overlap >= MIN_COUNTERPART_OVERLAP,
        })
    return pd.DataFrame(rows, columns=["activitynet_class", "kinetics_class", "same_name", "word_overlap",
                                       "glove_cosine", "counterpart"])


def kinetics_disjoint(activitynet: Sequence[str], kinetics: Sequence[str]) -> list[str]:
    """The ActivityNet classes without a Kinetics counterpart (:func:`match_kinetics`), in order.

    GloVe does not enter: ``counterpart`` depends on the words only.
    """
    matches = match_kinetics(activitynet, kinetics)
    return matches.loc[~matches["counterpart"], "activitynet_class"].tolist()


def default_matches(glove: GloveVectors | None = None, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`match_kinetics` of ActivityNet classes (``classes``; None: the 200 ActivityNet v1.3 classes)
    and the 400 Kinetics-400 labels."""
    from mmar.i3d import kinetics400_labels  # imported here: mmar.i3d imports torch

    return match_kinetics(activitynet_classes() if classes is None else classes, kinetics400_labels(), glove)


def check_unseen_pool(unseen_pool: str) -> None:
    """ValueError naming :data:`UNSEEN_POOLS` unless ``unseen_pool`` is one of them."""
    if unseen_pool not in UNSEEN_POOLS:
        raise ValueError(f"unseen_pool must be one of {UNSEEN_POOLS}, got {unseen_pool!r}")


def protocol_splits(classes: Sequence[str], unseen_ks: Sequence[int], n_trials: int, seed: int,
                    unseen_pool: str) -> dict[int, list[list[str]]]:
    """:func:`mmar.data.splits.make_splits` of ``classes`` with unseen classes drawn from ``unseen_pool``.

    ``"all"``: from every class (the paper's protocol); ``"kinetics_disjoint"``: only from
    :func:`kinetics_disjoint` of ``classes`` and the Kinetics-400 labels (the seen classes are still
    all the others). A K larger than that pool is skipped with make_splits' warning, which says how
    many Kinetics-disjoint classes there are. ValueError for another ``unseen_pool``.
    """
    check_unseen_pool(unseen_pool)
    if unseen_pool == "all":
        return make_splits(classes, unseen_ks, n_trials, seed)
    from mmar.i3d import kinetics400_labels  # imported here: mmar.i3d imports torch

    return make_splits(classes, unseen_ks, n_trials, seed, unseen_pool=kinetics_disjoint(classes, kinetics400_labels()),
                       pool_name="the Kinetics-disjoint unseen pool (classes without a Kinetics-400 counterpart)")


def kinetics_counts(matches: pd.DataFrame) -> dict[str, int]:
    """How many classes of a :func:`match_kinetics` table match Kinetics-400.

    ``{"classes": rows, "same_name": classes with a same-name Kinetics class, "counterpart": classes
    with a counterpart (same-name ones included), "kinetics_disjoint": classes without one}``.
    """
    counterparts = int(matches["counterpart"].sum())
    return {"classes": len(matches), "same_name": int(matches["same_name"].sum()), "counterpart": counterparts,
            "kinetics_disjoint": len(matches) - counterparts}


def counterpart_pair(match: pd.Series) -> str:
    """A :func:`match_kinetics` row as text: "Archery = archery" (same name), "Ballet ~ dancing ballet"
    (another counterpart)."""
    return f"{match['activitynet_class']} {'=' if match['same_name'] else '~'} {match['kinetics_class']}"


def unseen_counterparts(splits: Mapping[int, Sequence[Sequence[str]]], matches: pd.DataFrame) -> pd.DataFrame:
    """Per zero-shot trial, the unseen classes that have a Kinetics-400 counterpart.

    ``splits``: ``{K: [[unseen class names of trial 0], [trial 1], ...]}`` (as
    :attr:`mmar.data.prepared.PreparedDataset.splits`); ``matches``: a :func:`match_kinetics` table
    with a row for every unseen class (ValueError naming those without one). One row per (K, trial),
    K ascending, with columns ``unseen_k``, ``trial`` (0-based), ``n_unseen`` (classes in the trial),
    ``n_counterpart`` (of them with a counterpart), ``counterpart_share`` (``n_counterpart /
    n_unseen``, 0..1) and ``counterparts`` (their :func:`counterpart_pair` texts in the trial's
    order, joined by "; ").
    """
    by_class = matches.set_index("activitynet_class", drop=False)
    unknown = sorted({c for trials in splits.values() for unseen in trials for c in unseen} - set(by_class.index))
    if unknown:
        raise ValueError(f"unseen_counterparts: unseen classes without a row in the match table: {unknown}")
    rows = []
    for k, trials in sorted(splits.items()):
        for trial, unseen in enumerate(trials):
            pairs = [counterpart_pair(by_class.loc[c]) for c in unseen if by_class.loc[c, "counterpart"]]
            rows.append({"unseen_k": int(k), "trial": trial, "n_unseen": len(unseen), "n_counterpart": len(pairs),
                         "counterpart_share": len(pairs) / len(unseen), "counterparts": "; ".join(pairs)})
    return pd.DataFrame(rows, columns=["unseen_k", "trial", "n_unseen", "n_counterpart", "counterpart_share",
                                       "counterparts"])
