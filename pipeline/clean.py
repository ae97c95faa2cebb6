"""Cleaning stage: remove boilerplate lines, repair glued sentences, normalise characters.

Every character of the cleaned text remembers the raw offset it came from; the map is stored as
runs in `documents.offset_map`, so any span found later can be traced back to the source text.
Nothing is dropped silently: each removed line is listed in the `boilerplate` table with its rule.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
from spacy.lang.en.stop_words import STOP_WORDS

from pipeline.config import CleanConfig

# Characters replaced one-for-one or removed; a targeted map rather than NFKC, because NFKC
# would turn footnote superscripts (¹) into digits glued to words and change evidence strings.
_CHAR_MAP = {
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u3000": " ",
    "\t": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\ufeff": "",
    "\u00ad": "",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb00": "ff",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
}
# A sentence end glued to the next sentence: "state.Attachment", "(2019).The", "it!”Then".
_GLUED = re.compile(r"[a-z0-9)\]][.!?][\"”’]?(?=[A-Z][a-z])")
_WORD = re.compile(r"[A-Za-z’']+")
_LETTERS = re.compile(r"[^\W\d_]+")  # words in any alphabet ("mí", "über")
# Markup that trafilatura's Markdown keeps inside lines: escapes ("\_"), inline tags ("<u>"),
# emphasis markers ("**bold**", "*italic*"). Deleted character by character, so offsets hold.
_INLINE_MARKUP = re.compile(
    r"\\(?=[\\`*_{}\[\]()#+\-.!<>|~])"
    r"|</?(?:u|sup|sub|b|i|em|strong|span|mark|small|del|ins)>"
    r"|\*\*|__"
    r"|(?:(?<=\s)|^)\*(?=[^\s*])|(?<=[^\s*])\*(?=[\s.,;:!?)]|$)"
)
# Lines that are Markdown structure (headings, bullets, numbered steps, tables): repeated ones
# are sub-headings under each tip, not boilerplate.
EXTRACTED_FORMATS = ("html", "url")  # formats whose raw_text is trafilatura's main text
_STRUCTURAL = re.compile(r"^\s*(#|[-*•|]\s|\d{1,2}[.)]\s)")
_MIN_TAIL_LINE = 3  # a tail marker among the first lines is navigation, not the end of the article
_PHOTO_CREDIT = re.compile(
    r"(getty images|shutterstock|istock|unsplash|pexels|adobe stock|stocksy|\bphoto:)", re.I
)


@dataclass
class Line:
    start: int
    end: int
    text: str
    rule: str | None = None  # set when the line is removed

    @property
    def key(self) -> str:
        return _line_key(self.text)

    @property
    def plain(self) -> str:
        """The line without inline markup, for matching boilerplate patterns."""
        return _INLINE_MARKUP.sub("", self.text).strip()


@dataclass
class CleanResult:
    """Cleaned text, its offset runs into the raw text, and the removed spans."""

    text: str
    offset_map: list[dict[str, int]]
    removed: list[dict] = field(default_factory=list)


def _line_key(text: str) -> str:
    """Case- and punctuation-insensitive form of a line, for comparing lines."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _split_lines(raw: str) -> list[Line]:
    lines, pos = [], 0
    for chunk in raw.splitlines(keepends=True):
        body = (
            chunk.splitlines()[0] if chunk.strip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") else ""
        )
        lines.append(Line(pos, pos + len(body), body))
        pos += len(chunk)
    return lines


def _n_words(text: str) -> int:
    return len(text.split())


def _is_fragment(text: str, max_words: int) -> bool:
    """A short line that cannot be a sentence or a heading: lower-case start, no end punctuation."""
    stripped = text.strip()
    return (
        0 < _n_words(stripped) <= max_words
        and stripped[0].islower()
        and stripped[-1] not in '.!?:;"”'
    )


