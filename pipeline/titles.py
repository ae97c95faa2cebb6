"""Choosing a document's title, and saying which rule chose it.

Plain-text dumps of web pages often start with navigation ("top of page", "Skip to content"), a
logo's alt text, a byline, a reading time or a badge, and many have no title line at all: the
text opens with a paragraph, and the first heading-like line is a section heading from the middle
of the article. So the title is the best candidate, in this order:

1. `metadata`: the page's own title (HTML metadata, a CSV/JSONL title column), when it passes the
   same checks as a line;
2. `slug_heading`: among the heading-like lines before the first paragraph, the first that shares
   a content word with the file name or URL slug (the publisher's own short title);
3. `first_heading`: otherwise the first heading-like line before the first paragraph;
4. `file_name` / `record_id` / `url_slug`: the name itself, made readable;
5. `none`: nothing usable (the report shows the doc_id).

A line is heading-like when it is short, is not a sentence of running text, and matches none of
the boilerplate patterns (`clean.line_patterns`) or the title patterns (`clean.title_patterns`:
navigation, bylines, reading times, badges, calls to action, numbered or bulleted items).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlparse

from pipeline.config import CleanConfig
from pipeline.text import content_words

_MD_HEADING = re.compile(r"^#{1,6}\s+")
_MD_MARKUP = re.compile(r"(\*\*|__|`)")
_SENTENCE_BREAK = re.compile(r"[.!?][\"'”’)]?\s+[A-Z]")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_SLUG_SPLIT = re.compile(r"[-_.+\s\x00-\x1f\x7f]+")
# Control characters (a NUL in a record's ID or title) are no part of a title: no font draws
# them, and the report's figures warned about each.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HASHY = re.compile(r"^(?=.*\d)[a-z0-9]{8,}$")  # a hash or ID in a slug, not a word

SOURCES = (
    "metadata",
    "slug_heading",
    "first_heading",
    "file_name",
    "record_id",
    "url_slug",
    "none",
)
"""Values of the documents table's `title_source` column."""


@dataclass(frozen=True)
class TitleRules:
    """Compiled title settings of a clean config."""

    boilerplate: tuple[tuple[str, re.Pattern], ...]
    rejects: tuple[tuple[str, re.Pattern], ...]
    scan_lines: int
    max_words: int
    max_chars: int


def _rules(cfg: CleanConfig) -> TitleRules:
    # Calls to action are boilerplate however long; the other title patterns only mark short lines.
    boilerplate = {**cfg.line_patterns}
    rejects = dict(cfg.title_patterns)
    if "call_to_action" in rejects:
        boilerplate["call_to_action"] = rejects.pop("call_to_action")
    return _compiled(
        tuple(boilerplate.items()),
        tuple(rejects.items()),
        cfg.title_scan_lines,
        cfg.title_max_words,
        cfg.title_max_chars,
    )


@lru_cache(maxsize=8)
def _compiled(
    boilerplate: tuple[tuple[str, str], ...],
    rejects: tuple[tuple[str, str], ...],
    scan_lines: int,
    max_words: int,
    max_chars: int,
) -> TitleRules:
    def compiled(patterns):
        return tuple((name, re.compile(p, re.I)) for name, p in patterns)

    return TitleRules(compiled(boilerplate), compiled(rejects), scan_lines, max_words, max_chars)


def _plain(line: str) -> str:
    return _MD_MARKUP.sub("", _MD_HEADING.sub("", _CONTROL.sub(" ", line).strip())).strip()


def is_paragraph(line: str, rules: TitleRules) -> bool:
    """Running text rather than a heading: long, or a sentence of more than eight words, or
    sentences ending in a full stop ("What Is Gaslighting? Examples & How To Respond" is a
    heading)."""
    words = line.split()
    if len(words) > rules.max_words or len(line) > rules.max_chars:
        return True
    ends_as_text = line.rstrip().endswith((".", ",", ";"))
    return ends_as_text and (len(words) > 8 or bool(_SENTENCE_BREAK.search(line)))


