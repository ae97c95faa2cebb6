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

import pandas as pd

from pipeline.claims import claim_strength
from pipeline.config import Config
from pipeline.evaluate import content_words
from pipeline.extract import load_lexicon

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


def _assertions(doc_text: str, mentions: pd.DataFrame, segments: pd.DataFrame) -> dict[str, list]:
    """Sentences in which each concept is asserted: the sentence around a prose mention, and
    every sentence of the item a list-item title heads ("2. Abuse … This can lead to …")."""
    sentences = list(
        segments.loc[segments["kind"] == "sentence", ["start", "end", "text"]].itertuples(
            index=False, name=None
        )
    )
    items = list(
        segments.loc[segments["kind"] == "item", ["start", "end"]].itertuples(
            index=False, name=None
        )
    )
    rows = mentions[["concept_id", "method", "start", "end"]].itertuples(index=False, name=None)
    out: dict[str, list] = {}
    for concept_id, method, start, end in rows:
        lo, hi = start, end
        if method == "structure":
            lo, hi = next(((s, e) for s, e in items if s <= start and end <= e), (start, end))
        texts = [t for s, e, t in sentences if e > lo and s < hi] or [doc_text[start:end]]
        out.setdefault(concept_id, []).extend(texts)
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
    # Group once: filtering whole tables per document is quadratic on large corpora.
    mentions_of = dict(tuple(mentions.groupby("doc_id")))
    claims_of = dict(tuple(claims.groupby("doc_id")))
    segments_of = dict(tuple(segments.groupby("doc_id")))
    labels = dict(zip(mentions["concept_id"], mentions["concept"]))
    broader = _broader()
    for doc in documents.itertuples(index=False):
        doc_mentions = mentions_of.get(doc.doc_id, mentions.iloc[:0])
        doc_claims = claims_of.get(doc.doc_id, claims.iloc[:0])
        asserted = doc_mentions[~doc_mentions["in_claim"]]
        topic = topic_words(doc.title or "", doc.text, cfg)
        claim_concepts = {
            c.claim_id: set(c.concept_ids) for c in doc_claims.itertuples(index=False)
        }
        on_topic = {
            c.claim_id: bool(content_words(c.text) & topic)
            for c in doc_claims.itertuples(index=False)
        }
        flag_rows += _claim_flags(doc.doc_id, doc_claims, doc.text)
        if asserted.empty:
            continue
        doc_segments = segments_of.get(doc.doc_id, segments.iloc[:0])
        assertions = _assertions(doc.text, asserted, doc_segments)
        for (concept_id, category, concept), group in asserted.groupby(
            ["concept_id", "category", "concept"], sort=True
        ):
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
                    "doc_id": doc.doc_id,
                    "concept_id": concept_id,
                    "category": category,
                    "concept": concept,
                    "status": status,
                    "claim_ids": used,
                    "reason": reason,
                    "n_mentions": len(group),
                    "evidence_mention_ids": group["mention_id"].tolist()[:5],
                }
            )
            if used:
                flag_rows += _support_flags(
                    doc.doc_id,
                    concept_id,
                    concept,
                    assertions.get(concept_id, []),
                    doc_claims[doc_claims["claim_id"].isin(used)],
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


def _claim_flags(doc_id: str, claims: pd.DataFrame, text: str) -> list[dict]:
    rows = []
    for c in claims.itertuples(index=False):
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
    doc_id: str, concept_id: str, concept: str, sentences: list[str], backing: pd.DataFrame
) -> list[dict]:
    rows = []
    strengths = [claim_strength(s) for s in sentences]
    causal = [s for s, (strength, _) in zip(sentences, strengths) if strength in _CAUSAL]
    if causal and len(backing) and (backing["strength"] == "correlational").all():
        rows.append(
            _flag(
                doc_id,
                "support",
                f"{doc_id}|{concept_id}",
                "strength mismatch",
                f"the article asserts '{concept}' causally (\"{causal[0][:160]}\") "
                f"but the cited backing is correlational",
            )
        )
    unhedged = [s for s, (_, hedged) in zip(sentences, strengths) if not hedged]
    if unhedged and len(backing) and backing["hedged"].all():
        rows.append(
            _flag(
                doc_id,
                "support",
                f"{doc_id}|{concept_id}",
                "hedging dropped",
                f"the cited claim is hedged but the article states '{concept}' "
                f'without hedging ("{unhedged[0][:160]}")',
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
                    for s in ("backed", "partial", "unbacked")
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