def _mark_boilerplate(lines: list[Line], title: str, cfg: CleanConfig, extracted: bool) -> None:
    """Set `rule` on every boilerplate line; numbered steps follow the config's rule groups."""
    content = [ln for ln in lines if ln.text.strip()]
    title_key = _line_key(title)
    patterns = {name: re.compile(p, re.I) for name, p in cfg.line_patterns.items()}
    tail_keys = {_line_key(m) for m in cfg.tail_markers}

    # 1. The title and its echoes (web dumps repeat it under every image).
    for ln in content:
        if title_key and ln.key == title_key:
            ln.rule = "title"
    # 2. A tail marker ("Up Next", "Leave a Reply") ends the article: the rest is teasers/comments.
    for i, ln in enumerate(content):
        if i >= _MIN_TAIL_LINE and ln.key in tail_keys:
            for rest in content[i:]:
                rest.rule = rest.rule or f"tail:{ln.key}"
            break
    # 3. Named line patterns (share and author blocks, "Related:" links, newsletter prompts).
    for ln in content:
        if ln.rule is None:
            for name, pattern in patterns.items():
                if pattern.match(ln.plain):
                    ln.rule = name
                    break
        if ln.rule is None and _PHOTO_CREDIT.search(ln.text) and _n_words(ln.text) <= 8:
            ln.rule = "photo_credit"
    # 4. Short lines repeated within a text dump are captions or echoed titles, not content.
    #    Text that trafilatura extracted from HTML has no page furniture left: repeats there
    #    are sub-headings and table rows.
    counts = Counter(ln.key for ln in content)
    for ln in content:
        if (
            not extracted
            and ln.rule is None
            and counts[ln.key] >= cfg.repeated_line_min_count
            and _n_words(ln.text) <= cfg.repeated_line_max_words
            and ln.text.strip()[-1] not in ".!?"
            and not _STRUCTURAL.match(ln.text)
        ):
            ln.rule = "repeated_line"
    # 5. A caption fragment sits next to a removed image line (echoed title or photo credit).
    for i, ln in enumerate(content):
        if ln.rule is None and _is_fragment(ln.text, cfg.caption_max_words):
            neighbours = content[max(i - 1, 0) : i] + content[i + 1 : i + 2]
            if any(n.rule in {"title", "repeated_line", "photo_credit"} for n in neighbours):
                ln.rule = "caption"
    # A descriptive caption precedes a photo credit ("A man sits in bed…" / "Ute G / Getty").
    for i, ln in enumerate(content[1:], start=1):
        prev = content[i - 1]
        if ln.rule == "photo_credit" and prev.rule is None and _n_words(prev.text) <= 25:
            prev.rule = "caption"


def _normalise_line(line: Line) -> list[tuple[str, int]]:
    """Map characters, drop inline markup, collapse spaces and repair glued sentences.

    Works on (character, raw offset) pairs so every output character keeps its source offset.
    """
    # 1. Map characters; control characters (category Cc) become spaces.
    mapped: list[tuple[str, int]] = []
    for i, ch in enumerate(line.text):
        out = _CHAR_MAP.get(ch, " " if unicodedata.category(ch) == "Cc" else ch)
        mapped.extend((c, line.start + i) for c in out)
    # 2. Drop inline markup until none is left (removing "**" can expose a "*").
    while True:
        text = "".join(c for c, _ in mapped)
        drop = {i for m in _INLINE_MARKUP.finditer(text) for i in range(m.start(), m.end())}
        if not drop:
            break
        mapped = [pair for i, pair in enumerate(mapped) if i not in drop]
    # 3. Collapse runs of spaces and trim.
    chars: list[tuple[str, int]] = []
    for c, src in mapped:
        if c == " " and (not chars or chars[-1][0] == " "):
            continue
        chars.append((c, src))
    while chars and chars[-1][0] == " ":
        chars.pop()
    # 4. Insert a space after each glued sentence end, in one pass: inserting into the list one
    #    by one costs a copy of the line each time, hours for a megabyte-long line.
    text = "".join(c for c, _ in chars)
    spaced: list[tuple[str, int]] = []
    done = 0
    for match in _GLUED.finditer(text):
        pos = match.end()
        spaced.extend(chars[done:pos])
        spaced.append((" ", chars[pos][1]))
        done = pos
    spaced.extend(chars[done:])
    return spaced


def _runs(sources: list[int]) -> list[dict[str, int]]:
    """Compress per-character raw offsets into runs of consecutive offsets."""
    runs: list[dict[str, int]] = []
    for i, src in enumerate(sources):
        last = runs[-1] if runs else None
        if (
            last
            and src == last["raw_start"] + last["length"]
            and i == last["clean_start"] + last["length"]
        ):
            last["length"] += 1
        else:
            runs.append({"clean_start": i, "raw_start": src, "length": 1})
    return runs


def clean_text(raw: str, cfg: CleanConfig, title: str = "", extracted: bool = False) -> CleanResult:
    """Clean one document.

    Args:
        raw: the raw text (a text dump, or the main text trafilatura extracted from HTML).
        cfg: the `clean` config section.
        title: the document title; lines repeating it are removed.
        extracted: `raw` is trafilatura's main text of an HTML page, not a whole-page dump.

    Returns:
        The cleaned text (blocks separated by newlines, paragraphs by a blank line), the offset
        runs into `raw`, and the removed spans with their rules.
    """
    lines = _split_lines(raw)
    _mark_boilerplate(lines, title, cfg, extracted)
    out: list[tuple[str, int]] = []
    gap = False  # a blank or removed line since the last kept line
    for ln in lines:
        if ln.rule is not None or not ln.text.strip():
            gap = True
            continue
        chars = _normalise_line(ln)
        if chars and chars[0][0] == " ":
            chars = chars[1:]
        if not chars:
            continue
        if out:
            sep = "\n\n" if gap else "\n"
            out.extend((c, ln.start) for c in sep)
        out.extend(chars)
        gap = False
    removed = _removed_spans(lines, raw)
    return CleanResult(
        text="".join(c for c, _ in out), offset_map=_runs([s for _, s in out]), removed=removed
    )


def _removed_spans(lines: list[Line], raw: str) -> list[dict]:
    """Merge consecutive removed lines with the same rule into spans."""
    spans: list[dict] = []
    for ln in lines:
        if ln.rule is None:
            continue
        if spans and spans[-1]["rule"] == ln.rule and ln.rule.startswith("tail:"):
            spans[-1]["raw_end"] = ln.end
        else:
            spans.append({"rule": ln.rule, "raw_start": ln.start, "raw_end": ln.end})
    for span in spans:
        span["text"] = raw[span["raw_start"] : span["raw_end"]][:500]
    return spans


