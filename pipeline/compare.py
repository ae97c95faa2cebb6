"""Comparison stage: what the articles assert against the research they cite.

For every article and every concept it asserts (a sign, cause or intervention mentioned outside
cited claims) a `support` row says whether a claim cited in the same article backs it:

- `backed`: a cited claim speaks about the concept (the same concept, or one whose label
  contains the other's, e.g. "child abuse" for "abuse") and about the article's condition (a
  topic word of the article, e.g. "attachment");
- `partial`: a cited claim speaks about the concept but not about the article's condition (the
  study is about something broader or different);
- `unbacked`: no cited claim speaks about it.

Flags on claims and support rows: vague attribution, strength mismatch, hedging dropped, quote
integrity. An optional evidence base (a CSV of findings with verdicts) is matched to causes and
interventions by embedding similarity; the score is shown, no entailment is claimed.
"""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace

import pandas as pd

from pipeline.config import Config
from pipeline.extract.claims import claim_strength
from pipeline.io import records
from pipeline.lexicon import load_lexicon
from pipeline.text import content_words, excerpt

SUPPORT_STATUSES = ("backed", "partial", "unbacked")  # `support.status`, strongest first
_CAUSAL = ("direct causal", "conditional causal")
_QUOTES_OPEN, _QUOTES_CLOSE = "“", "”"


def topic_words(title: str, text: str, cfg) -> set[str]:
    """The article's condition: title content words that recur in its text (stemmed)."""
    words = content_words(title) - set(cfg.generic_title_words)
    counts = Counter(w for w in content_words_list(text))
    return {w for w in words if counts[w] >= cfg.min_topic_word_count}


def content_words_list(text: str) -> list[str]:
    """Content words of a text with repeats (see evaluate.content_words)."""
    return [w for sentence in re.split(r"(?<=[.!?])\s+", text) for w in content_words(sentence)]


def _broader() -> dict[str, str]:
    """Narrower concept -> broader concept, from the lexicon's `broader` entries."""
    return {e["label"]: e["broader"] for e in load_lexicon() if e.get("broader")}


def _related(label_a: str, label_b: str, broader: dict[str, str]) -> bool:
    """The same concept, or one is the lexicon's narrower form of the other ("child abuse" of
    "abuse"); word overlap alone is not enough ("substance abuse" is not a kind of abuse)."""
    return label_a == label_b or broader.get(label_a) == label_b or broader.get(label_b) == label_a


def _assertions(
    doc_text: str,
    mentions: list[dict],
    sentences: list[tuple[int, int, str]],
    items: list[tuple[int, int]],
) -> dict[str, list]:
    """Sentences in which each concept is asserted: the sentence around a prose mention, and
    every sentence of the item a list-item title heads ("2. Abuse … This can lead to …")."""
    out: dict[str, list] = {}
    for m in mentions:
        start, end = m["start"], m["end"]
        lo, hi = start, end
        if m["method"] == "structure":
            lo, hi = next(((s, e) for s, e in items if s <= start and end <= e), (start, end))
        texts = [t for s, e, t in sentences if e > lo and s < hi] or [doc_text[start:end]]
        out.setdefault(m["concept_id"], []).extend(texts)
    return out


def _records_by_doc(frame: pd.DataFrame, columns: list[str]) -> dict[str, list[dict]]:
    """Rows of `frame` as plain dicts (`columns` only), grouped by doc_id."""
    out: dict[str, list[dict]] = {}
    for doc_id, row in zip(frame["doc_id"].tolist(), records(frame, columns)):
        out.setdefault(doc_id, []).append(row)
    return out


