"""The extract stage: signs, causes and interventions (mentions) and cited claims.

One spaCy pipeline runs over every paragraph of the usable documents: en_core_web_sm without
the parser, then the project's components, registered as versioned factories, each keeping
its results on the Doc:

- `selfhelp_lexicon_v1`, `selfhelp_structure_v1` (`rules.py`): lexicon phrases and list-item
  titles -> `doc.spans["sh_lexicon"]`, `doc.spans["sh_structure"]`;
- `selfhelp_tagger_v1` (`model.py`, with `extract.method: model`): the trained tagger ->
  `doc.spans["sh_model"]`, `["sh_claim"]`, `["sh_cue"]`;
- `selfhelp_mentions_v1` (`rules.py`): the mentions -> `doc.spans["sh_mentions"]`, with
  `span._.method`, `._.confidence`, `._.concept`: the tagger's spans, or with `method: rules`
  the structure and lexicon spans resolved by their section;
- `selfhelp_claims_v1`: cited claims -> `doc._.claims`, from the tagger's claim and cue spans
  grown to whole sentences, or with `method: rules` from the cue patterns of `claims.py`.

The unit of processing is a paragraph of a cleaned document; its context (section role and
heading, list item, the paragraph before) travels on `doc._.block`, set before the pipeline runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import lru_cache
from itertools import islice

import numpy as np
import pandas as pd
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.config import Config, ExtractConfig
from pipeline.extract import rules  # noqa: F401  (registers the rule factories)
from pipeline.extract.claims import (
    claim_from_spans,
    cue_lexicon,
    doc_persons,
    find_doc_claims,
    note_markers,
)
from pipeline.extract.concepts import assign_concepts, concept_id, concept_table
from pipeline.io import empty_frame
from pipeline.nlp import lemmas_by_span
from pipeline.schemas import TABLES

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
    "confidence",
    "lexicon_concepts",
]


# ------------------------------------------------------------------ claims


def _claim_region(doc: Doc, span: Span, cue: Span | None) -> tuple[int, int]:
    """Token range of a claim: the sentences the tagged span touches (a claim is a whole clause,
    never a fragment), without its attribution cue when the cue opens or closes it."""
    if doc.has_annotation("SENT_START"):
        start, end = span.sent.start, doc[span.end - 1].sent.end
    else:
        start, end = 0, len(doc)
    if cue is not None and start <= cue.start and cue.end <= end:
        if cue.start - start <= 2 and end - cue.end > 3:  # "According to a study, ..."
            start = cue.end
        elif end - cue.end <= 2 and cue.start - start > 3:  # "..., says Dr. X."
            end = cue.start
        elif end - cue.end > 3 and _introduces(doc, cue):
            # "Interestingly, a large study found that Y": the cue governs what follows it.
            start = cue.end
    return start, end


def _introduces(doc: Doc, cue: Span) -> bool:
    """Whether a cue inside its sentence introduces the clause after it: it ends with a
    reporting verb ("research shows", "Wright said") or with "that" ("X found that")."""
    last = doc[cue.end - 1].lower_
    return last == "that" or last in _reporting_verbs()


def _attributes(cue: Span) -> bool:
    """Whether a tagged cue can attribute a claim: it names a source, stands for one ("adds",
    with the speaker nearby) or is a footnote marker.

    A lone quote mark or dash is none of these, nor a lone function word (the "a" of markup
    like <a href=…> left in a text file), a lone year (the "1944 movie") or a passive verb
    with no agent ("is believed to", "is said to": nobody is cited).
    """
    if not any(ch.isalnum() for ch in cue.text):
        return False
    if len(cue) > 1:
        return True
    token = cue[0]
    passive = token.tag_ == "VBN" and token.i > 0 and token.nbor(-1).lemma_ == "be"
    return not (token.is_stop or passive or re.fullmatch(r"(?:19|20)\d\d", token.text))


def _through_that(doc: Doc, cue: Span) -> Span:
    """A cue tagged past the "that" of its reporting verb ("a study found that estradiol")
    ends at the "that": what follows is the claim."""
    verbs = _reporting_verbs()
    for i in range(1, len(cue) - 1):
        if cue[i].lower_ == "that" and cue[i - 1].lower_ in verbs:
            return doc[cue.start : cue.start + i + 1]
    return cue


@lru_cache(maxsize=1)
def _reporting_verbs() -> frozenset[str]:
    return frozenset(w.lower() for w in cue_lexicon()["reporting_verbs"])


# Rule claims kept beside the tagger's: citation formats, which replace a tagged claim on the
# same reference, and a quotation closed by its attribution ("…," says Whitlow), kept where no
# tagged claim overlaps it (out of fold, 4 of the 5 such quotes were gold claims; README).
CITATION_PATTERNS = ("footnote", "author_year")
QUOTE_PATTERNS = ("post_quote",)


def _model_claims(doc: Doc, threshold: float, persons: list[str]) -> list:
    """Claims from the tagger's claim and cue spans: each tagged span grows to its sentences,
    takes the nearest cue in or beside them (or, when the tagger marked none there, the cue a
    rule pattern finds for those sentences), and its attributes from that cue. A span with no
    cue at all is not a claim."""
    cues = [c for c in doc.spans.get("sh_cue", []) if _attributes(c)]
    rule_cues = None
    rule_claims = find_doc_claims(doc)
    spans = doc.spans.get("sh_claim", [])
    scores = spans.attrs.get("scores", []) if len(spans) else []
    confidences = spans.attrs.get("confidence", scores) if len(spans) else []
    claims, taken = [], set()
    kept = [(sp, sc, cf) for sp, sc, cf in zip(spans, scores, confidences) if sc >= threshold]
    regions = [_claim_region(doc, span, None) for span, _, _ in kept]

    def usable(cue: Span, start: int, end: int) -> bool:
        """A cue governs the clause it stands in: a claim in the next or previous sentence may
        borrow it only when no tagged claim sits in the cue's own sentence."""
        if cue.start >= start and cue.end <= end:
            return True
        if not (cue.end > start - 3 and cue.start < end + 3):
            return False
        return not any(s <= cue.start and cue.end <= e for s, e in regions)

    for span, _score, confidence in sorted(kept, key=lambda p: -p[1]):
        sent_start, sent_end = _claim_region(doc, span, None)
        near = [c for c in cues if usable(c, sent_start, sent_end)]
        if not near:
            if rule_cues is None:
                rule_cues = [
                    doc.char_span(c.cue_start, c.cue_end, alignment_mode="expand")
                    for c in rule_claims
                    if c.cue_end > c.cue_start
                ]
            near = [
                c
                for c in rule_cues
                if c is not None and _attributes(c) and usable(c, sent_start, sent_end)
            ]
        cue = min(
            near,
            key=lambda c: min(abs(c.start - span.end), abs(span.start - c.end)),
            default=None,
        )
        if cue is None:  # a claim is attributed through a cue; without one it is advice
            continue
        cue = _through_that(doc, cue)
        start, end = _claim_region(doc, span, cue)
        if any(i in taken for i in range(start, end)) or end <= start:
            continue
        taken.update(range(start, end))
        claim = claim_from_spans(
            doc.text,
            (doc[start].idx, doc[end - 1].idx + len(doc[end - 1].text)),
            (cue.start_char, cue.end_char),
            persons,
        )
        if claim is not None:
            claim.confidence = round(float(confidence), 3)
            claims.append(claim)
    # Citation formats the tagger rarely marks (a note number glued to the sentence, an
    # author-year reference) make claims wherever no tagged claim covers them: the rules find
    # them with high precision. Their confidence is the rule pattern's (review.claim_confidence).
    # A tagged claim attributed through the same reference gives way to the rule's span, which
    # follows the sentence ("spring.1" is one token to the tagger, so its span stops before it).
    # A quotation closed by its attribution is a claim where no tagged claim overlaps it.
    claims = [piece for c in claims for piece in _split_at_notes(doc.text, c, persons)]
    for claim in rule_claims:
        covering = [c for c in claims if c.start < claim.end and claim.start < c.end]
        if (
            claim.pattern in CITATION_PATTERNS
            and all(c.cue_start < claim.cue_end and claim.cue_start < c.cue_end for c in covering)
        ) or (claim.pattern in QUOTE_PATTERNS and not covering):
            claims = [c for c in claims if c not in covering] + [claim]
    for claim in claims:
        claim.lexicon_concepts = sorted(
            {
                concept_id(lx.label_, lx.id_)
                for lx in doc.spans.get("sh_lexicon", [])
                if lx.start_char >= claim.start and lx.end_char <= claim.end
            }
        )
    return sorted(claims, key=lambda c: c.start)


