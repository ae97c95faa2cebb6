"""Cited research claims: statements an article attributes to studies, researchers, experts,
organisations or publications through an attribution cue.

Works on one paragraph at a time. A cue is found by one of a few patterns (the wording lives in
`resources/claim_cues.yaml`); the claim span is then the quotation or clause the cue attributes,
which depends on where the cue stands:

- after a closing quote ("…,” explains a 2019 study): the quotation, or the paragraph up to the
  quote when the opening quote is missing;
- before the claim ("Studies have found that …", "A study published in JAMA found …"): the rest
  of the sentence, or the following quotation;
- "according to X" at the start or in the middle: the rest of the sentence; at the end: the
  sentence before it;
- a footnote marker (¹, [3], (12), or a number glued to the full stop: "spring.1") closing a
  sentence: that sentence (source type "other");
- an author-year reference ("(Miller, 2020)"): the sentence up to it (source type "study").

Each claim also gets `source_type`, `year`, `named_source`, `hedged` and a `strength` in the
scheme of Yu et al. (2019): direct causal, conditional causal, correlational, no relationship.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

_OPEN_QUOTES = '“"‘'
_CLOSE_QUOTES = '”"’'
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_MIN_CLAIM_WORDS = 5  # shorter spans are fragments ("It can lead to:"), not claims
_SHORT_QUOTE_WORDS = 8  # a quotation this short is a phrase inside the claim, not the claim


@dataclass
class Claim:
    """A claim inside one paragraph; offsets are relative to the paragraph text."""

    start: int
    end: int
    cue_start: int
    cue_end: int
    source_type: str
    named_source: str
    year: int | None
    hedged: bool
    strength: str
    pattern: str
    text: str = ""
    cue: str = ""
    notes: list[str] = field(default_factory=list)
    confidence: float | None = None
    # Concept IDs of lexicon phrases inside the claim: what the research speaks about, even
    # where no mention was extracted there (the tagger marks the article's own items).
    lexicon_concepts: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def cue_lexicon() -> dict:
    """The cue vocabulary (reporting verbs, source nouns, hedges, relation markers)."""
    text = resources.files("pipeline").joinpath("resources/claim_cues.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _alt(words: list[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern]:
    lex = cue_lexicon()
    verbs = _alt(lex["reporting_verbs"])
    study = _alt(lex["study_nouns"])
    people = _alt(lex["researcher_nouns"] + lex["expert_nouns"])
    det = (
        r"(?:(?:a|an|the|one|another|this|that|these|new|recent|several|many|some|numerous|"
        r"multiple|large|small|landmark|her|his|their|our|\d{4}|\d+-year)\s+)*"
    )
    # A research subject: "a 2019 study", "researchers at Stanford", "a study published in JAMA";
    # case-insensitive, since it often opens the sentence.
    subject = (
        rf"(?i:{det}(?:{study}|{people}))"
        r"(?:\s+(?:published|conducted|led|presented|funded|reported)?\s*(?:in|at|from|by|of|on)"
        r"\s+[^,.;:“”\"]{1,80}?)?"
    )
    # A named subject: "Dr. Jane Smith", "Neff", "the National Center for PTSD" (Title Case).
    named = (
        r"(?:Dr\.\s+|Prof\.\s+|Professor\s+)?[A-Z][\w’'.-]+"
        r"(?:\s+(?:[A-Z][\w’'.-]+|for|of|on|and|the)){0,7}(?:\s+\([A-Z]{2,8}\))?"
    )
    marker = r"(?:\d{1,3}|\(\d{1,3}\)|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)"
    return {
        "according_to": re.compile(r"\b[Aa]ccording to\s+(?P<src>[^,.;:“”\"]{2,120})"),
        "post_quote": re.compile(
            rf"(?P<q>[{_CLOSE_QUOTES}])\s*,?\s*(?P<cue>(?:(?:{verbs})\s+(?P<src1>{subject}|{named}))"
            rf"|(?:(?P<src2>{subject}|{named})(?:,[^,.]{{1,80}},)?\s+(?:{verbs})\b[^.“”\"]{{0,30}}))"
            r"\s*[.;]"
        ),
        "pre": re.compile(
            rf"(?P<cue>(?P<src>\b{subject}|(?<![\w.]){named}(?:,[^,.]{{1,80}},)?)"
            rf"\s+(?:(?:has|have|had|is quick to|was quick to)\s+)?(?:also\s+)?(?:{verbs})"
            rf"{marker}?(?:\s+(?:that\b|[A-Z]\w+(?=[.,:])))?)\s*[,:]?\s*"
        ),
        "footnote": re.compile(
            r"(?P<cue>(?:[¹²³⁴⁵⁶⁷⁸⁹⁰]+(?:,\s?[¹²³⁴⁵⁶⁷⁸⁹⁰]+)*)|\[\d{1,3}\]|"
            r"\s\(\d{1,3}(?:,\s?\d{1,3})*\))(?=[.,]?\s|[.,]?$)"
        ),
        # Plain note numbers glued to a sentence's end ("…goes away come spring.1"); after a
        # letter, a bracket or a quote, never a digit (no "2.5").
        "note_number": re.compile(
            r"(?<=[a-z)\]”\"’'%][.!?])(?P<cue>\d{1,2}(?:(?:,\s?|\s)\d{1,2})*)(?=[.,]?\s|[.,]?$)"
        ),
        # An author-year reference: "(Miller, 2020)", "(Cloud & Townsend, 2017)", "(Li et al.,
        # 2019a)".
        "author_year": re.compile(
            r"\((?P<src>[A-Z][\w'’-]+(?:(?:,\s|\s(?:&|and)\s)[A-Z][\w'’-]+)*(?:\set\sal\.?)?),"
            r"\s(?:19|20)\d{2}[a-z]?\)"
        ),
    }


_HEAD_END = re.compile(
    r"\s+(?:published|conducted|led|presented|funded|reported|in|at|from|by|of|"
    r"on|for|who|which|that)\s+",
    re.I,
)


def _source_type(source: str, pattern: str, person_names: list[str]) -> str:
    """The type of a source, decided by its head ("a study published in JAMA" is a study)."""
    lex = cue_lexicon()
    if pattern == "footnote":
        return "other"
    if pattern == "author_year":  # an academic reference: a paper
        return "study"
    if re.search(r"\b(dr|prof|professor)\b\.?", source.lower()) or any(
        name and name in source for name in person_names
    ):
        return "expert"
    head = _HEAD_END.split(source, maxsplit=1)[0]
    for part in (head, source):
        words = set(re.findall(r"[a-z][a-z-]*", part.lower()))
        if words & set(lex["study_nouns"]):
            return "study"
        if words & set(lex["researcher_nouns"]):
            return "researchers"
        if words & set(lex["expert_nouns"]):
            return "expert"
        if words & set(lex["publication_words"]):
            return "publication"
        if words & set(lex["organization_words"]) or re.search(r"\b[A-Z]{2,6}\b", part):
            return "organization"
    if source[:1].isupper():
        return "expert" if len(source.split()) <= 3 else "organization"
    return "other"


def _named_source(source: str, source_type: str) -> str:
    published = re.search(
        r"\b(?:published in|in the journal|journal)\s+(?:the\s+)?"
        r"(?P<name>[A-Z][\w&.’'-]*(?:\s+(?:[A-Z&][\w&.’'-]*|of|for|and))*)",
        source,
    )
    if published:
        return published.group("name").strip()
    at = re.search(
        r"\b(?:at|from)\s+(?:the\s+)?(?P<name>[A-Z][\w&.’'-]*(?:\s+(?:[A-Z&][\w&.’'-]*"
        r"|of|for|and))*)",
        source,
    )
    if at:
        return at.group("name").strip()
    if source_type in ("expert", "organization", "publication"):
        name = re.sub(r"^(the|a|an)\s+", "", source.strip(), flags=re.I)
        name = re.split(r",|\s+(?:who|which|that)\s+", name)[0].strip()
        if name[:1].isupper():
            return name
    return ""


def claim_strength(text: str) -> tuple[str, bool]:
    """(strength, hedged) of a claim, after Yu et al. (2019).

    Negated relations give "no relationship"; association wording gives "correlational";
    causal verbs give "direct causal", or "conditional causal" when hedged (may, might, could).
    """
    lex = cue_lexicon()
    lowered = text.lower()
    hedged = bool(re.search(rf"\b(?:{_alt(lex['hedges'])})\b", lowered))
    if re.search(rf"\b(?:{_alt(lex['negated_relation'])})\b", lowered):
        return "no relationship", hedged
    if re.search(rf"(?:{_alt(lex['correlational'])})", lowered):
        return "correlational", hedged
    causal = re.search(rf"\b(?:{_alt(lex['causal'])})\b", lowered)
    if causal:
        modal = re.search(rf"\b(?:{_alt(lex['causal_modals'])})\b", lowered)
        return ("conditional causal" if modal or hedged else "direct causal"), hedged
    return "no relationship", hedged


def _sentence_at(pos: int, sentences: list[tuple[int, int]], text: str) -> tuple[int, int]:
    for start, end in sentences:
        if start <= pos < end:
            return start, end
    return 0, len(text)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Strip spaces, quote marks and a leading "that" from a claim span."""
    while start < end and (
        text[start].isspace() or text[start] in _OPEN_QUOTES + _CLOSE_QUOTES or text[start] in ",;:"
    ):
        start += 1
    if text[start:end].lower().startswith("that "):
        start += 5
    quotes = _OPEN_QUOTES + _CLOSE_QUOTES
    while end > start and (text[end - 1].isspace() or text[end - 1] in quotes):
        end -= 1
    return start, end


