"""Extraction stage: signs, causes and interventions (mentions) and cited claims.

spaCy components, registered as versioned factories, each keep their results on the Doc:

- `selfhelp_lexicon_v1`: a SpanRuler over `resources/lexicon.yaml` -> `doc.spans["sh_lexicon"]`;
- `selfhelp_structure_v1`: the title of a list item under a signs/causes/interventions heading
  -> `doc.spans["sh_structure"]`;
- `selfhelp_spancat` (optional): the trained span categorizer (`pipeline train`), sourced from
  `resources/spancat/` -> `doc.spans["sh_model"]`;
- `selfhelp_mentions_v1`: merges the three into `doc.spans["sh_mentions"]`, resolving each
  span's category from its context and setting `span._.method`, `._.confidence`, `._.concept`;
- `selfhelp_claims_v1`: cited claims -> `doc._.claims`.

The unit of processing is a paragraph of a cleaned document; its context (section role, item)
travels on `doc._.block`, set before the pipeline runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from importlib import resources
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from spacy.language import Language
from spacy.pipeline import SpanRuler
from spacy.tokens import Doc, Span
from spacy.util import registry

from pipeline.claims import find_claims
from pipeline.config import Config, ExtractConfig
from pipeline.lexicon import load_lexicon
from pipeline.nlp import lemmas_by_span

LEMMA_KINDS = ("paragraph", "sentence", "item")  # segments the `lemmas` table covers
RAW_MENTION_COLUMNS = [
    "doc_id",
    "segment_id",
    "category",
    "text",
    "start",
    "end",
    "method",
    "confidence",
    "lexicon_concept",
    "lemma",
]
RAW_CLAIM_COLUMNS = [
    "doc_id",
    "segment_id",
    "text",
    "start",
    "end",
    "cue",
    "cue_start",
    "cue_end",
    "source_type",
    "year",
    "named_source",
    "hedged",
    "strength",
    "pattern",
    "notes",
]
ROLE_TO_CATEGORY = {"signs": "sign", "causes": "cause", "interventions": "intervention"}
SPANCAT_DIR = Path(str(resources.files("pipeline").joinpath("resources/spancat")))

for _name, _default in (("block", None), ("claims", None)):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=_default)
for _name, _default in (("method", ""), ("confidence", 0.0), ("concept", ""), ("categories", None)):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=_default)


# ------------------------------------------------------------------ lexicon


def _inflections(phrase: str) -> set[str]:
    """The phrase with its last word in singular and plural form."""
    words = phrase.split()
    last = words[-1]
    forms = {last}
    if last.endswith("ies"):
        forms.add(last[:-3] + "y")
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        forms.add(last[:-1])
    elif last.endswith("y") and len(last) > 3 and last[-2] not in "aeiou":
        forms.add(last[:-1] + "ies")
    elif last[-1].isalpha() and last.islower() and not last.endswith(("ing", "ed")):
        forms.add(last + "s")
    return {" ".join([*words[:-1], form]) for form in forms}


def lexicon_patterns(entries: tuple[dict, ...]) -> list[dict]:
    """SpanRuler phrase patterns; the pattern id is the concept label."""
    patterns = []
    for entry in entries:
        for phrase in entry["patterns"]:
            for form in sorted(_inflections(str(phrase))):
                patterns.append({"label": entry["category"], "pattern": form, "id": entry["label"]})
    return patterns


@Language.factory("selfhelp_lexicon_v1", default_config={"lexicon_path": None})
def make_lexicon(nlp: Language, name: str, lexicon_path: str | None) -> SpanRuler:
    """A SpanRuler matching the lexicon phrases case-insensitively, longest match first."""
    ruler = SpanRuler(
        nlp,
        name,
        spans_key="sh_lexicon",
        phrase_matcher_attr="LOWER",
        spans_filter=registry.misc.get("spacy.first_longest_spans_filter.v1")(),
        overwrite=True,
    )
    ruler.add_patterns(lexicon_patterns(load_lexicon(lexicon_path)))
    return ruler


# ------------------------------------------------------------------ structure

_TITLE_CUT = re.compile(r"\s*(?:[.:;–—(]|\s-\s)")


def _has_content(span: Span) -> bool:
    """A title with a content word; "Instead of:" or "Try:" label an example, not an item."""
    return any(
        t.is_alpha and not t.is_stop and len(t) > 2 and t.lower_ not in _LABEL_WORDS for t in span
    )


_LABEL_WORDS = {"try", "example", "examples", "note", "tip", "instead", "bonus", "step", "why"}


class StructureTagger:
    """Marks a list item's title as a mention of its section's category."""

    def __init__(self, max_title_words: int) -> None:
        self.max_title_words = max_title_words

    def __call__(self, doc: Doc) -> Doc:
        block = doc._.block or {}
        spans = []
        category = ROLE_TO_CATEGORY.get(block.get("role", ""))
        title = block.get("item_title", "")
        if category and block.get("item_head") and title:
            start = doc.text.find(title)
            if start >= 0:
                end = start + len(title)
                if len(title.split()) > self.max_title_words:  # a sentence: keep its lead phrase
                    cut = _TITLE_CUT.search(doc.text, start + 1, end)
                    end = cut.start() if cut else end
                span = doc.char_span(start, end, label=category, alignment_mode="expand")
                if span is not None and len(span) <= self.max_title_words and _has_content(span):
                    spans.append(span)
        doc.spans["sh_structure"] = spans
        return doc


@Language.factory("selfhelp_structure_v1", default_config={"max_title_words": 10})
def make_structure(nlp: Language, name: str, max_title_words: int) -> StructureTagger:
    return StructureTagger(max_title_words)


# ------------------------------------------------------------------ merge


class MentionMerger:
    """Combines structure, lexicon and model spans into `doc.spans["sh_mentions"]`.

    Structure wins over the lexicon, the lexicon over the model. A lexicon concept inside an
    item title names the title's concept. A lexicon entry that allows several categories takes
    the one its section or list calls for. Categories listed in `conflicts` for a section's
    category are dropped there: a sign word in the body of a causes item describes the cause
    ("parents' sudden mood swings"), not the reader. The condition
    an article is about (a concept named in its title) is not its own sign, cause or cure.
    """

    def __init__(
        self, lexicon_path: str | None, model_threshold: float, conflicts: dict[str, list[str]]
    ) -> None:
        self.conflicts = conflicts
        entries = load_lexicon(lexicon_path)
        # Phrase -> concept, so a model span that is a lexicon phrase is held to the same rules.
        self.phrase_concept = {p["pattern"].lower(): p["id"] for p in lexicon_patterns(entries)}
        self.categories = {
            e["label"]: [e["category"], *e.get("also", [])] for e in load_lexicon(lexicon_path)
        }
        self.model_threshold = model_threshold

    def __call__(self, doc: Doc) -> Doc:
        block = doc._.block or {}
        context = ROLE_TO_CATEGORY.get(block.get("role", ""))
        taken = [False] * len(doc)
        mentions: list[Span] = []
        lexicon = list(doc.spans.get("sh_lexicon", []))
        for span in doc.spans.get("sh_structure", []):
            inner = [lx for lx in lexicon if lx.start >= span.start and lx.end <= span.end]
            mention = Span(doc, span.start, span.end, label=span.label_)
            mention._.method, mention._.confidence = "structure", 0.9
            mention._.concept = inner[0].id_ if len(inner) == 1 else ""
            mentions.append(mention)
            taken[span.start : span.end] = [True] * (span.end - span.start)
        topic = set(block.get("topic_concepts", ()))
        for span in lexicon:
            allowed = self.categories.get(span.id_, [span.label_])
            if any(taken[span.start : span.end]) or span.id_ in topic:
                continue
            if context and context not in allowed and allowed[0] in self.conflicts.get(context, ()):
                continue
            label = context if context in allowed else allowed[0]
            mention = Span(doc, span.start, span.end, label=label)
            mention._.method, mention._.concept = "lexicon", span.id_
            mention._.confidence = 0.8 if label == context else 0.7
            mentions.append(mention)
            taken[span.start : span.end] = [True] * (span.end - span.start)
        model_spans = doc.spans.get("sh_model")
        if model_spans is not None:
            # spancat stores one score row per span; the span's label is its best class.
            scores = [
                float(np.max(s)) for s in model_spans.attrs.get("scores", [1.0] * len(model_spans))
            ]
            ranked = sorted(zip(model_spans, scores), key=lambda p: (-p[1], p[0].start))
            for span, score in ranked:
                if float(score) < self.model_threshold or any(taken[span.start : span.end]):
                    continue
                if context and span.label_ != context:
                    continue
                if self.phrase_concept.get(span.text.lower()) in topic:
                    continue
                mention = Span(doc, span.start, span.end, label=span.label_)
                mention._.method, mention._.confidence = "model", round(float(score), 3)
                mentions.append(mention)
                taken[span.start : span.end] = [True] * (span.end - span.start)
        doc.spans["sh_mentions"] = sorted(mentions, key=lambda s: s.start)
        return doc


@Language.factory(
    "selfhelp_mentions_v1",
    default_config={"lexicon_path": None, "model_threshold": 0.5, "conflicts": {}},
)
def make_merger(
    nlp: Language,
    name: str,
    lexicon_path: str | None,
    model_threshold: float,
    conflicts: dict[str, list[str]],
) -> MentionMerger:
    return MentionMerger(lexicon_path, model_threshold, conflicts)


# ------------------------------------------------------------------ claims


@Language.factory("selfhelp_claims_v1")
def make_claims(nlp: Language, name: str) -> Callable[[Doc], Doc]:
    def detect(doc: Doc) -> Doc:
        sentences = (
            [(s.start_char, s.end_char) for s in doc.sents]
            if doc.has_annotation("SENT_START")
            else [(0, len(doc.text))]
        )
        persons = [ent.text for ent in doc.ents if ent.label_ == "PERSON"]
        doc._.claims = find_claims(doc.text, sentences, persons)
        return doc

    return detect


# ------------------------------------------------------------------ the pipeline


_PIPELINES: dict[tuple[str, str], Language] = {}


def extraction_pipeline(model: str, cfg: ExtractConfig) -> Language:
    """en_core_web_sm without the parser (sentences from senter) plus our components.

    The dependency parser is the slowest component and nothing here needs it; NER (for named
    sources), the tagger and the lemmatizer stay. Built once per (model, config).
    """
    key = (model, cfg.model_dump_json())
    if key in _PIPELINES:
        return _PIPELINES[key]
    from pipeline.nlp import load_model

    nlp = load_model(model, exclude=("parser",))
    if "senter" in nlp.component_names and "senter" not in nlp.pipe_names:
        nlp.enable_pipe("senter")
    nlp.add_pipe("selfhelp_lexicon_v1", name="selfhelp_lexicon")
    nlp.add_pipe(
        "selfhelp_structure_v1",
        name="selfhelp_structure",
        config={"max_title_words": cfg.max_title_words},
    )
    if cfg.use_spancat and (SPANCAT_DIR / "meta.json").exists():
        import spacy

        spancat = nlp.add_pipe("spancat", name="selfhelp_spancat", source=spacy.load(SPANCAT_DIR))
        spancat.cfg["threshold"] = cfg.model_threshold  # keep every span the merger may take
    nlp.add_pipe(
        "selfhelp_mentions_v1",
        name="selfhelp_mentions",
        config={"model_threshold": cfg.model_threshold, "conflicts": cfg.context_conflicts},
    )
    nlp.add_pipe("selfhelp_claims_v1", name="selfhelp_claims")
    _PIPELINES[key] = nlp
    return nlp


def _topic_concepts(nlp: Language, documents: pd.DataFrame) -> dict[str, list[str]]:
    """Lexicon concepts named in each document's title: the condition it is about."""
    ruler = nlp.get_pipe("selfhelp_lexicon")
    topics = {}
    for doc_id, title in zip(documents["doc_id"], documents["title"]):
        title_doc = ruler(nlp.make_doc(title or ""))  # keep the Doc alive while reading spans
        topics[doc_id] = sorted({span.id_ for span in title_doc.spans["sh_lexicon"]})
    return topics


