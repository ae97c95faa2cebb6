"""Segmentation stage: sections, list items, paragraphs and sentences with offsets.

The cleaned text is a sequence of blocks (one per line). Each block is classified as a heading,
the start of a list item (numbered, bulleted, "Title: text" or an FAQ question) or a paragraph;
sections and items are then built from runs of blocks, and spaCy splits paragraphs into
sentences. Levels nest (section > item > paragraph > sentence) and never overlap within a level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from pipeline.config import Config, SegmentConfig

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(?:step\s+)?(\d{1,2})\s*[.):]\s+(\S.*)$", re.I)
_BULLET = re.compile(r"^\s*[-*•●▪◦·‣–]\s+(\S.*)$")
_COLON_ITEM = re.compile(r"^([A-Z][^:.!?]{1,60}):\s+\S")
_LEAD_IN = re.compile(r"[:–—-]\s*$")
_SMALL_WORDS = {
    "a",
    "an",
    "and",
    "as",
    "at",
    "but",
    "by",
    "for",
    "from",
    "in",
    "into",
    "is",
    "it",
    "of",
    "on",
    "or",
    "the",
    "to",
    "vs",
    "with",
    "your",
    "you",
    "are",
    "can",
    "do",
    "does",
    "how",
    "what",
    "why",
    "when",
    "this",
    "that",
    "its",
    "it’s",
}


@dataclass
class Block:
    start: int
    end: int
    text: str
    kind: str = "paragraph"  # heading, item, paragraph
    title: str = ""  # heading text or item title
    level: int = 2  # heading level (plain-text headings count as level 2)
    item_style: str = ""  # numbered, bullet, colon, question


def _blocks(text: str) -> list[Block]:
    blocks, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            blocks.append(Block(pos + lead, pos + lead + len(stripped), stripped))
        pos += len(line) + 1
    return blocks


def _title_case_share(text: str) -> float:
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", text) if w.lower() not in _SMALL_WORDS]
    if not words:
        return 0.0
    return sum(w[0].isupper() for w in words) / len(words)


def _looks_like_heading(block: Block, cfg: SegmentConfig) -> bool:
    """A plain-text heading: short, title-cased or a question, no sentence-final full stop."""
    text = block.text.rstrip()
    n_words = len(text.split())
    if n_words == 0 or n_words > cfg.max_heading_words or text[-1] in '.!;,"”':
        return False
    if text.endswith("?"):
        return True
    return _title_case_share(text) >= 0.6 and text[0].isupper()


def _roles_named(text: str, cfg: SegmentConfig) -> list[str]:
    """Every role whose keywords occur in `text`, in config order."""
    lowered = text.lower()
    return [
        role
        for role, keywords in cfg.section_roles.items()
        if any(re.search(rf"(?<!\w){re.escape(kw)}(?!\w)", lowered) for kw in keywords)
    ]


def section_role(heading: str, cfg: SegmentConfig) -> str:
    """Guess a section's role from its heading words (first matching role in config order)."""
    roles = _roles_named(heading, cfg)
    return roles[0] if roles else "other"


def _lead_in_role(text: str, section: str, cfg: SegmentConfig) -> str:
    """The role a lead-in sentence ("Common signs include:") gives the list after it.

    The section's own role wins when the lead-in names it too ("now that we know the signs,
    let's look at the causes –" under a causes heading stays causes).
    """
    if not _LEAD_IN.search(text):
        return section
    roles = [r for r in _roles_named(text, cfg) if r not in ("definition", "faq")]
    if not roles or section in roles:
        return section
    return roles[0]


def _classify(blocks: list[Block], cfg: SegmentConfig) -> None:
    """Set kind/title/style of every block."""
    in_faq = False
    for i, block in enumerate(blocks):
        md = _MD_HEADING.match(block.text)
        body = md.group(2).strip() if md else block.text
        numbered = _NUMBERED.match(body)
        bullet = _BULLET.match(block.text)
        if numbered:
            block.kind, block.item_style = "item", "numbered"
            block.title = numbered.group(2).strip().strip("*").strip()
        elif md:
            block.kind, block.title, block.level = (
                "heading",
                body.strip("*").strip(),
                len(md.group(1)),
            )
        elif bullet:
            block.kind, block.item_style, block.title = "item", "bullet", bullet.group(1).strip()
        elif i + 1 < len(blocks) and _looks_like_heading(block, cfg):
            block.kind, block.title = "heading", block.text.rstrip(":").strip()
        # Inside an FAQ section, question lines are items that own their answers.
        if block.kind == "heading":
            if in_faq and not md and block.text.endswith("?"):
                block.kind, block.item_style = "item", "question"
            else:
                in_faq = section_role(block.title, cfg) == "faq"
    # "Title: explanation" lines count as items only in runs of two or more.
    colon = [
        b.kind == "paragraph"
        and bool(_COLON_ITEM.match(b.text))
        and len(b.text.split(":")[0].split()) <= 6
        for b in blocks
    ]
    for i, block in enumerate(blocks):
        if colon[i] and ((i > 0 and colon[i - 1]) or (i + 1 < len(blocks) and colon[i + 1])):
            block.kind, block.item_style = "item", "colon"
            block.title = block.text.split(":")[0].strip()


def _sentences(texts: list[str], nlp_name: str, batch_size: int) -> list[list[tuple[int, int]]]:
    """Sentence spans (start, end) within each text, via spaCy."""
    from pipeline.nlp import sentence_splitter  # spaCy: only when sentences are split

    nlp = sentence_splitter(nlp_name)
    spans = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        spans.append([(s.start_char, s.end_char) for s in doc.sents if s.text.strip()])
    return spans