# A concession opening a claim ("Although emotional abuse has occurred for years, it has only
# recently been added to the definition…"): what the source states is the main clause.
_CONCESSION = re.compile(r"(?:although|though|even though|while|whilst)\b", re.I)


def _after_concession(text: str, start: int, end: int, cue_start: int, cue_end: int) -> int:
    """Start of a claim span without the concessive clause that opens it.

    The clause ends at the last comma before a cue standing inside the span, else at the
    first comma. A cue inside the clause, or set off by commas right after it, attributes the
    concession itself, so the span stays whole; so does a span whose main clause would be
    shorter than a claim.
    """
    if not _CONCESSION.match(text, start):
        return start
    inside = start < cue_start < end
    comma = text.rfind(",", start, cue_start) if inside else text.find(",", start, end)
    # A cue set off by commas right after the concession ("Though X, says Y, …") attributes it.
    parenthetical = (
        inside and not text[comma + 1 : cue_start].strip() and text[cue_end:].startswith(",")
    )
    if comma < 0 or start <= cue_start < comma or parenthetical:
        return start
    if len(text[comma + 1 : end].split()) < _MIN_CLAIM_WORDS:
        return start
    return comma + 1


_PAIRS = {"“": "”", "‘": "’", '"': '"'}
# An appositive after a named source: ", Ph.D., a pioneering researcher, …".
_APPOSITIVE = re.compile(
    r",\s*(?:Ph\.?\s?D\.?|M\.?\s?D\.?|Dr\.|a |an |the |who |which |"
    r"director|professor|author|founder|chief|head)"
)