def _block_docs(nlp: Language, documents: pd.DataFrame, segments: pd.DataFrame) -> Iterator[Doc]:
    """One Doc per paragraph, with its context on `doc._.block`."""
    topics = _topic_concepts(nlp, documents)
    items = segments[segments["kind"] == "item"].set_index("segment_id")
    paragraphs = segments[segments["kind"] == "paragraph"]
    usable = set(documents["doc_id"])
    for par in paragraphs.itertuples(index=False):
        if par.doc_id not in usable:
            continue
        item_head = par.parent_id in items.index and items.at[par.parent_id, "start"] == par.start
        doc = nlp.make_doc(par.text)
        doc._.block = {
            "doc_id": par.doc_id,
            "segment_id": par.segment_id,
            "offset": par.start,
            "role": par.section_role,
            "item_title": par.item_title,
            "item_head": bool(item_head),
            "topic_concepts": topics.get(par.doc_id, []),
        }
        yield doc


def _safe_pipe(
    nlp: Language, docs: Iterator[Doc], config: Config, failures: list[tuple[str, str]]
) -> Iterator[Doc]:
    """`nlp.pipe` in chunks; a chunk that raises is redone doc by doc, and the docs that still
    fail are reported in `failures` as (doc_id, reason) instead of stopping the run."""
    chunk_size = config.spacy.batch_size * max(8, 32 * (config.spacy.n_process - 1))
    while True:
        chunk = list(islice(docs, chunk_size))
        if not chunk:
            return
        try:
            yield from list(
                nlp.pipe(
                    chunk, batch_size=config.spacy.batch_size, n_process=config.spacy.n_process
                )
            )
        except Exception:  # find the bad doc(s); anything a component raises counts
            for doc in chunk:
                fresh = nlp.make_doc(doc.text)
                fresh._.block = doc._.block
                try:
                    yield nlp(fresh)
                except Exception as exc:
                    failures.append(
                        ((doc._.block or {}).get("doc_id", ""), f"{type(exc).__name__}: {exc}")
                    )