def rejection(line: str, rules: TitleRules) -> str | None:
    """Why a line cannot be a title (a pattern name, "paragraph", "no words"), or None.

    Boilerplate patterns come first (a cookie notice is skipped however long it is); then running
    text, which ends the search; then the title patterns (bylines, items, lead-ins).
    """
    if not _LETTERS.search(line):
        return "no words"
    for name, pattern in rules.boilerplate:
        if pattern.search(line):
            return name
    if is_paragraph(line, rules):
        return "paragraph"
    for name, pattern in rules.rejects:
        if pattern.search(line):
            return name
    return None


def _overlap(words: set[str], wanted: set[str]) -> int:
    """Shared words, where a slug's "codependency" meets a heading's "codependent"."""
    return sum(
        any(w == v or (min(len(w), len(v)) >= 5 and w[:5] == v[:5]) for v in wanted) for w in words
    )


def slug_words(name: str) -> set[str]:
    """Content words of a file name or URL path (hashes and numbers left out)."""
    parts = [p for p in _SLUG_SPLIT.split(unquote(name).lower()) if p and not _HASHY.match(p)]
    return set(content_words(" ".join(parts)))


def _printable(name: str) -> str:
    """A file name as text: bytes the file system could not decode (Python keeps them as lone
    surrogates) become U+FFFD, which every table format can store."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "replace").decode("utf-8")


def readable_slug(name: str) -> str:
    """A file name or URL slug as a title: words, first letter capitalised."""
    name = _printable(name)
    parts = [p for p in _SLUG_SPLIT.split(unquote(name)) if p and not _HASHY.match(p.lower())]
    text = " ".join(parts).strip()
    return text[:1].upper() + text[1:]


def _url_name(url: str) -> str:
    try:
        path = urlparse(url).path
    except ValueError:
        return ""
    segments = [s for s in path.split("/") if s]
    while segments and (segments[-1].lower() in {"index.html", "index.htm", "amp"}):
        segments.pop()
    return re.sub(r"\.(html?|php|aspx?)$", "", segments[-1], flags=re.I) if segments else ""


def choose_title(
    text: str,
    cfg: CleanConfig,
    metadata_title: str = "",
    name: str = "",
    url: str = "",
    name_source: str = "file_name",
) -> tuple[str, str]:
    """The title of a document and the rule that chose it (one of SOURCES).

    Args:
        text: the document's text as loaded (markdown for HTML pages).
        cfg: the clean config (patterns and limits).
        metadata_title: the title the source itself gives, if any.
        name: the file name's stem (or a record's own ID), if the document has one.
        url: the document's URL, if any.
        name_source: how `name` is reported when it becomes the title (file_name, record_id).
    """
    rules = _rules(cfg)
    meta = _plain(metadata_title)
    if meta and rejection(meta, rules) is None:
        return meta[: rules.max_chars], "metadata"
    slug = name or _url_name(url)
    wanted = slug_words(slug) if slug else set()
    candidates: list[tuple[int, str]] = []  # (words shared with the slug, line)
    seen = 0
    for raw in text.splitlines():
        line = _plain(raw)
        if not line:
            continue
        seen += 1
        if seen > rules.scan_lines:
            break
        why = rejection(line, rules)
        if why == "paragraph":
            break  # a title comes before the text; later headings are section headings
        if why is None:
            candidates.append((_overlap(content_words(line), wanted), line))
    best = max(candidates, key=lambda c: c[0], default=(0, ""))  # first of the best
    if best[0]:
        return best[1], "slug_heading"
    # A descriptive slug ("how-to-avoid-ruminating") says more than a heading that shares none of
    # its words (often a section heading at the top of an excerpt); "article1" says less.
    if candidates and len(wanted) < 2:
        return candidates[0][1], "first_heading"
    if name:
        return readable_slug(name)[: rules.max_chars], name_source
    if slug:
        return readable_slug(slug)[: rules.max_chars], "url_slug"
    return "", "none"