def _closing_quote(text: str, start: int, opening: str) -> int:
    """Position of the mark closing a quotation opened by `opening`, or -1.

    A ’ between two letters is an apostrophe ("It’s"), not a closing mark.
    """
    closing = _PAIRS[opening]
    pos = text.find(closing, start)
    while (
        pos > 0
        and closing == "’"
        and pos + 1 < len(text)
        and text[pos - 1].isalpha()
        and text[pos + 1].isalpha()
    ):
        pos = text.find(closing, pos + 1)
    return pos


def _quote_after(text: str, pos: int, limit: int = 3) -> tuple[int, int] | None:
    """A quotation starting within `limit` characters of `pos`: (start, end) inside the marks."""
    window = text[pos : pos + limit + 1]
    for i, ch in enumerate(window):
        if ch in _PAIRS:
            start = pos + i + 1
            close = _closing_quote(text, start, ch)
            return (start, close) if close > 0 else (start, len(text))
    return None


def find_claims(
    text: str,
    sentences: list[tuple[int, int]],
    person_names: list[str] | None = None,
    citations: bool = True,
) -> list[Claim]:
    """Find cited claims in one paragraph.

    Args:
        text: the paragraph.
        sentences: sentence (start, end) offsets within `text` (from spaCy).
        person_names: PERSON entity texts in the paragraph, to tell experts from organisations.
        citations: also read plain note numbers glued to a sentence ("spring.1") and
            author-year references ("(Miller, 2020)"). The tagger's input features leave them
            out: the shipped model was trained without them.

    Returns:
        Claims in order of position; overlapping detections keep the first found.
    """
    person_names = person_names or []
    pats = _patterns()
    found: list[Claim] = []

    def add(start, end, cue_start, cue_end, source, pattern, notes=(), same_cue=False):
        start, end = _trim(text, _after_concession(text, start, end, cue_start, cue_end), end)
        if len(text[start:end].split()) < _MIN_CLAIM_WORDS:
            return
        if any(c.start < end and start < c.end for c in found):
            return
        if not same_cue and any(c.cue_start < cue_end and cue_start < c.cue_end for c in found):
            return  # one cue attributes one claim, except a quotation continued after it
        stype = _source_type(source, pattern, person_names)
        claim_text = text[start:end]
        strength, hedged = claim_strength(claim_text)
        cue = text[cue_start:cue_end].strip()
        found.append(
            Claim(
                start,
                end,
                cue_start,
                cue_start + len(cue),
                stype,
                _named_source(source, stype),
                _year(cue),
                hedged,
                strength,
                pattern,
                claim_text,
                cue,
                list(notes),
            )
        )

    # 1. A cue right after a closing quote attributes the quotation before it.
    for m in pats["post_quote"].finditer(text):
        close = m.start("q")
        opens = [text.rfind(q, 0, close) for q in _OPEN_QUOTES if q != text[close]]
        opens += [text.rfind(q, 0, close) for q in '"' if text[close] == '"']
        open_at = max(opens) if opens else -1
        notes = [] if open_at >= 0 else ["opening quote missing"]
        source = m.group("src1") or m.group("src2") or ""
        start = open_at + 1 if open_at >= 0 else 0
        if open_at >= 0 and len(text[start:close].split()) < _SHORT_QUOTE_WORDS:
            start = _sentence_at(open_at, sentences, text)[0]  # a quoted phrase, not a quote
        add(start, close, m.start("cue"), m.end("cue"), source, "post_quote", notes)
        # A quotation right after the attribution continues the same speaker.
        follow = _quote_after(text, m.end(), limit=2)
        if follow:
            add(
                follow[0],
                follow[1],
                m.start("cue"),
                m.end("cue"),
                source,
                "post_quote",
                same_cue=True,
            )
    # 2. "according to X" anywhere.
    for m in pats["according_to"].finditer(text):
        s_start, s_end = _sentence_at(m.start(), sentences, text)
        cue_end = m.end()
        if _APPOSITIVE.match(text, cue_end):  # "According to Jane Doe, Ph.D., a …, <claim>"
            commas = [c.end() for c in re.finditer(r",\s+", text[cue_end:s_end])]
            clause = [c for c in commas if len(text[cue_end + c : s_end].split()) >= 4]
            if clause:
                cue_end += clause[-1]
        after = text[cue_end:s_end]
        if after.strip(' ,”"') and not after.strip().startswith("."):
            quote = _quote_after(text, cue_end + (len(after) - len(after.lstrip(" ,:"))))
            if quote:
                add(quote[0], quote[1], m.start(), cue_end, m.group("src"), "according_to")
            else:
                add(cue_end, s_end, m.start(), cue_end, m.group("src"), "according_to")
        else:  # the cue closes the sentence: the claim is what came before it
            add(s_start, m.start(), m.start(), m.end(), m.group("src"), "according_to")
    # 3. A research or named subject with a reporting verb, then the claim.
    for m in pats["pre"].finditer(text):
        source = m.group("src")
        if not _is_source(source, person_names):
            continue
        quote = _quote_after(text, m.end())
        if quote:
            add(quote[0], quote[1], m.start("cue"), m.end("cue"), source, "pre")
        else:
            _, s_end = _sentence_at(m.end() - 1, sentences, text)
            add(m.end(), s_end, m.start("cue"), m.end("cue"), source, "pre")
    # 4. Footnote markers closing a sentence.
    previous_marker = 0  # the sentence splitter often misses "rhythm.² When": cut at markers
    for m in note_markers(text, citations):
        s_start, _ = _sentence_at(max(m.start() - 1, 0), sentences, text)
        add(max(s_start, previous_marker), m.start(), m.start("cue"), m.end("cue"), "", "footnote")
        previous_marker = m.end()
    # 5. An author-year reference: the sentence up to it.
    for m in pats["author_year"].finditer(text) if citations else ():
        s_start, _ = _sentence_at(max(m.start() - 1, 0), sentences, text)
        add(s_start, m.start(), m.start(), m.end(), m.group("src"), "author_year")
    return sorted(found, key=lambda c: c.start)


