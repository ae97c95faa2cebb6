"""Word-level text comparison shared by the stages: content words and their overlap.

A small common module so that extraction's evaluation and the comparison stage use one
definition of "the same words" without importing each other.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _stem(word: str) -> str:
    """A light stemmer: plural first, then -ing/-ed ("exercises" and "exercise" meet)."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")) and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    # Imported on first use: importing spaCy costs seconds that `pipeline report` need not pay.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def content_words(text: str) -> set[str]:
    """Stemmed content words of a text."""
    words = re.findall(r"[a-z][a-z’'-]*", text.lower().replace("-", " "))
    stop = _stop_words()
    return {_stem(w) for w in words if w not in stop and len(w) > 1}


def dice(a: str, b: str) -> float:
    """Dice coefficient of the content words of two texts."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return 0.0
    return 2 * len(wa & wb) / (len(wa) + len(wb))