def _split_at_notes(text: str, claim, persons: list[str]) -> list:
    """A tagged claim that runs on past note markers ("…throughout their lives.1, 2 Children
    develop…distressed.3 Attachment trauma…") is one claim per marked sentence. The marker
    closing a piece is its cue, also when the tagger took it, glued to the last word
    ("support.4"), as the cue right after the claim; the first piece keeps a cue standing
    before it ("According to attachment theory, …"), the last one a cue closing the tagged
    claim. A piece with no cue of its own is dropped."""
    stop = claim.cue_end if 0 <= claim.cue_start - claim.end <= 2 else claim.end
    markers = [
        m for m in note_markers(text) if claim.start < m.start("cue") and m.end("cue") <= stop
    ]
    if claim.pattern != "model" or not any(m.end("cue") < claim.end for m in markers):
        return [claim]
    own = (claim.cue_start, claim.cue_end)
    pieces = []
    for k in range(len(markers) + 1):
        start = markers[k - 1].end("cue") if k else claim.start
        end = markers[k].start("cue") if k < len(markers) else claim.end
        cue = (markers[k].start("cue"), markers[k].end("cue")) if k < len(markers) else None
        if (k == 0 and own[1] <= start) or (k == len(markers) and own[0] >= end):
            cue = own
        piece = claim_from_spans(text, (start, end), cue, persons) if cue and end > start else None
        if piece is not None:
            piece.confidence = claim.confidence
            pieces.append(piece)
    return pieces or [claim]