def note_markers(text: str, citations: bool = True) -> list[re.Match]:
    """Footnote markers in `text` ("¹", "[3]", " (2)"), and with `citations` plain note numbers
    glued to a sentence ("spring.1"), in order; each match's `cue` group is the marker."""
    pats = _patterns()
    markers = list(pats["footnote"].finditer(text))
    if citations:
        markers += list(pats["note_number"].finditer(text))
    return sorted(markers, key=re.Match.start)


def find_doc_claims(doc, citations: bool = True) -> list[Claim]:
    """`find_claims` over a parsed paragraph (a spaCy Doc): its sentences and PERSON names."""
    if doc.has_annotation("SENT_START"):
        sentences = [(s.start_char, s.end_char) for s in doc.sents]
    else:
        sentences = [(0, len(doc.text))]
    return find_claims(doc.text, sentences, doc_persons(doc), citations)


def doc_persons(doc) -> list[str]:
    """PERSON entities of a Doc: names that make a cue's source an expert."""
    return [ent.text for ent in doc.ents if ent.label_ == "PERSON"]


def _is_source(source: str, person_names: list[str]) -> bool:
    """Whether a subject found by the "pre" pattern can be a cited source."""
    lex = cue_lexicon()
    words = set(re.findall(r"[a-z][a-z-]*", source.lower()))
    if words & set(lex["study_nouns"] + lex["researcher_nouns"] + lex["expert_nouns"]):
        return True
    return any(name and name in source for name in person_names) or bool(
        set(re.findall(r"[a-z]+", source.lower())) & set(lex["organization_words"])
    )