def compare_articles(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    mentions: pd.DataFrame,
    claims: pd.DataFrame,
    config: Config,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the `support` and `flags` tables.

    Args:
        documents: usable documents (doc_id, title, text).
        segments, mentions, claims: the stage tables.

    Returns:
        `support` (doc_id, concept_id, category, concept, status, claim_ids, reason,
        n_mentions, evidence_mention_ids) and `flags` (doc_id, item_type, item_id, flag,
        detail).
    """
    cfg = config.compare
    support_rows, flag_rows = [], []
    # Group once into plain records: per-document DataFrame filtering is quadratic, and
    # row access on Arrow-backed frames is slow.
    mention_cols = ["mention_id", "concept_id", "category", "concept", "method", "start", "end"]
    asserted_of = _records_by_doc(mentions[~mentions["in_claim"]], mention_cols)
    claims_of = _records_by_doc(
        claims,
        ["claim_id", "text", "cue", "start", "end", "year", "named_source", "notes"]
        + ["concept_ids", "strength", "hedged"],
    )
    sentences_of: dict[str, list] = {}
    items_of: dict[str, list] = {}
    for doc_id, kind, start, end, text in zip(
        segments["doc_id"], segments["kind"], segments["start"], segments["end"], segments["text"]
    ):
        if kind == "sentence":
            sentences_of.setdefault(doc_id, []).append((start, end, text))
        elif kind == "item":
            items_of.setdefault(doc_id, []).append((start, end))
    labels = dict(zip(mentions["concept_id"], mentions["concept"]))
    broader = _broader()
    for doc_id, title, text in zip(documents["doc_id"], documents["title"], documents["text"]):
        doc_claims = claims_of.get(doc_id, [])
        asserted = asserted_of.get(doc_id, [])
        topic = topic_words(title or "", text, cfg)
        claim_concepts = {c["claim_id"]: set(c["concept_ids"]) for c in doc_claims}
        on_topic = {c["claim_id"]: bool(content_words(c["text"]) & topic) for c in doc_claims}
        flag_rows += _claim_flags(doc_id, doc_claims, text)
        if not asserted:
            continue
        assertions = _assertions(
            text, asserted, sentences_of.get(doc_id, []), items_of.get(doc_id, [])
        )
        groups: dict[tuple[str, str, str], list[dict]] = {}
        for m in asserted:
            groups.setdefault((m["concept_id"], m["category"], m["concept"]), []).append(m)
        claim_by_id = {c["claim_id"]: c for c in doc_claims}
        for (concept_id, category, concept), group in sorted(groups.items()):
            speaking = sorted(
                cid
                for cid, concepts in claim_concepts.items()
                if any(
                    c == concept_id or _related(labels.get(c, c), concept, broader)
                    for c in concepts
                )
            )
            backing = [cid for cid in speaking if on_topic[cid]]
            if backing:
                status, used = "backed", backing
                reason = (
                    f"cited claim(s) name '{concept}' (or a narrower form) and the "
                    f"article's condition ({', '.join(sorted(topic)) or 'n/a'})"
                )
            elif speaking:
                status, used = "partial", speaking
                reason = (
                    f"cited claim(s) name '{concept}' but not the article's condition "
                    f"({', '.join(sorted(topic)) or 'n/a'}): they speak of something "
                    f"broader or different"
                )
            else:
                status, used = "unbacked", []
                reason = f"no claim cited in the article speaks about '{concept}'"
            support_rows.append(
                {
                    "doc_id": doc_id,
                    "concept_id": concept_id,
                    "category": category,
                    "concept": concept,
                    "status": status,
                    "claim_ids": used,
                    "reason": reason,
                    "n_mentions": len(group),
                    "evidence_mention_ids": [m["mention_id"] for m in group][:5],
                }
            )
            if used:
                flag_rows += _support_flags(
                    doc_id,
                    concept_id,
                    concept,
                    assertions.get(concept_id, []),
                    [claim_by_id[cid] for cid in used],
                )
    support = pd.DataFrame(
        support_rows,
        columns=[
            "doc_id",
            "concept_id",
            "category",
            "concept",
            "status",
            "claim_ids",
            "reason",
            "n_mentions",
            "evidence_mention_ids",
        ],
    )
    flags = pd.DataFrame(flag_rows, columns=["doc_id", "item_type", "item_id", "flag", "detail"])
    return support, flags


def _claim_flags(doc_id: str, claims: list[dict], text: str) -> list[dict]:
    rows = []
    for claim in claims:
        c = SimpleNamespace(**claim)
        if not c.named_source and not re.search(r"https?://|doi\.org", c.cue):
            what = f"'{c.cue}'" + (f" (year {c.year} only)" if pd.notna(c.year) else "")
            rows.append(
                _flag(
                    doc_id,
                    "claim",
                    c.claim_id,
                    "vague attribution",
                    f"{what} names no author, journal, organisation or link a reader could follow",
                )
            )
        window = text[max(c.start - 2, 0) : min(c.end + 2, len(text))]
        if "opening quote missing" in list(c.notes) or (
            window.count(_QUOTES_OPEN) != window.count(_QUOTES_CLOSE)
        ):
            rows.append(
                _flag(
                    doc_id,
                    "claim",
                    c.claim_id,
                    "quote integrity",
                    "quotation with unbalanced or missing quote marks",
                )
            )
    return rows


def _support_flags(
    doc_id: str, concept_id: str, concept: str, sentences: list[str], backing: list[dict]
) -> list[dict]:
    rows = []
    strengths = [claim_strength(s) for s in sentences]
    causal = [s for s, (strength, _) in zip(sentences, strengths) if strength in _CAUSAL]
    if causal and backing and all(c["strength"] == "correlational" for c in backing):
        rows.append(
            _flag(
                doc_id,
                "support",
                f"{doc_id}|{concept_id}",
                "strength mismatch",
                f"the article asserts '{concept}' causally (\"{excerpt(causal[0], 300)}\") "
                f"but the cited backing is correlational",
            )
        )
    unhedged = [s for s, (_, hedged) in zip(sentences, strengths) if not hedged]
    if unhedged and backing and all(c["hedged"] for c in backing):
        rows.append(
            _flag(
                doc_id,
                "support",
                f"{doc_id}|{concept_id}",
                "hedging dropped",
                f"the cited claim is hedged but the article states '{concept}' "
                f'without hedging ("{excerpt(unhedged[0], 300)}")',
            )
        )
    return rows


def _flag(doc_id: str, item_type: str, item_id: str, flag: str, detail: str) -> dict:
    return {
        "doc_id": doc_id,
        "item_type": item_type,
        "item_id": item_id,
        "flag": flag,
        "detail": detail,
    }


def concept_coverage(support: pd.DataFrame) -> pd.DataFrame:
    """Corpus level: per concept, articles naming it, articles backing it, and the share."""
    if support.empty:
        return pd.DataFrame(
            columns=[
                "concept_id",
                "category",
                "concept",
                "n_articles",
                "n_backed",
                "n_partial",
                "share_backed",
            ]
        )
    grouped = support.groupby(["concept_id", "category", "concept"])
    table = grouped.agg(
        n_articles=("doc_id", "nunique"),
        n_backed=("status", lambda s: int((s == "backed").sum())),
        n_partial=("status", lambda s: int((s == "partial").sum())),
    ).reset_index()
    table["share_backed"] = (table["n_backed"] / table["n_articles"]).round(4)
    return table.sort_values(
        ["category", "n_articles", "concept_id"], ascending=[True, False, True], ignore_index=True
    )


def category_coverage(support: pd.DataFrame) -> pd.DataFrame:
    """Evidence coverage per category: shares of asserted (article, concept) pairs by status."""
    rows = []
    for category, group in support.groupby("category"):
        n = len(group)
        rows.append(
            {
                "category": category,
                "assertions": n,
                **{
                    f"share_{s}": round(float((group["status"] == s).mean()), 4)
                    for s in SUPPORT_STATUSES
                },
            }
        )
    return pd.DataFrame(
        rows, columns=["category", "assertions", "share_backed", "share_partial", "share_unbacked"]
    )


def match_evidence(concepts: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Closest findings of the configured evidence base for each cause and intervention.

    Returns `evidence_matches` (concept_id, concept, rank, finding, verdict, source,
    similarity); empty when no evidence base is configured.
    """
    cfg = config.compare
    columns = ["concept_id", "concept", "rank", "finding", "verdict", "source", "similarity"]
    if not cfg.evidence_csv:
        return pd.DataFrame(columns=columns)
    from pipeline.embed import embed_cached

    base = pd.read_csv(cfg.evidence_csv, dtype=str).fillna("")
    missing = [
        c for c in (cfg.evidence_claim_column, cfg.evidence_verdict_column) if c not in base.columns
    ]
    if missing:
        raise ValueError(f"evidence CSV {cfg.evidence_csv} lacks columns {missing}")
    findings = base[cfg.evidence_claim_column].tolist()
    sources = (
        base[cfg.evidence_source_column].tolist()
        if cfg.evidence_source_column in base.columns
        else [""] * len(base)
    )
    targets = concepts[concepts["category"].isin(["cause", "intervention"])]
    if targets.empty or not findings:
        return pd.DataFrame(columns=columns)
    vectors = embed_cached(
        findings + targets["label"].tolist(), config.concepts.backend, config.embeddings.cache_dir
    )
    sims = vectors[len(findings) :] @ vectors[: len(findings)].T
    rows = []
    for row, concept in zip(sims, targets.itertuples(index=False)):
        for rank, j in enumerate(row.argsort()[::-1][: cfg.evidence_top_k], start=1):
            rows.append(
                {
                    "concept_id": concept.concept_id,
                    "concept": concept.label,
                    "rank": rank,
                    "finding": findings[j],
                    "verdict": base[cfg.evidence_verdict_column].iloc[j],
                    "source": sources[j],
                    "similarity": round(float(row[j]), 4),
                }
            )
    return pd.DataFrame(rows, columns=columns)
