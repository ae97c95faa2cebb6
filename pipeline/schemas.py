"""The documented schema of every table the pipeline writes.

This module is the single source of truth: `io.write_table` enforces it and the README's table
reference is generated from it (`pipeline schemas`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    arrow_type: pa.DataType
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]


_STR = pa.string()
_INT = pa.int64()
_FLOAT = pa.float64()
_BOOL = pa.bool_()
_OFFSETS = pa.list_(pa.struct([("clean_start", _INT), ("raw_start", _INT), ("length", _INT)]))

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "documents",
            "One row per loaded document, with provenance and the cleaned text.",
            (
                Column("doc_id", _STR, "stable ID: slug of the name + hash of the source key"),
                Column(
                    "source",
                    _STR,
                    "input path (relative to the input root) or URL, "
                    "with #record for JSONL/CSV rows",
                ),
                Column("format", _STR, "txt, md, html, jsonl, csv or url"),
                Column("title", _STR, "title chosen by the rule in title_source"),
                Column(
                    "title_source",
                    _STR,
                    "rule that chose the title: metadata, slug_heading, first_heading, "
                    "file_name, record_id, url_slug or none (pipeline/titles.py)",
                ),
                Column("url", _STR, "canonical URL when known"),
                Column("site", _STR, "host name or site name"),
                Column("author", _STR, "author when known"),
                Column("published", _STR, "publication date as given (ISO when parsed)"),
                Column("fetched_at", _STR, "UTC time of the HTTP fetch; empty for local files"),
                Column("sha256", _STR, "SHA-256 of the raw record text"),
                Column(
                    "encoding", _STR, "how the bytes were decoded (utf-8, cp1252, latin-1, ...)"
                ),
                Column("raw_text", _STR, "text before cleaning (main text for HTML)"),
                Column("text", _STR, "cleaned text; every later offset points into it"),
                Column("offset_map", _OFFSETS, "runs mapping cleaned offsets to raw_text offsets"),
                Column("n_words", _INT, "words in the cleaned text"),
                Column("english_ratio", _FLOAT, "share of tokens that are common English words"),
                Column("is_english", _BOOL, "false: flagged non-English and skipped downstream"),
                Column("duplicate_of", _STR, "doc_id of the kept document if this is a duplicate"),
                Column("duplicate_kind", _STR, "exact or near; empty when not a duplicate"),
                Column(
                    "duplicate_similarity", _FLOAT, "estimated Jaccard similarity to the kept doc"
                ),
            ),
        ),
        Table(
            "boilerplate",
            "What cleaning removed from each document, and by which rule.",
            (
                Column("doc_id", _STR, "document"),
                Column("rule", _STR, "cleaning rule that fired (e.g. tail:up next, related_link)"),
                Column("raw_start", _INT, "start offset in raw_text"),
                Column("raw_end", _INT, "end offset in raw_text"),
                Column("text", _STR, "the removed text (first 500 characters)"),
            ),
        ),
        Table(
            "segments",
            "Sections, list items, paragraphs and sentences, with offsets into documents.text.",
            (
                Column("doc_id", _STR, "document"),
                Column("segment_id", _STR, "stable ID: doc_id, kind and offsets"),
                Column("kind", _STR, "section, item, paragraph or sentence"),
                Column(
                    "parent_id",
                    _STR,
                    "enclosing segment (section for items/paragraphs, "
                    "paragraph or item for sentences); empty for sections",
                ),
                Column("section_heading", _STR, "heading of the enclosing section"),
                Column(
                    "section_role", _STR, "signs, causes, interventions, definition, faq or other"
                ),
                Column("item_title", _STR, "title of the enclosing list item, if any"),
                Column("start", _INT, "start offset in documents.text"),
                Column("end", _INT, "end offset in documents.text (exclusive)"),
                Column("text", _STR, "documents.text[start:end]"),
            ),
        ),
        Table(
            "mentions",
            "Signs, causes and interventions named in the articles (spans of documents.text).",
            (
                Column("doc_id", _STR, "document"),
                Column("mention_id", _STR, "stable ID: doc_id, offsets and category"),
                Column("category", _STR, "sign, cause or intervention"),
                Column("text", _STR, "documents.text[start:end]"),
                Column("start", _INT, "start offset in documents.text"),
                Column("end", _INT, "end offset in documents.text (exclusive)"),
                Column("concept", _STR, "normalised concept label"),
                Column("concept_id", _STR, "concept (see `concepts`)"),
                Column("segment_id", _STR, "paragraph segment holding the mention"),
                Column("method", _STR, "structure, lexicon or model"),
                Column(
                    "confidence",
                    _FLOAT,
                    "0-1; model: calibrated probability that such a span is right; "
                    "rules: structure 0.9, lexicon 0.7-0.8",
                ),
                Column(
                    "in_claim",
                    _BOOL,
                    "inside a cited claim: the research's words, not the article's own assertion",
                ),
            ),
        ),
        Table(
            "claims",
            "Statements the articles attribute to research, experts or organisations.",
            (
                Column("doc_id", _STR, "document"),
                Column("claim_id", _STR, "stable ID: doc_id and offsets"),
                Column(
                    "text",
                    _STR,
                    "the claim span, documents.text[start:end]; with the list it introduces",
                ),
                Column("start", _INT, "start offset in documents.text"),
                Column("end", _INT, "end offset in documents.text (exclusive)"),
                Column("cue", _STR, "the attribution cue, documents.text[cue_start:cue_end]"),
                Column("cue_start", _INT, "start offset of the cue"),
                Column("cue_end", _INT, "end offset of the cue"),
                Column(
                    "source_type",
                    _STR,
                    "study, researchers, expert, organization, publication or other",
                ),
                Column("year", _INT, "year named in the cue, if any (null otherwise)"),
                Column("named_source", _STR, "journal, institution, organisation or person named"),
                Column("hedged", _BOOL, "the claim is hedged (may, might, suggests, ...)"),
                Column(
                    "strength",
                    _STR,
                    "direct causal, conditional causal, correlational or "
                    "no relationship (Yu et al. 2019)",
                ),
                Column("concept_ids", pa.list_(_STR), "concepts of the mentions inside the claim"),
                Column("segment_id", _STR, "paragraph segment holding the claim"),
                Column(
                    "pattern",
                    _STR,
                    "what found it: model (the trained tagger), or the rule pattern post_quote, "
                    "according_to, pre or footnote",
                ),
                Column(
                    "confidence",
                    _FLOAT,
                    "0-1; tagger claims: the claim score, calibrated when the tagger ships a "
                    "claim map (meta.json); empty for rule-found claims",
                ),
                Column("notes", pa.list_(_STR), "observations, e.g. 'opening quote missing'"),
            ),
        ),
        Table(
            "concepts",
            "Concepts: mention wordings normalised across articles, with how often they recur.",
            (
                Column("concept_id", _STR, "stable ID: category and slug of the label"),
                Column("category", _STR, "sign, cause or intervention"),
                Column(
                    "label", _STR, "canonical label (the lexicon's, or the most frequent wording)"
                ),
                Column("n_docs", _INT, "number of documents naming it"),
                Column("n_mentions", _INT, "number of mentions"),
                Column(
                    "variants", pa.list_(_STR), "distinct wordings, most frequent first (max 20)"
                ),
            ),
        ),
        Table(
            "lemmas",
            "Content-word lemmas of each paragraph, sentence and list item, taken from the parse "
            "that extraction makes anyway, so topic modelling does not parse the text again.",
            (
                Column("segment_id", _STR, "segment (paragraph, sentence or item)"),
                Column("doc_id", _STR, "document"),
                Column(
                    "lemmas",
                    _STR,
                    "space-joined lower-cased lemmas of alphabetic, non-stop-word tokens longer "
                    "than two characters",
                ),
            ),
        ),
        Table(
            "topics",
            "BERTopic topics over the topic units (see topics.unit); -1 holds outliers.",
            (
                Column("topic_id", _INT, "topic number (-1: outliers left after reduction)"),
                Column("label", _STR, "readable label: three strongest distinct words"),
                Column("top_words", pa.list_(_STR), "10 top words (KeyBERTInspired + MMR)"),
                Column("size", _INT, "number of units (segments) in the topic"),
                Column("share_sign", _FLOAT, "share of the topic's mentions that are signs"),
                Column("share_cause", _FLOAT, "share of the topic's mentions that are causes"),
                Column("share_intervention", _FLOAT, "share that are interventions"),
                Column(
                    "representative_segment_ids",
                    pa.list_(_STR),
                    "up to 3 units closest to the topic centroid",
                ),
                Column(
                    "note",
                    _STR,
                    "how the topics were made when not by a plain fit: one topic or none and "
                    "why (too few units, no cluster), a fit on a sample, an update; else empty",
                ),
            ),
        ),
        Table(
            "segment_topics",
            "The topic of every topic unit, and the units left out for their language.",
            (
                Column("segment_id", _STR, "segment (a unit of kind topics.unit)"),
                Column("topic_id", _INT, "topic"),
                Column(
                    "probability", _FLOAT, "cosine similarity of the unit to its topic centroid"
                ),
                Column(
                    "language",
                    _STR,
                    "en, or the language (topics.other_languages) that kept the unit out of "
                    "the topic model (topic_id -1)",
                ),
            ),
        ),
        Table(
            "document_topics",
            "Per-document topic distribution: the share of each document's units in each topic.",
            (
                Column("doc_id", _STR, "document"),
                Column("topic_id", _INT, "topic"),
                Column("n_segments", _INT, "units of the document in the topic"),
                Column("share", _FLOAT, "n_segments / units of the document"),
            ),
        ),
        Table(
            "topic_map",
            "2-D coordinates of the fitted units for the segment map (from the UMAP space).",
            (
                Column("segment_id", _STR, "segment"),
                Column("x", _FLOAT, "first axis"),
                Column("y", _FLOAT, "second axis"),
            ),
        ),
        Table(
            "support",
            "Per article and stated concept: which claims cited in the article back it, and how.",
            (
                Column("doc_id", _STR, "document"),
                Column("concept_id", _STR, "concept the article states (own words or a claim)"),
                Column("category", _STR, "sign, cause or intervention"),
                Column("concept", _STR, "concept label"),
                Column(
                    "status",
                    _STR,
                    "backed, weaker, contradicted or unbacked (see Comparison)",
                ),
                Column("claim_ids", pa.list_(_STR), "linked claims, most confident link first"),
                Column(
                    "relations",
                    pa.list_(_STR),
                    "per linked claim: supports, weaker or contradicts",
                ),
                Column("link_scores", pa.list_(_FLOAT), "per linked claim: the linker's score"),
                Column("reason", _STR, "why, in words a reviewer can check"),
                Column("n_mentions", _INT, "mentions of the concept in the article"),
                Column("evidence_mention_ids", pa.list_(_STR), "up to 5 of those mentions"),
            ),
        ),
        Table(
            "flags",
            "Flags on claims and on support rows.",
            (
                Column("doc_id", _STR, "document"),
                Column("item_type", _STR, "claim or support"),
                Column("item_id", _STR, "claim_id, or doc_id|concept_id for a support row"),
                Column(
                    "flag",
                    _STR,
                    "vague attribution, strength mismatch, hedging dropped or quote integrity",
                ),
                Column("detail", _STR, "what triggered it, quoting the text"),
            ),
        ),
        Table(
            "concept_coverage",
            "Corpus level: per concept, articles naming it and how their citations back it.",
            (
                Column("concept_id", _STR, "concept"),
                Column("category", _STR, "sign, cause or intervention"),
                Column("concept", _STR, "label"),
                Column("n_articles", _INT, "articles asserting it"),
                Column("n_backed", _INT, "articles where a cited claim supports it"),
                Column("n_weaker", _INT, "articles citing only an association for it"),
                Column("n_contradicted", _INT, "articles citing a claim against it"),
                Column("share_backed", _FLOAT, "n_backed / n_articles"),
            ),
        ),
        Table(
            "evidence_matches",
            "Closest findings of the configured evidence base for causes and interventions.",
            (
                Column("concept_id", _STR, "concept"),
                Column("concept", _STR, "label"),
                Column("rank", _INT, "1 = closest"),
                Column("finding", _STR, "the finding's claim text"),
                Column("verdict", _STR, "the evidence base's verdict"),
                Column("source", _STR, "explanation or source given by the evidence base"),
                Column("similarity", _FLOAT, "cosine similarity (not a judgement of support)"),
            ),
        ),
        Table(
            "rejected",
            "Inputs or documents a stage could not use, and why; the run goes on without them.",
            (
                Column("input", _STR, "path, URL or source key"),
                Column("stage", _STR, "load, clean, segment, extract, ..."),
                Column("reason", _STR, "one-line reason"),
                Column("doc_id", _STR, "document if one was created, else empty"),
            ),
        ),
    )
}


def schema_markdown() -> str:
    """Markdown tables describing every table, for the README."""
    parts = []
    for table in TABLES.values():
        parts.append(
            f"#### `{table.name}`\n\n{table.doc}\n\n| column | type | meaning |\n|---|---|---|"
        )
        for col in table.columns:
            parts.append(f"| `{col.name}` | {col.arrow_type} | {col.doc} |")
        parts.append("")
    return "\n".join(parts)