def _year(cue: str) -> int | None:
    match = _YEAR.search(cue)
    return int(match.group(1)) if match else None


_CUE_EDGE = _OPEN_QUOTES + _CLOSE_QUOTES + ",;:.–— \n"
_LEAD_WORD = re.compile(r"(?:however|but|and|also|still|yet|moreover|indeed|in fact)\b[,\s]*", re.I)


def _trim_cue(text: str, start: int, end: int) -> tuple[int, int]:
    """A cue without quote marks, punctuation or a leading "However," at its edges."""
    while start < end and text[start] in _CUE_EDGE:
        start += 1
    while end > start and text[end - 1] in _CUE_EDGE:
        end -= 1
    lead = _LEAD_WORD.match(text, start, end)
    if lead and lead.end() < end:
        start = lead.end()
    return start, end


def claim_from_spans(
    text: str,
    claim: tuple[int, int],
    cue: tuple[int, int],
    person_names: list[str] | None = None,
    pattern: str = "model",
) -> Claim | None:
    """A Claim from a claim span and its cue found by the tagger, with the same attributes as a
    rule-found claim (source type, named source, year, hedging, strength).

    The claim span is trimmed like a rule-found one; a span shorter than a clause is no claim.
    """
    start, end = _trim(text, _after_concession(text, *claim, *cue), claim[1])
    if len(text[start:end].split()) < _MIN_CLAIM_WORDS:
        return None
    cue_start, cue_end = _trim_cue(text, *cue)
    source = text[cue_start:cue_end]
    if not any(ch.isalnum() for ch in source):  # no attribution left: advice, not a claim
        return None
    stype = _source_type(
        source,
        "footnote" if re.fullmatch(r"[\W\d]+", source or "x") else pattern,
        person_names or [],
    )
    claim_text = text[start:end]
    strength, hedged = claim_strength(claim_text)
    return Claim(
        start,
        end,
        cue_start,
        cue_end,
        stype,
        _named_source(source, stype),
        _year(source),
        hedged,
        strength,
        pattern,
        claim_text,
        source,
    )