# A claim that ends like this introduces the list after it ("common signs include:").
_INTRODUCES_LIST = re.compile(r"(?::|\binclud\w*|\bsuch as|\bthe following|\bare)\W*$", re.I)
# A line the segmenter left as a paragraph that reads as a list item ("-low mood,", "➤ …").
_BULLET_LINE = re.compile(r"\s*[-–•*▪●◦➤►]")


def _through_lists(text: str, paragraphs: list[tuple[int, Doc]], claims: list[tuple[int, dict]]):
    """Claims that introduce a list ("According to the Sleep Foundation, common signs of sleep
    anxiety include:") take the list in: the listed items are what the source says. Extraction
    runs per paragraph, so this is done per document, on `claims` given as (index of the
    claim's paragraph in `paragraphs`, claim row with document offsets).

    The list is the head paragraphs of the list items right after the claim's paragraph, and
    lines opening with a bullet that the segmenter left as paragraphs; it ends at any other
    paragraph or at text between paragraphs (a heading). The claim's lexicon concepts take in
    the list's."""
    for k, row in claims:
        offset, doc = paragraphs[k]
        end = paragraph_end = offset + len(doc.text)
        rest = text[row["end"] : end]
        if any(ch.isalnum() for ch in rest) or not _INTRODUCES_LIST.search(
            (row["text"] + rest).rstrip()[-60:]
        ):
            continue
        concepts = set(row["lexicon_concepts"])
        for offset, doc in paragraphs[k + 1 :]:
            if text[end:offset].strip() or not (
                doc._.block["item_head"] or _BULLET_LINE.match(doc.text)
            ):
                break
            end = offset + len(doc.text)
            concepts.update(concept_id(lx.label_, lx.id_) for lx in doc.spans.get("sh_lexicon", []))
        if end > paragraph_end:
            row.update(end=end, text=text[row["start"] : end], lexicon_concepts=sorted(concepts))


@Language.factory("selfhelp_claims_v1", default_config={"method": "rules", "threshold": 0.5})
def make_claims(nlp: Language, name: str, method: str, threshold: float) -> Callable[[Doc], Doc]:
    def detect(doc: Doc) -> Doc:
        if method == "model":
            doc._.claims = _model_claims(doc, threshold, doc_persons(doc))
        else:
            doc._.claims = find_doc_claims(doc)
        return doc

    return detect


# ------------------------------------------------------------------ the pipeline


_PIPELINES: dict[tuple[str, str], Language] = {}


def resolve_encoder(cfg: ExtractConfig, n_words: int) -> ExtractConfig:
    """The settings with `encoder: auto` made concrete for a corpus of `n_words` words: the
    contextual tagger up to `contextual_max_words`, the fast one above. The whole corpus
    decides (the runner resolves before partitions are cached), so every document of a run
    is read by the same tagger."""
    if cfg.encoder != "auto":
        return cfg
    encoder = "contextual" if n_words <= cfg.contextual_max_words else "fast"
    return cfg.model_copy(update={"encoder": encoder})


