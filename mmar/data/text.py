"""Sentence tokenisation compatible with the GloVe 6B vocabulary.

GloVe 6B (Pennington et al. 2014) was trained on lowercased text tokenised with the Stanford
tokenizer: punctuation is split off, clitics are separate tokens (``man's`` -> ``man`` ``'s``,
``don't`` -> ``do`` ``n't``), hyphenated compounds and decimal numbers stay whole
(``ping-pong``, ``3.5``). :func:`tokenize` follows those rules and drops punctuation, keeping words
and numbers only (ActivityNet Captions' "words per sentence" counts words, not commas).
"""

from __future__ import annotations

import re

# A word (letters/digits, optionally joined by internal hyphens or dots, e.g. "ping-pong", "3.5",
# "e.g"), or a clitic beginning with an apostrophe.
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|[a-z0-9]+(?:[-.][a-z0-9]+)*")
_CURLY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def tokenize(sentence: str) -> list[str]:
    """Lowercase ``sentence`` and split it into GloVe-style word/number tokens.

    >>> tokenize("A man's riding a BMX bike, doing 3.5 spins -- don't stop!")
    ['a', 'man', "'s", 'riding', 'a', 'bmx', 'bike', 'doing', '3.5', 'spins', 'do', "n't", 'stop']
    """
    if not isinstance(sentence, str):
        raise TypeError(f"tokenize expects a str, got {type(sentence).__name__}")
    text = sentence.translate(_CURLY).lower()
    # Separate the "n't" clitic from its verb before matching ("don't" -> "do n't").
    text = re.sub(r"([a-z])n't\b", r"\1 n't", text)
    return _TOKEN.findall(text)