def to_raw_offset(offset_map: list[dict[str, int]], clean_offset: int) -> int:
    """Translate an offset in the cleaned text to the raw text."""
    if not offset_map:
        return clean_offset
    starts = [run["clean_start"] for run in offset_map]
    run = offset_map[max(bisect_right(starts, clean_offset) - 1, 0)]
    return run["raw_start"] + min(clean_offset - run["clean_start"], run["length"])


def english_ratio(text: str) -> float:
    """Share of word tokens that are common English function words (0 when there are none)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0
    return sum(w in STOP_WORDS for w in words) / len(words)


def _stop_words_of(code: str) -> frozenset[str]:
    """spaCy's stop words for language `code`. Its `stop_words.py` is a plain word list, read
    on its own: importing `spacy.lang.<code>` first would load the whole language package
    (3.7 s for six languages, against milliseconds)."""
    import importlib.util

    import spacy

    path = Path(spacy.__file__).parent / "lang" / code / "stop_words.py"
    spec = importlib.util.spec_from_file_location(f"_stop_words_{code}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"spaCy has no stop words for language {code!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(module.STOP_WORDS)


@lru_cache(maxsize=8)
def _function_words(languages: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each word that tells English from `languages`, with the languages it belongs to: English
    stop words that none of `languages` has, and each language's stop words that English
    lacks (spaCy's lists)."""
    english = frozenset(STOP_WORDS)
    others = {code: _stop_words_of(code) for code in languages}
    lists = {"en": english - frozenset().union(*others.values())}
    lists.update({code: words - english for code, words in others.items()})
    out: dict[str, tuple[str, ...]] = {}
    for code, words in lists.items():
        for word in words:
            out[word] = (*out.get(word, ()), code)
    return out


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[a-z][.!?])(?=[A-Z¿¡])")


def language_of(text: str, languages: tuple[str, ...], mixed_share: float = 1 / 3) -> str:
    """ "en", one of `languages`, or "" when undecided.

    Each sentence takes the language whose function words it uses most (English ones that
    the others lack, "the"; or another language's that English lacks, "el"), if it uses them
    twice or they make up 15% of its words; the text is in another language when that
    language's sentences hold at least `mixed_share` of the words of the decided sentences,
    else in English. Works on a paragraph, where the share of English function words is too
    noisy, and counts a paragraph that glues a translation to its English original as the
    other language."""
    marks = _function_words(tuple(languages))
    order = ("en", *languages)  # a tie goes to English, then to the first language listed
    words_in: dict[str, int] = {}
    for sentence in _SENTENCE_BREAK.split(text):
        words = _LETTERS.findall(sentence)
        counts: dict[str, int] = {}
        for word in words:
            for code in marks.get(word.lower(), ()):
                counts[code] = counts.get(code, 0) + 1
        if not counts:
            continue
        best = max(counts, key=lambda code: (counts[code], -order.index(code)))
        # One function word among many words decides nothing ("ma" in "Jo C, MA, LPCC, ...").
        if counts[best] >= 2 or counts[best] >= 0.15 * len(words):
            words_in[best] = words_in.get(best, 0) + len(words)
    decided = sum(words_in.values())
    if not decided:
        return ""
    other = max((c for c in words_in if c != "en"), key=words_in.get, default=None)
    if other and words_in[other] >= mixed_share * decided:
        return other
    return "en"


def clean_documents(documents: pd.DataFrame, cfg: CleanConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean every document.

    Args:
        documents: loaded documents with `doc_id`, `raw_text`, `title`.
        cfg: the `clean` config section.

    Returns:
        `documents` with `text`, `offset_map`, `n_words` and `english_ratio` filled, and the
        `boilerplate` table (doc_id, rule, raw_start, raw_end, text).
    """
    texts, maps, removed_rows = [], [], []
    rows = zip(documents["doc_id"], documents["raw_text"], documents["title"], documents["format"])
    for doc_id, raw, title, fmt in rows:
        result = clean_text(raw, cfg, title or "", extracted=fmt in EXTRACTED_FORMATS)
        texts.append(result.text)
        maps.append(result.offset_map)
        removed_rows.extend({"doc_id": doc_id, **span} for span in result.removed)
    out = documents.copy()
    # Explicit dtypes: columns built from empty lists would be float64, which no table takes.
    index = out.index
    out["text"] = pd.Series(texts, index=index, dtype="str")
    out["offset_map"] = pd.Series(maps, index=index, dtype=object)
    out["n_words"] = pd.Series([len(t.split()) for t in texts], index=index, dtype="int64")
    out["english_ratio"] = pd.Series(
        [round(english_ratio(t), 4) for t in texts], index=index, dtype="float64"
    )
    boilerplate = pd.DataFrame(
        removed_rows, columns=["doc_id", "rule", "raw_start", "raw_end", "text"]
    )
    return out, boilerplate
