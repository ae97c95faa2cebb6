"""The annotated corpus: gold articles read, cleaned and segmented as a run would, with each gold
item placed on the cleaned text.

Gold files follow `shared/data/gold/README.md`: `train.json` records carry their `text`;
`dev.json` records name an article file relative to the gold folder's parent. The texts belong
to their publishers and are read from where they lie; nothing here copies them.

An annotation's `evidence` is an exact substring of the raw article. Cleaning keeps most text
as it is but may drop boilerplate and repair spacing, so evidence is searched in the cleaned
text, first exactly, then with flexible whitespace; items whose evidence cleaning removed are
counted as unplaced (the extractor cannot see them either).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.clean import clean_documents
from pipeline.config import Config
from pipeline.ingest import load_documents
from pipeline.segment import segment_documents

CATEGORIES = {"signs": "sign", "causes": "cause", "interventions": "intervention"}


@dataclass
class GoldDocument:
    """One gold article after loading, cleaning and segmentation.

    Attributes:
        id: the gold id (the input file's stem).
        doc_id: the pipeline's document id.
        text: the cleaned text; every offset points into it.
        spans: placed gold items as (start, end, label) with label sign, cause, intervention,
            claim or cue.
        unplaced: gold items whose evidence is not in the cleaned text.
    """

    id: str
    doc_id: str
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    unplaced: int = 0


def read_gold(path: Path) -> list[dict]:
    """Gold articles with their raw `text` (read from `file` where the record has none)."""
    path = Path(path)
    articles = json.loads(path.read_text(encoding="utf-8"))
    for article in articles:
        if "text" not in article:
            article["text"] = (path.resolve().parent.parent / article["file"]).read_text(
                encoding="utf-8"
            )
    return articles


def find_text(text: str, needle: str, start: int) -> tuple[int, int] | None:
    """Offsets of `needle` in `text`, searched from `start` then from 0, exact then with
    flexible whitespace and quotes."""
    needle = needle.strip()
    if not needle:
        return None
    for origin in (start, 0):
        pos = text.find(needle, origin)
        if pos >= 0:
            return pos, pos + len(needle)
    words = [re.escape(w) for w in re.findall(r"\w+", needle)]
    if not words:
        return None
    pattern = re.compile(r"\W+".join(words), re.IGNORECASE)
    for origin in (start, 0):
        match = pattern.search(text, origin)
        if match:
            return match.start(), match.end()
    return None


def place_items(article: dict, text: str) -> tuple[list[tuple[int, int, str]], int]:
    """Gold items of `article` as spans of the cleaned `text`, and the count not found.

    Items of a category are annotated in reading order, so each is searched from where the
    previous one of its category ended (a word named twice is taken where the annotator was).
    """
    spans, unplaced = [], 0
    for key, label in CATEGORIES.items():
        cursor = 0
        for item in article.get(key, []):
            found = find_text(text, item["evidence"], cursor)
            if found is None:
                unplaced += 1
                continue
            spans.append((*found, label))
            cursor = found[1]
    cursor = 0
    for claim in article.get("claims", []):
        found = find_text(text, claim["text"], cursor)
        if found is None:
            unplaced += 1
            continue
        spans.append((*found, "claim"))
        cursor = found[1]
        cue = claim.get("cue") or ""
        # The cue stands next to its claim: search it near the claim first.
        near = find_text(text, cue, max(0, found[0] - 300)) if cue else None
        if near is not None:
            spans.append((*near, "cue"))
    return sorted(spans), unplaced


def prepare_gold(
    articles: list[dict], config: Config
) -> tuple[list[GoldDocument], pd.DataFrame, pd.DataFrame]:
    """Load, clean and segment gold articles exactly as a run reads a folder of `.txt` files.

    Returns:
        The placed gold documents (in the order of `articles`), the cleaned `documents` rows
        (doc_id, source, title, text) and the `segments` table.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for article in articles:
            (folder / f"{article['id']}.txt").write_text(article["text"], encoding="utf-8")
        raw, _ = load_documents([folder], config)
    cleaned, _ = clean_documents(raw, config.clean)
    segments = segment_documents(cleaned, config)
    by_stem = {Path(s).stem: i for i, s in enumerate(cleaned["source"])}
    docs = []
    for article in articles:
        row = cleaned.iloc[by_stem[article["id"]]]
        spans, unplaced = place_items(article, row["text"])
        docs.append(GoldDocument(article["id"], row["doc_id"], row["text"], spans, unplaced))
    return docs, cleaned[["doc_id", "source", "title", "text"]], segments
