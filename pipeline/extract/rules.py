"""Rule components of extraction: the lexicon, list structure and the mention merger.

- `selfhelp_lexicon_v1`: a SpanRuler over `resources/lexicon.yaml` -> `doc.spans["sh_lexicon"]`;
- `selfhelp_structure_v1`: the title of a list item under a signs/causes/interventions heading
  -> `doc.spans["sh_structure"]`;
- `selfhelp_mentions_v1`: merges rule and model spans into `doc.spans["sh_mentions"]`.

Context on `doc._.block` (section role, list item) is set before the pipeline runs.
"""

from __future__ import annotations

import re

from spacy.language import Language
from spacy.pipeline import SpanRuler
from spacy.tokens import Doc, Span
from spacy.util import registry

from pipeline.lexicon import load_lexicon

ROLE_TO_CATEGORY = {"signs": "sign", "causes": "cause", "interventions": "intervention"}

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


# Words that cannot open or close an item: "and perfectionism", "vision of", "sexual and".
_EDGE_POS = {"ADP", "CCONJ", "SCONJ", "PUNCT", "PART", "DET", "SYM"}


def _trimmed(span: Span) -> Span | None:
    """The span without connecting words and punctuation at its edges (a closing bracket or
    quote stays when its opening one is inside)."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and doc[start].pos_ in _EDGE_POS and doc[start].text not in "(“\"'":
        start += 1
    while end > start and doc[end - 1].pos_ in _EDGE_POS:
        closing = doc[end - 1].text
        if closing in ")”\"'" and any(t.text in "(“\"'" for t in doc[start : end - 1]):
            break
        end -= 1
    if end <= start:
        return None
    return Span(doc, start, end, label=span.label_)


def _sentence_parts(span: Span) -> list[Span]:
    """The span cut at sentence starts: an item is stated within one sentence."""
    doc = span.doc
    if not doc.has_annotation("SENT_START"):
        return [span]
    cuts = [t.i for t in span[1:] if t.is_sent_start]
    bounds = [span.start, *cuts, span.end]
    return [Span(doc, a, b, label=span.label_) for a, b in zip(bounds, bounds[1:])]


def _covering_concept(span: Span, lexicon: list[Span]) -> str:
    """The lexicon concept that states the whole span, if any: a span naming more than the
    lexicon phrase ("numbness in the fingers" around "numbness") is a different thing, and its
    concept comes from its own words."""
    inner = [lx for lx in lexicon if lx.start >= span.start and lx.end <= span.end]
    if len(inner) != 1:
        return ""
    phrase = inner[0]
    outside = [
        t for t in span if not (phrase.start <= t.i < phrase.end) and t.is_alpha and not t.is_stop
    ]
    return phrase.id_ if not outside else ""


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
        self,
        lexicon_path: str | None,
        method: str,
        model_threshold: float,
        conflicts: dict[str, list[str]],
    ) -> None:
        self.method = method
        self.conflicts = conflicts
        entries = load_lexicon(lexicon_path)
        # Phrase -> concept, so a model span that is a lexicon phrase is held to the same rules.
        self.phrase_concept = {p["pattern"].lower(): p["id"] for p in lexicon_patterns(entries)}
        self.categories = {
            e["label"]: [e["category"], *e.get("also", [])] for e in load_lexicon(lexicon_path)
        }
        self.model_threshold = model_threshold

    def __call__(self, doc: Doc) -> Doc:
        if self.method == "model":
            return self._from_model(doc)
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
        doc.spans["sh_mentions"] = sorted(mentions, key=lambda s: s.start)
        return doc

    def _from_model(self, doc: Doc) -> Doc:
        """The tagger's spans above the threshold; a span holding exactly one lexicon match
        takes that concept, so its wording joins the lexicon's label."""
        spans = doc.spans.get("sh_model", [])
        scores = spans.attrs.get("scores", []) if len(spans) else []
        confidences = spans.attrs.get("confidence", scores) if len(spans) else []
        lexicon = list(doc.spans.get("sh_lexicon", []))
        mentions = []
        for tagged, score, confidence in zip(spans, scores, confidences):
            if score < self.model_threshold:
                continue
            for part in _sentence_parts(tagged):
                span = _trimmed(part)
                if span is None or not _has_content(span):
                    continue
                mention = Span(doc, span.start, span.end, label=span.label_)
                mention._.method, mention._.confidence = "model", round(float(confidence), 3)
                mention._.concept = _covering_concept(mention, lexicon)
                mentions.append(mention)
        doc.spans["sh_mentions"] = mentions
        return doc


@Language.factory(
    "selfhelp_mentions_v1",
    default_config={
        "lexicon_path": None,
        "method": "rules",
        "model_threshold": 0.5,
        "conflicts": {},
    },
)
def make_merger(
    nlp: Language,
    name: str,
    lexicon_path: str | None,
    method: str,
    model_threshold: float,
    conflicts: dict[str, list[str]],
) -> MentionMerger:
    return MentionMerger(lexicon_path, method, model_threshold, conflicts)