def segment_text(doc_id: str, text: str, title: str, config: Config) -> list[dict]:
    """Segment one cleaned document.

    Args:
        doc_id: the document's ID (segment IDs derive from it and the offsets).
        text: the cleaned text.
        title: the document title; it gives the role of text before the first heading.
        config: the pipeline config.

    Returns:
        Segment rows with the columns of the `segments` table.
    """
    cfg = config.segment
    blocks = _blocks(text)
    _classify(blocks, cfg)
    rows: list[dict] = []

    def add(
        kind: str, start: int, end: int, parent: str, heading: str, role: str, item: str
    ) -> str:
        seg_id = f"{doc_id}:{kind[:3]}:{start}-{end}"
        rows.append(
            {
                "doc_id": doc_id,
                "segment_id": seg_id,
                "kind": kind,
                "parent_id": parent,
                "section_heading": heading,
                "section_role": role,
                "item_title": item,
                "start": start,
                "end": end,
                "text": text[start:end],
            }
        )
        return seg_id

    # 1. Sections: a heading and the blocks up to the next heading; text before the first
    #    heading forms a section whose role comes from the title.
    sections: list[tuple[Block | None, list[Block]]] = []
    current: tuple[Block | None, list[Block]] = (None, [])
    for block in blocks:
        if block.kind == "heading":
            if current[0] is not None or current[1]:
                sections.append(current)
            current = (block, [])
        else:
            current[1].append(block)
    if current[0] is not None or current[1]:
        sections.append(current)

    body_blocks = [b for b in blocks if b.kind != "heading"]
    sentence_spans = _sentences(
        [b.text for b in body_blocks], config.spacy.model, cfg.sentence_batch_size
    )
    spans_of = {id(b): spans for b, spans in zip(body_blocks, sentence_spans)}

    parent_roles: list[tuple[int, str]] = []  # (level, role) of enclosing markdown headings
    for heading, members in sections:
        heading_text = heading.title if heading else ""
        role = section_role(heading_text or title, cfg)
        if heading is not None:
            while parent_roles and parent_roles[-1][0] >= heading.level:
                parent_roles.pop()
            if role == "other" and parent_roles:
                role = parent_roles[-1][1]
            parent_roles.append((heading.level, role))
        start = heading.start if heading else members[0].start
        end = members[-1].end if members else heading.end
        sec_id = add("section", start, end, "", heading_text, role, "")

        # 2. Items: numbered items and FAQ questions own the paragraphs that follow them;
        #    bullets and "Title: text" lines are items on their own.
        list_role = role
        item_id, item_title, item_open = "", "", False
        groups: list[tuple[Block, list[Block], str]] = []
        for block in members:
            if block.kind == "item":
                groups.append((block, [block], list_role))
                item_open = block.item_style in ("numbered", "question")
            elif item_open:
                groups[-1][1].append(block)
            else:
                groups.append((block, [block], ""))
                list_role = _lead_in_role(block.text, role, cfg)
        for head, group, item_role in groups:
            if head.kind == "item":
                item_id = add(
                    "item",
                    group[0].start,
                    group[-1].end,
                    sec_id,
                    heading_text,
                    item_role,
                    head.title,
                )
                item_title = head.title
            else:
                item_id, item_title = "", ""
            # 3. Paragraphs and their sentences.
            for block in group:
                par_id = add(
                    "paragraph",
                    block.start,
                    block.end,
                    item_id or sec_id,
                    heading_text,
                    item_role or role,
                    item_title,
                )
                for s_start, s_end in spans_of.get(id(block), []):
                    piece = block.text[s_start:s_end]
                    lead = len(piece) - len(piece.lstrip())
                    trail = len(piece) - len(piece.rstrip())
                    if piece.strip():
                        add(
                            "sentence",
                            block.start + s_start + lead,
                            block.start + s_end - trail,
                            par_id,
                            heading_text,
                            item_role or role,
                            item_title,
                        )
    return rows


def segment_documents(
    documents: pd.DataFrame, config: Config, progress: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """Segment every document.

    Args:
        documents: usable cleaned documents with `doc_id`, `text`, `title`.
        config: the pipeline config.
        progress: called with the number of documents done after each one.

    Returns:
        The `segments` table.
    """
    rows: list[dict] = []
    for doc_id, text, title in zip(documents["doc_id"], documents["text"], documents["title"]):
        rows.extend(segment_text(doc_id, text, title or "", config))
        if progress is not None:
            progress(1)
    columns = [
        "doc_id",
        "segment_id",
        "kind",
        "parent_id",
        "section_heading",
        "section_role",
        "item_title",
        "start",
        "end",
        "text",
    ]
    return pd.DataFrame(rows, columns=columns)


def with_sentences(spans: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Add the source sentence of each span (a mention or a claim).

    Args:
        spans: rows with `doc_id`, `start` and `end` (offsets into `documents.text`).
        segments: the `segments` table.

    Returns:
        A copy of `spans` with a `sentence` column: the text of the first sentence segment that
        overlaps the span, or the empty string when none does.
    """
    sentences = segments[
        (segments["kind"] == "sentence") & segments["doc_id"].isin(set(spans["doc_id"]))
    ]
    by_doc: dict[str, list[tuple[int, int, str]]] = {}
    for doc_id, start, end, text in zip(
        sentences["doc_id"].tolist(),
        sentences["start"].tolist(),
        sentences["end"].tolist(),
        sentences["text"].tolist(),
    ):
        by_doc.setdefault(doc_id, []).append((start, end, text))
    out = spans.copy()
    out["sentence"] = [
        next((text for s, e, text in by_doc.get(doc_id, []) if s < end and start < e), "")
        for doc_id, start, end in zip(spans["doc_id"], spans["start"], spans["end"])
    ]
    return out