def corpus_words(documents: pd.DataFrame) -> int:
    """Whitespace-separated words of the documents' texts (what `resolve_encoder` counts)."""
    return int(documents["text"].str.split().str.len().fillna(0).sum()) if len(documents) else 0


def rules_config(cfg: ExtractConfig) -> ExtractConfig:
    """The same extraction settings with the rules alone (the baseline, and training features)."""
    return cfg.model_copy(update={"method": "rules"})


def extraction_pipeline(model: str, cfg: ExtractConfig) -> Language:
    """en_core_web_sm without the parser (sentences from senter) plus our components.

    The dependency parser is the slowest component and nothing here needs it; the tok2vec
    (whose vectors the tagger reads), tagger, lemmatizer and NER stay. Built once per
    (model, config). `extract.method` chooses "model" (the trained tagger decides, the rules
    are its features) or "rules" (lexicon and structure only, the baseline); an `auto`
    encoder is the contextual one (`extract_documents` sizes the corpus first).
    """
    if cfg.encoder == "auto":  # no corpus to size here: texts read one at a time
        cfg = resolve_encoder(cfg, 0)
    key = (model, cfg.model_dump_json())
    if key in _PIPELINES:
        return _PIPELINES[key]
    from pipeline.nlp import add_quoted_sentences, load_model

    nlp = load_model(model, exclude=("parser",))
    if "senter" in nlp.component_names and "senter" not in nlp.pipe_names:
        nlp.enable_pipe("senter")
    add_quoted_sentences(nlp)
    nlp.add_pipe("selfhelp_lexicon_v1", name="selfhelp_lexicon")
    nlp.add_pipe(
        "selfhelp_structure_v1",
        name="selfhelp_structure",
        config={"max_title_words": cfg.max_title_words},
    )
    threshold = 1.0  # the tagger's spans only: unused by the rules
    if cfg.method == "model":
        from pipeline.extract import model as _model  # registers the factory

        nlp.add_pipe(
            "selfhelp_tagger_v1",
            name="selfhelp_tagger",
            config={
                "folder": cfg.model_dir,
                "encoder": cfg.encoder,
                "outside_weight": cfg.outside_weight,
            },
        )
        threshold = cfg.model_threshold[_model.tagger_encoder(cfg.model_dir, cfg.encoder)]
    nlp.add_pipe(
        "selfhelp_mentions_v1",
        name="selfhelp_mentions",
        config={
            "method": cfg.method,
            "model_threshold": threshold,
            "conflicts": cfg.context_conflicts,
        },
    )
    nlp.add_pipe(
        "selfhelp_claims_v1",
        name="selfhelp_claims",
        config={"method": cfg.method, "threshold": cfg.claim_threshold},
    )
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


def block_docs(nlp: Language, documents: pd.DataFrame, segments: pd.DataFrame) -> Iterator[Doc]:
    """One Doc per paragraph, with its context on `doc._.block`."""
    topics = _topic_concepts(nlp, documents)
    lengths = dict(zip(documents["doc_id"], documents["text"].str.len()))
    title_words = {
        doc_id: sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,}", title or "")})
        for doc_id, title in zip(documents["doc_id"], documents["title"])
    }
    items = segments[segments["kind"] == "item"].set_index("segment_id")
    paragraphs = segments[segments["kind"] == "paragraph"]
    usable = set(documents["doc_id"])
    previous: dict[str, str] = {}  # the paragraph before, per document
    for par in paragraphs.itertuples(index=False):
        if par.doc_id not in usable:
            continue
        in_item = par.parent_id in items.index
        item_head = in_item and items.at[par.parent_id, "start"] == par.start
        doc = nlp.make_doc(par.text)
        doc._.block = {
            "doc_id": par.doc_id,
            "segment_id": par.segment_id,
            "offset": par.start,
            "doc_position": par.start / max(lengths.get(par.doc_id, 1), 1),
            "role": par.section_role,
            "heading": par.section_heading,
            "in_item": bool(in_item),
            "item_title": par.item_title,
            "item_head": bool(item_head),
            "topic_concepts": topics.get(par.doc_id, []),
            "title_words": title_words.get(par.doc_id, []),
            "previous": previous.get(par.doc_id, "")[-200:],
        }
        previous[par.doc_id] = par.text
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
    if cfg.encoder == "auto":  # not resolved by the caller: these documents decide
        cfg = resolve_encoder(cfg, corpus_words(documents))
    nlp = extraction_pipeline(config.spacy.model, cfg)
    mention_rows, claim_rows, lemma_rows, failures = [], [], [], []
    lemma_spans = {
        doc_id: list(zip(g["segment_id"], g["start"], g["end"]))
        for doc_id, g in segments[segments["kind"].isin(LEMMA_KINDS)].groupby("doc_id", sort=False)
    }
    texts = dict(zip(documents["doc_id"], documents["text"]))
    parsed: list[tuple[int, Doc]] = []  # the current document's paragraphs
    doc_claims: list[tuple[int, dict]] = []  # its claims, with their paragraph's index in parsed

    def flush(doc_id: str) -> None:
        lemma_rows.extend(
            (span_id, doc_id, text) for span_id, text in lemmas_by_span(parsed, lemma_spans[doc_id])
        )
        _through_lists(texts[doc_id], parsed, doc_claims)
        parsed.clear()
        doc_claims.clear()

    current = None
    docs = _safe_pipe(nlp, block_docs(nlp, documents, segments), config, failures)
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
            row = {"doc_id": block["doc_id"], "segment_id": block["segment_id"], **row}
            claim_rows.append(row)
            doc_claims.append((len(parsed) - 1, row))
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