def extract_documents(
    documents: pd.DataFrame,
    segments: pd.DataFrame,
    config: Config,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str]]]:
    """Run extraction over the paragraphs of usable documents.

    Args:
        documents: usable documents (doc_id, text).
        segments: the `segments` table.
        config: the pipeline config (`extract` and `spacy` sections).
        progress: called with the number of paragraphs done.

    Returns:
        Raw mentions (RAW_MENTION_COLUMNS) and raw claims (RAW_CLAIM_COLUMNS) with offsets
        into documents.text, the `lemmas` table of the documents' paragraphs, sentences and
        items, and failures as (doc_id, reason).
    """
    cfg = config.extract
    nlp = extraction_pipeline(config.spacy.model, cfg)
    mention_rows, claim_rows, lemma_rows, failures = [], [], [], []
    lemma_spans = {
        doc_id: list(zip(g["segment_id"], g["start"], g["end"]))
        for doc_id, g in segments[segments["kind"].isin(LEMMA_KINDS)].groupby("doc_id", sort=False)
    }
    parsed: list[tuple[int, Doc]] = []  # the current document's paragraphs

    def flush(doc_id: str) -> None:
        lemma_rows.extend(
            (span_id, doc_id, text) for span_id, text in lemmas_by_span(parsed, lemma_spans[doc_id])
        )
        parsed.clear()

    current = None
    docs = _safe_pipe(nlp, _block_docs(nlp, documents, segments), config, failures)
    for doc in docs:
        block = doc._.block
        offset = block["offset"]
        if block["doc_id"] != current:
            if current is not None:
                flush(current)
            current = block["doc_id"]
        parsed.append((offset, doc))
        for span in doc.spans["sh_mentions"]:
            mention_rows.append(
                {
                    "doc_id": block["doc_id"],
                    "segment_id": block["segment_id"],
                    "category": span.label_,
                    "text": span.text,
                    "start": offset + span.start_char,
                    "end": offset + span.end_char,
                    "method": span._.method,
                    "confidence": span._.confidence,
                    "lexicon_concept": span._.concept,
                    "lemma": " ".join(t.lemma_.lower() for t in span if not t.is_punct),
                }
            )
        for claim in doc._.claims or []:
            row = asdict(claim)
            for key in ("start", "end", "cue_start", "cue_end"):
                row[key] += offset
            claim_rows.append({"doc_id": block["doc_id"], "segment_id": block["segment_id"], **row})
        if progress is not None:
            progress(1)
    if current is not None:
        flush(current)
    return (
        pd.DataFrame(mention_rows, columns=RAW_MENTION_COLUMNS),
        pd.DataFrame(claim_rows, columns=RAW_CLAIM_COLUMNS),
        pd.DataFrame(lemma_rows, columns=["segment_id", "doc_id", "lemmas"]),
        failures,
    )
