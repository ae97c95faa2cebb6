"""Word-level text comparison shared by the stages: content words and their overlap.

A small common module so that extraction's evaluation and the comparison stage use one
definition of "the same words" without importing each other.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=200_000)
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


_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
_ABBREVIATION = re.compile(r"\b(dr|mr|mrs|ms|prof|st|vs|etc|e\.g|i\.e|no|fig|al)\.$", re.I)


def _sentence_ends(text: str) -> list[int]:
    """Offsets where a sentence ends: not after an abbreviation, not inside a quotation."""
    ends, opened, closed, straight, seen = [], 0, 0, 0, 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        chunk = text[seen:end]  # quote marks counted once, as the scan moves on
        opened, closed = opened + chunk.count("“"), closed + chunk.count("”")
        straight += chunk.count('"')
        seen = end
        if _ABBREVIATION.search(text[: match.start() + 1]):
            continue
        if opened > closed or straight % 2:
            continue
        ends.append(end)
    return ends


def excerpt(text: str, limit: int) -> str:
    """The opening whole sentences of `text` that fit in `limit` characters (at least the first
    sentence, however long): a shown example never stops inside a sentence or a quotation."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    ends = _sentence_ends(text)
    fitting = [e for e in ends if e <= limit]
    if fitting:
        return text[: fitting[-1]]
    return text[: ends[0]] if ends else text