def _mentions_in_claims(mentions: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """Pairs (mention, claim) of positional indices where the mention lies inside the claim.

    One join on doc_id and a vectorised filter: a Python loop per claim over its document's
    mentions took about 20 s on the shared corpus's 27,000 claims.
    """
    if mentions.empty or claims.empty:
        return pd.DataFrame({"mention": np.array([], dtype=int), "claim": np.array([], dtype=int)})
    left = pd.DataFrame(
        {
            "doc_id": mentions["doc_id"].to_numpy(),
            "m_start": mentions["start"].to_numpy(),
            "m_end": mentions["end"].to_numpy(),
            "mention": np.arange(len(mentions)),
        }
    )
    right = pd.DataFrame(
        {
            "doc_id": claims["doc_id"].to_numpy(),
            "c_start": claims["start"].to_numpy(),
            "c_end": claims["end"].to_numpy(),
            "claim": np.arange(len(claims)),
        }
    )
    pairs = left.merge(right, on="doc_id")
    keep = (pairs["c_start"] <= pairs["m_start"]) & (pairs["m_end"] <= pairs["c_end"])
    return pairs.loc[keep, ["mention", "claim"]].reset_index(drop=True)


def finish_extraction(
    raw_mentions: pd.DataFrame, raw_claims: pd.DataFrame, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Give raw mentions their concepts and IDs, link claims to concepts, build `concepts`."""
    if raw_mentions.empty:
        mentions = empty_frame("mentions")
    else:
        mentions = assign_concepts(raw_mentions, config)
        mentions["mention_id"] = [
            f"{d}:men:{s}-{e}:{c}"
            for d, s, e, c in zip(
                mentions["doc_id"], mentions["start"], mentions["end"], mentions["category"]
            )
        ]
        mentions = mentions.sort_values(["doc_id", "start", "end"], ignore_index=True)
        mentions = mentions.drop(columns=["lemma", "lexicon_concept"])
    # Which mention lies inside which claim (positions in `mentions` and `raw_claims`).
    inside = _mentions_in_claims(mentions, raw_claims)
    if len(mentions):
        mentions["in_claim"] = mentions.index.isin(inside["mention"])
    if raw_claims.empty:
        claims = empty_frame("claims")
    else:
        claims = raw_claims.copy()
        claims["claim_id"] = [
            f"{d}:clm:{s}-{e}" for d, s, e in zip(claims["doc_id"], claims["start"], claims["end"])
        ]
        # A claim speaks about the concepts of the mentions inside it and of its lexicon phrases.
        named = mentions["concept_id"].to_numpy()[inside["mention"].to_numpy()]
        by_claim = pd.Series(named, dtype=object).groupby(inside["claim"].to_numpy()).agg(set)
        claims["concept_ids"] = [
            sorted(by_claim.get(i, set()) | set(lexical if lexical is not None else []))
            for i, lexical in enumerate(claims["lexicon_concepts"])
        ]
        claims["year"] = claims["year"].astype("Int64")
        claims = claims.sort_values(["doc_id", "start"], ignore_index=True)
        claims = claims[[c.name for c in TABLES["claims"].columns]]
    concepts = concept_table(mentions) if len(mentions) else empty_frame("concepts")
    return mentions, claims, concepts
