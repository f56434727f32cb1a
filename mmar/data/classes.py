"""The 200 ActivityNet v1.3 class names (Heilbron et al. 2015).

``mmar/resources/activitynet_classes.txt`` is a copy of the public label list
``activitynet_v1-3_action_label_mapping.json`` (as shipped in ttengwang/PDVC,
``video_backbone/TSP/data/activitynet/``), one name per line, in that file's order.
"""

from __future__ import annotations

from functools import lru_cache

from typing import Container

from mmar.data.text import tokenize
from mmar.paths import RESOURCES_DIR

CLASSES_FILE = RESOURCES_DIR / "activitynet_classes.txt"

#: Word-vector glosses for class-name tokens that GloVe 6B lacks: ActivityNet's own misspellings
#: ("Mooping floor", "Plataform diving", "Polishing forniture"), a Spanish word ("flauta") and
#: rare sport names. Used only to look up word vectors; class names themselves are never changed.
TOKEN_GLOSSES = {
    "mooping": ["mopping"],
    "plataform": ["platform"],
    "forniture": ["furniture"],
    "flauta": ["flute"],
    "powerbocking": ["jumping", "stilts"],
    "slacklining": ["slackline", "walking"],
    "jack-o-lanterns": ["pumpkin", "lanterns"],
}


@lru_cache(maxsize=1)
def _read_classes() -> tuple[str, ...]:
    names = tuple(line.strip() for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(names) != 200 or len(set(names)) != 200:
        raise ValueError(f"{CLASSES_FILE}: expected 200 distinct ActivityNet v1.3 class names, found {len(set(names))}")
    return names


def activitynet_classes() -> list[str]:
    """The 200 ActivityNet v1.3 class names, e.g. ``"Applying sunscreen"``, ``"Archery"``."""
    return list(_read_classes())


def class_tokens(name: str) -> list[str]:
    """Tokens of a class name (``"Blow-drying hair"`` -> ``["blow-drying", "hair"]``)."""
    return tokenize(name)


def class_name_words(name: str, vocabulary: Container[str]) -> list[str]:
    """In-vocabulary words standing for a class name, for word-vector lookups.

    Each token of the name is kept if ``vocabulary`` has it, else replaced by its
    :data:`TOKEN_GLOSSES` entry, else (hyphenated) by its known parts. ValueError when nothing is
    left (name the class).
    """
    words: list[str] = []
    for token in class_tokens(name):
        if token in vocabulary:
            words.append(token)
        elif token in TOKEN_GLOSSES:
            words.extend(w for w in TOKEN_GLOSSES[token] if w in vocabulary)
        else:
            words.extend(p for p in token.split("-") if p and p in vocabulary)
    if not words:
        raise ValueError(f"class {name!r}: no word of its name is in the word vectors; add a gloss to TOKEN_GLOSSES")
    return words
