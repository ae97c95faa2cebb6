"""The review queue: every mention, claim and support row of a run as one reviewable item.

An item's ID is built from its document's content hash, its offsets and its category, never
from row numbers or file paths. A re-run over the same text gives the same IDs, so verdicts
stay attached; any change to the text gives new IDs, and the store marks the old items stale.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pandas as pd

from pipeline.io import sha256_text
from pipeline.text import excerpt

ITEM_TYPES = ("mention", "claim", "support")
SOURCE_TYPES = ("study", "researchers", "expert", "organization", "publication", "other")
# A claim's own support status: the best status among the support rows resting on it.
CLAIM_STATUSES = ("backed", "weaker", "contradicted", "unused")

ITEM_COLUMNS = (
    "item_id",
    "item_type",
    "doc_id",
    "doc_sha",
    "title",
    "source",
    "url",
    "category",
    "concept",
    "concept_id",
    "start",
    "end",
    "span",
    "source_type",
    "support_status",
    "confidence",
    "flags",
    "context",
    "context_start",
    "details",
)
"""Columns of `build_items`: the item snapshot the store keeps (see README, review database)."""

ITEM_ID_RE = re.compile(r"^(mention|claim|support):[0-9a-f]{16}:[A-Za-z0-9:._-]{1,400}$")
_DOC_HASH_CHARS = 16


def doc_hash(text: str) -> str:
    """The content hash that anchors item IDs: 16 hex digits of SHA-256 of documents.text."""
    return sha256_text(text)[:_DOC_HASH_CHARS]


def item_id(item_type: str, doc_sha: str, start: int = 0, end: int = 0, key: str = "") -> str:
    """A stable item ID from the document's content hash, the offsets and `key`.

    `key` is the category of a mention and the concept ID (which holds the category) of a
    support row, the one item per article and concept; claims have the category "claim".
    """
    if item_type == "support":
        return f"support:{doc_sha}:{key}"
    if item_type == "claim":
        return f"claim:{doc_sha}:{start}-{end}"
    return f"mention:{doc_sha}:{start}-{end}:{key}"


def web_url(url: str) -> str:
    """`url` when it is an http(s) address a browser may open, else the empty string."""
    return url if urlparse(url or "").scheme in ("http", "https") else ""


def _claim_status(statuses: list[str]) -> str:
    for status in CLAIM_STATUSES[:-1]:
        if status in statuses:
            return status
    return "unused"


def build_items(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    mentions: pd.DataFrame,
    claims: pd.DataFrame,
    support: pd.DataFrame,
    flags: pd.DataFrame,
    claim_confidence: dict[str, float],
) -> pd.DataFrame:
    """Build the review queue of one run.

    Args:
        documents: `documents` (uses doc_id, text, title, source, url).
        segments: `segments` (paragraphs give each item its source context).
        mentions: `mentions`; claims: `claims`; support: `support`; flags: `flags`.
        claim_confidence: confidence of a rule-found claim by its cue `pattern` (a claim
            found by the tagger carries its own `confidence`); an unknown pattern gets the
            lowest value, so it is reviewed early.

    Returns:
        One row per item with the columns of `ITEM_COLUMNS`: `flags` is a list of flag names,
        `details` a JSON object of what the reviewer sees besides the span (cue, strength,
        reason, method, ...). Sorted by confidence (doubtful first), then document and offset.
    """
    # Plain dicts, not DataFrame lookups: a queue has tens of thousands of items.
    doc_info = {
        d: {
            "doc_sha": doc_hash(text),
            "title": str(title or d),
            "source": str(source or ""),
            "url": web_url(str(url or "")),
        }
        for d, text, title, source, url in zip(
            documents["doc_id"],
            documents["text"],
            documents["title"],
            documents["source"],
            documents["url"],
        )
    }
    paragraphs = dict(zip(segments["segment_id"], zip(segments["text"], segments["start"])))
    flag_lists = flags.groupby("item_id")["flag"].apply(lambda s: sorted(set(s))).to_dict()
    rows: list[dict] = []

    def base(doc_id: str, segment_id: str) -> dict:
        text, start = paragraphs.get(segment_id, ("", 0))
        return {
            "doc_id": doc_id,
            **doc_info[doc_id],
            "context": str(text),
            "context_start": int(start),
        }

    # 1. Mentions: the span, its category and concept.
    confidence_of = dict(zip(mentions["mention_id"], mentions["confidence"]))
    by_mention = mentions.set_index("mention_id")
    for m in mentions.itertuples(index=False):
        row = base(m.doc_id, m.segment_id)
        row.update(
            item_id=item_id("mention", row["doc_sha"], m.start, m.end, m.category),
            item_type="mention",
            category=m.category,
            concept=m.concept,
            concept_id=m.concept_id,
            start=int(m.start),
            end=int(m.end),
            span=m.text,
            source_type="",
            support_status="",
            confidence=float(m.confidence),
            flags=["in claim"] if m.in_claim else [],
            details=json.dumps({"method": m.method, "in_claim": bool(m.in_claim)}),
        )
        rows.append(row)

    # 2. Claims: cue, source type, flags, and the support rows that rest on them.
    resting: dict[str, list[str]] = {}
    for s in support.itertuples(index=False):
        for claim_id in s.claim_ids:
            resting.setdefault(claim_id, []).append(s.status)
    lowest = min(claim_confidence.values())
    for c in claims.itertuples(index=False):
        row = base(c.doc_id, c.segment_id)
        row.update(
            item_id=item_id("claim", row["doc_sha"], c.start, c.end),
            item_type="claim",
            category="claim",
            concept="",
            concept_id="",
            start=int(c.start),
            end=int(c.end),
            span=c.text,
            source_type=c.source_type,
            support_status=_claim_status(resting.get(c.claim_id, [])),
            confidence=float(
                c.confidence
                if pd.notna(getattr(c, "confidence", None))
                else claim_confidence.get(c.pattern, lowest)
            ),
            flags=flag_lists.get(c.claim_id, []),
            details=json.dumps(
                {
                    "cue": c.cue,
                    "pattern": c.pattern,
                    "strength": c.strength,
                    "hedged": bool(c.hedged),
                    "year": None if pd.isna(c.year) else int(c.year),
                    "named_source": c.named_source,
                    "notes": [str(n) for n in c.notes],
                }
            ),
        )
        rows.append(row)

    # 3. Support rows: shown at the article's first mention of the concept; as doubtful as
    # the least confident of their mentions. A reviewer sees the linked claims and may link
    # any claim of the article instead (`candidates`).
    claims_of: dict[str, list[dict]] = {}
    for c in claims.itertuples(index=False):
        claims_of.setdefault(c.doc_id, []).append(
            {"claim_id": c.claim_id, "cue": c.cue, "text": excerpt(c.text, 300)}
        )
    for s in support.itertuples(index=False):
        candidates = claims_of.get(s.doc_id, [])
        claim_text = {c["claim_id"]: c for c in candidates}
        evidence = [m for m in s.evidence_mention_ids if m in by_mention.index]
        first = by_mention.loc[evidence[0]] if evidence else None
        row = base(s.doc_id, first["segment_id"] if first is not None else "")
        row.update(
            item_id=item_id("support", row["doc_sha"], key=s.concept_id),
            item_type="support",
            category=s.category,
            concept=s.concept,
            concept_id=s.concept_id,
            start=int(first["start"]) if first is not None else 0,
            end=int(first["end"]) if first is not None else 0,
            span=str(first["text"]) if first is not None else "",
            source_type="",
            support_status=s.status,
            confidence=min((float(confidence_of[m]) for m in evidence), default=0.0),
            flags=flag_lists.get(f"{s.doc_id}|{s.concept_id}", []),
            details=json.dumps(
                {
                    "reason": s.reason,
                    "n_mentions": int(s.n_mentions),
                    "claim_ids": [str(x) for x in s.claim_ids],
                    "links": [
                        {**claim_text.get(str(cid), {"claim_id": str(cid)}), "relation": rel}
                        for cid, rel in zip(s.claim_ids, s.relations)
                    ],
                    "candidates": candidates,
                }
            ),
        )
        rows.append(row)

    items = pd.DataFrame(rows, columns=list(ITEM_COLUMNS))
    return items.sort_values(
        ["confidence", "doc_id", "start", "item_id"], ignore_index=True, kind="stable"
    )


def item_value(item: dict) -> dict:
    """What a verdict judges: the correctable fields of an item, by its type."""
    if item["item_type"] == "mention":
        return {
            "category": item["category"],
            "concept": item["concept"],
            "start": int(item["start"]),
            "end": int(item["end"]),
        }
    if item["item_type"] == "claim":
        return {
            "start": int(item["start"]),
            "end": int(item["end"]),
            "source_type": item["source_type"],
        }
    details = item["details"]
    details = json.loads(details) if isinstance(details, str) else details
    return {"status": item["support_status"], "claim_ids": list(details.get("claim_ids", []))}
